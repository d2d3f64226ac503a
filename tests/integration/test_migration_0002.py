"""Revision 0002 on existing ledgers: migrated ones, ``create_all`` ones from before, ones without an id."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, SchemaOutOfDateError, migrate
from artifact_ledger.store.tables import guard_ddl
from ledger_support import SECRET, make_format_1

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


async def ledger_id_of(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        value = (await conn.execute(text("SELECT value FROM ledger_info WHERE key = 'ledger_id'"))).scalar()
    return None if value is None else str(value)


async def content_and_report(engine: AsyncEngine, artifact_id: str) -> tuple[object, bool]:
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger:
        async with ledger.manager() as manager:
            found = await manager.find_by_id(artifact_id)
        report = await ledger.verify()
    assert found is not None
    return found.data, report.ok


async def test_a_ledger_at_0001_gets_an_id_and_the_new_guards(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()  # create_all: the head schema, not stamped
    await make_format_1(engine)  # a ledger from before chain format 2: it can go below revision 0007
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"name": "kept", "content": b"bytes"}))
    first_id = await ledger_id_of(engine)
    await migrate.downgrade(engine, "0001")
    assert await migrate.current_revision(engine) == "0001"
    with pytest.raises(SchemaOutOfDateError, match=r"revision 0001.*artifact-ledger migrate"):
        async with Ledger.open(engine, secret=SECRET):
            pass
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.HEAD_REVISION
    made = await ledger_id_of(engine)
    assert made is not None
    assert ULID.fullmatch(made)
    assert made != first_id  # going below 0002 forgets the id (the operations guide says so)
    assert await migrate.check_guards(engine) == []
    assert await content_and_report(engine, str(out.id)) == ({"name": "kept", "content": b"bytes"}, True)


async def test_create_all_tables_from_before_0002_are_adopted_by_migrate(
    make_engine: Callable[[], AsyncEngine], backend: str
) -> None:
    engine = make_engine()
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger, ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"x": 1}))
    async with engine.begin() as conn:  # what create_all made before revision 0002
        if backend.startswith("sqlite"):
            await conn.execute(text("DROP TRIGGER ledger_events_no_replace"))
            await conn.execute(text("DROP TRIGGER ledger_blobs_no_replace"))
        else:
            await conn.execute(text("DROP FUNCTION ledger_info_append_only() CASCADE"))
        await conn.execute(text("DROP TABLE ledger_info"))
    assert await migrate.current_revision(engine) is None
    for create in (True, False):
        with pytest.raises(
            SchemaOutOfDateError, match="lacks the ledger tables ledger_info; run `artifact-ledger migrate`"
        ):
            async with Ledger.open(engine, secret=SECRET, create=create):
                pass
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.HEAD_REVISION
    assert await migrate.check_guards(engine) == []
    assert await ledger_id_of(engine) is not None
    assert await content_and_report(engine, str(out.id)) == ({"x": 1}, True)


async def test_create_all_tables_at_head_are_stamped_by_migrate(engine: AsyncEngine) -> None:
    made = await ledger_id_of(engine)
    assert made is not None  # create_all gives a new ledger its id
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.HEAD_REVISION
    assert await ledger_id_of(engine) == made


async def test_a_ledger_without_an_id_row_gets_one_on_open(engine: AsyncEngine, backend: str) -> None:
    sqlite = backend.startswith("sqlite")
    guard = "ledger_info_no_delete" if sqlite else "ledger_info_append_only ON ledger_info"
    put_back = [
        s
        for s in guard_ddl("ledger_info", "sqlite" if sqlite else "postgresql")
        if "no_delete" in s or (not sqlite and s.startswith("CREATE TRIGGER"))
    ]
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TRIGGER {guard}"))
        await conn.execute(text("DELETE FROM ledger_info"))
        for statement in put_back:
            await conn.exec_driver_sql(statement)
    assert await migrate.check_guards(engine) == []
    with pytest.raises(SchemaOutOfDateError, match="has no ledger id yet; run `artifact-ledger migrate`"):
        async with Ledger.open(engine, secret=SECRET, create=False):
            pass
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert ledger.ledger_id is not None
        assert ledger.ledger_id == await ledger_id_of(engine)
