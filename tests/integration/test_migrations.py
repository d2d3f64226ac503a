"""Alembic migrations: the same schema as ``create_all``, a clean downgrade, the version check, the lock."""

from __future__ import annotations

import asyncio
import sys
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    ContentExpiredError,
    Ledger,
    LedgerError,
    RetentionPolicy,
    SchemaOutOfDateError,
    create_engine,
    migrate,
)
from artifact_ledger.store.tables import metadata
from ledger_support import PG_URL, SECRET, make_format_1, pg_engine

Fresh = Callable[[str], Awaitable[AsyncEngine]]


@pytest.fixture
async def fresh(backend: str, tmp_path: Path) -> AsyncIterator[Fresh]:
    """``await fresh(name)``: an engine on the empty database ``name`` (called again: another engine on it)."""
    memory: dict[str, AsyncEngine] = {}
    made: list[AsyncEngine] = []
    schema_of: dict[str, str] = {}
    admin = pg_engine()

    async def factory(name: str) -> AsyncEngine:
        if backend == "sqlite-memory":  # one connection per in-memory database: the same engine again
            if name not in memory:
                memory[name] = create_engine("sqlite+aiosqlite:///:memory:")
                made.append(memory[name])
            return memory[name]
        if backend == "sqlite-file":
            engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / name}.db")
        else:
            if name not in schema_of:
                schema_of[name] = f"m_{name}_{uuid.uuid4().hex[:8]}"
                async with admin.begin() as conn:
                    await conn.execute(text(f'CREATE SCHEMA "{schema_of[name]}"'))
            engine = pg_engine(schema_of[name])
        made.append(engine)
        return engine

    try:
        yield factory
    finally:
        for engine in made:
            await engine.dispose()
        async with admin.begin() as conn:
            for schema in schema_of.values():
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def _snapshot(conn: Connection) -> dict[str, Any]:
    """Everything a schema is made of, in names and types that do not depend on the database's name."""
    insp = inspect(conn)
    tables: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        tables[name] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
            "pk": insp.get_pk_constraint(name),
            "indexes": sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in insp.get_indexes(name)),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(name)),
        }
    if conn.dialect.name == "sqlite":
        # The stored CREATE statements themselves: tables (WITHOUT ROWID included), indexes, triggers.
        rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"))
        objects = [tuple(r) for r in rows]
    else:
        triggers = conn.execute(
            text(
                "SELECT t.tgname, c.relname, replace(pg_get_triggerdef(t.oid), current_schema() || '.', '') "
                "FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema() ORDER BY 1"
            )
        )
        functions = conn.execute(
            text(
                "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema() ORDER BY 1"
            )
        )
        objects = [tuple(r) for r in triggers] + [tuple(r) for r in functions]
    return {"tables": tables, "objects": objects}


async def snapshot(engine: AsyncEngine, *, without_version_table: bool = True) -> dict[str, Any]:
    async with engine.connect() as conn:
        snap = await conn.run_sync(_snapshot)
    if without_version_table:
        snap["tables"].pop(migrate.VERSION_TABLE, None)
        snap["objects"] = [o for o in snap["objects"] if migrate.VERSION_TABLE not in o[1:3]]
    return snap


async def create_all(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


def test_head_revision_is_the_scripts_head() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(migrate.config()).get_current_head() == migrate.HEAD_REVISION


async def test_upgrade_head_builds_what_create_all_builds(fresh: Fresh) -> None:
    built, migrated = await fresh("built"), await fresh("migrated")
    await create_all(built)
    assert await migrate.current_revision(migrated) is None
    await migrate.upgrade(migrated)
    expected = await snapshot(built)
    assert set(expected["tables"]) == {t.name for t in metadata.sorted_tables}
    assert len([o for o in expected["objects"] if "append_only" in o[0] or "_no_" in o[1]]) >= 4  # triggers
    assert await snapshot(migrated) == expected
    assert await migrate.current_revision(migrated) == migrate.HEAD_REVISION
    await migrate.upgrade(migrated)  # idempotent
    assert await snapshot(migrated) == expected


async def test_migrated_tables_are_append_only(fresh: Fresh) -> None:
    engine = await fresh("ledger")
    await migrate.upgrade(engine)
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger, ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"x": 1}))
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_events"))


async def test_downgrade_base_leaves_nothing(fresh: Fresh) -> None:
    engine = await fresh("gone")
    empty = await snapshot(engine, without_version_table=False)
    await migrate.upgrade(engine)
    assert (await snapshot(engine, without_version_table=False))["tables"]
    await migrate.downgrade(engine, "base")
    assert await snapshot(engine, without_version_table=False) == empty == {"tables": {}, "objects": []}
    assert await migrate.current_revision(engine) is None


async def test_open_creates_through_migrations(fresh: Fresh) -> None:
    engine = await fresh("opened")
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"x": 1}))
    assert await migrate.current_revision(engine) == migrate.HEAD_REVISION


async def test_open_refuses_a_schema_behind_head(fresh: Fresh) -> None:
    engine = await fresh("behind")
    await migrate.upgrade(engine)
    async with engine.begin() as conn:  # as if made by an older artifact-ledger
        await conn.execute(text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '0000'"))
    for create in (True, False):
        with pytest.raises(SchemaOutOfDateError, match=r"revision 0000.*run `artifact-ledger migrate`"):
            async with Ledger.open(engine, secret=SECRET, create=create):
                pass


async def test_open_accepts_and_stamps_create_all_tables(fresh: Fresh) -> None:
    engine = await fresh("chapkit")
    await create_all(engine)
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger, ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"x": 1}))
    assert await migrate.current_revision(engine) is None  # create=False writes nothing
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        assert await manager.count() == 1
    assert await migrate.current_revision(engine) == migrate.HEAD_REVISION


async def test_open_refuses_create_all_tables_lacking_a_column(fresh: Fresh) -> None:
    engine = await fresh("old")
    await create_all(engine)
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE ledger_artifacts DROP COLUMN updated_by"))
    with pytest.raises(SchemaOutOfDateError, match=r"ledger_artifacts\.updated_by.*artifact-ledger migrate"):
        async with Ledger.open(engine, secret=SECRET):
            pass


async def test_concurrent_upgrades_migrate_once(fresh: Fresh, backend: str) -> None:
    built = await fresh("built")
    await create_all(built)
    first, second = await fresh("race"), await fresh("race")
    if backend != "sqlite-memory":
        assert first is not second
    await asyncio.gather(migrate.upgrade(first), migrate.upgrade(second), migrate.upgrade(first))
    assert await snapshot(second) == await snapshot(built)
    async with second.connect() as conn:
        rows = (await conn.execute(text(f"SELECT version_num FROM {migrate.VERSION_TABLE}"))).all()
    assert [tuple(r) for r in rows] == [(migrate.HEAD_REVISION,)]


_PROCESS = """
import asyncio, sys
from sqlalchemy.ext.asyncio import create_async_engine
from artifact_ledger import create_engine, migrate
url, schema = sys.argv[1], sys.argv[2]
args = {"server_settings": {"search_path": schema}} if schema else {}
engine = create_async_engine(url, connect_args=args) if schema else create_engine(url)
asyncio.run(migrate.upgrade(engine))
"""


@pytest.mark.parametrize("where", ["sqlite-file", "postgresql"])
async def test_two_processes_migrate_once(where: str, tmp_path: Path) -> None:
    schema = f"p_{uuid.uuid4().hex[:8]}" if where == "postgresql" else ""
    url = PG_URL if schema else f"sqlite+aiosqlite:///{tmp_path / 'procs.db'}"
    admin = pg_engine()
    engine = pg_engine(schema) if schema else create_engine(url)
    try:
        if schema:
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        procs = [
            await asyncio.create_subprocess_exec(sys.executable, "-c", _PROCESS, url, schema, stderr=PIPE)
            for _ in range(2)
        ]
        errors = [(await asyncio.wait_for(p.communicate(), 60))[1].decode()[-2000:] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errors
        assert await migrate.current_revision(engine) == migrate.HEAD_REVISION
        tables = (await snapshot(engine))["tables"]
        assert set(tables) == {t.name for t in metadata.sorted_tables}
    finally:
        await engine.dispose()
        if schema:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def test_a_revision_from_a_newer_version_is_refused_and_left_alone(fresh: Fresh) -> None:
    engine = await fresh("newer")
    await migrate.upgrade(engine)
    async with engine.begin() as conn:  # as if migrated by a later artifact-ledger
        await conn.execute(text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '0042'"))
    before = await snapshot(engine, without_version_table=False)
    newer = r"revision '0042', which this artifact-ledger does not know .*a newer version of artifact-ledger"
    for attempt in (
        lambda: migrate.upgrade(engine),
        lambda: migrate.downgrade(engine, "0005"),
        lambda: migrate.migrate_to(engine),
        lambda: migrate.migrate_to(engine, "0003"),
        lambda: migrate.repair_guards(engine),
    ):
        with pytest.raises(SchemaOutOfDateError, match=newer):
            await attempt()
    for create in (True, False):
        with pytest.raises(SchemaOutOfDateError, match=newer):
            async with Ledger.open(engine, secret=SECRET, create=create):
                pass
    assert await snapshot(engine, without_version_table=False) == before
    assert await migrate.current_revision(engine) == "0042"


async def test_downgrade_refuses_to_lose_holds_and_retention(fresh: Fresh) -> None:
    """Revisions 0006 and 0004 hold the projections of hold/retention and alias/link events: a downgrade
    below them and an upgrade again would leave those tables empty (a hold gone, expired content
    missing), so it is refused and nothing changes; a downgrade that loses nothing goes up again whole."""
    engine = await fresh("kept")
    await migrate.upgrade(engine)
    await make_format_1(engine)  # a ledger from before chain format 2 (revision 0007 refuses the others)
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger:
        async with ledger.manager() as m:
            model = await m.save(ArtifactIn(data={"name": "model", "content": b"v1"}))
            await m.save(ArtifactIn(id=model.id, data={"name": "model", "content": b"v2"}))
            await m.set_alias("production", model.id, version=2)
            held = await m.save(ArtifactIn(data={"name": "held", "content": b"h1"}))
            await m.save(ArtifactIn(id=held.id, data={"name": "held", "content": b"h2"}))
            await m.hold(held.id, "legal")
        await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False, reason="budget")
    before = await snapshot(engine, without_version_table=False)
    for revision in ("0005", "0003", "0001"):
        with pytest.raises(LedgerError, match=r"refusing to downgrade below revision 0006: .*1 hold\.set"):
            await migrate.migrate_to(engine, revision)
        assert await migrate.current_revision(engine) == migrate.HEAD_REVISION
        assert await snapshot(engine, without_version_table=False) == before
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger:
        assert (await ledger.verify()).ok
        async with ledger.manager() as m:
            assert await m.holds() == [str(held.id)]
            with pytest.raises(ContentExpiredError):
                await m.find_by_id(model.id, version=1)


async def test_downgrade_refuses_to_lose_aliases_and_links(fresh: Fresh) -> None:
    engine = await fresh("aliased")
    await migrate.upgrade(engine)
    await make_format_1(engine)
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger, ledger.manager() as m:
        model = await m.save(ArtifactIn(data={"name": "model"}))
        data = await m.save(ArtifactIn(data={"name": "data"}))
        await m.link(model.id, data.id, "derived_from")
        await m.set_alias("production", model.id, version=1)
    await migrate.migrate_to(engine, "0004")  # loses nothing: no hold or retention event
    before = await snapshot(engine, without_version_table=False)
    with pytest.raises(LedgerError, match=r"below revision 0004: .*1 alias\.set, 1 link\.added"):
        await migrate.migrate_to(engine, "0003")
    assert await migrate.current_revision(engine) == "0004"
    assert await snapshot(engine, without_version_table=False) == before
    await migrate.upgrade(engine)
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger:
        assert (await ledger.verify()).ok
        async with ledger.manager() as m:
            assert (await m.resolve_alias("production")).id == model.id
