"""``create_engine``: an async engine configured for the ledger on SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ..errors import LedgerError

DEFAULT_URL = "sqlite+aiosqlite:///./artifacts.db"
BUSY_TIMEOUT_S = 30.0


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(url)


def create_engine(url: str | URL = DEFAULT_URL, **kwargs: Any) -> AsyncEngine:
    """An ``AsyncEngine`` with what a plain ``create_async_engine`` lacks for a ledger.

    SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL``
    (durable at checkpoints, never corrupt), a 30 s busy timeout so writers queue
    for the lock instead of failing, and foreign keys on. PostgreSQL: connections
    recycled after 30 minutes; no pre-ping (it would cost a round trip on every
    save, because a session hands its connection back at each commit): a dropped
    connection fails that one write with ``LedgerUnavailableError`` and is replaced.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise LedgerError(f"not a database URL: {url!r} ({exc})") from None
    # From the URL text alone: get_driver_name() would import the dialect, failing on unknown schemes.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver != "aiosqlite":
            raise LedgerError(f"use sqlite+aiosqlite:// for SQLite, not {parsed.drivername}://")
        # No rollback when a connection goes back to the pool: sessions and connections
        # already end their transactions (commit, or rollback on close), and on SQLite the
        # extra call is a thread hop per save (~10 % of a single save).
        options: dict[str, Any] = {"connect_args": {"timeout": BUSY_TIMEOUT_S}, "pool_reset_on_return": None}
        if _is_memory(parsed):
            options["poolclass"] = StaticPool
        options.update(kwargs)
        engine = create_async_engine(parsed, **options)
        memory = _is_memory(parsed)

        @event.listens_for(engine.sync_engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if backend == "postgresql":
        if driver != "asyncpg":
            raise LedgerError(f"use postgresql+asyncpg:// for PostgreSQL, not {parsed.drivername}://")
        options = {"pool_pre_ping": False, "pool_recycle": 1800, "pool_size": 5, "max_overflow": 10}
        options.update(kwargs)
        return create_async_engine(parsed, **options)
    raise LedgerError(
        f"unsupported database URL scheme {parsed.drivername}://; "
        "use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db"
    )
