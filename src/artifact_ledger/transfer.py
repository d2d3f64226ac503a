"""Export a ledger to a bundle and import a bundle into a ledger, on either backend.

Export is :func:`artifact_ledger.bundle.write_bundle`. Import replays a bundle
(``docs/bundle-format.md``) into a ledger: the bundle is verified completely first
(:func:`~artifact_ledger.bundle.load_bundle`), then its events are inserted exactly as
they are (positions, ids, timestamps, payload text, hashes), the chain re-checked line by
line as they go in, their blobs stored, and the projections applied by the same projector
that the append path uses, all in one transaction under the write lock: an import either
lands whole or not at all. Events and blobs are read from the files a page at a time, so
memory stays flat however long the log is.

A bundle is untrusted input: besides the files' integrity, every event is held to the rules
of a live write (:mod:`artifact_ledger.bundle_check`) before anything is written: a bundle from
position 1 when it is loaded, an incremental bundle against the target's log, in the import's
transaction. Every refusal is a :class:`~artifact_ledger.errors.BundleRuleError` naming the file,
line and rule, and leaves the target as it was.

Import is idempotent and resumable: events the ledger already holds (same positions and
hashes) are skipped, so importing a bundle twice changes nothing; a bundle that continues the
ledger's log (an incremental export) appends to it; an older export of the same ledger (its
events a prefix of the log) changes nothing and says so (``ImportResult.already_contained``).
A ledger whose history differs from the bundle's is refused with :class:`ImportConflictError`
naming the first position where they differ, before anything is written.

A bundle that continues the log may hold a retention run or a redaction of events the ledger held
before the import: each is carried over where it stands in the log, with the code that made it at
the source, so the ledger ends up expired and erased as the source is (:mod:`artifact_ledger.import_erasures`).
Before anything is written, each retention run of an incremental bundle is held to the plan its recorded
policy makes on the target's log and the bundle's events before it (``import_checks.check_retention``):
a forged run cannot make the import delete content a hold, an alias or the policy keeps.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from . import codec
from . import verify_bundle as spec
from .blob_files import deleting_files
from .bundle import Bundle, BundleEvent, BundleManifest, load_bundle, write_bundle
from .chain_v2 import Opening
from .content.streams import decode_manifest
from .errors import BundleRuleError, CorruptBlobError, IntegrityViolationError, InvalidBundleError
from .events import RecordedEvent, upcast
from .import_checks import (
    PAGE,
    ImportConflictError,
    LedgerHead,
    check_merkle_root,
    check_retention,
    check_rules,
    check_start,
    target_head,
)
from .import_erasures import HeldChanges
from .projections.projector import Projector, write_checkpoints
from .proofs import Extender
from .store.errors import translated
from .store.openings import adopt_format_2, opening_values
from .store.recorder import Recorder, recorder_for
from .store.rows import event_values
from .store.scrub import scrub_after_erasure

__all__ = ["ImportConflictError", "ImportResult", "export_ledger", "import_bundle"]


@dataclass(frozen=True)
class ImportResult:
    """What an import did: events and blobs written, events already present, and the ledger's head after it."""

    events_imported: int
    events_skipped: int
    blobs_imported: int
    head_position: int
    head_hash: str
    already_contained: bool = False
    """The ledger already held every event of the bundle (an older export of it): nothing was written.
    ``head_position`` and ``head_hash`` are then the ledger's head, which is past the bundle's."""


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
                record = orjson.loads(raw)
                opening = record.pop("opening", None)
                page.append(
                    BundleEvent(**record, opening=None if opening is None else spec.parse_opening(opening, "a line"))
                )
                if len(page) >= PAGE:
                    yield page
                    page = []
    except (spec.BundleFormatError, OSError, ValueError, TypeError) as exc:
        raise InvalidBundleError(f"bundle {bundle.path} changed while it was imported: {exc}") from None
    if page:
        yield page
    if digest.hexdigest() != bundle.manifest.events_sha256:
        raise InvalidBundleError(f"bundle {bundle.path}: {spec.EVENTS} changed while it was imported")


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
        None if event.opening is None else Opening(event.opening.salt, event.opening.salts, event.opening.erased),
    )


FUTURE_TOLERANCE: Final = timedelta(minutes=5)
"""How far past this machine's clock an imported event may be recorded (clocks of two machines differ)."""


class _Replay:
    """Inserts verified events (and their blobs) page by page and projects them."""

    def __init__(self, driver: Recorder, bundle: Bundle, head: LedgerHead, trash: list[Path]) -> None:
        self.driver = driver
        self.bundle = bundle
        self.head = head
        self.prev = bundle.manifest.prev_hash
        self.expected = bundle.manifest.first_position
        self.projector = Projector(driver)
        self.blobs_seen: set[str] = set()
        self.imported = self.skipped = self.blobs = 0
        self.merkle: Extender | None = None
        self.format_2_from: int | None = None
        """The first imported position sealed under chain format 2 (the ledger seals format 2 after it)."""
        self.now = datetime.now(UTC)
        self.held = HeldChanges(driver, str(bundle.path), bundle.manifest.first_position, head.position, trash)

    def check(self, event: BundleEvent) -> None:
        # Each hash was recomputed by load_bundle and the file is checked against its SHA-256 as it
        # is read (_pages): here the links are followed, so a mismatch can never be committed.
        if event.position != self.expected or event.prev_hash != self.prev:
            raise InvalidBundleError(
                f"bundle {self.bundle.path}: the chain breaks at position {self.expected} (the file changed "
                "while it was imported)"
            )
        self.prev = event.hash
        self.expected += 1

    def _not_ahead(self, event: RecordedEvent) -> None:
        """An event recorded later than now (give or take a clock's skew) would hold the ledger's
        time there: the log's time never goes backwards, so every later write would be dated then."""
        if event.recorded_at > self.now + FUTURE_TOLERANCE:
            line = event.position - self.bundle.manifest.first_position + 1
            raise BundleRuleError(
                f"bundle {self.bundle.path}: event {event.position} is recorded at {event.recorded_at.isoformat()}, "
                f"later than now ({self.now.isoformat()}); importing it would date every later write of this "
                "ledger then. Nothing was imported (rule: recorded-in-the-future)",
                file=spec.EVENTS,
                line=line,
                rule="recorded-in-the-future",
            )

    async def page(self, page: Sequence[BundleEvent]) -> None:
        fresh: list[RecordedEvent] = []
        for event in page:
            self.check(event)
            if event.position <= self.head.position:
                self.skipped += 1
                self.held.note(event)
                continue
            recorded = _recorded(event)
            self._not_ahead(recorded)
            fresh.append(recorded)
            if event.opening is not None and self.format_2_from is None:
                self.format_2_from = event.position
        # A retention run and a redaction of events held before change what is stored: each lands
        # after the events before it and before those after it, as it did where it was written.
        start = 0
        for index, recorded in enumerate(fresh):
            if self.held.changed_by(recorded):
                await self._land(fresh[start : index + 1])
                self.blobs_seen.difference_update(await self.held.apply(recorded))  # stored again if needed later
                start = index + 1
        await self._land(fresh[start:])

    async def _land(self, events: Sequence[RecordedEvent]) -> None:
        """Insert ``events`` (and their blobs) and project them."""
        if not events:
            return
        self.blobs_seen.difference_update(await self.held.redactions_held())  # before anything is appended
        await self._blobs(events)
        try:
            with translated():
                await self.driver.executemany(
                    self.driver.sql.insert_event, [event_values(e, self.driver.ts) for e in events]
                )
                opened = [opening_values(e.position, e.opening) for e in events if e.opening is not None]
                if opened:
                    await self.driver.executemany(self.driver.sql.insert_opening, opened)
        except IntegrityViolationError:
            first = self.bundle.manifest.first_position
            lines = f"lines {events[0].position - first + 1}-{events[-1].position - first + 1}"
            raise BundleRuleError(
                f"bundle {self.bundle.path}: an event id on {spec.EVENTS} {lines} already names an event of the "
                "ledger (rule: unique-event-id)",
                file=spec.EVENTS,
                line=events[0].position - first + 1,
                rule="unique-event-id",
            ) from None
        assert self.merkle is not None
        await self.merkle.extend(e.hash for e in events)
        parents = {e.payload.get("parent_id") or e.payload.get("to_parent_id") for e in events}
        await self.projector.load([*(p for p in parents if isinstance(p, str)), *(e.artifact_id for e in events)])
        for recorded in events:
            await self.projector.apply(recorded)
        await self.projector.flush()
        self.projector.forget()
        self.imported += len(events)

    async def _blobs(self, events: Sequence[RecordedEvent]) -> None:
        """Store the page's new blobs, each read and hashed once; a row already there must hold the same bytes."""
        wanted: dict[str, int] = {}
        for event in events:
            content = event.payload.get("content")
            if not isinstance(content, dict) or not isinstance(content.get("hash"), str):
                continue
            digest = content["hash"]
            if digest not in self.blobs_seen and self._expired(digest):
                continue
            if digest not in self.blobs_seen:
                self.blobs_seen.add(digest)
                wanted[digest] = event.position
                if content.get("codec") == "chunks":  # streamed content: its chunks come with it
                    for chunk in self._chunk_hashes(digest):
                        if chunk not in self.blobs_seen:
                            self.blobs_seen.add(chunk)
                            wanted[chunk] = event.position
        if not wanted:
            return
        stored = await self.driver.fetch(self.driver.sql.blob_digests_in, self.driver.id_list(list(wanted)))
        for digest, size, hashed in stored:
            actual = self.driver.blob_digest(hashed)
            if actual != digest:
                raise CorruptBlobError(
                    f"ledger_blobs already holds a row for content {digest} (event {wanted[digest]} of bundle "
                    f"{self.bundle.path}), but its bytes hash to {actual} ({size} bytes): the row was not written "
                    "by the ledger. Nothing was imported; find the damage with `artifact-ledger verify`"
                )
            del wanted[digest]
        if self.driver.blobs.external:  # a directory store: its files are checked as they are written
            wanted = {d: p for d, p in wanted.items() if d not in await self.driver.blobs.has(self.driver, [d])}
        batch: list[tuple[str, int, bytes]] = []
        for digest in wanted:  # bounded batches: blobs may be large
            data = self.bundle.blob(digest)
            batch.append((digest, len(data), data))
            if len(batch) >= 50 or sum(r[1] for r in batch) >= 64 << 20:
                await self._insert_blobs(batch)
                batch = []
        await self._insert_blobs(batch)

    def _expired(self, digest: str) -> bool:
        """Whether the bundle lacks this blob because a retention event deleted it. The bundle was
        verified whole before the import began, and its verifier accepts a missing blob only then."""
        return spec.HEX64.match(digest) is not None and not os.path.lexists(
            spec.blob_path(str(self.bundle.path), digest)
        )

    def _chunk_hashes(self, manifest: str) -> list[str]:
        """The chunks a manifest in the bundle lists (the bundle's verifier has followed it)."""
        try:
            return [h for h, _ in decode_manifest(self.bundle.blob(manifest)).chunks]
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidBundleError(
                f"bundle {self.bundle.path}: the chunk manifest {manifest} is unreadable: {exc}"
            ) from None

    async def _insert_blobs(self, rows: list[tuple[str, int, bytes]]) -> None:
        if rows:
            await self.driver.blobs.put(self.driver, rows)  # the target's store: its table or its directory
            self.blobs += len(rows)


async def import_bundle(
    engine: AsyncEngine,
    source: str | os.PathLike[str] | Bundle,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Verify the bundle at ``source`` (or take a :class:`Bundle` already loaded) and replay it into ``engine``.

    Raises :class:`~artifact_ledger.errors.BundleRuleError` (an :class:`InvalidBundleError`) for a
    bundle that is malformed, truncated, from a newer format version, fails verification or holds
    an event no writer could have produced, and :class:`ImportConflictError` for a ledger whose
    history is not the bundle's; in every case nothing is written. A bundle whose events the
    ledger already holds (an older export of it) changes nothing: ``already_contained`` is true.
    """
    bundle = source if isinstance(source, Bundle) else load_bundle(source)

    async def replay(trash: list[Path]) -> ImportResult:
        return await _import(engine, bundle, trash, progress)

    # A retention run or a redaction in the bundle deletes blob files of a directory store: they are
    # set aside while the transaction runs, removed once it committed, put back if it failed.
    result = await deleting_files(replay, False)
    if result.events_imported:  # it may have erased held events: the SQLite WAL holds them as they were
        await scrub_after_erasure(engine)
    return result


async def _import(
    engine: AsyncEngine, bundle: Bundle, trash: list[Path], progress: Callable[[int], None] | None
) -> ImportResult:
    manifest = bundle.manifest
    with translated():
        async with engine.begin() as conn:
            driver = await recorder_for(conn)
            await driver.lock()
            head = await target_head(driver)
            if await check_start(driver, bundle, head):
                if progress is not None:
                    progress(manifest.event_count)
                return ImportResult(0, manifest.event_count, 0, head.position, head.hash, already_contained=True)
            if not bundle.rules_checked:
                await check_rules(driver, bundle, head)  # every event passes before the first write
            await check_retention(driver, bundle, head)  # every run keeps what its policy keeps, before any deletes
            replay = _Replay(driver, bundle, head, trash)
            replay.merkle = await Extender.at_head(driver, head.position)
            for page in _pages(bundle):
                await replay.page(page)
                if progress is not None:
                    progress(replay.imported + replay.skipped)
            await replay.held.check_erased()
            await replay.held.check_deleted()
            check_merkle_root(bundle, replay.merkle)
            if replay.imported and replay.format_2_from is not None:
                await adopt_format_2(driver, replay.format_2_from)
            if replay.imported:
                await write_checkpoints(driver, manifest.head_position)
                await replay.merkle.finish()
    return ImportResult(
        events_imported=replay.imported,
        events_skipped=replay.skipped,
        blobs_imported=replay.blobs,
        head_position=manifest.head_position,
        head_hash=manifest.head_hash,
    )
