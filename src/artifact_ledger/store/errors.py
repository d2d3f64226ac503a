"""Driver errors become ledger errors here, and only here.

The decision reads the database's own error code: the SQLSTATE on PostgreSQL (asyncpg
exceptions carry ``.sqlstate``; SQLAlchemy's asyncpg adapter wraps them, the original is its
``.orig``) and the extended result code on SQLite (``sqlite3.Error.sqlite_errorcode``). Class
names and message texts are read only where the database gives no code; each such place says
so. The table of codes, errors and remedies is in ``docs/errors.md``.

Two ways in:

* :func:`install` puts a ``handle_error`` listener on an engine, so errors raised on the
  SQLAlchemy path (sessions, ``engine.connect()``, commit, rollback) arrive already translated.
  It translates only *storage conditions* (lock timeouts, a full disk, a lost connection,
  corruption, deadlocks and serialization failures): a constraint refusal or a syntax error in
  an application's own SQL on the same engine stays the SQLAlchemy exception it expects.
* :func:`translated` wraps the ledger's own calls (including the ones that talk to the driver
  connection directly) and translates everything :func:`translate` knows.

Every error returned carries the driver's exception as ``driver_error``: the write path reads
it to abort the whole ``transaction()`` (after a database error PostgreSQL refuses every later
statement of the transaction anyway).
"""

from __future__ import annotations

import math
import socket
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

from ..errors import (
    ConcurrencyError,
    ConnectionLostError,
    IntegrityViolationError,
    LedgerError,
    LedgerUnavailableError,
    LockTimeoutError,
    SchemaOutOfDateError,
    StorageCorruptError,
    StorageFullError,
    TransactionAbortedError,
)

__all__ = ["Site", "install", "site_of", "translate", "translated"]

EVENTS_VERSION_CONSTRAINT = "uq_ledger_events_artifact_id_version"
"""The unique (artifact_id, version) constraint of ``ledger_events``: two writers appended one stream version."""

_MIGRATE = "create them with Artifact.metadata.create_all or run `artifact-ledger migrate`"


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


def _text(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__


# ---- SQLite -------------------------------------------------------------------------------------

# Primary result codes (the low byte of an extended code), as in sqlite3.h.
SQLITE_ERROR = 1
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_NOMEM = 7
SQLITE_READONLY = 8
SQLITE_INTERRUPT = 9
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_TOOBIG = 18
SQLITE_CONSTRAINT = 19
SQLITE_MISMATCH = 20
SQLITE_NOLFS = 22
SQLITE_AUTH = 23
SQLITE_RANGE = 25
SQLITE_NOTADB = 26
SQLITE_BUSY_SNAPSHOT = SQLITE_BUSY | (2 << 8)
SQLITE_CONSTRAINT_PRIMARYKEY = SQLITE_CONSTRAINT | (6 << 8)
SQLITE_CONSTRAINT_UNIQUE = SQLITE_CONSTRAINT | (8 << 8)

_Found = tuple[LedgerError, bool]
"""A translation and whether it is a storage condition (translated on every path, ``handle_error`` too)."""


def _sqlite(inner: sqlite3.Error, code: int, site: Site | None) -> _Found:
    message = _text(inner)
    name = getattr(inner, "sqlite_errorname", None) or f"SQLite code {code}"
    at = f" at {site.where}" if site is not None else ""
    primary = code & 0xFF
    if primary in (SQLITE_BUSY, SQLITE_LOCKED):
        if code == SQLITE_BUSY_SNAPSHOT:
            detail = (
                f"({message}, {name}): another connection wrote after this transaction's first read, "
                "so it cannot write on that stale snapshot; retry the transaction"
            )
            return _lock_timeout(site, detail), True
        return _lock_timeout(site, f"({message}, {name})"), True
    if primary == SQLITE_FULL:
        return StorageFullError(
            f"the SQLite database{at} is full ({message}, {name}): its disk, or the limit PRAGMA "
            "max_page_count sets, has no room; nothing was written. Free space (or raise the limit) and retry"
        ), True
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StorageCorruptError(
            f"the SQLite database{at} is damaged ({message}, {name}); stop writing to it, keep a copy of the "
            "file, and restore it from a backup or an exported bundle"
        ), True
    if primary == SQLITE_IOERR:
        return LedgerUnavailableError(
            f"disk I/O error on the SQLite database{at} ({message}, {name}); nothing was written. "
            "Check the disk and file system, then retry"
        ), True
    if primary in (SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH, SQLITE_NOLFS):
        return LedgerUnavailableError(
            f"the SQLite database{at} cannot be opened or written ({message}, {name}); "
            "check the path, its directory and their permissions"
        ), True
    if primary in (SQLITE_NOMEM, SQLITE_INTERRUPT):
        return LedgerUnavailableError(f"SQLite gave up on the statement{at} ({message}, {name}); retry"), True
    if primary == SQLITE_CONSTRAINT:
        # SQLite names a constraint's columns only in the message ("UNIQUE constraint failed:
        # ledger_events.artifact_id, ledger_events.version"): no code tells which one failed.
        if code in (SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY) and (
            "ledger_events.artifact_id" in message and "ledger_events.version" in message
        ):
            return _same_version(message), False
        return IntegrityViolationError(f"the database refused the write: {message} ({name})"), False
    if primary in (SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE):
        return IntegrityViolationError(f"the database refused the value: {message} ({name})"), False
    if primary == SQLITE_ERROR:
        # SQLite has no code for a missing table or column beyond the generic SQLITE_ERROR:
        # only its message tells them apart.
        if "no such table" in message:
            return SchemaOutOfDateError(f"the ledger tables are missing ({message}); {_MIGRATE}"), False
        if "no such column" in message or "has no column named" in message:
            return SchemaOutOfDateError(
                f"the ledger tables are from an older version of artifact-ledger ({message}); "
                "run `artifact-ledger migrate`"
            ), False
    return LedgerUnavailableError(f"database error{at}: {message} ({name})"), False


# ---- PostgreSQL ---------------------------------------------------------------------------------

_CONNECTION_GONE = {
    "57P01": "the server terminated the connection (shutdown, or pg_terminate_backend)",
    "57P02": "the server crashed",
    "57P03": "the server is starting up or shutting down",
    "57P04": "the database was dropped",
    "57P05": "the server closed the idle session (idle_session_timeout)",
    "25P03": "the server closed the connection idle in a transaction (idle_in_transaction_session_timeout)",
}


def _postgres(inner: BaseException, code: str, site: Site | None) -> _Found:
    message = _text(inner)
    at = f" at {site.where}" if site is not None else ""
    cls = code[:2]
    if code in ("40001", "40P01"):
        what = "a serialization failure" if code == "40001" else "a deadlock"
        return ConcurrencyError(
            f"the database rolled the command back after {what} with a concurrent transaction "
            f"({message}, SQLSTATE {code}); nothing was written: retry it"
        ), True
    if code == "55P03":
        return _lock_timeout(site, f"({message}, SQLSTATE {code})"), True
    if code == "57014":
        return LedgerUnavailableError(
            f"the database cancelled the statement{at} ({message}, SQLSTATE {code}): statement_timeout "
            "or a cancel request; nothing was written. Retry, or raise statement_timeout"
        ), True
    if code == "53100":
        return StorageFullError(
            f"the PostgreSQL server{at} is out of disk space ({message}, SQLSTATE {code}); nothing was "
            "written. Free space on the server and retry"
        ), True
    if code in ("XX001", "XX002"):
        return StorageCorruptError(
            f"the PostgreSQL server{at} reports damaged data ({message}, SQLSTATE {code}); stop writing, "
            "then REINDEX a damaged index or restore the database from a backup"
        ), True
    if cls == "08" or code in _CONNECTION_GONE:
        why = _CONNECTION_GONE.get(code, "the connection failed")
        return ConnectionLostError(
            f"lost the connection to the database{at}: {why} ({message}, SQLSTATE {code}); nothing of the "
            "command was written. Retry it: the pool opens a new connection"
        ), True
    if cls == "53":
        return LedgerUnavailableError(
            f"the PostgreSQL server{at} is out of resources ({message}, SQLSTATE {code}); "
            "retry later, or lower the pool size or raise max_connections"
        ), True
    if cls == "58":
        return LedgerUnavailableError(
            f"the PostgreSQL server{at} had a system or disk I/O error ({message}, SQLSTATE {code}); "
            "check the server, then retry"
        ), True
    if cls == "28" or code == "3D000":
        return LedgerUnavailableError(
            f"cannot use the database{at} ({message}, SQLSTATE {code}); check the URL's user, password "
            "and database name"
        ), True
    if code in ("42P01", "3F000"):
        return SchemaOutOfDateError(f"the ledger tables are missing ({message}); {_MIGRATE}"), False
    if code == "42703":
        return SchemaOutOfDateError(
            f"the ledger tables are from an older version of artifact-ledger ({message}); run `artifact-ledger migrate`"
        ), False
    if code == "23505" and getattr(inner, "constraint_name", None) == EVENTS_VERSION_CONSTRAINT:
        return _same_version(message), False
    if cls == "23" or code == "P0001":  # integrity constraints; P0001: RAISE in a trigger
        return IntegrityViolationError(f"the database refused the write: {message} (SQLSTATE {code})"), False
    if cls in ("22", "54"):  # data exceptions; program limits (a value too large to index)
        return IntegrityViolationError(f"the database refused the value: {message} (SQLSTATE {code})"), False
    if code == "25P02":
        return TransactionAbortedError(
            f"an earlier statement of this transaction failed ({message}); roll it back and start again"
        ), False
    return LedgerUnavailableError(f"database error{at}: {message} (SQLSTATE {code})"), False


# ---- no code ------------------------------------------------------------------------------------


def _without_code(inner: BaseException, wrapped: bool, site: Site | None) -> _Found | None:
    """Errors the database gave no code for: the client saw the connection fail, and so on.

    No SQLSTATE or result code exists for these, so their classes (and, for asyncpg's
    closed-connection check, its message) are all there is to go by.
    """
    at = f" at {site.where}" if site is not None else ""
    message = _text(inner)
    lost = (
        f"lost the connection to the database{at} ({message}); nothing of the command was written. "
        "Retry it: the pool opens a new connection"
    )
    if isinstance(inner, ConnectionRefusedError | socket.gaierror):
        return LedgerUnavailableError(
            f"the database connection failed{at}: cannot connect ({message}); is the server up and the URL right?"
        ), True
    if isinstance(inner, ConnectionError):
        return ConnectionLostError(lost), True
    if _is_asyncpg_interface_error(inner) and "connection is closed" in message:
        return ConnectionLostError(lost), True
    if isinstance(inner, TimeoutError):
        return LedgerUnavailableError(f"timed out talking to the database{at} ({message}); retry"), True
    if type(inner) is OSError:
        return LedgerUnavailableError(f"the database connection failed{at}: {message}"), True
    if wrapped:
        return LedgerUnavailableError(f"database error{at}: {message}"), False
    return None


def _is_asyncpg_interface_error(error: BaseException) -> bool:
    try:
        from asyncpg.exceptions import InterfaceError
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(error, InterfaceError)


# ---- shared -------------------------------------------------------------------------------------


def _lock_timeout(site: Site | None, detail: str) -> LockTimeoutError:
    where = site.where if site is not None else None
    ledger = f"the ledger at {where}" if where is not None else "the ledger"
    wait = site.timeout_text() if site is not None else "the connection's lock timeout"
    return LockTimeoutError(
        f"{ledger} waited for a lock past {wait} {detail}: another connection holds it (a long "
        "transaction, or a stuck writer); nothing was written. Retry, end the transaction that holds "
        "the lock, or open the ledger with a longer lock_timeout (Ledger.open(url, lock_timeout=seconds))",
        lock_timeout=site.lock_timeout if site is not None else None,
        where=where,
    )


def _same_version(message: str) -> ConcurrencyError:
    return ConcurrencyError(f"another writer appended to the same artifact first ({message}); reload and retry")


def _classify(error: BaseException, site: Site | None) -> _Found | None:
    inner = _unwrap(error)
    if site is None:
        site = _CURRENT.get()
    found: _Found | None
    if (code := _sqlstate(inner)) is not None:
        found = _postgres(inner, code, site)
    elif (sqlite_code := _sqlite_code(inner)) is not None:
        assert isinstance(inner, sqlite3.Error)
        found = _sqlite(inner, sqlite_code, site)
    else:
        wrapped = isinstance(error, sa_exc.DBAPIError) or isinstance(inner, sqlite3.OperationalError)
        found = _without_code(inner, wrapped, site)
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
