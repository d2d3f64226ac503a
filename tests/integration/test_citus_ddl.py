"""What of the Citus deployment runs on plain PostgreSQL.

There is no Citus cluster here, so these check the parts that do not need one: the plan names
the schema each namespace really is; each such schema passes the checks Citus makes before it
distributes a schema (ordinary tables only, no foreign key leaving the schema, nothing owned by
an extension) and holds every ledger table and the guards' trigger functions, so one
distributed schema carries a whole namespace; the generated statements run, in a transaction
rolled back, with a stand-in for ``citus_schema_distribute`` that records the schemas it is
given; and ``distribute`` refuses plain PostgreSQL (and SQLite) before changing anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import CitusUnavailableError, InvalidArgumentError, Ledger, citus, create_engine
from artifact_ledger.citus import citus_plan, citus_version, distribute
from artifact_ledger.models import Artifact
from artifact_ledger.namespaces import postgres_schema
from ledger_support import PG_URL, SECRET, pg_engine

NAMES = ("team-a", "team-b")


@pytest.fixture
async def ledger_engine(pg_schema: str) -> AsyncIterator[AsyncEngine]:
    """A PostgreSQL ledger in ``pg_schema`` with two more namespaces (their schemas dropped afterwards)."""
    engine = pg_engine(pg_schema)
    try:
        for name in (None, *NAMES):
            async with Ledger.open(engine, secret=SECRET, **({"namespace": name} if name else {})):
                pass
        yield engine
    finally:
        async with engine.begin() as conn:
            for name in NAMES:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{postgres_schema(pg_schema, name)}" CASCADE'))
        await engine.dispose()


async def test_the_plan_names_each_namespace_schema(ledger_engine: AsyncEngine, pg_schema: str) -> None:
    plan = await citus_plan(ledger_engine)
    assert plan.schemas == {"default": pg_schema, **{n: postgres_schema(pg_schema, n) for n in NAMES}}
    assert plan.kept_local == []
    async with ledger_engine.connect() as conn:
        assert plan.database == (await conn.execute(text("SELECT current_database()"))).scalar_one()
        found = {r[0] for r in await conn.execute(text("SELECT nspname FROM pg_namespace"))}
    assert set(plan.schemas.values()) <= found


async def test_each_namespace_schema_passes_the_checks_citus_makes(ledger_engine: AsyncEngine, pg_schema: str) -> None:
    tables = {t.name for t in Artifact.metadata.sorted_tables}
    async with ledger_engine.connect() as conn:
        for name in NAMES:
            schema = postgres_schema(pg_schema, name)
            kinds = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT c.relname, c.relkind::text FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'f', 'v', 'm')"
                        ),
                        {"s": schema},
                    )
                ).all()
            )
            assert tables <= set(kinds), f"{name}: tables missing from {schema}: {tables - set(kinds)}"
            assert set(kinds.values()) == {"r"}, f"{name}: only ordinary tables can be distributed: {kinds}"
            leaving = (
                await conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                        "JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace "
                        "JOIN pg_namespace rn ON rn.oid = r.relnamespace "
                        "WHERE c.contype = 'f' AND (tn.nspname = :s) <> (rn.nspname = :s)"
                    ),
                    {"s": schema},
                )
            ).all()
            assert leaving == []
            owned = (
                await conn.execute(
                    text(
                        "SELECT c.relname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE d.deptype = 'e' AND n.nspname = :s"
                    ),
                    {"s": schema},
                )
            ).all()
            assert owned == []
            # The guards' trigger functions live in the namespace's own schema: distributing it carries them.
            triggers = (
                await conn.execute(
                    text(
                        "SELECT t.tgname, fn.nspname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid "
                        "JOIN pg_namespace fn ON fn.oid = p.pronamespace WHERE n.nspname = :s AND NOT t.tgisinternal"
                    ),
                    {"s": schema},
                )
            ).all()
            assert any(tg == "ledger_events_append_only" for tg, _ in triggers), triggers
            assert {fn for _, fn in triggers} == {schema}


async def test_the_statements_run_with_a_stand_in_for_citus(ledger_engine: AsyncEngine, pg_schema: str) -> None:
    plan = await citus_plan(ledger_engine)
    async with ledger_engine.connect() as conn:
        outer = await conn.begin()
        await conn.execute(text("CREATE TABLE distributed_calls (schema_oid oid)"))
        await conn.execute(
            text(
                "CREATE FUNCTION citus_schema_distribute(regnamespace) RETURNS void LANGUAGE sql "
                "AS 'INSERT INTO distributed_calls VALUES ($1::oid)'"
            )
        )
        for statement in plan.statements():  # as distribute() sends them
            await conn.exec_driver_sql(statement)
        setting = (await conn.execute(text("SELECT current_setting('citus.enable_unsafe_triggers')"))).scalar_one()
        called = [
            row[0]
            for row in await conn.execute(
                text("SELECT n.nspname FROM distributed_calls d JOIN pg_namespace n ON n.oid = d.schema_oid")
            )
        ]
        await outer.rollback()  # the ALTER DATABASE too: the shared test database keeps its settings
    assert setting == "on"
    assert called == list(plan.schemas.values())


async def test_plain_postgresql_is_refused_before_anything_changes(ledger_engine: AsyncEngine) -> None:
    assert await citus_version(ledger_engine) is None
    settings = text("SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase")
    async with ledger_engine.connect() as conn:
        before = (await conn.execute(settings)).scalar_one()
    with pytest.raises(CitusUnavailableError, match="Citus extension not installed in database 'test'"):
        await distribute(ledger_engine)
    async with ledger_engine.connect() as conn:
        assert (await conn.execute(settings)).scalar_one() == before


async def test_the_module_prints_the_script_and_refuses_to_apply(
    ledger_engine: AsyncEngine, pg_schema: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # python -m artifact_ledger.citus URL: the URL's engine is the test's (its search_path names pg_schema)
    monkeypatch.setattr(citus, "create_engine", lambda url: pg_engine(pg_schema))
    assert await citus._main([PG_URL]) == 0
    printed = capsys.readouterr().out
    assert f"SELECT citus_schema_distribute('\"{pg_schema}\"');" in printed
    assert printed.count("SELECT citus_schema_distribute(") == 1 + len(NAMES)
    assert await citus._main([PG_URL, "--apply"]) == 4  # the CLI's exit code for an environment failure
    assert "Citus extension not installed" in capsys.readouterr().err


async def test_sqlite_has_no_citus(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
    try:
        with pytest.raises(InvalidArgumentError, match="Citus is distributed PostgreSQL"):
            await citus_plan(engine)
        with pytest.raises(InvalidArgumentError, match="is sqlite"):
            await distribute(engine)
    finally:
        await engine.dispose()
