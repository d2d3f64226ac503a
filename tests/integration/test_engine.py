"""``create_engine`` configuration, URL errors, and ``Ledger.open`` creating (or refusing) the schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, LedgerError, LedgerNotFoundError, create_engine
from artifact_ledger.store.tables import table_names
from ledger_support import SECRET, pg_engine


async def test_sqlite_file_engine_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        await engine.dispose()
    assert str(pragmas["journal_mode"]).lower() == "wal"
    assert int(pragmas["busy_timeout"]) >= 1000
    assert int(pragmas["foreign_keys"]) == 1
    assert int(pragmas["synchronous"]) == 1  # NORMAL


async def test_plain_engine_lacks_what_create_engine_sets(tmp_path: Path) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    plain = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    try:
        async with plain.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
    finally:
        await plain.dispose()
    assert str(mode).lower() != "wal"  # so the pragma test above proves create_engine's work


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("foo://somewhere/db", "unsupported database URL scheme foo://"),
        ("mysql+aiomysql://u@h/db", "unsupported database URL scheme mysql+aiomysql://"),
        ("sqlite:///x.db", "sqlite+aiosqlite://"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite://"),
        ("postgresql://u@h/db", "postgresql+asyncpg://"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_urls_raise_ledger_error(url: str, fragment: str) -> None:
    with pytest.raises(LedgerError, match=fragment.replace("+", r"\+")):
        create_engine(url)


async def test_ledger_open_with_bad_url() -> None:
    with pytest.raises(LedgerError, match="unsupported database URL scheme"):
        async with Ledger.open("foo://x/y", secret=SECRET):
            pass


@pytest.fixture
async def empty_engine(backend: str, tmp_path: Path, pg_schema: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database with no ledger tables (``pg_schema`` is used by the PostgreSQL case)."""
    if backend == "postgresql":
        engine = pg_engine(pg_schema)
    elif backend == "sqlite-file":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    else:
        engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        yield engine
    finally:
        await engine.dispose()


async def tables_of(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_open_creates_tables(empty_engine: AsyncEngine) -> None:
    assert not set(table_names()) & await tables_of(empty_engine)
    async with Ledger.open(empty_engine, secret=SECRET) as ledger, ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"x": 1}))
        assert out.version == 1
    assert set(table_names()) <= await tables_of(empty_engine)
    async with Ledger.open(empty_engine, secret=SECRET, create=False) as ledger:
        report = await ledger.verify()
        assert report.ok
        assert report.events_checked == 1


async def test_open_without_create_refuses_empty_database(empty_engine: AsyncEngine) -> None:
    with pytest.raises(LedgerNotFoundError, match="no ledger at") as err:
        async with Ledger.open(empty_engine, secret=SECRET, create=False):
            pass
    assert "migrate" in str(err.value)
    assert not set(table_names()) & await tables_of(empty_engine)


async def test_open_by_url_owns_and_disposes_engine(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'owned.db'}"
    async with Ledger.open(url, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"a": 1}))
        assert (await ledger.verify()).events_checked == 1
    async with Ledger.open(url, secret=SECRET, create=False) as again, again.manager() as manager:
        assert await manager.count() == 1
