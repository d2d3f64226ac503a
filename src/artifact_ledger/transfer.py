"""Export a ledger to a bundle and import a bundle into a ledger, on either backend.

Export is :func:`artifact_ledger.bundle.write_bundle`. Import replays a bundle
(``docs/bundle-format.md``) into a ledger: the bundle is verified completely first
(:func:`~artifact_ledger.bundle.load_bundle`), then its events are inserted exactly as
they are (positions, ids, timestamps, payload text, hashes), the chain re-checked line by
line as they go in, their blobs stored, and the projections applied by the same projector
that the append path uses, all in one transaction under the write lock: an import either
lands whole or not at all. Events and blobs are read from the files a page at a time, so
memory stays flat however long the log is.

Import is idempotent and resumable: events the ledger already holds (same positions and
hashes) are skipped, so importing a bundle twice changes nothing, and a bundle that
continues the ledger's log (an incremental export) appends to it. A ledger whose history
differs from the bundle's is refused with :class:`ImportConflictError` before anything
is written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from . import codec
from . import verify_bundle as spec
from .bundle import Bundle, BundleEvent, BundleManifest, load_bundle, write_bundle
from .errors import InvalidBundleError, LedgerError
from .events import RecordedEvent, upcast
from .projections.projector import Projector, write_checkpoints
from .store.errors import translated
from .store.recorder import Recorder, recorder_for
from .store.rows import event_values

__all__ = ["ImportConflictError", "ImportResult", "export_ledger", "import_bundle"]

PAGE = 5000


class ImportConflictError(LedgerError):
    """The target ledger already holds a history that is not the bundle's; nothing was written."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did: events and blobs written, events already present, and the new head."""

    events_imported: int
    events_skipped: int
    blobs_imported: int
    head_position: int
    head_hash: str


async def export_ledger(
    engine: AsyncEngine, path: str | os.PathLike[str], *, progress: Callable[[int], None] | None = None
) -> BundleManifest:
    """Write the whole ledger as a bundle into a new directory (streams; see ``write_bundle``)."""
    return await write_bundle(engine, path, progress=progress)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _pages(bundle: Bundle) -> Iterator[list[BundleEvent]]:
    """The bundle's events a page at a time, re-read from the file ``load_bundle`` verified.

    The bytes are hashed as they are read and checked against the manifest's ``events_sha256``
    at the end (before the import commits), so a file changed after verification is caught
    without parsing every line through the strict verifier a second time.
    """
    digest = hashlib.sha256()
    page: list[BundleEvent] = []
    try:
        with spec.open_regular(str(bundle.path / spec.EVENTS)) as handle:
            for raw in handle:
                digest.update(raw)
                page.append(BundleEvent(**orjson.loads(raw)))
                if len(page) >= PAGE:
                    yield page
                    page = []
    except (spec.BundleFormatError, OSError, ValueError, TypeError) as exc:
        raise InvalidBundleError(f"bundle {bundle.path} changed while it was imported: {exc}") from None
    if page:
        yield page
    if digest.hexdigest() != bundle.manifest.events_sha256:
        raise InvalidBundleError(f"bundle {bundle.path}: {spec.EVENTS} changed while it was imported")


async def _head(driver: Recorder) -> tuple[int, str]:
    rows = await driver.fetch(driver.sql.head)
    if not rows:
        return 0, codec.GENESIS_HASH.hex()
    return int(rows[0][0]), driver.read_bytes(rows[0][1]).hex()


def _check_start(manifest: BundleManifest, head: tuple[int, str]) -> None:
    """Refuse a ledger whose log does not lead into the bundle (the rest is checked per event)."""
    position, digest = head
    if position == 0:
        if manifest.first_position != 1:
            raise ImportConflictError(
                f"the bundle starts at position {manifest.first_position} (an incremental export) but the ledger "
                "is empty; import the bundle it continues first"
            )
        return
    if position < manifest.first_position - 1:
        raise ImportConflictError(
            f"the ledger ends at position {position} but the bundle continues from {manifest.first_position - 1}; "
            "import the bundles in between first"
        )
    if position == manifest.first_position - 1 and digest != manifest.prev_hash:
        raise ImportConflictError(
            f"the ledger is not empty and its event {position} is not the one the bundle continues from: "
            "the ledger holds a different history; import into an empty database"
        )
    if position > manifest.head_position:
        raise ImportConflictError(
            f"the ledger holds {position} events, more than the bundle's {manifest.head_position}; "
            "import into an empty database"
        )


def _recorded(event: BundleEvent) -> RecordedEvent:
    return RecordedEvent(
        event.position,
        event.event_id,
        event.artifact_id,
        event.version,
        event.type,
        event.schema_version,
        upcast(event.type, event.schema_version, codec.loads(event.payload)),
        _parse_time(event.recorded_at),
        event.actor,
        event.reason,
        event.correlation_id,
        event.causation_id,
        bytes.fromhex(event.prev_hash),
        bytes.fromhex(event.hash),
        event.payload.encode(),
    )


class _Replay:
    """Inserts verified events (and their blobs) page by page and projects them."""

    def __init__(self, driver: Recorder, bundle: Bundle, head: tuple[int, str]) -> None:
        self.driver = driver
        self.bundle = bundle
        self.head = head
        self.prev = bundle.manifest.prev_hash
        self.expected = bundle.manifest.first_position
        self.projector = Projector(driver)
        self.blobs_seen: set[str] = set()
        self.imported = self.skipped = self.blobs = 0

    def check(self, event: BundleEvent) -> None:
        # Each hash was recomputed by load_bundle and the file is checked against its SHA-256 as it
        # is read (_pages): here the links are followed, so a mismatch can never be committed.
        if event.position != self.expected or event.prev_hash != self.prev:
            raise InvalidBundleError(
                f"bundle {self.bundle.path}: the chain breaks at position {self.expected} (the file changed "
                "while it was imported)"
            )
        if event.position == self.head[0] and event.hash != self.head[1]:
            raise ImportConflictError(
                f"the ledger is not empty and its event {event.position} differs from the bundle's: "
                "the ledger holds a different history; import into an empty database"
            )
        self.prev = event.hash
        self.expected += 1

    async def page(self, page: Sequence[BundleEvent]) -> None:
        fresh: list[RecordedEvent] = []
        for event in page:
            self.check(event)
            if event.position <= self.head[0]:
                self.skipped += 1
            else:
                fresh.append(_recorded(event))
        if not fresh:
            return
        await self._blobs(fresh)
        await self.driver.executemany(self.driver.sql.insert_event, [event_values(e, self.driver.ts) for e in fresh])
        parents = {e.payload.get("parent_id") or e.payload.get("to_parent_id") for e in fresh}
        await self.projector.load([*(p for p in parents if isinstance(p, str)), *(e.artifact_id for e in fresh)])
        for recorded in fresh:
            await self.projector.apply(recorded)
        await self.projector.flush()
        self.projector.forget()
        self.imported += len(fresh)

    async def _blobs(self, events: Sequence[RecordedEvent]) -> None:
        rows: list[tuple[str, int, bytes]] = []
        for event in events:
            content = event.payload.get("content")
            if not isinstance(content, dict) or not isinstance(content.get("hash"), str):
                continue
            digest = content["hash"]
            if digest in self.blobs_seen:
                continue
            self.blobs_seen.add(digest)
            data = self.bundle.blob(digest)
            rows.append((digest, len(data), data))
        for start in range(0, len(rows), 50):  # bounded: blobs may be large
            await self.driver.executemany(self.driver.sql.insert_blob, rows[start : start + 50])
            self.blobs += len(rows[start : start + 50])


async def import_bundle(
    engine: AsyncEngine,
    source: str | os.PathLike[str] | Bundle,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Verify the bundle at ``source`` (or take a :class:`Bundle` already loaded) and replay it into ``engine``.

    Raises :class:`InvalidBundleError` for a bundle that is malformed, truncated, from a newer
    format version or fails verification, and :class:`ImportConflictError` for a ledger whose
    history is not the bundle's; in both cases nothing is written.
    """
    bundle = source if isinstance(source, Bundle) else load_bundle(source)
    with translated():
        async with engine.begin() as conn:
            driver = await recorder_for(conn)
            await driver.lock()
            head = await _head(driver)
            _check_start(bundle.manifest, head)
            replay = _Replay(driver, bundle, head)
            for page in _pages(bundle):
                await replay.page(page)
                if progress is not None:
                    progress(replay.imported + replay.skipped)
            if replay.imported:
                await write_checkpoints(driver, bundle.manifest.head_position)
    return ImportResult(
        events_imported=replay.imported,
        events_skipped=replay.skipped,
        blobs_imported=replay.blobs,
        head_position=bundle.manifest.head_position,
        head_hash=bundle.manifest.head_hash,
    )
