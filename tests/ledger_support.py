"""What the suite's tests import by name (the fixtures themselves live in conftest.py).

A module of its own, not ``conftest``: several directories have a conftest.py, and a plain
``from ledger_support import`` would reach whichever of them was imported last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from artifact_ledger import ArtifactHierarchy, Keyring, chain_v2
from artifact_ledger.chain import envelope_bytes, event_hash
from artifact_ledger.group_commit import Committer

PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite-file", "sqlite-memory", "postgresql"]
SECRET = Keyring.from_secret("test-secret-for-the-suite")
HIERARCHY = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction", 2: "evaluation"})


ENVELOPE_COLUMNS = (
    "position",
    "event_id",
    "artifact_id",
    "version",
    "type",
    "schema_version",
    "recorded_at",
    "actor",
    "reason",
    "correlation_id",
    "causation_id",
)
"""The columns of a stored event that make its envelope (``envelope_bytes``), in order."""


class HourlyClock:
    """A ledger clock one hour further on at each reading, from 2026-01-01: versions saved in turn
    are an hour apart (retention's cutoffs fall between them)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


def pg_engine(schema: str | None = None) -> AsyncEngine:
    args = {"server_settings": {"search_path": schema}} if schema else {}
    return create_async_engine(PG_URL, connect_args=args)


async def sql(engine: AsyncEngine, statement: str, **values: object) -> None:
    """Run one statement in a transaction of its own (what someone with the database credentials does)."""
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(text(statement), values)


async def event_count(engine: AsyncEngine) -> int:
    """How many events the log holds."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def drop_namespace_schemas(engine: AsyncEngine, names: Iterable[str]) -> None:
    """Drop the PostgreSQL schemas of the namespaces ``names`` of the engine's current schema (a test's
    clean-up; the test's own schema is dropped by its fixture)."""
    from sqlalchemy import text

    from artifact_ledger.namespaces import postgres_schema

    async with engine.begin() as conn:
        current = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        for name in names:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{postgres_schema(current, name)}" CASCADE'))


async def make_format_1(engine: AsyncEngine) -> None:
    """Make a fresh ledger seal chain format 1, as a ledger created before chain format 2 does: its
    ``ledger_info`` row naming the switch is removed (the guard is lifted for that and put back)."""
    from sqlalchemy import delete

    from artifact_ledger.store.tables import CHAIN_FORMAT_2_KEY, drop_guard_ddl, guard_ddl, info

    async with engine.begin() as conn:
        dialect = conn.dialect.name
        for statement in drop_guard_ddl(info.name, dialect):
            await conn.exec_driver_sql(statement)
        await conn.execute(delete(info).where(info.c.key == CHAIN_FORMAT_2_KEY))
        for statement in guard_ddl(info.name, dialect):
            await conn.exec_driver_sql(statement)


async def delete_openings_after(conn: AsyncConnection, keep: int) -> None:
    """What a thorough attacker also does after deleting the events past ``keep``: delete their
    chain-format-2 openings too (the guard lifted and put back), so no stray opening gives it away."""
    from sqlalchemy import text

    from artifact_ledger.store.tables import drop_guard_ddl, guard_ddl

    dialect = conn.dialect.name
    for statement in drop_guard_ddl("ledger_openings", dialect):
        await conn.exec_driver_sql(statement)
    await conn.execute(text("DELETE FROM ledger_openings WHERE position > :k"), {"k": keep})
    for statement in guard_ddl("ledger_openings", dialect):
        await conn.exec_driver_sql(statement)


async def delete_events(conn: AsyncConnection, where: str, **values: object) -> None:
    """What a DBA can do: the append-only guard of ``ledger_events`` off, the events ``WHERE <where>``
    deleted, the guard back on."""
    from sqlalchemy import text

    from artifact_ledger.store.tables import append_only_ddl

    delete = text(f"DELETE FROM ledger_events WHERE {where}")
    if conn.dialect.name == "sqlite":
        await conn.execute(text("DROP TRIGGER ledger_events_no_delete"))
        await conn.execute(delete, values)
        for statement in append_only_ddl("ledger_events", "sqlite"):
            if "_no_delete" in statement:
                await conn.execute(text(statement))
    else:
        await conn.execute(text("ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only"))
        await conn.execute(delete, values)
        await conn.execute(text("ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_append_only"))


async def lower_checkpoints(conn: AsyncConnection, keep: int) -> None:
    """What a thorough attacker does after deleting the events past ``keep`` so that ``rebuild`` takes the
    shortened log: the projections' checkpoints set back to ``keep`` (plain SQL: they are projection rows),
    so no checkpoint past the end shows the deletion."""
    from sqlalchemy import text

    await conn.execute(text("UPDATE ledger_checkpoints SET position = :k WHERE position > :k"), {"k": keep})


async def queued(committer: Committer, calls: list[Awaitable[Any]]) -> list[Any]:
    """Run ``calls`` so that they queue behind a busy committer, then release them as one group."""
    assert not committer.running
    committer.running = True
    tasks = [asyncio.ensure_future(call) for call in calls]
    for _ in range(50):  # every call reaches the queue (a few loop turns: sessions, input checks)
        if len(committer.queue) == len(tasks):
            break
        await asyncio.sleep(0)
    assert len(committer.queue) == len(tasks)
    committer._hand_over()
    return await asyncio.gather(*tasks, return_exceptions=True)


def as_time(value: Any) -> datetime:
    """A stored ``recorded_at`` (SQLite text, PostgreSQL datetime) as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if isinstance(value, str) else value  # type: ignore[no-any-return]


def chained_hash(prev: bytes, row: Mapping[str, Any], salt: bytes | None) -> bytes:
    """The hash artifact-ledger gives the event ``row`` (its envelope columns and its payload) chained onto
    ``prev``: chain format 1 without a salt, format 2 with the salt of its opening. The chain is not keyed:
    anyone who can read the database can compute it."""
    fields = {column: row[column] for column in ENVELOPE_COLUMNS}
    fields["recorded_at"] = as_time(row["recorded_at"])
    envelope = envelope_bytes(**fields)
    if salt is None:
        return event_hash(prev, envelope, row["payload"].encode())
    commitment = chain_v2.commitment(row["payload"], chain_v2.Opening(bytes(salt)))
    return chain_v2.event_hash(prev, envelope, commitment)


async def recompute_chain_from(conn: AsyncConnection, position: int, old: str, new: str) -> None:
    """The database's owner, with the guards of ``ledger_events`` off: replace ``old`` with ``new`` in the
    payload of the event at ``position`` and recompute its hash and every later one (a format-2 event with
    the salt stored in ``ledger_openings``)."""
    from sqlalchemy import text

    columns = ", ".join(f"e.{c}" for c in (*ENVELOPE_COLUMNS, "payload"))
    rows = [
        dict(row._mapping)
        for row in await conn.execute(
            text(
                f"SELECT {columns}, o.salt FROM ledger_events e LEFT JOIN ledger_openings o "
                "ON o.position = e.position WHERE e.position >= :p ORDER BY e.position"
            ),
            {"p": position},
        )
    ]
    found = await conn.execute(text("SELECT hash FROM ledger_events WHERE position = :p"), {"p": position - 1})
    prev = bytes(found.scalar_one())
    assert old in rows[0]["payload"], rows[0]["payload"]
    rows[0]["payload"] = rows[0]["payload"].replace(old, new)
    for row in rows:
        digest = chained_hash(prev, row, row["salt"])
        await conn.execute(
            text("UPDATE ledger_events SET payload = :payload, prev_hash = :prev, hash = :hash WHERE position = :p"),
            {"payload": row["payload"], "prev": prev, "hash": digest, "p": row["position"]},
        )
        prev = digest


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail (EFBIG) as on a full disk: the write that crosses it is cut short."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


MerkleRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


async def merkle_rows(conn: AsyncConnection) -> MerkleRows:
    """The rows of the Merkle tables (``ledger_merkle_nodes``, ``ledger_merkle_frontier``), to put back later
    with :func:`put_back_merkle_rows`."""
    from sqlalchemy import text

    nodes = [tuple(r) for r in await conn.execute(text("SELECT level, idx, hash FROM ledger_merkle_nodes"))]
    frontier = [tuple(r) for r in await conn.execute(text("SELECT id, size, roots FROM ledger_merkle_frontier"))]
    return nodes, frontier


async def put_back_merkle_rows(conn: AsyncConnection, rows: MerkleRows) -> None:
    """The Merkle tables as :func:`merkle_rows` read them (an attacker restoring the tree a note signed)."""
    from sqlalchemy import text

    nodes, frontier = rows
    await conn.execute(text("DELETE FROM ledger_merkle_nodes"))
    await conn.execute(text("DELETE FROM ledger_merkle_frontier"))
    for level, idx, digest in nodes:
        await conn.execute(
            text("INSERT INTO ledger_merkle_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
            {"l": level, "i": idx, "h": digest},
        )
    for row_id, size, roots in frontier:
        await conn.execute(
            text("INSERT INTO ledger_merkle_frontier (id, size, roots) VALUES (:i, :s, :r)"),
            {"i": row_id, "s": size, "r": roots},
        )
