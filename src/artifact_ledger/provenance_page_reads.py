"""Pages of an alias's history and of an artifact's provenance, each read in the database a page at a
time (``store/alias_pages.py``, ``store/provenance_pages.py``): the statement returns the page's
events and, on each row, how many there are in all; only the page's events are read and built.
The whole lists are :meth:`ProvenanceReads.alias_history` and :meth:`ProvenanceReads.provenance_history`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ulid import ULID

from . import arguments
from .aliases import checked_alias_name
from .errors import ArtifactNotFoundError
from .events import PROVENANCE_EVENTS
from .history import audit_entry
from .ids import parse_id
from .provenance_reads import AliasChange, ProvenanceReads, alias_change, alias_stream
from .store.alias_pages import alias_page_statements
from .store.errors import translated
from .store.provenance import provenance_statements
from .store.provenance_pages import provenance_page_statements
from .store.recorder import Recorder
from .store.rows import event_from_row
from .store.tables import events

if TYPE_CHECKING:
    from .schemas import AuditEntry

__all__ = ["alias_history_page", "newest_alias_history_page", "newest_provenance_page", "provenance_page"]


def _checked_page(page: int, size: int) -> None:
    arguments.integer(page, "page", minimum=1, maximum=arguments.MAX_COUNT)
    arguments.integer(size, "size", minimum=1, maximum=arguments.MAX_COUNT)


async def _events(rec: Recorder, rows: Any, count: Any, key: str) -> tuple[list[Any], int]:
    """The page's events and the total its rows carry (a page past the end has none: ``count`` then)."""
    width = len(events.c)
    total = int(rows[0][width]) if rows else int((await rec.fetch(count, key))[0][0])
    return [event_from_row(r[:width], rec.read_ts, rec.read_bytes) for r in rows], total


def _newest_events(rec: Recorder, rows: Any) -> tuple[list[Any], int]:
    """The newest page's events and the total its rows carry (no rows: nothing to count)."""
    width = len(events.c)
    return [event_from_row(r[:width], rec.read_ts, rec.read_bytes) for r in rows], int(rows[0][width]) if rows else 0


def _last_page(total: int, size: int) -> int:
    """The number of the newest page of ``size`` of ``total`` items (1 when there are none)."""
    return max(1, (total + size - 1) // size)


async def _alias_rows(reads: ProvenanceReads, name: str, size: int, page: int | None) -> tuple[list[Any], int]:
    """The events of page ``page`` (None: the newest) of alias ``name``'s changes, and how many."""
    name = checked_alias_name(name)
    _checked_page(1 if page is None else page, size)
    await reads.commands.sync()
    with translated():
        async with reads.repo.reading() as rec:
            pages = alias_page_statements(rec.sql.dialect)
            stream_id = await alias_stream(rec, name)
            if page is None:  # the newest page: empty only when there are no changes at all
                return _newest_events(rec, await rec.fetch(pages.history_newest, stream_id, size))
            rows = await rec.fetch(pages.history_page, stream_id, size, (page - 1) * size)
            return await _events(rec, rows, pages.history_count, stream_id)


async def alias_history_page(reads: ProvenanceReads, name: str, page: int, size: int) -> tuple[list[AliasChange], int]:
    """Page ``page`` (from 1) of ``size`` of alias ``name``'s changes, oldest first, and how many."""
    found, total = await _alias_rows(reads, name, size, page)
    return [alias_change(e) for e in found], total


async def newest_alias_history_page(reads: ProvenanceReads, name: str, size: int) -> tuple[list[AliasChange], int, int]:
    """The newest page of ``size`` of alias ``name``'s changes (pages counted from the oldest, as
    :func:`alias_history_page` counts them), how many there are, and its number: one statement
    counts the changes and reads the page from the stream's end (the console opens on this page)."""
    found, total = await _alias_rows(reads, name, size, None)
    return [alias_change(e) for e in found], total, _last_page(total, size)


async def _provenance_rows(
    reads: ProvenanceReads, id: ULID | str, size: int, page: int | None
) -> tuple[list[Any], int]:
    """The events of page ``page`` (None: the newest) of artifact ``id``'s provenance, and how many."""
    aid = str(parse_id(id))
    _checked_page(1 if page is None else page, size)
    await reads.commands.sync()
    with translated():
        async with reads.repo.reading() as rec:
            head = await rec.fetch(provenance_statements(rec.sql.dialect).stream_head, aid)
            if not head or head[0][1] in PROVENANCE_EVENTS:
                raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
            pages = provenance_page_statements(rec.sql.dialect)
            if page is None:  # the newest page: never empty unless there are no events at all
                return _newest_events(rec, await rec.fetch(pages.newest, aid, size))
            rows = await rec.fetch(pages.page, aid, size, (page - 1) * size)
            return await _events(rec, rows, pages.count, aid)


async def newest_provenance_page(
    reads: ProvenanceReads, id: ULID | str, size: int
) -> tuple[list[AuditEntry], int, int]:
    """The newest page of ``size`` of the alias and link events that named artifact ``id`` (pages
    counted from the oldest, as :func:`provenance_page` counts them), how many there are, and its
    number: one statement reads the list once for both (the console opens on this page)."""
    found, total = await _provenance_rows(reads, id, size, None)
    return [audit_entry(e) for e in found], total, _last_page(total, size)


async def provenance_page(reads: ProvenanceReads, id: ULID | str, page: int, size: int) -> tuple[list[AuditEntry], int]:
    """Page ``page`` (from 1) of ``size`` of the alias and link events that named artifact ``id``, in
    position order, and how many."""
    found, total = await _provenance_rows(reads, id, size, page)
    return [audit_entry(e) for e in found], total
