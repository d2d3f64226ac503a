"""``find``/``count`` over a projection row whose ``data`` or ``tags`` the database cannot read as JSON.

The filter language is compiled to SQL that reads the documents as JSON (SQLite's ``json_extract``
and ``json_each``, PostgreSQL's cast to ``jsonb``), so one ``ledger_artifacts`` row whose document is
not JSON (planted by an UPDATE behind the ledger's back: the ledger writes only canonical JSON) fails
the whole statement with the database's own error, which names no row. :func:`drift_of` turns such an
error into :class:`ProjectionDriftError` naming the artifacts, as every other read reports a row it
cannot read (:func:`artifact_ledger.schemas.stored.unreadable`):

- only an error that can come from reading JSON is looked into (SQLite: a message about JSON;
  PostgreSQL: SQLSTATE ``22P02``, invalid text, or ``22P05``, a ``\\u0000`` jsonb refuses); any
  other error goes on as it was;
- the rows are then found by reading the projection again (SQLite: ``json_valid`` in one statement;
  PostgreSQL 15 has no way to test a cast in SQL without failing, so the documents are read in
  keyset pages of :data:`PAGE` rows and parsed here), at most :data:`NAMED` of them named;
- where none is found the original error goes on unchanged: nothing else is ever reported as drift.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

import orjson

from ..errors import ProjectionDriftError
from ..store.recorder import Recorder, autocommit_reads

__all__ = ["NAMED", "PAGE", "drift_of"]

NAMED: Final = 10
"""The most artifacts one error names."""
PAGE: Final = 500
"""The rows read per statement while looking for them on PostgreSQL."""

_PG_CODES: Final = frozenset({"22P02", "22P05"})
_COLUMNS: Final = ("data", "tags")

_SQLITE_FIND: Final = (
    "SELECT id, json_valid(data), json_valid(tags) FROM ledger_artifacts "
    "WHERE NOT (json_valid(data) AND json_valid(tags)) ORDER BY id LIMIT ?"
)
_PG_PAGE: Final = "SELECT id, data, tags FROM ledger_artifacts WHERE id > $1 ORDER BY id LIMIT $2"


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions under it (SQLAlchemy's ``orig``, the adapter's cause)."""
    seen: list[BaseException] = [error]
    while len(seen) < 8:
        inner = getattr(seen[-1], "orig", None)
        if not isinstance(inner, BaseException):
            inner = seen[-1].__cause__
        if inner is None or inner in seen:
            break
        seen.append(inner)
    return seen


def _from_json(error: BaseException) -> BaseException | None:
    """The driver's exception under ``error`` if it can come from reading a document as JSON, else None."""
    for inner in _chain(error):
        if isinstance(inner, sqlite3.Error) and "JSON" in str(inner):
            return inner
        if getattr(inner, "sqlstate", None) in _PG_CODES:
            return inner
    return None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _unreadable_text(text: Any) -> bool:
    """Whether PostgreSQL's ``jsonb`` would refuse ``text``: not JSON, or a string holding NUL
    (which the ledger never stores either)."""
    if not isinstance(text, str):
        return True
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return True
    return "\\u0000" in text and _has_nul(value)


async def _sqlite_rows(rec: Recorder) -> list[tuple[str, list[str]]]:
    rows = await rec.raw.execute_fetchall(_SQLITE_FIND, (NAMED,))
    return [(str(r[0]), [c for c, ok in zip(_COLUMNS, r[1:], strict=True) if not ok]) for r in rows]


async def _postgres_rows(rec: Recorder) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    after = ""
    while len(found) < NAMED:
        page = await rec.raw.fetch(_PG_PAGE, after, PAGE)
        for aid, *texts in page:
            bad = [c for c, t in zip(_COLUMNS, texts, strict=True) if _unreadable_text(t)]
            if bad:
                found.append((str(aid), bad))
        if len(page) < PAGE:
            break
        after = str(page[-1][0])
    return found[:NAMED]


async def _rows(rec: Recorder) -> list[tuple[str, list[str]]]:
    return await (_sqlite_rows(rec) if rec.name == "sqlite" else _postgres_rows(rec))


async def _search(rec: Recorder) -> list[tuple[str, list[str]]]:
    """The unreadable rows, read on ``rec``; on PostgreSQL inside a transaction the failed statement
    aborted it, so they are read on a pooled connection of the same engine (the planted rows are
    committed: an UPDATE of the ledger's own is no such row)."""
    try:
        return await _rows(rec)
    except Exception:
        try:
            engine = rec.connection.engine
        except Exception:
            return []
    try:
        async with autocommit_reads(engine) as other:
            return await _rows(other)
    except Exception:
        return []


async def drift_of(rec: Recorder, error: BaseException) -> ProjectionDriftError | None:
    """:class:`ProjectionDriftError` naming the rows whose documents made a ``find``/``count``
    statement fail with ``error``; None when ``error`` is not about JSON or no such row is found
    (the caller raises ``error`` itself then)."""
    inner = _from_json(error)
    if inner is None:
        return None
    found = await _search(rec)
    if not found:
        return None
    first = found[0][0]
    named = ", ".join(f"{aid} ({' and '.join(columns)})" for aid, columns in found)
    more = f" (the first {NAMED})" if len(found) == NAMED else ""
    drift = ProjectionDriftError(
        f"artifact {first} has a ledger_artifacts row that cannot be read: its document is not JSON the "
        f"database can read ({type(inner).__name__}: {str(inner).strip().splitlines()[0]}); rows found{more}: "
        f"{named}. The projections were changed outside the ledger, which is the only record trusted. Find what "
        "changed with `artifact-ledger verify`, then rebuild them from the log with `artifact-ledger rebuild`",
        artifact_id=first,
    )
    drift.driver_error = inner
    return drift
