"""Bundles: a ledger's events and blobs as plain files, checkable with the standard library.

A bundle is a directory (``docs/bundle-format.md``)::

    manifest.json   format, format_version 1, first position, prev_hash, head position and hash,
                    event count, SHA-256 of events.jsonl, blob count and bytes, the Merkle
                    tree's size and root (and an incremental bundle's base frontier)
    events.jsonl    one JSON object per event, in position order: every stored column, the
                    payload as its stored text, hashes as hex, recorded_at as the hashed text
    blobs/ab/ab…    each referenced blob's bytes, named by its SHA-256; for content saved as a
                    stream, its manifest and every chunk the manifest lists

:func:`write_bundle` exports a ledger (whole, or from a trusted head on), from one snapshot: a
blob directory's files have none, so a blob file the snapshot needs that a redaction or retention
run deleted while the export ran (the log as committed after it no longer needs it) makes the
export start again from a new snapshot, up to :data:`EXPORT_TRIES` times; it never writes a bundle
that does not verify for that reason. :func:`load_bundle`
checks a bundle completely (with ``verify_bundle``, the same stdlib code an auditor runs) and
returns a :class:`Bundle` whose events and blobs an importer can read; anything wrong with it
raises :class:`~artifact_ledger.errors.InvalidBundleError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

from . import codec
from . import verify_bundle as spec
from .blob_check import needed_now, set_aside
from .bundle_check import EventRules
from .chain import format_time
from .content.streams import decode_manifest
from .errors import BundleRuleError, ExportPathNotEmptyError, InvalidArgumentError, InvalidBundleError, LedgerError
from .integrity import HeadDigest
from .merkle import Frontier, frontier_nodes
from .proofs import subtree_hashes
from .store.blob_dir import DirectoryBlobs
from .store.blobs import store_of
from .store.errors import translated
from .store.event_store import merkle_drift
from .store.one_writer import connect, shares_one_connection
from .store.openings import opening_statements
from .store.recorder import Recorder, reading
from .store.retention import retention_statements
from .store.rows import EVENT_COLUMNS, HASH, PREV_HASH, RECORDED_AT

__all__ = ["Bundle", "BundleEvent", "BundleManifest", "load_bundle", "write_bundle"]

BundleEvent = spec.Event
"""One event of a bundle: every stored field, the payload as its stored text, hashes as hex."""
BundleManifest = spec.Manifest
"""The parsed ``manifest.json``."""

_PAGE = 5000
_BLOB_BATCH = 100
_BLOB_BATCH_BYTES: Final = 8 << 20
"""About how many bytes of blobs an export holds in memory at once (a larger blob alone)."""
EXPORT_TRIES: Final = 3
"""How many snapshots an export tries when blobs it needs are erased while it runs."""


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


def _check_target(engine: AsyncEngine, directory: Path) -> None:
    """Refuse, before anything is written, a bundle directory the export must not use: one whose
    parent does not exist (a mistyped mount point would put the backup on the wrong disk), and one
    inside the ledger's own blob directory (or that directory itself), whose files would then pass
    for stray blobs of the store."""
    parent = directory.absolute().parent
    if not parent.is_dir():
        raise InvalidArgumentError(
            f"cannot export to {directory}: its parent directory {parent} does not exist; create it first "
            "(the export makes only the bundle's own directory)"
        )
    store = store_of(engine)
    if isinstance(store, DirectoryBlobs):
        root = store.root.resolve()
        target = directory.resolve()
        if target == root or root in target.parents:
            raise InvalidArgumentError(
                f"cannot export to {directory}: it is inside the ledger's blob directory {store.root}, where "
                "its files would pass for stray blobs; export to a directory outside the blob store"
            )


def _prepare(directory: Path) -> bool:
    """Make sure ``directory`` is a new or empty directory; whether it was made here."""
    existed = directory.exists()
    if existed and (not directory.is_dir() or any(directory.iterdir())):
        raise ExportPathNotEmptyError(
            f"{directory} exists and is not an empty directory; nothing was written (an export never writes over "
            f"anything): give a path that does not exist yet or an empty directory, or move what {directory} holds away"
        )
    directory.mkdir(exist_ok=True)  # the parent exists (_check_target): never a tree of directories
    return not existed


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
    _fsync_directory(path.parent)  # the new name itself survives a power cut


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(2)`` from the C library (None elsewhere, or where the library lacks it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def _sync_filesystem(directory: Path) -> None:
    """Put every file written so far under ``directory`` on disk, in one call whatever their number.

    On Linux, ``syncfs`` on the bundle's filesystem (it reports a write-back error as an
    :class:`OSError`); elsewhere ``os.sync()``; without either, each file is fsynced."""
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if syncfs(fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), str(directory))
        finally:
            os.close(fd)
    elif hasattr(os, "sync"):
        os.sync()
    else:  # pragma: no cover - no platform-wide sync (Windows)
        _fsync_tree(directory)


def _fsync_tree(directory: Path) -> None:
    """Fsync every file under ``directory`` (where the system offers no sync of a whole filesystem)."""
    for folder, _dirs, files in os.walk(directory):
        for name in files:
            with open(os.path.join(folder, name), "rb+") as handle:
                os.fsync(handle.fileno())


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
    directory without one is an export that did not finish. An export that fails or is cancelled
    removes what it wrote (the directory too, when it made it) before the error goes on. Raises
    :class:`~artifact_ledger.errors.ExportPathNotEmptyError` (a :class:`FileExistsError` and an
    ``InvalidArgumentError``) if ``path`` exists and is not an empty directory,
    :class:`~artifact_ledger.errors.InvalidArgumentError` if its parent directory does not exist or it
    is, or lies inside, the ledger's blob directory (each before anything is written), and
    :class:`ValueError` for a ``since`` the log does not hold.

    Durability: every blob file and ``events.jsonl`` are flushed to disk (one flush of the
    bundle's filesystem, not one fsync per file) before ``manifest.json`` is written, fsynced and
    renamed into place, so a bundle with a manifest survives a power cut whole.

    With a blob directory, a redaction or retention run that commits during the export can delete
    files the snapshot still needs; the export then starts again from a new snapshot (its partial
    output removed), and after :data:`EXPORT_TRIES` snapshots raises :class:`LedgerError`, leaving
    the directory as it found it.
    """
    directory = Path(path)
    anchor = HeadDigest.parse(since) if since is not None else HeadDigest(0, codec.GENESIS_HASH.hex())
    _check_target(engine, directory)
    created = _prepare(directory)
    erased: set[str] = set()
    try:
        for _ in range(EXPORT_TRIES):
            written, erased = await _export(engine, directory, anchor, progress)
            if written is not None:
                return written
            await asyncio.to_thread(_clear, directory, remove=False)
    except _WriteFailed as failed:  # the bundle's own files: a full disk, a lost mount, no permission
        _clear_quietly(directory, remove=created)
        error = failed.error
        raise OSError(
            error.errno, f"cannot write the bundle at {directory}: {error.strerror or error}; nothing was written"
        ) from error
    except BaseException:  # a lost connection, a cancelled task: leave no half-written bundle
        _clear_quietly(directory, remove=created)
        raise
    await asyncio.to_thread(_clear, directory, remove=created)
    first = min(erased)
    raise LedgerError(
        f"the ledger changed during the export to {directory}: {len(erased)} blob(s) its snapshot needed "
        f"(first {first}) were erased by a redaction or retention run that committed meanwhile, "
        f"{EXPORT_TRIES} times in a row; nothing was written. Run the export again"
    )


async def _export(
    engine: AsyncEngine, directory: Path, anchor: HeadDigest, progress: Callable[[int], None] | None
) -> tuple[BundleManifest | None, set[str]]:
    """One export from one snapshot into ``directory``: the manifest written, or None and the blobs
    the snapshot needed that a run erased meanwhile (then no manifest is written: start again)."""
    with translated():
        async with connect(engine) as conn, reading(conn) as driver:  # in-memory SQLite: in turn with writers
            if anchor.position > 0:
                rows = await driver.fetch(driver.sql.hash_at, anchor.position)
                if not rows or bytes(rows[0][0]).hex() != anchor.hash:
                    raise ValueError(f"the log has no event {anchor.position} with hash {anchor.hash}")
            base = await _merkle_base(driver, anchor.position)
            frontier = base.copy()
            blobs = _BlobCopier(driver, directory)
            count, head, digest = await _write_events(driver, directory, anchor, progress, blobs, frontier)
            blob_count, blob_bytes = blobs.count, blobs.total
            erased = await _erased_meanwhile(driver, engine, blobs.missing)
    if erased:
        return None, erased
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
    with _bundle_files():
        # Every blob file and events.jsonl reach the disk before the manifest says the bundle is whole.
        await asyncio.to_thread(_sync_filesystem, directory)
        await asyncio.to_thread(_write_atomically, directory / spec.MANIFEST, codec.dumps_trusted(manifest) + b"\n")
    return spec.parse_manifest(codec.dumps_trusted(manifest)), set()


async def _erased_meanwhile(driver: Recorder, engine: AsyncEngine, missing: set[str]) -> set[str]:
    """Those of the blobs the export found missing that the snapshot needs but the log as committed
    now does not: a redaction or retention run deleted their files after the snapshot was taken.

    A blob a retention run of the snapshot deleted is meant to be missing (the bundle's verifier
    knows from its events); one the log still needs now is missing for good, and the bundle shows
    it as the ledger does. With one shared connection (in-memory SQLite) no run commits meanwhile."""
    if not missing or not isinstance(driver.blobs, DirectoryBlobs) or shares_one_connection(engine):
        return set()
    expired = {str(h) for h, _ in await driver.fetch(retention_statements(driver.sql.dialect).all_expired_blobs)}
    candidates = missing - expired
    if not candidates:
        return set()
    return candidates - await needed_now(engine, candidates)


class _WriteFailed(Exception):
    """An :class:`OSError` writing the bundle's own files, carried past ``translated()`` (which
    would report it as the database's: "the database connection failed ... No space left")."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


@contextlib.contextmanager
def _bundle_files() -> Iterator[None]:
    """Writes to the bundle's files: their :class:`OSError` is the bundle's, not the database's."""
    try:
        yield
    except OSError as exc:
        raise _WriteFailed(exc) from exc


def _clear_quietly(directory: Path, *, remove: bool) -> None:
    """:func:`_clear` after a failed export, in this thread (the task may be cancelled: nothing is
    awaited); a failure to clear does not hide the error that stopped the export."""
    with contextlib.suppress(OSError):
        _clear(directory, remove=remove)


def _clear(directory: Path, *, remove: bool) -> None:
    """Remove what an export wrote into ``directory`` (and the directory itself when ``remove`` and
    nothing else is left). Only the bundle's own names are removed: a file another program put there
    meanwhile (a blob store given by mistake, a colleague's copy) is never deleted."""
    for entry in directory.iterdir():
        if entry.name == spec.BLOBS and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.name in (spec.EVENTS, spec.MANIFEST) or entry.name.startswith(f".{spec.MANIFEST}."):
            entry.unlink(missing_ok=True)
    if remove:
        with contextlib.suppress(OSError):  # not empty: what is left is not the export's
            directory.rmdir()


def remove_unfinished_export(directory: Path, *, made: bool) -> None:
    """Remove the files of an export that did not finish from ``directory`` (the directory too when
    the export ``made`` it and nothing else is in it); files the export did not write are kept."""
    _clear(directory, remove=made)


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
    blobs: _BlobCopier,
    frontier: Frontier,
) -> tuple[int, HeadDigest, str]:
    """Write ``events.jsonl`` a page at a time, copying each page's blobs after its lines (so
    neither the lines nor the blob hashes of the whole log are ever held at once)."""
    digest = hashlib.sha256()
    count, head = 0, anchor
    # File writes go to a worker thread: an export of a large ledger must not block the event loop.
    with _bundle_files():
        handle = await asyncio.to_thread(open, directory / spec.EVENTS, "wb")
    try:
        async with aclosing(driver.pages(driver.sql.events_from, (anchor.position,), _PAGE)) as paged:
            async for page in paged:
                lines = []
                refs: dict[str, int] = {}
                manifests: set[str] = set()
                openings = await _openings(driver, page)
                for row in page:
                    record = _record(driver, row)
                    opening = openings.get(record["position"])
                    if opening is not None:  # chain format 2: what opens the event's commitment
                        record["opening"] = opening
                    lines.append(codec.dumps_trusted(record) + b"\n")
                    if '"content":{' in record["payload"]:
                        _note_content(codec.loads(record["payload"]).get("content"), refs, manifests)
                    head = HeadDigest(record["position"], record["hash"])
                    frontier.append(driver.read_bytes(row[HASH]))
                chunk = b"".join(lines)
                del lines
                with _bundle_files():
                    await asyncio.to_thread(handle.write, chunk)
                digest.update(chunk)
                count += len(page)
                del chunk
                await _write_blobs(blobs, refs, manifests)
                if progress is not None:
                    progress(count)
        with _bundle_files():
            await asyncio.to_thread(_sync_close, handle)
    except BaseException:
        handle.close()
        raise
    return count, head, digest.hexdigest()


async def _write_blobs(blobs: _BlobCopier, refs: dict[str, int], manifests: set[str]) -> None:
    """Copy one page's blobs into the bundle (after the page's lines are written)."""
    await blobs.copy(refs, manifests)


def _note_content(ref: Any, refs: dict[str, int], manifests: set[str]) -> None:
    """Note a payload's content reference: its hash and stored size (the size only sizes the
    copy's batches), and whether it is a stream's manifest, whose chunks go too."""
    if not isinstance(ref, dict) or not isinstance(ref.get("hash"), str):
        return
    size = ref.get("size")
    refs[ref["hash"]] = size if type(size) is int and size > 0 else 0
    if ref.get("codec") == "chunks":
        manifests.add(ref["hash"])


class _BlobCopier:
    """Copies blobs as stored (from the ledger's blob store) into the bundle, each file once.

    Memory stays bounded however many blobs the ledger holds or however large they are: blobs are
    read in batches of at most :data:`_BLOB_BATCH` files and about :data:`_BLOB_BATCH_BYTES` bytes
    (a larger blob alone), and a blob already copied is known by its file in the bundle, not by a
    set of every hash seen. ``missing`` holds the hashes not found in the store (nor, with a blob
    directory, set aside by a run not yet committed)."""

    def __init__(self, driver: Recorder, directory: Path) -> None:
        self.driver = driver
        self.directory = directory
        self.count = 0
        self.total = 0
        self.missing: set[str] = set()

    def _target(self, blob_hash: str) -> Path:
        return self.directory / spec.BLOBS / blob_hash[:2] / blob_hash

    def _new(self, hashes: list[str]) -> list[str]:
        """Those of ``hashes`` that are valid blob names not copied yet (nor known missing)."""
        return [
            h for h in hashes if spec.HEX64.match(h) and h not in self.missing and not os.path.lexists(self._target(h))
        ]

    async def copy(self, refs: dict[str, int], manifests: set[str]) -> None:
        """Copy the blobs ``refs`` names (hash to stored size), then the chunks of the manifests among them."""
        wanted = await asyncio.to_thread(self._new, sorted(refs))
        chunks: dict[str, int] = {}
        for batch in _batches(wanted, refs):
            read = await self._read(batch)
            for blob_hash, data in read:
                if blob_hash in manifests:
                    chunks.update(_chunk_hashes(data))
            await self._write(read)
        if chunks:
            await self.copy(chunks, set())

    async def _read(self, hashes: list[str]) -> list[tuple[str, bytes]]:
        """The stored bytes of ``hashes`` (each once); those not found are noted as missing."""
        rows = list(await self.driver.blobs.stored_rows(self.driver, hashes))
        found = {h for h, _, _ in rows if isinstance(h, str)}
        store = self.driver.blobs
        if isinstance(store, DirectoryBlobs):
            for blob_hash in hashes:
                if blob_hash not in found:
                    data = await asyncio.to_thread(set_aside, store, blob_hash)
                    if data is not None:  # a run deleting it has not committed: the snapshot needs it
                        rows.append((blob_hash, len(data), data))
                        found.add(blob_hash)
        self.missing.update(h for h in hashes if h not in found)
        wanted = set(hashes)
        read: dict[str, bytes] = {}
        for blob_hash, _size, data in rows:
            if isinstance(blob_hash, str) and blob_hash in wanted:  # never a file name we did not validate
                read.setdefault(blob_hash, bytes(data))
        return list(read.items())

    async def _write(self, read: list[tuple[str, bytes]]) -> None:
        """Write a batch of blob files in one hop to a worker thread (not one hop per file)."""
        files = [(self._target(blob_hash), data) for blob_hash, data in read]
        stop = threading.Event()
        try:
            with _bundle_files():
                await asyncio.to_thread(_write_blob_files, self.directory / spec.BLOBS, files, stop)
        except BaseException:  # cancelled or failed: the thread writes no further file
            stop.set()
            raise
        self.count += len(files)
        self.total += sum(len(data) for _, data in files)


def _batches(hashes: list[str], sizes: dict[str, int]) -> Iterator[list[str]]:
    """``hashes`` in batches of at most :data:`_BLOB_BATCH` blobs and about :data:`_BLOB_BATCH_BYTES`
    bytes by their recorded sizes (a blob larger than that is a batch of its own)."""
    batch: list[str] = []
    held = 0
    for blob_hash in hashes:
        size = sizes.get(blob_hash, 0)
        if batch and (len(batch) >= _BLOB_BATCH or held + size > _BLOB_BATCH_BYTES):
            yield batch
            batch, held = [], 0
        batch.append(blob_hash)
        held += size
    if batch:
        yield batch


def _chunk_hashes(manifest: bytes) -> dict[str, int]:
    """The chunks a stored manifest lists, hash to size (valid blob names only; a bad manifest
    lists none, and the bundle's verifier reports it)."""
    try:
        streamed = decode_manifest(bytes(manifest))
    except (ValueError, TypeError, KeyError):
        return {}
    return {h: size if type(size) is int and size > 0 else 0 for h, size in streamed.chunks if spec.HEX64.match(h)}


def _sync_close(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _write_blob_files(blobs: Path, files: list[tuple[Path, bytes]], stop: threading.Event) -> None:
    """Write a batch of blob files under ``blobs``, unless ``stop`` is set (the export stopped)."""
    for path, data in files:
        if stop.is_set():
            return
        _write_blob(blobs, path, data)


def _write_blob(blobs: Path, path: Path, data: bytes) -> None:
    """Write one blob file under ``blobs`` (made here if needed, but never its parent: an export
    cleared away after it failed is not made again by a copy still finishing in a worker thread)."""
    blobs.mkdir(exist_ok=True)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)


def _version() -> str:
    from . import __version__

    return __version__
