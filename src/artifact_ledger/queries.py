"""The read side's queries: current state, subtrees via the closure table, content, and the log.

The listings and lookups run the store's compiled ``read_*`` statements through a
:class:`~artifact_ledger.store.recorder.Recorder` (one driver call each, rows as tuples in
``REPLY_COLUMNS`` order, timestamps as stored); the log reads that history and audit need go
through SQLAlchemy Core on the caller's session. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Row, func, select
from sqlalchemy.engine import Result

from . import arguments, codec
from .events import RecordedEvent
from .expiry import expired_reads
from .store.recorder import Recorder, Rows
from .store.rows import event_from_row
from .store.tables import events, openings

ID_CHUNK = 5000
"""Ids per ``IN`` list (one bound array or JSON text each)."""
_NO_LIMIT = 2**62


class Executor(Protocol):
    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]: ...


async def by_id(rec: Recorder, artifact_id: str) -> Sequence[Any] | None:
    rows = await rec.fetch(rec.sql.read_by_id, artifact_id)
    return rows[0] if rows else None


async def all_rows(rec: Recorder, *, offset: int = 0, limit: int | None = None) -> Rows:
    if limit is None and offset == 0:
        return await rec.fetch(rec.sql.read_all)
    return await rec.fetch(rec.sql.read_page, _NO_LIMIT if limit is None else limit, offset)


async def page_after(rec: Recorder, after: str | None, limit: int) -> Rows:
    """Up to ``limit`` artifacts with ids above ``after``, by id: one keyset page (an index range scan)."""
    if after is None:
        return await rec.fetch(rec.sql.read_first, limit)
    return await rec.fetch(rec.sql.read_after, after, limit)


async def by_ids(rec: Recorder, ids: Sequence[str]) -> Rows:
    rows: Rows = []
    for start in range(0, len(ids), ID_CHUNK):
        rows.extend(await rec.fetch(rec.sql.read_by_ids, rec.id_list(ids[start : start + ID_CHUNK])))
    rows.sort(key=lambda row: str(row[0]))
    return rows


async def count(rec: Recorder) -> int:
    return int((await rec.fetch(rec.sql.artifact_count))[0][0])


async def exists(rec: Recorder, artifact_id: str) -> bool:
    return bool(await rec.fetch(rec.sql.artifact_exists, artifact_id))


async def subtree(rec: Recorder, root_id: str) -> Rows:
    """The root and every live descendant, by depth then id: one indexed closure lookup."""
    return await rec.fetch(rec.sql.read_subtree, root_id)


async def root_of(rec: Recorder, artifact_id: str) -> Sequence[Any] | None:
    rows = await rec.fetch(rec.sql.read_root, artifact_id)
    return rows[0] if rows else None


@expired_reads  # a blob retention deleted: ContentExpiredError, naming the version and the event
async def load_blobs(rec: Recorder, hashes: Iterable[str], sizes: Mapping[str, int] | None = None) -> dict[str, bytes]:
    """The stored bytes behind content hashes, from the ledger's blob store (``store/blobs.py``;
    the database's rows are verified by the decoder, a directory's files as they are read).
    ``sizes``: what the log lists for some of them, which bounds their reads."""
    return await rec.blobs.get(rec, hashes, sizes)


async def stream(db: Executor, artifact_id: str, *, limit: int | None = None) -> list[RecordedEvent]:
    """Every event of one artifact, oldest first (deleted artifacts included); ``limit``: the first
    ``limit`` of them."""
    stmt = select(events).where(events.c.artifact_id == artifact_id).order_by(events.c.version)
    rows = (await db.execute(stmt if limit is None else stmt.limit(limit))).all()
    return [event_from_core(r) for r in rows]


async def stream_length(db: Executor, artifact_id: str) -> int:
    """How many events the stream of one artifact holds (0: none)."""
    stmt = select(func.count()).select_from(events).where(events.c.artifact_id == artifact_id)
    return int((await db.execute(stmt)).scalar_one())


async def stream_erasures(
    db: Executor, artifact_id: str, positions: tuple[int, int] | None = None
) -> dict[int, list[str]]:
    """position -> what a redaction erased from that event of one artifact's stream, as dotted names
    (``content``, ``data.email``); events with nothing erased are absent. ``positions``: only the
    events from the first to the last of these positions (a page of the stream)."""
    o, e = openings, events
    stmt = (
        select(o.c.position, o.c.erased)
        .join(e, e.c.position == o.c.position)
        .where(e.c.artifact_id == artifact_id, o.c.erased.is_not(None))
    )
    if positions is not None:
        stmt = stmt.where(e.c.position.between(*positions))
    found: dict[int, list[str]] = {}
    rows: Sequence[Any] = (await db.execute(stmt)).all()
    for row in rows:
        paths = codec.loads(row[1])
        found[int(row[0])] = sorted(".".join(codec.loads(p)) for p in paths) if isinstance(paths, dict) else []
    return found


async def events_after(db: Executor, position: int, limit: int) -> list[RecordedEvent]:
    """Up to ``limit`` events after ``position`` (``Ledger.events_since``: arguments checked here)."""
    arguments.integer(position, "position", minimum=0, maximum=arguments.MAX_POSITION)
    arguments.integer(limit, "limit", minimum=1, maximum=arguments.MAX_COUNT)
    rows = (
        await db.execute(select(events).where(events.c.position > position).order_by(events.c.position).limit(limit))
    ).all()
    return [event_from_core(r) for r in rows]


async def raw_events_after(db: Executor, position: int, limit: int) -> Sequence[Row[Any]]:
    """Stored event rows after ``position`` as they are (payload text unparsed), for verification."""
    stmt = select(events).where(events.c.position > position).order_by(events.c.position).limit(limit)
    return (await db.execute(stmt)).all()


def event_from_core(r: Row[Any]) -> RecordedEvent:
    """An event row selected through SQLAlchemy (every ``events`` column; timestamps already converted)."""
    return event_from_row(r)


async def latest_version(db: Executor, artifact_id: str) -> int | None:
    """The stream's latest version, live or deleted; None when it has no events."""
    stmt = select(func.max(events.c.version)).where(events.c.artifact_id == artifact_id)
    value = (await db.execute(stmt)).scalar_one()
    return None if value is None else int(value)


async def stream_upto(db: Executor, artifact_id: str, version: int) -> list[RecordedEvent]:
    """The events of one artifact up to and including ``version``, oldest first."""
    stmt = (
        select(events)
        .where(events.c.artifact_id == artifact_id, events.c.version <= version)
        .order_by(events.c.version)
    )
    return [event_from_core(r) for r in (await db.execute(stmt)).all()]
