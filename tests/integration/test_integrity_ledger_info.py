"""``verify`` holds ``ledger_info``'s chain format switch to the log: the writer seals by it, so a
changed row (an attacker with DBA rights, its append-only triggers off) must be reported before
the next honest event is sealed under the wrong format and blamed for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger
from ledger_support import SECRET

KEY = "chain_format_2_from"


@asynccontextmanager
async def unguarded_info(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A committed change to ``ledger_info`` with its guards off, and put back on, as an attack leaves it."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.begin()
            await conn.execute(text("ALTER TABLE ledger_info DISABLE TRIGGER USER"))
            yield conn
            await conn.execute(text("ALTER TABLE ledger_info ENABLE TRIGGER USER"))
        else:
            await conn.exec_driver_sql("BEGIN")
            rows = await conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_info'")
            )
            found = rows.all()
            assert found  # the guards exist: this test must take them off to change the row
            for name, _ in found:
                await conn.execute(text(f"DROP TRIGGER {name}"))
            yield conn
            for _, ddl in found:
                await conn.execute(text(ddl))
        await conn.commit()


async def _switch(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT value FROM ledger_info WHERE key = :k"), {"k": KEY})).scalar()


async def test_an_honest_ledger_verifies(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await manager.save(ArtifactIn(data={"n": 1}))
    assert await _switch(engine) == "1"
    assert (await Ledger(engine, keyring=SECRET).verify()).ok


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("UPDATE ledger_info SET value = '99' WHERE key = :k", "is 99 but the events from position 1"),
        ("UPDATE ledger_info SET value = '3' WHERE key = :k", "is 3 but the events from position 1"),
        ("UPDATE ledger_info SET value = 'soon' WHERE key = :k", "'soon', not a log position"),
        ("DELETE FROM ledger_info WHERE key = :k", "has no chain_format_2_from row"),
    ],
)
async def test_a_changed_format_switch_is_reported(
    manager: ArtifactManager, engine: AsyncEngine, change: str, words: str
) -> None:
    for n in range(4):
        await manager.save(ArtifactIn(data={"n": n}))
    async with unguarded_info(engine) as conn:
        await conn.execute(text(change), {"k": KEY})
    report = await Ledger(engine, keyring=SECRET).verify()
    assert not report.ok
    assert report.reason == "modified"
    assert report.broken_position is None  # no event is to blame
    assert report.problem is not None
    assert words in report.problem, report.problem
    assert "ledger_info" in report.problem


async def test_a_switch_past_the_next_position_is_reported(engine: AsyncEngine) -> None:
    """With no format-2 event yet the switch may be any position up to the log's next one
    (a new ledger: 1), never beyond it: the events before it would be sealed under format 1."""
    ledger = Ledger(engine, keyring=SECRET)
    assert await _switch(engine) == "1"
    assert (await ledger.verify()).ok
    async with unguarded_info(engine) as conn:
        await conn.execute(text("UPDATE ledger_info SET value = '2' WHERE key = :k"), {"k": KEY})
    report = await ledger.verify()
    assert not report.ok
    assert report.problem is not None
    assert "is 2, past the next position of the log (1)" in report.problem
