"""The database's error codes and the ledger error each becomes (``errors.py`` finds the code).

One classifier per backend: :func:`sqlite_error` reads SQLite's extended result code,
:func:`postgres_error` PostgreSQL's SQLSTATE, and :func:`without_code` the driver's exception
classes when the database gave no code. Each returns the ledger error and whether it is a
storage condition. The table of codes, errors and remedies is in ``docs/errors.md``.
"""

from __future__ import annotations

import socket
import sqlite3
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from .errors import Site

__all__ = ["Found", "postgres_error", "sqlite_error", "without_code"]

EVENTS_VERSION_CONSTRAINT = "uq_ledger_events_artifact_id_version"
"""The unique (artifact_id, version) constraint of ``ledger_events``: two writers appended one stream version."""

Found = tuple[LedgerError, bool]
"""A translation and whether it is a storage condition (translated on every path, ``handle_error`` too)."""

_MIGRATE = "create them with Artifact.metadata.create_all or run `artifact-ledger migrate`"


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
SQLITE_CONSTRAINT_TRIGGER = SQLITE_CONSTRAINT | (7 << 8)
SQLITE_CONSTRAINT_UNIQUE = SQLITE_CONSTRAINT | (8 << 8)


def sqlite_error(inner: sqlite3.Error, code: int, site: Site | None) -> Found:
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
        # ledger_events.artifact_id, ledger_events.version"): no code tells which one failed. The
        # ledger's no-replace trigger (store/tables.py) raises the same words before the index does.
        if code in (SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_TRIGGER) and (
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


def postgres_error(inner: BaseException, code: str, site: Site | None) -> Found:
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


def without_code(inner: BaseException, wrapped: bool, site: Site | None) -> Found | None:
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
    if _is_asyncpg_internal_error(inner):
        # The protocol's own state machine is broken ("cannot switch to state 11; another
        # operation is in progress"): the server ended the connection while an operation was
        # under way. The connection cannot be used again, so it is as good as lost.
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


def _is_asyncpg_internal_error(error: BaseException) -> bool:
    try:
        from asyncpg.exceptions import InternalClientError
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(error, InternalClientError)


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
