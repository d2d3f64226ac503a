"""Garbage collection: delete the blobs no version references any more, and say what went.

A blob is referenced while some version whose content was not expired has its hash, or is a
chunk of such a version's streamed content (the chunks its manifest lists). Everything else
stored is garbage: blob rows and directory files of content a retention run expired (a
directory store kept them before retention deleted files too), chunk files of a streamed save
that failed or rolled back, files written for a transaction that never committed, rows an
import brought that no event names. :func:`collect` finds it, in both stores: ``ledger_blobs``
and, with a directory store, its files. On the same walk it finds the directory's stale temporary
files (:class:`~artifact_ledger.blob_files.Temporaries`: left by a writer that died before linking
them, older than the run's ``temporaries_older_than``), removed by a real run and counted apart.

A real run is a command of the manager's unit of work, like a retention run: under the write
lock, so no writer checks a blob is there (and reuses it) while the run deletes it. It appends
``retention.applied`` events that expire no version (a policy with no rule) and list the blobs
it deletes, so the guard of ``ledger_blobs`` lets their DELETE through (and refuses any other),
verify, export and the stdlib verifier know they are gone on purpose, and the log says who ran
it and why. Files are deleted before the transaction commits, still under the lock: a run that
fails after that leaves fewer unreferenced files and nothing a version needs.

A blob directory another ledger has registered (``.ledger.<id>`` at its root) is shared: this
ledger's log says nothing of what the others need, so no blob file is deleted there. Its
unreferenced files are reported as kept (:attr:`StoreReclaim.kept`, with the other ledgers in
:attr:`StoreReclaim.shared_with`), by a dry run and a real run alike, and no event lists them.
Rows of ``ledger_blobs`` and stale temporary files are collected as usual.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict

from . import arguments
from .ambient import current as current_attribution
from .blob_files import TRASH, Temporaries, Trash, deleting_files, restore_files, trash_files
from .content.streams import decode_manifest
from .errors import InvalidArgumentError, LedgerError
from .events import RETENTION_APPLIED, Attribution, NewEvent, RecordedEvent
from .gc_sweep import Found, Listing, Unreferenced, deleted, files, rows, sweep
from .ids import id_text
from .lifecycle import delete_blobs
from .retention import PART_ITEMS
from .store.blob_dir import DirectoryBlobs
from .store.errors import translated
from .store.one_writer import connect
from .store.recorder import Recorder, reading
from .store.retention import gc_statements
from .writer import WriteBatch

if TYPE_CHECKING:
    from .lifecycle import Retention

__all__ = ["GC_POLICY", "TEMPORARIES_OLDER_THAN", "GcReport", "StoreReclaim", "collect", "referenced_hashes"]

GC_POLICY: Final = {"keep_last": None, "keep_aliased": False, "keep_newer_than": None, "cutoff": None}
"""The policy a gc run's ``retention.applied`` events carry: no rule, so no version expires."""

_PAGE: Final = 5000

TEMPORARIES_OLDER_THAN: Final = timedelta(days=1)
"""How old a temporary file of the blob directory must be before gc removes it by default: a
streamed save keeps its chunks as temporary files until its transaction commits, so a young one
may belong to a save still running."""

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: ``stage`` is ``log``, ``scan`` or ``delete``; total None when unknown."""


class StoreReclaim(BaseModel):
    """What a run deleted (would delete) from one store."""

    model_config = ConfigDict(frozen=True)

    store: str
    """``database`` (the ``ledger_blobs`` table) or the blob directory's path."""
    blobs: list[str]
    """The hashes of the unreferenced blobs, in hash order (empty when the run was asked not to list them)."""
    count: int
    """How many there are (``len(blobs)`` when listed)."""
    bytes: int
    temporaries: int = 0
    """Stale temporary files removed (would be) from a blob directory: what a writer that died between
    writing a file and linking it left (older than the run's ``temporaries_older_than``)."""
    temporary_bytes: int = 0
    kept: int = 0
    """Unreferenced blob files kept (would be) because other ledgers are registered in the blob
    directory (``shared_with``): nothing is deleted from a directory another ledger may need."""
    kept_bytes: int = 0
    shared_with: list[str] = []
    """The ids of the other ledgers registered in the blob directory (empty: it is this ledger's alone)."""


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
    """The blobs' bytes and the stale temporary files' together."""
    kept: int = 0
    """Unreferenced blob files kept (would be) because the blob directory is shared with other ledgers."""
    bytes_kept: int = 0
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


# ---- a run -------------------------------------------------------------------------------------------
class Plan:
    """What a run found: the count of referenced blobs, each store's unreferenced blobs, which of the
    watched hashes are referenced, and the other ledgers registered in the blob directory (then
    its unreferenced files are kept, not deleted)."""

    def __init__(self, referenced: int, found: Found, needed: set[str], shared_with: list[str], store: str) -> None:
        self.referenced = referenced
        self.found = found
        self.needed = needed
        self.shared_with = shared_with
        self.kept_store = store if shared_with else None
        """The store whose unreferenced blobs are kept (the shared directory), or None."""

    def to_delete(self) -> Found:
        """The stores whose unreferenced blobs the run deletes."""
        return {name: items for name, items in self.found.items() if name != self.kept_store}


async def _plan(
    rec: Recorder, progress: Progress | None, watch: set[str], listed: bool, temporaries: Temporaries
) -> Plan:
    directory = rec.blobs if isinstance(rec.blobs, DirectoryBlobs) else None
    listings: dict[str, Listing] = {"database": rows(rec, _PAGE)}
    shared_with: list[str] = []
    if directory is not None:
        shared_with = await asyncio.to_thread(directory.other_ledgers)
        listings[directory.location] = files(directory.root, _PAGE, temporaries)
    if progress is not None:
        progress("log", 1, 1)
    referenced, found, needed = await sweep(referenced_hashes(rec), listings, watch, listed=listed)
    if progress is not None:
        progress("scan", len(listings), len(listings))
    return Plan(referenced, found, needed, shared_with, "" if directory is None else directory.location)


def settle_trash(
    store: DirectoryBlobs, needed: set[str], trash: list[Path], aside: list[Path], *, shared: bool = False
) -> None:
    """Files an earlier run set aside (``aside``) and never removed (its transaction was an outer one,
    or the process died): one a version needs (in ``needed``) whose file is missing is put back, the
    rest join ``trash``. In a ``shared`` directory every one is put back (another ledger may need it)."""
    for path in aside:
        digest = path.name[len(TRASH) :]
        if shared or (digest in needed and not store.path(digest).exists()):
            restore_files([path])
        else:
            trash.append(path)


def _report(
    dry_run: bool, plan: Plan, positions: list[int], temporaries: Temporaries, trash: Trash | None = None
) -> GcReport:
    """The run's report. ``trash``: what the real run's deletion kept because a ledger registered in
    the directory after the plan was made (then those files are reported kept, not deleted)."""
    late = trash.kept if trash is not None else {}

    def reclaim(name: str, items: Unreferenced) -> StoreReclaim:
        stale = name != "database"  # temporary files are the blob directory's only
        if name == plan.kept_store:
            hashes: list[str] = []
            count, size, kept, kept_bytes = 0, 0, items.count, items.bytes
            shared_with = plan.shared_with
        elif stale and late:
            hashes = [h for h in items.hashes if h not in late]
            kept = sum(1 for h, _ in items.items() if h in late)
            kept_bytes = sum(s for h, s in items.items() if h in late)
            count, size = items.count - kept, items.bytes - kept_bytes
            shared_with = trash.shared_with if trash is not None else []
        else:
            hashes, count, size, kept, kept_bytes, shared_with = items.hashes, items.count, items.bytes, 0, 0, []
        return StoreReclaim(
            store=name,
            blobs=hashes,
            count=count,
            bytes=size,
            temporaries=len(temporaries.found) if stale else 0,
            temporary_bytes=temporaries.bytes if stale else 0,
            kept=kept,
            kept_bytes=kept_bytes,
            shared_with=shared_with,
        )

    stores = [reclaim(name, items) for name, items in plan.found.items()]
    return GcReport(
        dry_run=dry_run,
        referenced=plan.referenced,
        stores=stores,
        blobs=sum(s.count for s in stores),
        bytes_freed=sum(s.bytes + s.temporary_bytes for s in stores),
        kept=sum(s.kept for s in stores),
        bytes_kept=sum(s.kept_bytes for s in stores),
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


async def _delete(
    batch: WriteBatch, who: Attribution, found: Found, trash: list[Path], progress: Progress | None, *, files: bool
) -> list[int]:
    """Append the run's ``retention.applied`` events and delete what each lists, one part at a time:
    the event and its ``ledger_expired_blobs`` rows are sent before its blobs' DELETE (the guard lets
    only those through), and no more than a part's worth is built at once. ``files``: whether blob
    files are deleted too (not in a shared directory)."""
    total = sum(1 for _ in deleted(found))
    if total == 0:
        return []
    parts = -(-total // PART_ITEMS)
    rec = batch.driver
    stream = id_text(batch.new_id)
    positions: list[int] = []
    if progress is not None:
        progress("delete", 0, total)
    done = 0
    pending = deleted(found)
    for number in range(1, parts + 1):
        part = list(islice(pending, PART_ITEMS))
        event = NewEvent(stream, number, RETENTION_APPLIED, gc_payload([(h, s) for h, s, _ in part], number, parts))
        sealed: list[RecordedEvent] = await batch._commit_events([event], who)
        positions.extend(e.position for e in sealed)
        await batch.flush()  # the event and its ledger_expired_blobs rows, before the deletes
        await delete_blobs(
            rec, [h for h, _, in_db in part if in_db], trash, files=[h for h, _, _ in part] if files else []
        )
        done += len(part)
        if progress is not None:
            progress("delete", done, total)
    return positions


def _close(found: Found) -> None:
    for each in found.values():
        each.close()


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
    async with connect(engine) as conn, reading(conn) as rec:  # in-memory SQLite: in turn with writers
        yield rec


async def collect(
    retention: Retention,
    *,
    dry_run: bool,
    actor: str | None,
    reason: str | None,
    progress: Progress | None = None,
    list_blobs: bool = True,
    temporaries_older_than: timedelta = TEMPORARIES_OLDER_THAN,
) -> GcReport:
    """Find (``dry_run``) or delete the blobs no live version references; see the module's docstring.

    ``list_blobs=False``: the report gives each store's count and bytes, not every hash, and the
    run's memory stays flat whatever the number of blobs (what it deletes waits in a temporary file).
    A blob directory's temporary files last modified more than ``temporaries_older_than`` ago
    (left by a writer that died) are removed too, counted apart.
    """
    arguments.flag(dry_run, "dry_run")
    arguments.flag(list_blobs, "list_blobs")
    if progress is not None and not callable(progress):
        raise InvalidArgumentError(f"progress must be a callable or None, not {type(progress).__name__}")
    if type(temporaries_older_than) is not timedelta or temporaries_older_than < timedelta(0):
        raise InvalidArgumentError(
            f"temporaries_older_than must be a timedelta of zero or more, not {temporaries_older_than!r}"
        )
    temporaries = Temporaries(time.time() - temporaries_older_than.total_seconds())
    who = current_attribution(actor=actor, reason=reason)
    commands = retention.commands
    if dry_run:
        await commands.sync()
        with translated():
            async with _reading(retention) as rec:
                planned = await _plan(rec, progress, set(), list_blobs, temporaries)
        _close(planned.found)
        return _report(True, planned, [], temporaries)

    async def gc(batch: WriteBatch, trash: list[Path]) -> GcReport:
        await batch.prefetch([])
        if batch.pending:
            await batch.flush()
        rec = batch.driver
        directory = rec.blobs if isinstance(rec.blobs, DirectoryBlobs) else None
        aside = [] if directory is None else await asyncio.to_thread(trash_files, directory.root)
        watch = {p.name[len(TRASH) :] for p in aside}
        planned = await _plan(rec, progress, watch, list_blobs, temporaries)
        shared = planned.kept_store is not None
        try:
            if directory is not None:
                await asyncio.to_thread(settle_trash, directory, planned.needed, trash, aside, shared=shared)
            positions = await _delete(batch, who, planned.to_delete(), trash, progress, files=not shared)
            if directory is not None:  # never linked, so nothing references them: removed now, whatever follows
                await asyncio.to_thread(temporaries.remove)
            return _report(False, planned, positions, temporaries, trash if isinstance(trash, Trash) else None)
        finally:
            _close(planned.found)

    def write(trash: list[Path]) -> Awaitable[GcReport]:
        return commands._write(lambda batch: gc(batch, trash))

    return await deleting_files(write, commands.batch is not None)
