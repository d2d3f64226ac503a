"""Tampering as an attacker with DBA rights would: append-only triggers off, rows changed with plain SQL.

The other test_integrity_* modules import these helpers; the tests here pin the helpers
themselves (the triggers really are off inside, and back on afterwards).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger, attribution
from artifact_ledger.chain import envelope_bytes, event_hash
from ledger_support import SECRET, as_time

TABLES = ("ledger_events", "ledger_blobs")
COLUMNS = (
    "position",
    "event_id",
    "artifact_id",
    "version",
    "type",
    "schema_version",
    "payload",
    "recorded_at",
    "actor",
    "reason",
    "correlation_id",
    "causation_id",
    "prev_hash",
    "hash",
)


async def _disable_triggers(conn: AsyncConnection) -> list[str]:
    """Turn the append-only triggers off inside the open transaction; returns SQLite's DDL to recreate them."""
    if conn.dialect.name == "postgresql":
        for table in TABLES:
            await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        return []
    rows = await conn.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('ledger_events', 'ledger_blobs')"
        )
    )
    found = rows.all()
    assert len(found) == 6, found  # no update, no delete, no replace (revision 0002), on each table
    for name, _ in found:
        await conn.execute(text(f"DROP TRIGGER {name}"))
    return [sql for _, sql in found]


async def _begin(conn: AsyncConnection) -> None:
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN")  # explicit, so the DDL below is inside the transaction too
    else:
        await conn.begin()


@asynccontextmanager
async def tampering(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction with the triggers off; everything is rolled back on exit."""
    async with engine.connect() as conn:
        await _begin(conn)
        try:
            await _disable_triggers(conn)
            yield conn
        finally:
            await conn.rollback()


@asynccontextmanager
async def tampered(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Like :func:`tampering`, but committed (and the triggers put back), as a real attack would leave it."""
    async with engine.connect() as conn:
        await _begin(conn)
        recreate = await _disable_triggers(conn)
        yield conn
        if conn.dialect.name == "postgresql":
            for table in TABLES:
                await conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        for ddl in recreate:
            await conn.execute(text(ddl))
        await conn.commit()


async def event_row(conn: AsyncConnection, position: int) -> dict[str, Any]:
    """A stored event row as the driver returns it (timestamps as SQLite text or PostgreSQL datetimes)."""
    result = await conn.exec_driver_sql(
        f"SELECT {', '.join(COLUMNS)} FROM ledger_events WHERE position = {int(position)}"
    )
    row = result.first()
    assert row is not None, position
    return dict(zip(COLUMNS, row, strict=True))


async def set_columns(conn: AsyncConnection, at: int, values: dict[str, Any]) -> None:
    """``UPDATE ledger_events SET …`` the row at position ``at`` (the triggers must be off)."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    await conn.execute(text(f"UPDATE ledger_events SET {assignments} WHERE position = :at_"), {**values, "at_": at})


async def insert_row(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(
        text(f"INSERT INTO ledger_events ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"),
        row,
    )


async def shift_positions(conn: AsyncConnection, first: int, by: int) -> None:
    """Renumber every event at or after ``first`` by ``by`` (two steps, so the primary key never collides)."""
    await conn.execute(text("UPDATE ledger_events SET position = -position WHERE position >= :first"), {"first": first})
    await conn.execute(text("UPDATE ledger_events SET position = :by - position WHERE position < 0"), {"by": by})


def forged_after(previous: dict[str, Any], artifact_id: str) -> dict[str, Any]:
    """An event that chains correctly after ``previous`` (the unkeyed chain lets anyone compute it)."""
    recorded_at = previous["recorded_at"]  # SQLite text or a PostgreSQL datetime, stored back as it was
    when = as_time(recorded_at)
    fields = {
        "position": previous["position"] + 1,
        "event_id": "01J00000000000000000000000",
        "artifact_id": artifact_id,
        "version": 99,
        "type": "artifact.updated",
        "schema_version": 1,
        "recorded_at": when,
        "actor": "mallory",
        "reason": None,
        "correlation_id": None,
        "causation_id": None,
    }
    payload = '{"content":null,"data":{"forged":true},"tags":[]}'
    prev_hash = bytes(previous["hash"])
    digest = event_hash(prev_hash, envelope_bytes(**fields), payload.encode())
    return {**fields, "recorded_at": recorded_at, "payload": payload, "prev_hash": prev_hash, "hash": digest}


async def history(manager: ArtifactManager) -> dict[str, str]:
    """Eight events over three artifacts: content, every attribution field, a move, a delete and a restore."""
    with attribution(actor="zoë", reason="review ✓", correlation_id="corr-1", causation_id="cause-1"):
        root = await manager.save(ArtifactIn(data={"name": "root", "content": b"model-bytes"}))
    child = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child", "content": {"k": [1, 2.5]}}))
    leaf = await manager.save(ArtifactIn(parent_id=child.id, data={"name": "leaf"}, tags=["t"]))
    await manager.save(ArtifactIn(id=child.id, parent_id=root.id, data={"name": "child", "v": 2}), actor="bob")
    await manager.move(leaf.id, root.id)
    await manager.delete_by_id(leaf.id)
    await manager.restore(leaf.id)
    await manager.save(ArtifactIn(id=root.id, data={"name": "root", "content": b"model-bytes"}, tags=["x"]))
    await manager.repo.session.commit()
    return {"root": str(root.id), "child": str(child.id), "leaf": str(leaf.id)}


HISTORY_EVENTS = 8


async def trigger_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            rows = await conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE c.relname IN ('ledger_events', 'ledger_blobs') AND NOT t.tgisinternal AND t.tgenabled = 'O' "
                    "AND c.relnamespace = to_regnamespace(current_schema())"
                )
            )
        return {str(name) for (name,) in rows.all()}


def positions(rows: Sequence[Any]) -> list[int]:
    return [int(r[0]) for r in rows]


async def test_tampering_turns_the_triggers_off_and_rolls_back(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    before = await trigger_names(engine)
    assert before
    async with tampering(engine) as conn:
        await conn.execute(text("UPDATE ledger_events SET actor = 'mallory' WHERE position = 1"))
        assert (await event_row(conn, 1))["actor"] == "mallory"
    assert await trigger_names(engine) == before
    async with engine.connect() as conn:
        assert (await event_row(conn, 1))["actor"] == "zoë"
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE ledger_events SET actor = 'mallory' WHERE position = 1"))


async def test_tampered_commits_and_puts_the_triggers_back(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    before = await trigger_names(engine)
    async with tampered(engine) as conn:
        await conn.execute(text("DELETE FROM ledger_events WHERE position = 3"))
    assert await trigger_names(engine) == before
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT position FROM ledger_events ORDER BY position"))).all()
    assert positions(rows) == [1, 2, 4, 5, 6, 7, 8]
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
    assert (report.ok, report.broken_position, report.reason) == (False, 3, "deleted")
