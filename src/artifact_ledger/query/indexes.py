"""Expression indexes on data paths (``Ledger.create_index``/``drop_index``/``indexes``).

The indexed expression is the very one ``find`` compares (``store/json_paths.py`` builds both),
because SQLite and PostgreSQL only use an expression index for a query that has the same
expression. The name is derived from the path, so creating twice is a no-op and dropping needs
nothing but the path.

Each path gets two indexes: one on ``ledger_artifacts.data`` (the present) and its twin on the
``data`` of ``ledger_events.payload`` (the past: ``find(as_of=)`` filters the state events'
payloads). Every index made here is recorded in ``ledger_indexes`` in the same transaction (revision 0003),
so ``rebuild`` can make them all again and ``indexes()`` can list them; ``drop_index`` deletes
the index and its row together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..store.json_paths import json_sql
from ..store.one_writer import connect, one_writer
from ..store.recorder import recorder_for
from ..store.tables import indexes as registry
from .language import parse_path

__all__ = ["IndexInfo", "create_index", "drop_index", "index_name", "list_indexes", "recreate_indexes"]

PREFIX = "ix_ledger_artifacts_q_"
EVENTS_PREFIX = "ix_ledger_events_q_"


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One recorded index: the data path, the index's name in the database, when it was made."""

    path: str
    name: str
    created_at: datetime


def _canonical(path: str) -> tuple[str, tuple[str | int, ...]]:
    segments = parse_path(path, what="index path")
    return "data." + ".".join(str(s) for s in segments), segments


def index_name(path: str, *, events: bool = False) -> str:
    """The index name for a checked path: the prefix and a digest of the path (within 63 characters).

    ``events``: the name of its twin on ``ledger_events`` (the payloads ``find(as_of=)`` filters)."""
    segments = parse_path(path, what="index path")
    digest = hashlib.sha256(".".join(str(s) for s in segments).encode()).hexdigest()[:16]
    return (EVENTS_PREFIX if events else PREFIX) + digest


async def create_index(engine: AsyncEngine, path: str) -> str:
    canonical, segments = _canonical(path)
    name = index_name(path)
    async with one_writer(engine), engine.begin() as conn:  # in-memory SQLite: writers take turns
        # The ledger's write lock first, as every writer takes it: the index's lock on the tables
        # taken before it deadlocked with a save holding it (PostgreSQL).
        await (await recorder_for(conn)).lock()
        await conn.execute(json_sql(engine.dialect.name).create_index(name, segments))
        await conn.execute(
            json_sql(engine.dialect.name).create_index(index_name(path, events=True), segments, events=True)
        )
        known = (await conn.execute(select(registry.c.name).where(registry.c.path == canonical))).first()
        if known is None:
            await conn.execute(insert(registry).values(path=canonical, name=name, created_at=datetime.now(UTC)))
    return name


async def drop_index(engine: AsyncEngine, path: str) -> str:
    canonical, segments = _canonical(path)
    name = index_name(path)
    async with one_writer(engine), engine.begin() as conn:  # in-memory SQLite: writers take turns
        # The ledger's write lock first, as every writer takes it: the index's lock on the tables
        # taken before it deadlocked with a save holding it (PostgreSQL).
        await (await recorder_for(conn)).lock()
        await conn.execute(json_sql(engine.dialect.name).drop_index(name, segments))
        await conn.execute(
            json_sql(engine.dialect.name).drop_index(index_name(path, events=True), segments, events=True)
        )
        await conn.execute(delete(registry).where(registry.c.path == canonical))
    return name


async def list_indexes(engine: AsyncEngine) -> list[IndexInfo]:
    async with connect(engine) as conn:  # in-memory SQLite: in turn with writers
        rows = (await conn.execute(select(registry).order_by(registry.c.path))).all()
    return [IndexInfo(path=r.path, name=r.name, created_at=r.created_at) for r in rows]


async def recreate_indexes(conn: AsyncConnection | Any) -> list[str]:
    """Make every recorded index again on ``conn`` (``CREATE INDEX IF NOT EXISTS``); returns their names."""
    dialect = conn.dialect.name
    rows = (await conn.execute(select(registry.c.path))).all()
    made = []
    for (path,) in rows:
        _, segments = _canonical(path)
        name = index_name(path)
        await conn.execute(json_sql(dialect).create_index(name, segments))
        await conn.execute(json_sql(dialect).create_index(index_name(path, events=True), segments, events=True))
        made.append(name)
    return made
