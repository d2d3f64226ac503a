"""Garbage collection: delete the blobs no version references any more, and say what went.

A blob is referenced while some version whose content was not expired has its hash, or is a
chunk of such a version's streamed content (the chunks its manifest lists). Everything else
stored is garbage: blob rows and directory files of content a retention run expired (a
directory store kept them before retention deleted files too), chunk files of a streamed save
that failed or rolled back, files written for a transaction that never committed, rows an
import brought that no event names. :func:`collect` finds it, in both stores: ``ledger_blobs``
and, with a directory store, its files.

A real run is a command of the manager's unit of work, like a retention run: under the write
lock, so no writer checks a blob is there (and reuses it) while the run deletes it. It appends
``retention.applied`` events that expire no version (a policy with no rule) and list the blobs
it deletes, so the guard of ``ledger_blobs`` lets their DELETE through (and refuses any other),
verify, export and the stdlib verifier know they are gone on purpose, and the log says who ran
it and why. Files are deleted before the transaction commits, still under the lock: a run that
fails after that leaves fewer unreferenced files and nothing a version needs.
"""

from __future__ import annotations

import asyncio
import heapq
from array import array
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict

from . import arguments
from .ambient import current as current_attribution
from .blob_files import TRASH, blob_files, deleting_files, restore_files, trash_files
from .content.streams import decode_manifest
from .errors import InvalidArgumentError, LedgerError
from .events import RETENTION_APPLIED, Attribution, NewEvent, RecordedEvent
from .ids import id_text
from .lifecycle import delete_blobs
from .retention import PART_ITEMS
from .store.blob_dir import DirectoryBlobs
from .store.errors import translated
from .store.recorder import Recorder, reading
from .store.retention import gc_statements
from .writer import WriteBatch

if TYPE_CHECKING:
    from .lifecycle import Retention

__all__ = ["GC_POLICY", "GcReport", "StoreReclaim", "Unreferenced", "collect", "referenced_hashes"]

GC_POLICY: Final = {"keep_last": None, "keep_aliased": False, "keep_newer_than": None, "cutoff": None}
"""The policy a gc run's ``retention.applied`` events carry: no rule, so no version expires."""

_PAGE: Final = 5000

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: ``stage`` is ``log``, ``scan`` or ``delete``; total None when unknown."""


class StoreReclaim(BaseModel):
    """What a run deleted (would delete) from one store."""

    model_config = ConfigDict(frozen=True)

    store: str
    """``database`` (the ``ledger_blobs`` table) or the blob directory's path."""
    blobs: list[str]
    """The hashes of the unreferenced blobs, in hash order."""
    bytes: int


class GcReport(BaseModel):
    """What ``ledger.gc`` deleted (``dry_run``: what it would delete; nothing was changed)."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    referenced: int
    """Distinct blobs live versions reference (whole contents, manifests and their chunks)."""
    stores: list[StoreReclaim]
    """One entry per store looked at: the database, then the directory when there is one."""
    blobs: int
    """Blobs deleted (would be), every store together (a hash in both stores counts twice)."""
    bytes_freed: int
    positions: list[int]
    """The ``retention.applied`` events appended (empty for a dry run, or when nothing was deleted)."""


# ---- what is referenced ----------------------------------------------------------------------------
async def _live_chunks(rec: Recorder) -> list[str]:
    """The chunks the manifests of live streamed content list, sorted and distinct. A manifest that
    cannot be read raises (then no chunk could be told from garbage, so nothing is collected)."""
    sql = gc_statements(rec.sql.dialect)
    chunks: set[str] = set()
    async with aclosing(rec.pages(sql.live_manifests, (), _PAGE)) as pages:
        async for rows in pages:
            for manifest, _codec in rows:
                data = (await rec.blobs.get(rec, [str(manifest)]))[str(manifest)]
                chunks.update(chunk for chunk, _ in decode_manifest(data).chunks)
    return sorted(chunks)


async def referenced_hashes(rec: Recorder) -> AsyncGenerator[list[str]]:
    """Every blob a version whose content is not expired needs, distinct and in hash order, a page at
    a time: its content and, for content saved as a stream, the manifest's chunks. The one place that
    says what gc keeps (what a redaction makes unreferenced belongs here).

    The log is the source, never a projection: the database reads the content references out of the
    state events' payloads and leaves out the versions a ``retention.applied`` event expired, sorted
    (``store/retention.py``, :func:`gc_statements`); only the page in hand is held here. A page out of
    order (a collation that sorts these names differently) raises rather than guess."""
    chunks = await _live_chunks(rec)
    sql = gc_statements(rec.sql.dialect)
    at = 0
    last = ""
    async with aclosing(rec.pages(sql.live_content, (), _PAGE)) as pages:
        async for rows in pages:
            out: list[str] = []
            for value, _codec in rows:
                if value is None:
                    raise LedgerError("a state event in the log names content without a hash: nothing was collected")
                digest = str(value)
                while at < len(chunks) and chunks[at] < digest:
                    out.append(chunks[at])
                    at += 1
                if at < len(chunks) and chunks[at] == digest:
                    at += 1
                if digest == last:  # one hash saved with two codecs
                    continue
                if digest < last:
                    raise LedgerError("the database returned content hashes out of order: nothing was collected")
                out.append(digest)
                last = digest
            yield out
    if at < len(chunks):
        yield chunks[at:]


# ---- what is stored, less what is referenced ------------------------------------------------------
Listing = AsyncIterator[Sequence[tuple[str, int]]]
"""(hash, size) of what one store holds, in hash order, a page at a time."""


async def _rows(rec: Recorder) -> Listing:
    """``ledger_blobs`` (hash, size), one keyset page at a time."""
    statement = gc_statements(rec.sql.dialect).blob_page
    after = ""
    while True:
        rows = await rec.fetch(statement, after, _PAGE)
        yield [(str(h), int(size)) for h, size in rows]
        if len(rows) < _PAGE:
            return
        after = str(rows[-1][0])


async def _files(root: Path) -> Listing:
    """A directory store's blob files (hash, size), in hash order, a bounded batch at a time."""
    found = blob_files(root)
    while batch := await asyncio.to_thread(lambda: list(islice(found, _PAGE))):
        yield batch


class Unreferenced:
    """What one store holds that nothing references: hashes in hash order, their sizes beside them."""

    def __init__(self) -> None:
        self.hashes: list[str] = []
        self.sizes = array("q")
        self.bytes = 0


class _Listed:
    """One store's listing being merged: the page in hand and where in it the merge is."""

    def __init__(self, listing: Listing) -> None:
        self.listing = listing
        self.page: Sequence[tuple[str, int]] = ()
        self.at = 0
        self.done = False
        self.last = ""
        self.found = Unreferenced()

    async def take(self, bound: str | None, refs: set[str]) -> None:
        """Everything listed up to ``bound`` (all of it when None); what is not in ``refs`` (every
        referenced hash up to ``bound`` since the last call) is unreferenced."""
        found = self.found
        while True:
            if self.at == len(self.page):
                if self.done:
                    return
                page = await anext(self.listing, None)
                if page is None:
                    self.done = True
                    return
                self.page, self.at = page, 0
            page, i, n = self.page, self.at, len(self.page)
            while i < n:
                digest, size = page[i]
                if bound is not None and digest > bound:
                    self.at = i
                    return
                if digest <= self.last:
                    raise LedgerError(f"a blob store listed {digest} out of order: nothing was collected")
                self.last = digest
                if digest not in refs:
                    found.hashes.append(digest)
                    found.sizes.append(size)
                    found.bytes += size
                i += 1
            self.at = i


async def _sweep(rec: Recorder, listings: dict[str, Listing], watch: set[str]) -> tuple[int, Found, set[str]]:
    """Merge the stores' listings against :func:`referenced_hashes` (all in hash order), a page of
    referenced hashes at a time: the count of referenced hashes, each store's unreferenced blobs,
    and which of ``watch`` are referenced. Memory holds a page of each and what is unreferenced
    (the report lists it)."""
    stores = {name: _Listed(listing) for name, listing in listings.items()}
    count = 0
    seen: set[str] = set()
    async with aclosing(referenced_hashes(rec)) as referenced:
        async for page in referenced:
            if not page:
                continue
            count += len(page)
            refs = set(page)
            if watch:
                seen.update(watch & refs)
            for store in stores.values():
                await store.take(page[-1], refs)
    for store in stores.values():
        await store.take(None, set())
    return count, {name: store.found for name, store in stores.items()}, seen


# ---- a run -------------------------------------------------------------------------------------------
Found = dict[str, Unreferenced]
"""store name -> its unreferenced blobs."""


async def _plan(rec: Recorder, progress: Progress | None, watch: set[str]) -> tuple[int, Found, set[str]]:
    directory = rec.blobs if isinstance(rec.blobs, DirectoryBlobs) else None
    listings: dict[str, Listing] = {"database": _rows(rec)}
    if directory is not None:
        listings[directory.location] = _files(directory.root)
    if progress is not None:
        progress("log", 1, 1)
    planned = await _sweep(rec, listings, watch)
    if progress is not None:
        progress("scan", len(listings), len(listings))
    return planned


def settle_trash(store: DirectoryBlobs, needed: set[str], trash: list[Path], aside: list[Path]) -> None:
    """Files an earlier run set aside (``aside``) and never removed (its transaction was an outer one,
    or the process died): one a version needs (in ``needed``) whose file is missing is put back, the
    rest join ``trash``."""
    for path in aside:
        digest = path.name[len(TRASH) :]
        if digest in needed and not store.path(digest).exists():
            restore_files([path])
        else:
            trash.append(path)


def _report(dry_run: bool, referenced: int, found: Found, positions: list[int]) -> GcReport:
    stores = [StoreReclaim(store=name, blobs=items.hashes, bytes=items.bytes) for name, items in found.items()]
    return GcReport(
        dry_run=dry_run,
        referenced=referenced,
        stores=stores,
        blobs=sum(len(s.blobs) for s in stores),
        bytes_freed=sum(s.bytes for s in stores),
        positions=positions,
    )


def gc_payload(part: Sequence[tuple[str, int]], number: int, parts: int) -> dict[str, Any]:
    """One ``retention.applied`` payload of a gc run: no version expired, these blobs deleted."""
    return {
        "policy": dict(GC_POLICY),
        "expired": [],
        "deleted": [[h, s] for h, s in part],
        "part": number,
        "parts": parts,
    }


def _deleted(found: Found) -> Iterator[tuple[str, int, bool]]:
    """(hash, size, whether ``ledger_blobs`` has it) of every blob a run deletes, every store together,
    in hash order, each hash once (the larger size where both stores have it)."""
    stores = list(found.items())
    tagged = [((h, s, name == "database") for h, s in zip(u.hashes, u.sizes, strict=True)) for name, u in stores]
    held: tuple[str, int, bool] | None = None
    for digest, size, in_db in heapq.merge(*tagged):
        if held is not None and held[0] == digest:
            held = (digest, max(size, held[1]), in_db or held[2])
            continue
        if held is not None:
            yield held
        held = (digest, size, in_db)
    if held is not None:
        yield held


async def _delete(
    batch: WriteBatch, who: Attribution, found: Found, trash: list[Path], progress: Progress | None
) -> list[int]:
    """Append the run's ``retention.applied`` events and delete what each lists, one part at a time:
    the event and its ``ledger_expired_blobs`` rows are sent before its blobs' DELETE (the guard lets
    only those through), and no more than a part's worth is built at once."""
    total = sum(1 for _ in _deleted(found))
    if total == 0:
        return []
    parts = -(-total // PART_ITEMS)
    rec = batch.driver
    stream = id_text(batch.new_id)
    positions: list[int] = []
    if progress is not None:
        progress("delete", 0, total)
    done = 0
    pending = _deleted(found)
    for number in range(1, parts + 1):
        part = list(islice(pending, PART_ITEMS))
        event = NewEvent(stream, number, RETENTION_APPLIED, gc_payload([(h, s) for h, s, _ in part], number, parts))
        sealed: list[RecordedEvent] = await batch._commit_events([event], who)
        positions.extend(e.position for e in sealed)
        await batch.flush()  # the event and its ledger_expired_blobs rows, before the deletes
        await delete_blobs(rec, [h for h, _, in_db in part if in_db], trash, files=[h for h, _, _ in part])
        done += len(part)
        if progress is not None:
            progress("delete", done, total)
    return positions


@asynccontextmanager
async def _reading(retention: Retention) -> AsyncIterator[Recorder]:
    """One consistent snapshot for a dry run (its statements read the log and the blobs together):
    the session's transaction when it has one, else a read-only transaction on the engine reads use."""
    repo = retention.repo
    engine = repo._reads_engine()
    if engine is None:
        async with repo.reading() as rec:
            yield rec
        return
    async with engine.connect() as conn, reading(conn) as rec:
        yield rec


async def collect(
    retention: Retention,
    *,
    dry_run: bool,
    actor: str | None,
    reason: str | None,
    progress: Progress | None = None,
) -> GcReport:
    """Find (``dry_run``) or delete the blobs no live version references; see the module's docstring."""
    arguments.flag(dry_run, "dry_run")
    if progress is not None and not callable(progress):
        raise InvalidArgumentError(f"progress must be a callable or None, not {type(progress).__name__}")
    who = current_attribution(actor=actor, reason=reason)
    commands = retention.commands
    if dry_run:
        await commands.sync()
        with translated():
            async with _reading(retention) as rec:
                referenced, found, _ = await _plan(rec, progress, set())
                return _report(True, referenced, found, [])

    async def gc(batch: WriteBatch, trash: list[Path]) -> GcReport:
        await batch.prefetch([])
        if batch.pending:
            await batch.flush()
        rec = batch.driver
        directory = rec.blobs if isinstance(rec.blobs, DirectoryBlobs) else None
        aside = [] if directory is None else await asyncio.to_thread(trash_files, directory.root)
        watch = {p.name[len(TRASH) :] for p in aside}
        referenced, found, needed = await _plan(rec, progress, watch)
        if directory is not None:
            await asyncio.to_thread(settle_trash, directory, needed, trash, aside)
        positions = await _delete(batch, who, found, trash, progress)
        return _report(False, referenced, found, positions)

    def write(trash: list[Path]) -> Awaitable[GcReport]:
        return commands._write(lambda batch: gc(batch, trash))

    return await deleting_files(write, commands.batch is not None)
