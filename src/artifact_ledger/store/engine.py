"""``create_engine``: an async engine configured for the ledger on SQLite or PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ..errors import InvalidArgumentError, LedgerError
from .errors import install
from .sqlite_threads import attach

DEFAULT_URL = "sqlite+aiosqlite:///./artifacts.db"
LOCK_TIMEOUT_S = 30.0
"""How long a write waits for the ledger's write lock (or any lock) before ``LockTimeoutError``."""
BUSY_TIMEOUT_S = LOCK_TIMEOUT_S  # the older name
_SQLITE_MAX_MS = 2**31 - 1
"""SQLite's busy_timeout is an int of milliseconds: ~24.8 days stands for "no limit"."""
WAL_BOUND_PAGES = 10_000
"""SQLite: the WAL's size (in pages, 40 MB of 4 KiB pages) past which a writer's commit folds it into
the database file itself; below it the pool's checkpointer thread does, after commits."""


def lock_timeout_seconds(lock_timeout: float | None) -> float:
    """``lock_timeout`` checked: ``None`` is the default (30 s), ``math.inf`` waits without limit."""
    if lock_timeout is None:
        return LOCK_TIMEOUT_S
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, int | float) or not lock_timeout > 0:
        raise InvalidArgumentError(
            f"lock_timeout must be a number of seconds above 0 (math.inf: wait without limit), not {lock_timeout!r}"
        )
    return float(lock_timeout)


_MAX_MILLISECONDS = 2**31 - 1
"""The longest timeout both engines take (PostgreSQL's ``lock_timeout`` is a 32-bit count of ms)."""


def _milliseconds(seconds: float) -> int:
    """Whole milliseconds, at least 1; ``math.inf``, and anything past ~24.8 days, gives 0 (no limit)."""
    if math.isinf(seconds) or seconds * 1000 > _MAX_MILLISECONDS:
        return 0
    return max(1, round(seconds * 1000))


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(url)


def sqlite_file_missing(url: str | URL) -> bool:
    """Whether ``url`` names a SQLite file that is not there (or is empty), so holds no ledger.

    Connecting would create the file (and switching it to WAL would write to it), so a read that
    must create nothing asks this first. In-memory databases and ``file:`` URIs answer ``False``.
    """
    try:
        parsed = make_url(url)
    except Exception:
        return False  # create_engine reports a bad URL
    if parsed.drivername != "sqlite+aiosqlite" or _is_memory(parsed):
        return False  # not SQLite, or a SQLite URL create_engine refuses (naming the scheme to use)
    database = parsed.database or ""
    if database.startswith("file:"):
        return False
    path = Path(database).expanduser()
    try:
        return not path.exists() or (path.is_file() and path.stat().st_size == 0)
    except OSError:
        return False  # opening it reports what is wrong


def create_engine(url: str | URL = DEFAULT_URL, *, lock_timeout: float | None = None, **kwargs: Any) -> AsyncEngine:
    """An ``AsyncEngine`` with what a plain ``create_async_engine`` lacks for a ledger.

    ``lock_timeout``: seconds a write waits for a lock another connection holds before it
    fails with ``LockTimeoutError`` (default 30 s; ``math.inf``: no limit). SQLite: the
    connection's ``busy_timeout``; PostgreSQL: its ``lock_timeout`` setting, sent when the
    connection opens (asyncpg ``server_settings``), so no write pays a round trip for it.

    SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL``
    (durable at checkpoints, never corrupt), the WAL folded into the database file after commits
    by a thread of the engine's own rather than by every hundredth commit
    (``store/sqlite_checkpointer.py``; ``wal_autocheckpoint`` raised to :data:`WAL_BOUND_PAGES` as
    the bound), writers queue for the lock up to the lock
    timeout, foreign keys on, and ``secure_delete`` on (freed bytes are zeroed, so what a
    redaction erases leaves the file). PostgreSQL: connections recycled after 30 minutes; no
    pre-ping (it would cost a round trip on every save, because a session hands its
    connection back at each commit): a dropped connection fails that one write with
    ``ConnectionLostError`` and is replaced. JIT compilation is off for the engine's
    connections (``jit = off``; pass ``connect_args={"server_settings": {"jit": "on"}}`` to
    keep it): a ledger's statements that scan (a tag filter over the past, a full verify) are
    costed above ``jit_above_cost``, and PostgreSQL then compiled them on every execution,
    spending most of their time doing so (docs/benchmarks.md, Q). Driver errors on the
    engine's connections that are storage conditions (lock timeout, full disk, lost
    connection, corruption, deadlock) are raised as ledger errors (``handle_error``; see
    ``store/errors.py``).
    """
    timeout = lock_timeout_seconds(lock_timeout)
    parsed = _parsed(url)
    # From the URL text alone: get_driver_name() would import the dialect, failing on unknown schemes.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver != "aiosqlite":
            raise LedgerError(f"use sqlite+aiosqlite:// for SQLite, not {parsed.drivername}://; {SUPPORTED}")
        # No rollback when a connection goes back to the pool: sessions and connections
        # already end their transactions (commit, or rollback on close), and on SQLite the
        # extra call is a thread hop per save (~10 % of a single save).
        busy_ms = min(_milliseconds(timeout) or _SQLITE_MAX_MS, _SQLITE_MAX_MS)
        options: dict[str, Any] = {"pool_reset_on_return": None}
        memory = _is_memory(parsed)
        if memory:
            options["poolclass"] = StaticPool
        options.update(kwargs)
        options["connect_args"] = {**options.get("connect_args", {}), "timeout": busy_ms / 1000}
        engine = create_async_engine(parsed, **options)

        own_workers = not memory and not {"creator", "async_creator"} & set(kwargs)

        def pragmas(dbapi_connection: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Freed content is overwritten with zeros, not left in the file's free space: a
            # redaction's erased values and deleted blobs must not outlive it in the .db file.
            # Many SQLite builds (Debian's) default to this, others (python.org's) do not.
            cursor.execute("PRAGMA secure_delete=ON")
            if own_workers:
                # The WAL is folded after commits by the pool's checkpointer thread
                # (store/sqlite_checkpointer.py); a writer folds it itself only past this bound.
                cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BOUND_PAGES}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            pragmas(dbapi_connection)

        if own_workers:
            # The write path and the reads of idle sessions run on connections of the ledger's
            # own (store/sqlite_threads.py), made with the same arguments and PRAGMAs.
            args, params = engine.dialect.create_connect_args(engine.url)
            params = {**params, **options["connect_args"]}
            params.pop("iter_chunk_size", None)  # aiosqlite's own argument
            attach(engine.sync_engine, args, params, pragmas)
        install(engine, timeout)
        return engine
    if backend == "postgresql":
        if driver != "asyncpg":
            raise LedgerError(f"use postgresql+asyncpg:// for PostgreSQL, not {parsed.drivername}://; {SUPPORTED}")
        _check_postgres_query(parsed)
        options = {"pool_pre_ping": False, "pool_recycle": 1800, "pool_size": 5, "max_overflow": 10}
        options.update(kwargs)
        # lock_timeout in the startup packet: it covers the write lock (LOCK TABLE) and every
        # other lock wait, at no cost per statement. jit off unless the caller's server_settings
        # say otherwise; the caller's other server_settings stay.
        connect_args = dict(options.get("connect_args", {}))
        settings = {
            "jit": "off",
            **connect_args.get("server_settings", {}),
            "lock_timeout": str(_milliseconds(timeout)),
        }
        options["connect_args"] = {**connect_args, "server_settings": settings}
        engine = create_async_engine(parsed, **options)
        install(engine, timeout)
        return engine
    raise LedgerError(f"unsupported database URL scheme {parsed.drivername}://; {SUPPORTED}")


SUPPORTED = (
    "the supported drivers are aiosqlite (sqlite+aiosqlite:///path.db) and asyncpg (postgresql+asyncpg://user@host/db)"
)


def _parsed(url: object) -> URL:
    """``url`` as a SQLAlchemy URL; anything else is :class:`LedgerError`, whose message
    never repeats the text given: a URL that fails to parse may still hold a password."""
    if not isinstance(url, str | URL):
        raise LedgerError(f"a database URL must be a str or a sqlalchemy URL, not {type(url).__name__}")
    try:
        return make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError or ValueError with a terse message
        reason = "a port that is not a number" if isinstance(exc, ValueError) else "it cannot be parsed"
        raise LedgerError(f"not a database URL ({reason}); {SUPPORTED}") from None


_ASYNCPG_QUERY = frozenset(
    {
        "host",  # a Unix socket directory, or several hosts: ?host=/run/postgresql, ?host=a:5432&host=b:5432
        "port",
        "user",
        "password",
        "database",
        "passfile",
        "service",
        "servicefile",
        "timeout",
        "statement_cache_size",
        "max_cached_statement_lifetime",
        "max_cacheable_statement_size",
        "command_timeout",
        "ssl",
        "direct_tls",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
        "prepared_statement_cache_size",
    }
)
"""The query parameters a ``postgresql+asyncpg://`` URL may carry: asyncpg's ``connect`` keywords
that are text (and SQLAlchemy's ``prepared_statement_cache_size``). Any other reaches asyncpg as
an unexpected keyword, which fails every connection with a bare ``TypeError``."""


def _check_postgres_query(url: URL) -> None:
    unknown = sorted(set(url.query) - _ASYNCPG_QUERY)
    if not unknown:
        return
    hint = " (asyncpg spells libpq's sslmode as ssl: ?ssl=require)" if "sslmode" in unknown else ""
    raise LedgerError(
        f"the database URL {url.render_as_string(hide_password=True)} has the query parameter(s) "
        f"{', '.join(unknown)}, which asyncpg does not take{hint}; "
        f"the ones it takes: {', '.join(sorted(_ASYNCPG_QUERY))}"
    )
