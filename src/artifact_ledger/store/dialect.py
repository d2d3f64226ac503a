"""Transitional: the names the rest of the library imported from here, now in their own modules.

The recorders (``recorder.py``, ``sqlite.py``, ``postgres.py``) run the statements of
``statements.py``; driver errors become ledger errors in ``translate`` below.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from ..errors import (
    ConcurrencyError,
    IntegrityViolationError,
    LedgerError,
    LedgerUnavailableError,
    SchemaOutOfDateError,
)
from .recorder import Recorder, Rows, Step, recorder_for

Driver = Recorder
driver_for = recorder_for

__all__ = ["Driver", "Recorder", "Rows", "Step", "driver_for", "recorder_for", "translate", "translated"]


def _unwrap(error: BaseException) -> BaseException:
    seen = error
    while isinstance(seen, sa_exc.DBAPIError) and seen.orig is not None:
        seen = seen.orig
    return seen


def translate(error: BaseException) -> LedgerError | None:
    """The ledger error for a driver or SQLAlchemy error, or None if it is not one we know."""
    if isinstance(error, LedgerError):
        return error
    inner = _unwrap(error)
    message = str(inner)
    kind = type(inner).__name__
    if isinstance(inner, sqlite3.OperationalError) or kind == "OperationalError":
        if "locked" in message or "busy" in message:
            return LedgerUnavailableError(
                f"the SQLite database stayed locked by another writer past the busy timeout ({message}); retry"
            )
        if "no such table" in message:
            return SchemaOutOfDateError(
                f"the ledger tables are missing ({message}); create them with "
                "Artifact.metadata.create_all or run `artifact-ledger migrate`"
            )
        if "no such column" in message or "has no column named" in message:
            return SchemaOutOfDateError(
                f"the ledger tables are from an older version of artifact-ledger ({message}); "
                "run `artifact-ledger migrate`"
            )
    if kind == "UndefinedTableError" or ("does not exist" in message and "relation" in message):
        return SchemaOutOfDateError(
            f"the ledger tables are missing ({message}); create them with "
            "Artifact.metadata.create_all or run `artifact-ledger migrate`"
        )
    if kind == "UndefinedColumnError":
        return SchemaOutOfDateError(
            f"the ledger tables are from an older version of artifact-ledger ({message}); run `artifact-ledger migrate`"
        )
    if (
        "ledger_events" in message
        and "version" in message
        and ("UNIQUE" in message or "unique" in message or kind == "UniqueViolationError")
    ):
        return ConcurrencyError(f"another writer appended to the same artifact first ({message}); reload and retry")
    if kind in {
        "UniqueViolationError",
        "IntegrityError",
        "ForeignKeyViolationError",
        "RaiseError",
        "RestrictViolationError",  # the append-only triggers on PostgreSQL
        "StringDataRightTruncationError",
        "CharacterNotInRepertoireError",
        "UntranslatableCharacterError",
        "NumericValueOutOfRangeError",
    } or isinstance(inner, sqlite3.IntegrityError):
        return IntegrityViolationError(f"the database refused the write: {message}")
    if kind in {
        "ConnectionDoesNotExistError",
        "InterfaceError",
        "ConnectionResetError",
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "QueryCanceledError",
        "OSError",
        "ConnectionRefusedError",
    }:
        return LedgerUnavailableError(f"the database connection failed: {message}")
    if isinstance(error, sa_exc.DBAPIError):
        return LedgerUnavailableError(f"database error: {message}")
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise driver and SQLAlchemy errors as ledger errors (the one translation point)."""
    try:
        yield
    except LedgerError:
        raise
    except Exception as error:
        mapped = translate(error)
        if mapped is None:
            raise
        raise mapped from error
