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
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, bindparam, select

from . import arguments
from .ambient import current as current_attribution
from .blob_files import TRASH, blob_files, deleting_files, restore_files, trash_files
from .content.streams import decode_manifest
from .errors import InvalidArgumentError
from .events import RETENTION_APPLIED, NewEvent, RecordedEvent
from .ids import id_text
from .lifecycle import delete_blobs, fold_log
from .retention import PART_ITEMS, LogFacts
from .store.blob_dir import DirectoryBlobs
from .store.errors import translated
from .store.recorder import Recorder
from .store.statements import ZERO, Statement, compile_for
from .store.tables import blobs as blob_table
from .writer import WriteBatch

if TYPE_CHECKING:
    from .lifecycle import Retention

__all__ = ["GC_POLICY", "GcReport", "StoreReclaim", "collect", "referenced_hashes"]

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
async def referenced_hashes(rec: Recorder, facts: LogFacts) -> set[str]:
    """Every blob a version whose content is not expired needs: its content and, for content
    saved as a stream, the manifest's chunks. A manifest that cannot be read raises (then no
    chunk could be told from garbage, so nothing is collected)."""
    live: set[str] = set()
    for aid, versions in facts.versions.items():
        live.update(v.hash for v in versions if v.hash is not None and (aid, v.version) not in facts.expired)
    needed = set(live)
    for manifest in sorted(h for h in live if facts.codecs.get(h) == "chunks"):
        data = (await rec.blobs.get(rec, [manifest]))[manifest]
        needed.update(chunk for chunk, _ in decode_manifest(data).chunks)
    return needed


# ---- what is stored --------------------------------------------------------------------------------
def _row_page(dialect: str) -> Statement:
    b = blob_table
    construct = (
        select(b.c.hash, b.c.size)
        .where(b.c.hash > bindparam("after", type_=String))
        .order_by(b.c.hash)
        .limit(bindparam("limit"))
        .offset(ZERO)
    )
    return compile_for(dialect, "gc_blob_page", construct, ("after", "limit"))


_ROW_PAGES: dict[str, Statement] = {}


async def _rows(rec: Recorder, needed: set[str]) -> list[tuple[str, int]]:
    """(hash, size) of every ``ledger_blobs`` row no live version needs, a page at a time."""
    dialect = rec.sql.dialect
    statement = _ROW_PAGES.get(dialect) or _ROW_PAGES.setdefault(dialect, _row_page(dialect))
    out: list[tuple[str, int]] = []
    after = ""
    while True:
        rows = await rec.fetch(statement, after, _PAGE)
        out.extend((str(h), int(size)) for h, size in rows if str(h) not in needed)
        if len(rows) < _PAGE:
            return out
        after = str(rows[-1][0])


# ---- a run -------------------------------------------------------------------------------------------
Found = dict[str, list[tuple[str, int]]]
"""store name -> (hash, size) of its unreferenced blobs."""


async def _plan(rec: Recorder, progress: Progress | None) -> tuple[set[str], Found]:
    facts = await fold_log(rec)
    if progress is not None:
        progress("log", 1, 1)
    needed = await referenced_hashes(rec, facts)
    directory = rec.blobs if isinstance(rec.blobs, DirectoryBlobs) else None
    total = 2 if directory is not None else 1
    found: Found = {"database": await _rows(rec, needed)}
    if progress is not None:
        progress("scan", 1, total)
    if directory is not None:
        root = directory.root
        files = await asyncio.to_thread(lambda: [(h, s) for h, s in blob_files(root) if h not in needed])
        found[directory.location] = files
        if progress is not None:
            progress("scan", 2, total)
    return needed, found


def settle_trash(store: DirectoryBlobs, needed: set[str], trash: list[Path]) -> None:
    """Files an earlier run set aside and never removed (its transaction was an outer one, or the
    process died): one a version needs whose file is missing is put back, the rest join ``trash``."""
    for aside in trash_files(store.root):
        digest = aside.name[len(TRASH) :]
        if digest in needed and not store.path(digest).exists():
            restore_files([aside])
        else:
            trash.append(aside)


def _report(dry_run: bool, referenced: int, found: Found, positions: list[int]) -> GcReport:
    stores = [
        StoreReclaim(store=name, blobs=[h for h, _ in items], bytes=sum(s for _, s in items))
        for name, items in found.items()
    ]
    return GcReport(
        dry_run=dry_run,
        referenced=referenced,
        stores=stores,
        blobs=sum(len(s.blobs) for s in stores),
        bytes_freed=sum(s.bytes for s in stores),
        positions=positions,
    )


def gc_payloads(deleted: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The ``retention.applied`` payloads of one gc run: no version expired, PART_ITEMS blobs a part."""
    cut = [list(deleted[i : i + PART_ITEMS]) for i in range(0, len(deleted), PART_ITEMS)]
    return [
        {"policy": dict(GC_POLICY), "expired": [], "deleted": [[h, s] for h, s in part], "part": i, "parts": len(cut)}
        for i, part in enumerate(cut, 1)
    ]


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
            async with retention.repo.reading() as rec:
                needed, found = await _plan(rec, progress)
                return _report(True, len(needed), found, [])

    async def gc(batch: WriteBatch, trash: list[Path]) -> GcReport:
        await batch.prefetch([])
        if batch.pending:
            await batch.flush()
        rec = batch.driver
        needed, found = await _plan(rec, progress)
        referenced = len(needed)
        directory = rec.blobs if isinstance(rec.blobs, DirectoryBlobs) else None
        if directory is not None:
            await asyncio.to_thread(settle_trash, directory, needed, trash)
        sizes: dict[str, int] = {}
        for items in found.values():
            for digest, size in items:
                sizes[digest] = max(size, sizes.get(digest, 0))
        if not sizes:
            return _report(False, referenced, found, [])
        deleted = sorted(sizes.items())
        stream = id_text(batch.new_id)
        decided = [NewEvent(stream, i, RETENTION_APPLIED, p) for i, p in enumerate(gc_payloads(deleted), 1)]
        sealed: list[RecordedEvent] = await batch._commit_events(decided, who)
        await batch.flush()  # the events and their ledger_expired_blobs rows, before the deletes
        if progress is not None:
            progress("delete", 0, len(deleted))
        files = [] if directory is None else [h for h, _ in found[directory.location]]
        await delete_blobs(rec, [h for h, _ in found["database"]], trash, files=files)
        if progress is not None:
            progress("delete", len(deleted), len(deleted))
        return _report(False, referenced, found, [e.position for e in sealed])

    def write(trash: list[Path]) -> Awaitable[GcReport]:
        return commands._write(lambda batch: gc(batch, trash))

    return await deleting_files(write, commands.batch is not None)
