"""Ledger.open(engine, namespace=...) on PostgreSQL: the namespace's connections keep every setting
of the caller's engine (connect arguments, pool, execution options, event listeners)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from artifact_ledger import ArtifactIn, InvalidArgumentError, Ledger
from artifact_ledger.namespaces import postgres_schema
from ledger_support import PG_URL, SECRET, pg_engine

NAME = "team-a"


@pytest.fixture
async def tuned(pg_schema: str) -> AsyncIterator[tuple[AsyncEngine, list[str]]]:
    """A caller's engine with settings that matter: server settings, a pool of its own size,
    execution options, a ``connect`` listener that sets the search_path itself, an engine event."""
    engine = create_async_engine(
        PG_URL,
        connect_args={
            "server_settings": {
                "search_path": pg_schema,
                "application_name": "review-app",
                "statement_timeout": "4321",
            },
            "statement_cache_size": 0,
        },
        pool_size=3,
        max_overflow=1,
        execution_options={"review": "kept"},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def own_search_path(dbapi_connection: Any, _record: Any) -> None:  # the SQLAlchemy docs' recipe
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET SESSION search_path TO "{pg_schema}"')
        cursor.close()
        dbapi_connection.autocommit = autocommit

    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    try:
        yield engine, statements
    finally:
        await engine.dispose()
        admin = pg_engine()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{postgres_schema(pg_schema, NAME)}" CASCADE'))
        await admin.dispose()


async def test_a_namespace_keeps_the_settings_of_the_callers_engine(
    tuned: tuple[AsyncEngine, list[str]], pg_schema: str
) -> None:
    engine, seen = tuned
    async with Ledger.open(engine, secret=SECRET, namespace=NAME) as ledger:
        assert ledger.engine is not engine
        async with ledger.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT current_setting('application_name'), current_setting('statement_timeout'), "
                        "current_schema()"
                    )
                )
            ).one()
        assert tuple(row) == ("review-app", "4321ms", postgres_schema(pg_schema, NAME))
        pool = ledger.engine.sync_engine.pool
        assert (pool.size(), pool._max_overflow) == (3, 1)  # type: ignore[attr-defined]
        assert ledger.engine.get_execution_options()["review"] == "kept"
        assert any("current_setting('application_name')" in s for s in seen)  # the caller's listener ran
        async with ledger.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"team": "a"}))
    async with Ledger.open(engine, secret=SECRET) as default, default.manager() as manager:
        assert await manager.find_by_id(saved.id) is None  # the write went to the namespace's tables
    async with engine.connect() as conn:  # the caller's engine is untouched and still usable
        assert (await conn.execute(text("SELECT current_schema()"))).scalar_one() == pg_schema


async def test_disposing_the_namespace_leaves_the_callers_pool_open(tuned: tuple[AsyncEngine, list[str]]) -> None:
    engine, _ = tuned
    async with engine.connect() as held:
        async with Ledger.open(engine, secret=SECRET, namespace=NAME) as ledger, ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"n": 1}))
        assert (await held.execute(text("SELECT 1"))).scalar_one() == 1


def _empty(folder: Path) -> bool:
    return not any(folder.iterdir())


async def test_a_sqlite_file_uri_is_not_called_in_memory(tmp_path: Path) -> None:
    """A ``file:`` URI names a file, but namespaces need its path: the error says so, not "in-memory"."""
    url = f"sqlite+aiosqlite:///file:{tmp_path / 'ledger.db'}?uri=true"
    with pytest.raises(InvalidArgumentError, match=r"a SQLite file: URI .* has no namespaces: name the file by its"):
        async with Ledger.open(url, secret=SECRET, namespace=NAME):
            pass
    assert _empty(tmp_path)
