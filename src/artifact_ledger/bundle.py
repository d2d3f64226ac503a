"""Bundles: a ledger's events and blobs as plain files, checkable with the standard library.

A bundle is a directory (``docs/bundle-format.md``)::

    manifest.json   format, format_version 1, first position, prev_hash, head position and hash,
                    event count, SHA-256 of events.jsonl, blob count and bytes, the Merkle
                    tree's size and root (and an incremental bundle's base frontier)
    events.jsonl    one JSON object per event, in position order: every stored column, the
                    payload as its stored text, hashes as hex, recorded_at as the hashed text
    blobs/ab/ab…    each referenced blob's bytes, named by its SHA-256; for content saved as a
                    stream, its manifest and every chunk the manifest lists

:func:`write_bundle` exports a ledger (whole, or from a trusted head on). :func:`load_bundle`
checks a bundle completely (with ``verify_bundle``, the same stdlib code an auditor runs) and
returns a :class:`Bundle` whose events and blobs an importer can read; anything wrong with it
raises :class:`~artifact_ledger.errors.InvalidBundleError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from . import codec
from . import verify_bundle as spec
from .bundle_check import EventRules
from .chain import format_time
from .content.streams import decode_manifest
from .errors import BundleRuleError, InvalidBundleError
from .integrity import HeadDigest
from .merkle import Frontier, frontier_nodes
from .proofs import subtree_hashes
from .store.errors import translated
from .store.event_store import merkle_drift
from .store.one_writer import connect
from .store.openings import opening_statements
from .store.recorder import Recorder, reading
from .store.rows import EVENT_COLUMNS, HASH, PREV_HASH, RECORDED_AT

__all__ = ["Bundle", "BundleEvent", "BundleManifest", "load_bundle", "write_bundle"]

BundleEvent = spec.Event
"""One event of a bundle: every stored field, the payload as its stored text, hashes as hex."""
BundleManifest = spec.Manifest
"""The parsed ``manifest.json``."""

_PAGE = 5000
_BLOB_BATCH = 100


@dataclass(frozen=True)
class Bundle:
    """A bundle that passed verification: its manifest, events and blobs (read lazily from disk).

    ``rules_checked``: every event also passed the write rules (``bundle_check``); true for a
    bundle from position 1, whose rules need nothing but the bundle. An incremental bundle's
    events are checked against the target's log when it is imported.
    """

    path: Path
    manifest: BundleManifest
    rules_checked: bool = False

    def events(self) -> Iterator[BundleEvent]:
        """The events in position order (already verified; re-read from the file)."""
        try:
            with spec.open_regular(str(self.path / spec.EVENTS)) as handle:
                for number, line in spec.event_lines(handle):
                    yield spec.parse_event(line, f"{spec.EVENTS} line {number}")
        except (spec.BundleFormatError, OSError) as exc:
            raise InvalidBundleError(f"bundle {self.path} changed while it was read: {exc}") from None

    def blob(self, digest: str) -> bytes:
        """The bytes of one blob, checked against its hash again."""
        if not spec.HEX64.match(digest):
            raise InvalidBundleError(f"{digest!r} is not a blob hash (64 lowercase hex digits)")
        try:
            with spec.open_regular(spec.blob_path(str(self.path), digest)) as handle:
                data = handle.read()
        except (spec.BundleFormatError, OSError) as exc:
            raise InvalidBundleError(f"bundle {self.path} has no readable blob {digest}: {exc}") from None
        if codec.sha256(data).hex() != digest:
            raise InvalidBundleError(f"bundle {self.path}: blob {digest} does not match its SHA-256")
        return data


def load_bundle(path: str | os.PathLike[str], *, trusted_head: HeadDigest | str | None = None) -> Bundle:
    """Verify the bundle at ``path`` completely and return it.

    The files are checked as the standalone verifier checks them (structure, hash chain, blobs,
    manifest); a bundle from position 1 is also checked event by event against the rules of a
    live write (:mod:`artifact_ledger.bundle_check`). The first problem raises
    :class:`~artifact_ledger.errors.BundleRuleError` naming the file, the line and the rule.
    """
    directory = Path(path)
    trusted = HeadDigest.parse(trusted_head) if trusted_head is not None else None
    try:
        pair = (trusted.position, trusted.hash) if trusted is not None else None
        report = spec.verify_bundle(directory, trusted_head=pair)
    except FileNotFoundError:
        raise InvalidBundleError(f"no bundle at {directory}: not a directory") from None
    if not report.ok:
        raise _verification_error(directory, report)
    manifest = spec.read_manifest(str(directory))
    if manifest.first_position != 1:
        return Bundle(directory, manifest)
    rules = EventRules(str(directory), 1, complete=True)
    bundle = Bundle(directory, manifest)
    for event in bundle.events():
        rules.check(event)
    return Bundle(directory, manifest, rules_checked=True)


_MANIFEST_KEYS = (
    "format_version",
    "format",
    "hash_algorithm",
    "first_position",
    "prev_hash",
    "head_position",
    "head_hash",
    "event_count",
    "events_sha256",
    "blob_count",
    "blob_bytes",
    "created_at",
    "generator",
    "merkle_root",
    "merkle_size",
    "merkle_frontier",
)


def _manifest_line(directory: Path, key: str | None) -> int:
    """The line of ``manifest.json`` where ``key`` is written (1 when it cannot tell)."""
    if key is None:
        return 1
    try:
        with spec.open_in_bundle(str(directory), spec.MANIFEST) as handle:
            raw = handle.read(1 << 20)
    except (spec.BundleFormatError, OSError):
        return 1
    at = raw.find(f'"{key}"'.encode())
    return raw[:at].count(b"\n") + 1 if at >= 0 else 1


def _manifest_key(problem: str) -> str | None:
    if "SHA-256" in problem and spec.EVENTS in problem:
        return "events_sha256"
    if " blobs of " in problem:
        return "blob_count"
    if "events; the manifest says" in problem:
        return "event_count"
    if "head hash" in problem:
        return "head_hash"
    if "events end at position" in problem or "ends at" in problem:
        return "head_position"
    return next((k for k in _MANIFEST_KEYS if k in problem), None)


def _verification_error(directory: Path, report: spec.BundleReport) -> BundleRuleError:
    """The verifier's verdict as an error naming the file and line: an event's line, or the manifest's."""
    rule = report.reason or spec.MALFORMED
    problem = report.problem or "fails verification"
    where = f" at position {report.broken_position}" if report.broken_position is not None else ""
    first = report.manifest.get("first_position")
    file, line = spec.MANIFEST, None
    if report.broken_position is not None and isinstance(first, int) and report.broken_position >= first:
        file, line = spec.EVENTS, report.broken_position - first + 1
    elif ("no " + spec.MANIFEST) not in problem:
        line = _manifest_line(directory, _manifest_key(problem))
    shown = f"{file} line {line}" if line is not None else file
    detail = problem if problem.startswith(shown) else f"{shown}: {problem}"
    return BundleRuleError(
        f"bundle {directory} fails verification{where} ({rule}): {detail}", file=file, line=line, rule=rule
    )


# ---- writing -----------------------------------------------------------------------------------


def _record(driver: Recorder, row: Sequence[Any]) -> dict[str, Any]:
    """A stored event row as a bundle record: every column, the time in canonical text, hashes in hex."""
    record = dict(zip(EVENT_COLUMNS, row, strict=True))
    record["recorded_at"] = format_time(driver.read_ts(row[RECORDED_AT]))
    record["prev_hash"] = bytes(row[PREV_HASH]).hex()
    record["hash"] = bytes(row[HASH]).hex()
    return record


async def _openings(driver: Recorder, page: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """The openings of the page's events sealed under chain format 2, as bundle lines hold them."""
    if not page:
        return {}
    sql = opening_statements(driver.sql.dialect)
    rows = await driver.fetch(sql.openings_between, int(page[0][0]) - 1, int(page[-1][0]))
    found: dict[int, dict[str, Any]] = {}
    for position, salt, salts, erased in rows:
        found[int(position)] = {
            "salt": None if salt is None else bytes(salt).hex(),
            "salts": {} if salts is None else codec.loads(salts),
            "erased": {} if erased is None else codec.loads(erased),
        }
    return found


def _prepare(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(f"{directory} exists and is not an empty directory; export into a new one")
    directory.mkdir(parents=True, exist_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


async def write_bundle(
    engine: AsyncEngine,
    path: str | os.PathLike[str],
    *,
    since: HeadDigest | tuple[int, str | bytes] | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> BundleManifest:
    """Export the ledger (or its events after ``since``) into a new directory; returns the manifest written.

    The export reads one snapshot and copies rows as stored, so a bundle of a tampered ledger
    fails verification the same way the ledger does. ``manifest.json`` is written last: a
    directory without one is an export that did not finish. Raises :class:`FileExistsError`
    if ``path`` exists and is not an empty directory, and :class:`ValueError` for a ``since``
    the log does not hold.
    """
    directory = Path(path)
    anchor = HeadDigest.parse(since) if since is not None else HeadDigest(0, codec.GENESIS_HASH.hex())
    _prepare(directory)
    with translated():
        async with connect(engine) as conn, reading(conn) as driver:  # in-memory SQLite: in turn with writers
            if anchor.position > 0:
                rows = await driver.fetch(driver.sql.hash_at, anchor.position)
                if not rows or bytes(rows[0][0]).hex() != anchor.hash:
                    raise ValueError(f"the log has no event {anchor.position} with hash {anchor.hash}")
            base = await _merkle_base(driver, anchor.position)
            frontier = base.copy()
            manifests: set[str] = set()
            count, head, digest, refs = await _write_events(driver, directory, anchor, progress, manifests, frontier)
            blob_count, blob_bytes = await _write_blobs(driver, directory, refs, manifests)
    manifest = {
        "format": spec.FORMAT,
        "format_version": spec.FORMAT_VERSION,
        "hash_algorithm": "sha256",
        "generator": f"artifact-ledger {_version()}",
        "first_position": anchor.position + 1,
        "prev_hash": anchor.hash,
        "head_position": head.position,
        "head_hash": head.hash,
        "event_count": count,
        "events_sha256": digest,
        "blob_count": blob_count,
        "blob_bytes": blob_bytes,
        **_merkle_fields(frontier, base, head.position),
    }
    await asyncio.to_thread(_write_atomically, directory / spec.MANIFEST, codec.dumps_trusted(manifest) + b"\n")
    return spec.parse_manifest(codec.dumps_trusted(manifest))


async def _merkle_base(driver: Recorder, base: int) -> Frontier:
    """The Merkle frontier of the first ``base`` events (an incremental bundle's base), from the stored tree."""
    ranges = [(index << level, (index + 1) << level) for level, index in frontier_nodes(base)]
    try:
        hashes: list[bytes] = (await subtree_hashes(driver, ranges))[0] if ranges else []
    except KeyError as exc:  # an event hash the tree needs is not in the log
        raise merkle_drift(
            f"the Merkle tree of the first {base} events cannot be read: the log has no event {int(str(exc)) + 1}"
        ) from None
    return Frontier(base, hashes)


def _merkle_fields(frontier: Frontier, base: Frontier, head: int) -> dict[str, Any]:
    """The manifest's Merkle fields: the tree grown by the exported events, and the base it grew from.

    The size is the head's position: a log with an event missing (which the bundle's chain then
    shows as deleted) has a tree of fewer leaves, and a root the verifier never gets to."""
    return {"merkle_size": head, "merkle_root": frontier.root().hex(), "merkle_frontier": [h.hex() for h in base.roots]}


async def _write_events(
    driver: Recorder,
    directory: Path,
    anchor: HeadDigest,
    progress: Callable[[int], None] | None,
    manifests: set[str],
    frontier: Frontier,
) -> tuple[int, HeadDigest, str, set[str]]:
    digest = hashlib.sha256()
    refs: set[str] = set()
    count, head = 0, anchor
    # File writes go to a worker thread: an export of a large ledger must not block the event loop.
    handle = await asyncio.to_thread(open, directory / spec.EVENTS, "wb")
    try:
        async with aclosing(driver.pages(driver.sql.events_from, (anchor.position,), _PAGE)) as paged:
            async for page in paged:
                lines = []
                openings = await _openings(driver, page)
                for row in page:
                    record = _record(driver, row)
                    opening = openings.get(record["position"])
                    if opening is not None:  # chain format 2: what opens the event's commitment
                        record["opening"] = opening
                    lines.append(codec.dumps_trusted(record) + b"\n")
                    if '"content":{' in record["payload"]:
                        ref = codec.loads(record["payload"]).get("content")
                        if isinstance(ref, dict) and isinstance(ref.get("hash"), str):
                            refs.add(ref["hash"])
                            if ref.get("codec") == "chunks":  # streamed content: its chunks go too
                                manifests.add(ref["hash"])
                    head = HeadDigest(record["position"], record["hash"])
                    frontier.append(driver.read_bytes(row[HASH]))
                chunk = b"".join(lines)
                await asyncio.to_thread(handle.write, chunk)
                digest.update(chunk)
                count += len(lines)
                if progress is not None:
                    progress(count)
        await asyncio.to_thread(_sync_close, handle)
    except BaseException:
        handle.close()
        raise
    return count, head, digest.hexdigest(), refs


async def _write_blobs(driver: Recorder, directory: Path, refs: set[str], manifests: set[str]) -> tuple[int, int]:
    """Copy the referenced blobs as stored (from the ledger's blob store), then the chunks their
    manifests list, one chunk at a time; each file once."""
    wanted = sorted(refs)
    count = total = 0
    written: set[str] = set()
    chunks: dict[str, None] = {}
    for start in range(0, len(wanted), _BLOB_BATCH):
        for blob_hash, _size, data in await driver.blobs.stored_rows(driver, wanted[start : start + _BLOB_BATCH]):
            if not isinstance(blob_hash, str) or not spec.HEX64.match(blob_hash):
                continue  # never a file name we did not validate; the verifier reports the blob missing
            if blob_hash in manifests:
                chunks.update(dict.fromkeys(_chunk_hashes(data)))
            await asyncio.to_thread(_write_blob, directory / spec.BLOBS / blob_hash[:2] / blob_hash, bytes(data))
            written.add(blob_hash)
            count += 1
            total += len(data)
    for chunk in chunks:
        if chunk in written:
            continue
        for blob_hash, _size, data in await driver.blobs.stored_rows(driver, [chunk]):
            if blob_hash != chunk:
                continue
            await asyncio.to_thread(_write_blob, directory / spec.BLOBS / chunk[:2] / chunk, bytes(data))
            written.add(chunk)
            count += 1
            total += len(data)
    return count, total


def _chunk_hashes(manifest: bytes) -> list[str]:
    """The chunk hashes a stored manifest lists (valid blob names only; a bad manifest lists none,
    and the bundle's verifier reports it)."""
    try:
        streamed = decode_manifest(bytes(manifest))
    except (ValueError, TypeError, KeyError):
        return []
    return [h for h, _ in streamed.chunks if spec.HEX64.match(h)]


def _sync_close(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _write_blob(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _version() -> str:
    from . import __version__

    return __version__
