"""Alembic migrations for the ledger tables, from Python: ``upgrade``, ``downgrade``, ``current_revision``.

The scripts live in ``artifact_ledger/migrations`` (shipped in the wheel) and record their
revision in ``ledger_alembic_version``, so they share a database with the host application's
own Alembic history. Every upgrade or downgrade first takes a migration lock, so two processes
starting at once run the migration once: the second waits, then finds the schema current.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .errors import LedgerUnavailableError
from .store.engine import create_engine
from .store.errors import translated
from .store.recorder import recorder_for

HEAD_REVISION = "0001"
"""The newest revision this version of artifact-ledger ships; ``Ledger.open`` expects the database there."""

VERSION_TABLE = "ledger_alembic_version"
SCRIPT_LOCATION = Path(__file__).parent / "migrations"

SQLITE_ATTEMPTS = 6
"""How often a migration on SQLite is tried when another process holds the new file's locks."""

_engine_locks: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


async def lock(conn: AsyncConnection) -> None:
    """Take the migration lock in ``conn``'s transaction (released when it commits or rolls back)."""
    await (await recorder_for(conn)).migration_lock()


def config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the ledger's scripts (``connection``: run on it rather than open one)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def current_revision_of(connection: Connection) -> str | None:
    """The recorded revision, read on a synchronous connection (``None``: none recorded)."""
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


async def _locked(url_or_engine: str | URL | AsyncEngine, work: Callable[[Connection], None]) -> None:
    owns = not isinstance(url_or_engine, AsyncEngine)
    engine = url_or_engine if isinstance(url_or_engine, AsyncEngine) else create_engine(url_or_engine)
    try:
        # One engine can hand two coroutines the same connection (SQLite in memory): take turns in-process first.
        async with _engine_locks.setdefault(engine.sync_engine, asyncio.Lock()):
            for attempt in range(SQLITE_ATTEMPTS):
                try:
                    with translated():
                        async with engine.connect() as conn:
                            await lock(conn)
                            await conn.run_sync(work)
                            await conn.commit()
                    return
                except LedgerUnavailableError:
                    # Two processes opening a brand-new SQLite file race to switch it to WAL while
                    # it is still in rollback-journal mode; SQLite breaks that lock cycle by failing
                    # one of them at once (no busy wait). The migration is transactional and
                    # idempotent, so the loser simply tries again.
                    if engine.dialect.name != "sqlite" or attempt == SQLITE_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.05 * 2**attempt)
    finally:
        if owns:
            await engine.dispose()


async def upgrade(url_or_engine: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Bring the ledger tables to ``revision`` (default the newest); a no-op where they are there already."""
    await _locked(url_or_engine, lambda c: command.upgrade(config(c), revision))


async def downgrade(url_or_engine: str | URL | AsyncEngine, revision: str = "base") -> None:
    """Take the ledger tables back to ``revision``; ``"base"`` drops them all, the version table too."""

    def work(connection: Connection) -> None:
        command.downgrade(config(connection), revision)
        if revision == "base":
            connection.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))

    await _locked(url_or_engine, work)


async def stamp(url_or_engine: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Record ``revision`` without running it, unless a revision is recorded already (tables made by ``create_all``)."""

    def work(connection: Connection) -> None:
        if current_revision_of(connection) is None:
            command.stamp(config(connection), revision)

    await _locked(url_or_engine, work)


async def current_revision(url_or_engine: str | URL | AsyncEngine) -> str | None:
    """The revision recorded in ``ledger_alembic_version``, or ``None`` (no version table, or no row)."""
    owns = not isinstance(url_or_engine, AsyncEngine)
    engine = url_or_engine if isinstance(url_or_engine, AsyncEngine) else create_engine(url_or_engine)
    try:
        with translated():
            async with engine.connect() as conn:
                return await conn.run_sync(current_revision_of)
    finally:
        if owns:
            await engine.dispose()
