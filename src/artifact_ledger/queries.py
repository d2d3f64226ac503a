"""The read side: current state, subtrees via the closure table, content, and the log.

Every function takes a SQLAlchemy connection-like object (an ``AsyncSession`` or
``AsyncConnection``), builds its SQL with Core, and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Row, Select, bindparam, func, select, type_coerce
from sqlalchemy.engine import Result

from .errors import UntrustedContentError
from .events import RecordedEvent
from .store.rows import event_from_row
from .store.tables import RAW_STAMP, artifacts, blobs, closure, events

_COLUMNS = (
    artifacts.c.id,
    artifacts.c.parent_id,
    artifacts.c.level,
    artifacts.c.version,
    artifacts.c.data,
    artifacts.c.content_hash,
    artifacts.c.content_codec,
    artifacts.c.tags,
    # Raw: the manager converts them with ``stamp_reader`` (cached), not a processor per value.
    type_coerce(artifacts.c.created_at, RAW_STAMP).label("created_at"),
    type_coerce(artifacts.c.updated_at, RAW_STAMP).label("updated_at"),
    artifacts.c.created_by,
    artifacts.c.updated_by,
)


class Executor(Protocol):
    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]: ...


def select_artifacts() -> Select[Any]:
    return select(*_COLUMNS)


async def fetch_rows(db: Executor, stmt: Select[Any], parameters: dict[str, Any] | None = None) -> Sequence[Row[Any]]:
    return (await db.execute(stmt, parameters)).all()


# The hot reads are built once, with bound parameters: building a Select and looking up its
# compiled form cost ~100 µs a call, as much as the lookup itself.
_BY_ID = select_artifacts().where(artifacts.c.id == bindparam("artifact_id"))
_FIRST_PAGE = select_artifacts().order_by(artifacts.c.id).limit(bindparam("limit"))
_PAGE_AFTER = _FIRST_PAGE.where(artifacts.c.id > bindparam("after"))
_COUNT = select(func.count()).select_from(artifacts)
_EXISTS = select(artifacts.c.id).where(artifacts.c.id == bindparam("artifact_id"))
_SUBTREE = (
    select(*_COLUMNS)
    .select_from(closure.join(artifacts, artifacts.c.id == closure.c.descendant_id))
    .where(closure.c.ancestor_id == bindparam("root_id"))
    .order_by(closure.c.depth, artifacts.c.id)
)
_ROOT_OF = (
    select(*_COLUMNS)
    .select_from(closure.join(artifacts, artifacts.c.id == closure.c.ancestor_id))
    .where(closure.c.descendant_id == bindparam("artifact_id"))
    .order_by(closure.c.depth.desc())
    .limit(1)
)


async def by_id(db: Executor, artifact_id: str) -> Row[Any] | None:
    return (await db.execute(_BY_ID, {"artifact_id": artifact_id})).first()


async def all_rows(db: Executor, *, offset: int = 0, limit: int | None = None) -> Sequence[Row[Any]]:
    stmt = select_artifacts().order_by(artifacts.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return await fetch_rows(db, stmt)


async def page_after(db: Executor, after: str | None, limit: int) -> Sequence[Row[Any]]:
    """Up to ``limit`` artifacts with ids above ``after``, by id: one keyset page (an index range scan)."""
    if after is None:
        return await fetch_rows(db, _FIRST_PAGE, {"limit": limit})
    return await fetch_rows(db, _PAGE_AFTER, {"limit": limit, "after": after})


async def by_ids(db: Executor, ids: Sequence[str]) -> Sequence[Row[Any]]:
    return await fetch_rows(db, select_artifacts().where(artifacts.c.id.in_(ids)).order_by(artifacts.c.id))


async def count(db: Executor) -> int:
    return int((await db.execute(_COUNT)).scalar_one())


async def exists(db: Executor, artifact_id: str) -> bool:
    return (await db.execute(_EXISTS, {"artifact_id": artifact_id})).first() is not None


async def subtree(db: Executor, root_id: str) -> Sequence[Row[Any]]:
    """The root and every live descendant, by depth then id: one indexed closure lookup."""
    return await fetch_rows(db, _SUBTREE, {"root_id": root_id})


async def root_of(db: Executor, artifact_id: str) -> Row[Any] | None:
    return (await db.execute(_ROOT_OF, {"artifact_id": artifact_id})).first()


async def load_blobs(db: Executor, hashes: Iterable[str]) -> dict[str, bytes]:
    """The stored bytes behind content hashes (verified by the decoder, not here)."""
    wanted = list(hashes)
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), 2000):
        chunk = wanted[start : start + 2000]
        rows = (await db.execute(select(blobs.c.hash, blobs.c.data).where(blobs.c.hash.in_(chunk)))).all()
        found.update((r.hash, bytes(r.data)) for r in rows)
    missing = [h for h in wanted if h not in found]
    if missing:
        raise UntrustedContentError(f"blob {missing[0]} is missing from ledger_blobs ({len(missing)} missing)")
    return found


async def stream(db: Executor, artifact_id: str) -> list[RecordedEvent]:
    """Every event of one artifact, oldest first (deleted artifacts included)."""
    rows = (
        await db.execute(select(events).where(events.c.artifact_id == artifact_id).order_by(events.c.version))
    ).all()
    return [event_from_core(r) for r in rows]


async def events_after(db: Executor, position: int, limit: int) -> list[RecordedEvent]:
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
