"""Recorded data-path indexes (revision 0003): create_index records, rebuild re-creates, drop_index forgets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, InvalidQueryError, Ledger, migrate
from ledger_support import SECRET


async def db_indexes(engine: AsyncEngine) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_artifacts'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'ledger_artifacts' AND schemaname = current_schema()"
    )
    async with engine.connect() as conn:
        return {str(r[0]) for r in (await conn.execute(text(query))).all()}


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


async def test_create_records_rebuild_recreates_drop_forgets(engine: AsyncEngine) -> None:
    ledger = Ledger(engine, keyring=SECRET)
    async with ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"metadata": {"status": "published", "acc": 0.9}}))
    assert await ledger.indexes() == []
    name = await ledger.create_index("data.metadata.status")
    assert await ledger.create_index("data.metadata.status") == name  # idempotent: one record
    other = await ledger.create_index("data.metadata.acc")
    listed = await ledger.indexes()
    assert [(i.path, i.name) for i in listed] == [("data.metadata.acc", other), ("data.metadata.status", name)]
    assert all(i.created_at.tzinfo is not None for i in listed)

    async with engine.begin() as conn:  # lost behind the ledger's back (e.g. a restore of the tables)
        await conn.execute(text(f"DROP INDEX {name}"))
    assert name not in await db_indexes(engine)
    await ledger.rebuild()
    assert {name, other} <= await db_indexes(engine)

    await ledger.drop_index("data.metadata.status")
    assert name not in await db_indexes(engine)
    assert [i.path for i in await ledger.indexes()] == ["data.metadata.acc"]
    await ledger.rebuild()
    assert name not in await db_indexes(engine)  # a dropped index stays dropped


@pytest.mark.parametrize("bad", ["metadata.status", "data.content", "data.a'); DROP TABLE ledger_events; --", "data."])
async def test_bad_paths_are_refused_and_record_nothing(engine: AsyncEngine, bad: Any) -> None:
    ledger = Ledger(engine, keyring=SECRET)
    with pytest.raises(InvalidQueryError, match="index path"):
        await ledger.create_index(bad)
    with pytest.raises(InvalidQueryError, match="index path"):
        await ledger.drop_index(bad)
    assert await ledger.indexes() == []
    assert "ledger_events" in await tables(engine)


async def test_a_ledger_at_0002_upgrades_and_downgrade_keeps_the_index(engine: AsyncEngine) -> None:
    ledger = Ledger(engine, keyring=SECRET)
    name = await ledger.create_index("data.metadata.status")
    await migrate.stamp(engine)  # create_all tables: adopted at the head
    await migrate.downgrade(engine, "0002")
    assert await migrate.current_revision(engine) == "0002"
    assert "ledger_indexes" not in await tables(engine)
    assert name in await db_indexes(engine)  # the index itself is left alone: queries stay fast
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.HEAD_REVISION
    assert "ledger_indexes" in await tables(engine)
    assert await ledger.indexes() == []  # the downgrade forgot the record
    assert await ledger.create_index("data.metadata.status") == name  # recording it again is safe
    assert [i.name for i in await ledger.indexes()] == [name]
    await ledger.rebuild()
    assert name in await db_indexes(engine)
