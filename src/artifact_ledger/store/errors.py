"""Driver errors become ledger errors here (with ``error_codes.py``), and only here.

The decision reads the database's own error code: the SQLSTATE on PostgreSQL (asyncpg
exceptions carry ``.sqlstate``; SQLAlchemy's asyncpg adapter wraps them, the original is its
``.orig``) and the extended result code on SQLite (``sqlite3.Error.sqlite_errorcode``). Class
names and message texts are read only where the database gives no code; each such place says
so. Each backend's codes, and the ledger error each becomes, are in ``error_codes.py``; the
table of codes, errors and remedies for readers is in ``docs/errors.md``.

Two ways in:

* :func:`install` puts a ``handle_error`` listener on an engine, so errors raised on the
  SQLAlchemy path (sessions, ``engine.connect()``, commit, rollback) arrive already translated.
  It translates only *storage conditions* (lock timeouts, a full disk, a lost connection,
  corruption, deadlocks and serialization failures): a constraint refusal or a syntax error in
  an application's own SQL on the same engine stays the SQLAlchemy exception it expects. It also
  keeps a lost connection out of the pool (a ``checkout`` listener): the ledger's reads and writes
  run on the driver's connection, whose errors never reach the pool's own disconnect handling.
* :func:`translated` wraps the ledger's own calls (including the ones that talk to the driver
  connection directly) and translates everything :func:`translate` knows.

Every error returned carries the driver's exception as ``driver_error``: the write path reads
it to abort the whole ``transaction()`` (after a database error PostgreSQL refuses every later
statement of the transaction anyway).
"""

from __future__ import annotations

import math
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, ExceptionContext

from ..errors import LedgerError
from .error_codes import Found, postgres_error, sqlite_error, without_code

__all__ = ["Site", "enter_site", "install", "site_of", "translate", "translated"]


@dataclass(frozen=True, slots=True)
class Site:
    """Where an error happened: the ledger's URL (password masked) and its lock timeout in seconds.

    ``lock_timeout`` is ``None`` when the engine was not made by ``create_engine`` (its own
    settings apply and are not known here) and ``math.inf`` when it waits without limit.
    """

    where: str
    lock_timeout: float | None

    def timeout_text(self) -> str:
        if self.lock_timeout is None:
            return "the engine's lock timeout (busy_timeout on SQLite, lock_timeout on PostgreSQL)"
        if math.isinf(self.lock_timeout):
            return "no lock timeout"
        return f"the lock timeout of {self.lock_timeout:g} s"


_SITES: weakref.WeakKeyDictionary[Engine, Site] = weakref.WeakKeyDictionary()
_CURRENT: ContextVar[Site | None] = ContextVar("artifact_ledger_site", default=None)
"""The site of the last ledger engine this task opened a connection on.

Errors raised on the driver connection itself (the append path runs there, under the caller's
SQLAlchemy connection) carry no reference to their engine; they are raised in the task that
opened that connection, so this names the ledger in their messages.
"""


def _base(engine: Engine) -> Engine:
    # Engine.execution_options() returns an OptionEngine proxying the engine the listeners are on.
    while (proxied := getattr(engine, "_proxied", None)) is not None:
        engine = proxied
    return engine


def site_of(engine: Any) -> Site | None:
    """The :class:`Site` recorded for ``engine`` (sync or async) by :func:`install`, if any."""
    sync = getattr(engine, "sync_engine", engine)
    return _SITES.get(_base(sync)) if isinstance(sync, Engine) else None


def install(engine: Any, lock_timeout: float | None) -> None:
    """Translate ``engine``'s storage errors in its ``handle_error`` event; idempotent.

    ``lock_timeout``: the seconds the engine's connections wait for a lock (for messages),
    ``None`` when unknown. A second call keeps the timeout the first one recorded unless it
    knew none.
    """
    sync: Engine = _base(getattr(engine, "sync_engine", engine))
    known = _SITES.get(sync)
    if known is None or known.lock_timeout is None:
        _SITES[sync] = Site(sync.url.render_as_string(hide_password=True), lock_timeout)
    if not event.contains(sync, "handle_error", _on_error):
        event.listen(sync, "handle_error", _on_error)
    if not event.contains(sync, "engine_connect", _on_connect):
        event.listen(sync, "engine_connect", _on_connect)
    if not event.contains(sync, "checkout", _on_checkout):
        event.listen(sync, "checkout", _on_checkout)


def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """``checkout``: never hand out a pooled connection its driver knows is closed.

    The ledger's statements run on the driver's connection (``store/recorder.py``), so when the
    server goes away (a restart, a failover, ``pg_terminate_backend``) the driver's error is
    translated there and never reaches the pool: the dead connection went back into it, and every
    later read and write got it again ("connection is closed") until ``pool_recycle``, 30 minutes.
    Raising ``DisconnectionError`` here makes the pool drop it and connect anew. No round trip: the
    driver's own flag (asyncpg's ``is_closed()``; SQLite's connections have none to lose).
    """
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise sa_exc.DisconnectionError("the pooled connection was closed by the server or the network")


def enter_site(engine: Any) -> None:
    """Name ``engine``'s ledger in the messages of errors raised in this task from now on (the
    ledger's own SQLite connections open no SQLAlchemy connection that would do it)."""
    site = site_of(engine)
    if site is not None:
        _CURRENT.set(site)


def _on_connect(connection: Connection) -> None:
    site = _SITES.get(_base(connection.engine))
    if site is not None:
        _CURRENT.set(site)


def _on_error(context: ExceptionContext) -> None:
    """``handle_error``: raise the storage condition's ledger error; leave everything else alone.

    SQLAlchemy raises what a listener raises (chained from the driver's exception) after its own
    clean-up: the failed cursor is closed and a lost connection is still invalidated, so the
    session can be rolled back and the pool hands out a fresh connection next time.
    """
    if context.is_pre_ping:
        return  # the pool is probing a connection and will replace it: not an error of ours
    site = _SITES.get(_base(context.engine)) if context.engine is not None else None
    found = _classify(context.original_exception, site)
    if found is not None and found[1]:
        raise found[0]


# ---- finding the code ---------------------------------------------------------------------------


def _unwrap(error: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers.

    ``DBAPIError.orig`` is the DB-API exception; for asyncpg that is SQLAlchemy's adapter
    exception, whose ``.orig`` (2.1) or ``__cause__`` (2.0) is asyncpg's. The innermost exception
    with a code wins (the adapter copies ``sqlstate``, asyncpg's own has the constraint name);
    without one, the innermost.
    """
    chain: list[BaseException] = [error]
    while len(chain) < 8:
        seen = chain[-1]
        inner = getattr(seen, "orig", None)
        if not isinstance(inner, BaseException) and type(seen).__module__.startswith("sqlalchemy."):
            inner = seen.__cause__
        if inner is None or inner in chain:
            break
        chain.append(inner)
    for candidate in reversed(chain):
        if _sqlstate(candidate) is not None or _sqlite_code(candidate) is not None:
            return candidate
    return chain[-1]


def _sqlstate(error: BaseException) -> str | None:
    code = getattr(error, "sqlstate", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def _sqlite_code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
    return code if isinstance(code, int) else None


# ---- translating --------------------------------------------------------------------------------


def _classify(error: BaseException, site: Site | None) -> Found | None:
    inner = _unwrap(error)
    if site is None:
        site = _CURRENT.get()
    found: Found | None
    if (code := _sqlstate(inner)) is not None:
        found = postgres_error(inner, code, site)
    elif (sqlite_code := _sqlite_code(inner)) is not None:
        assert isinstance(inner, sqlite3.Error)
        found = sqlite_error(inner, sqlite_code, site)
    else:
        wrapped = isinstance(error, sa_exc.DBAPIError) or isinstance(inner, sqlite3.OperationalError)
        found = without_code(inner, wrapped, site)
    if found is not None:
        found[0].driver_error = inner
    return found


def translate(error: BaseException, *, site: Site | None = None) -> LedgerError | None:
    """The ledger error for a driver or SQLAlchemy error, or None if it is not one we know.

    ``site`` names the ledger in the messages; by default the one whose engine this task last
    opened a connection on. The result's ``driver_error`` is the driver's own exception. A
    :class:`LedgerError` is returned as it is.
    """
    if isinstance(error, LedgerError):
        return error
    found = _classify(error, site)
    return found[0] if found is not None else None


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise driver and SQLAlchemy errors as ledger errors (chained from the original)."""
    try:
        yield
    except LedgerError:
        raise
    except Exception as error:
        mapped = translate(error)
        if mapped is None:
            raise
        raise mapped from error
