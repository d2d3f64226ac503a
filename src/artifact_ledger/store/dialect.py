"""Every SQLite/PostgreSQL difference, and the one place driver errors become ledger errors.

The append path runs its statements on the driver connection underneath the
caller's SQLAlchemy connection (same transaction): one statement through the
async SQLAlchemy layer costs ~140 µs here, the same statement on the driver
~25 µs (DESIGN §2). The statements are fixed text, written once per dialect
below; all values travel as bound parameters.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import (
    ConcurrencyError,
    IntegrityViolationError,
    LedgerError,
    LedgerUnavailableError,
    SchemaOutOfDateError,
)
from .tables import PROJECTORS

_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"

_ARTIFACT_COLUMNS = (
    "id, parent_id, level, version, type, data, content_hash, content_codec, content_type, content_size, "
    "tags, created_at, updated_at, created_by, updated_by"
)
_EVENT_COLUMNS = (
    "position, event_id, artifact_id, version, type, schema_version, payload, recorded_at, "
    "actor, reason, correlation_id, causation_id, prev_hash, hash"
)


@dataclass(frozen=True, slots=True)
class Statements:
    """The append path's SQL for one dialect (``?`` for SQLite, ``$n`` for asyncpg)."""

    head: str
    head_and_artifacts: str
    load_artifacts: str
    stream_versions: str
    stream_events: str
    stream_events_upto: str
    events_after: str
    clear_projections: tuple[str, ...]
    subtree_rows: str
    is_descendant: str
    insert_event: str
    insert_blob: str
    insert_artifact: str
    update_artifact: str
    move_artifact: str
    delete_artifact: str
    insert_closure_for: str
    insert_closure_row: str
    delete_closure_of: str
    move_closure_detach: str
    move_closure_attach: str
    open_parent_link: str
    close_parent_link: str
    shift_levels: str
    upsert_checkpoint: str


def _numbered(sql: str) -> str:
    """Turn ``?`` placeholders into asyncpg's ``$1, $2, …``."""
    parts = sql.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        out.append(f"${index}{part}")
    return "".join(out)


def _statements(id_list: str, upsert_blob: str) -> dict[str, str]:
    return {
        "head": "SELECT position, hash, recorded_at FROM ledger_events ORDER BY position DESC LIMIT 1",
        "load_artifacts": f"SELECT {_ARTIFACT_COLUMNS} FROM ledger_artifacts WHERE id IN ({id_list})",
        # The head and some artifact rows in one round trip: the head's columns repeat on every
        # row, and a row of NULL artifact columns stands for "none found".
        "head_and_artifacts": (
            "SELECT h.position, h.hash, h.recorded_at, "
            + ", ".join("a." + c.strip() for c in _ARTIFACT_COLUMNS.split(","))
            + " FROM (SELECT 1 AS one) o LEFT JOIN (SELECT position, hash, recorded_at FROM ledger_events "
            "ORDER BY position DESC LIMIT 1) h ON 1 = 1 "
            f"LEFT JOIN ledger_artifacts a ON a.id IN ({id_list})"
        ),
        "stream_versions": (
            f"SELECT artifact_id, max(version) FROM ledger_events WHERE artifact_id IN ({id_list}) GROUP BY artifact_id"
        ),
        "stream_events": f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE artifact_id = ? ORDER BY version",
        "stream_events_upto": (
            f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE artifact_id = ? AND version <= ? ORDER BY version"
        ),
        "events_after": f"SELECT {_EVENT_COLUMNS} FROM ledger_events WHERE position > ? ORDER BY position LIMIT ?",
        "subtree_rows": (
            f"SELECT {', '.join('a.' + c.strip() for c in _ARTIFACT_COLUMNS.split(','))} "
            "FROM ledger_artifact_closure c JOIN ledger_artifacts a ON a.id = c.descendant_id "
            "WHERE c.ancestor_id = ? AND c.depth > 0 ORDER BY c.depth, a.id"
        ),
        "is_descendant": ("SELECT 1 FROM ledger_artifact_closure WHERE ancestor_id = ? AND descendant_id = ?"),
        "insert_event": f"INSERT INTO ledger_events ({_EVENT_COLUMNS}) VALUES ({', '.join(['?'] * 14)})",
        "insert_blob": upsert_blob,
        "insert_artifact": f"INSERT INTO ledger_artifacts ({_ARTIFACT_COLUMNS}) VALUES ({', '.join(['?'] * 15)})",
        "update_artifact": (
            "UPDATE ledger_artifacts SET version = ?, type = ?, data = ?, content_hash = ?, content_codec = ?, "
            "content_type = ?, content_size = ?, tags = ?, updated_at = ?, updated_by = ? WHERE id = ?"
        ),
        "move_artifact": (
            "UPDATE ledger_artifacts SET parent_id = ?, version = ?, updated_at = ?, updated_by = ? WHERE id = ?"
        ),
        "delete_artifact": "DELETE FROM ledger_artifacts WHERE id = ?",
        # One path, when the projector knows the new artifact's ancestors (created in this batch).
        "insert_closure_row": (
            "INSERT INTO ledger_artifact_closure (ancestor_id, descendant_id, depth) VALUES (?, ?, ?)"
        ),
        # A new artifact's paths: its parent's ancestors one step further, plus itself at depth 0.
        "insert_closure_for": (
            "INSERT INTO ledger_artifact_closure (ancestor_id, descendant_id, depth) "
            "SELECT ancestor_id, CAST(? AS VARCHAR(26)), depth + 1 FROM ledger_artifact_closure "
            "WHERE descendant_id = ? UNION ALL SELECT CAST(? AS VARCHAR(26)), CAST(? AS VARCHAR(26)), 0"
        ),
        "delete_closure_of": "DELETE FROM ledger_artifact_closure WHERE descendant_id = ?",
        # A move: drop the paths from ancestors outside the subtree into it ...
        "move_closure_detach": (
            "DELETE FROM ledger_artifact_closure WHERE descendant_id IN "
            "(SELECT descendant_id FROM ledger_artifact_closure WHERE ancestor_id = ?) "
            "AND ancestor_id NOT IN (SELECT descendant_id FROM ledger_artifact_closure WHERE ancestor_id = ?)"
        ),
        # ... then add the cross join of the new parent's ancestors and the subtree.
        "move_closure_attach": (
            "INSERT INTO ledger_artifact_closure (ancestor_id, descendant_id, depth) "
            "SELECT up.ancestor_id, down.descendant_id, up.depth + down.depth + 1 "
            "FROM ledger_artifact_closure up CROSS JOIN ledger_artifact_closure down "
            "WHERE up.descendant_id = ? AND down.ancestor_id = ?"
        ),
        # The parent links over time (ledger_artifact_parent_history): a create, restore or move
        # opens the artifact's link at its position; a delete or move closes the open one.
        "open_parent_link": (
            "INSERT INTO ledger_artifact_parent_history (artifact_id, valid_from, parent_id) VALUES (?, ?, ?)"
        ),
        "close_parent_link": (
            "UPDATE ledger_artifact_parent_history SET valid_to = CAST(? AS BIGINT) "
            "WHERE artifact_id = ? AND valid_to IS NULL"
        ),
        "shift_levels": (
            "UPDATE ledger_artifacts SET level = level + CAST(? AS INTEGER) WHERE id IN "
            "(SELECT descendant_id FROM ledger_artifact_closure WHERE ancestor_id = ?)"
        ),
        # One row per projector (names from tables.PROJECTORS), all at the same position.
        "upsert_checkpoint": (
            "INSERT INTO ledger_checkpoints (projector, position) VALUES "
            + ", ".join(f"('{name}', CAST(? AS BIGINT))" for name in PROJECTORS)
            + " ON CONFLICT (projector) DO UPDATE SET position = excluded.position"
        ),
    }


_CLEAR = (
    "DELETE FROM ledger_artifact_parent_history",
    "DELETE FROM ledger_artifact_closure",
    "DELETE FROM ledger_artifacts",
    "DELETE FROM ledger_checkpoints",
)

SQLITE_STATEMENTS = Statements(
    clear_projections=_CLEAR,
    **_statements(
        "SELECT value FROM json_each(?)",
        "INSERT INTO ledger_blobs (hash, size, data) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
    ),
)
PG_STATEMENTS = Statements(
    clear_projections=_CLEAR,
    **{
        name: _numbered(sql)
        for name, sql in _statements(
            "SELECT unnest(?::varchar[])",
            "INSERT INTO ledger_blobs (hash, size, data) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
        ).items()
    },
)


Step = tuple[str, Any, bool]
"""One statement of a pipeline: SQL, its parameters (a row; a list of rows when ``many``), ``many``."""

Rows = list[Sequence[Any]]


class Driver:
    """The driver connection under one SQLAlchemy connection, with the dialect's statements."""

    name: str
    sql: Statements

    def __init__(self, connection: AsyncConnection, raw: Any) -> None:
        self.connection = connection
        self.raw = raw

    async def lock(self) -> None:
        """Take the ledger's write lock (held until the transaction ends)."""
        raise NotImplementedError

    async def locked(self, steps: Sequence[Step]) -> list[Rows]:
        """Take the write lock, then run ``steps``; returns each step's rows."""
        await self.lock()
        return await self.pipeline(steps)

    async def pipeline(self, steps: Sequence[Step]) -> list[Rows]:
        """Run statements in order in the current transaction; returns each step's rows."""
        raise NotImplementedError

    async def fetch(self, sql: str, *args: Any) -> Rows:
        return (await self.pipeline([(sql, args, False)]))[0]

    async def execute(self, sql: str, *args: Any) -> None:
        await self.pipeline([(sql, args, False)])

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.pipeline([(sql, rows, True)])

    def id_list(self, ids: Sequence[str]) -> Any:
        raise NotImplementedError

    async def update_distinct_artifacts(self, rows: Sequence[Sequence[Any]]) -> None:
        """``update_artifact`` for many rows whose ids are all different (rebuild's chunks)."""
        await self.executemany(self.sql.update_artifact, rows)

    def ts(self, value: datetime) -> Any:
        raise NotImplementedError

    def read_ts(self, value: Any) -> datetime:
        raise NotImplementedError

    def read_bytes(self, value: Any) -> bytes:
        return bytes(value)


class SqliteDriver(Driver):
    name = "sqlite"
    sql = SQLITE_STATEMENTS

    def _lock_steps(self) -> list[Step]:
        # SQLite: BEGIN IMMEDIATE takes the database's single write lock before we
        # read the head, so positions are dense and in commit order and the hash
        # chain has one well-defined predecessor. (busy_timeout makes waiters queue.)
        return [] if self.raw.in_transaction else [("BEGIN IMMEDIATE", (), False)]

    async def lock(self) -> None:
        await self.pipeline(self._lock_steps())

    async def locked(self, steps: Sequence[Step]) -> list[Rows]:
        lock = self._lock_steps()
        return (await self.pipeline([*lock, *steps]))[len(lock) :]

    async def pipeline(self, steps: Sequence[Step]) -> list[Rows]:
        if not steps:
            return []
        # aiosqlite runs every call on its own thread; a wake-up there and back
        # costs more than the statement. Run the whole pipeline in one hop.
        # (_execute/_conn are aiosqlite internals, stable since 0.17; fall back if gone.)
        run_in_thread = getattr(self.raw, "_execute", None)
        if run_in_thread is not None and hasattr(type(self.raw), "_conn"):
            rows: list[Rows] = await run_in_thread(_run_steps, self.raw, steps)
            return rows
        out: list[Rows] = []
        for sql, params, many in steps:
            if many:
                await self.raw.executemany(sql, params)
                out.append([])
            else:
                out.append(list(await self.raw.execute_fetchall(sql, params)))
        return out

    def id_list(self, ids: Sequence[str]) -> Any:
        return "[" + ",".join(f'"{i}"' for i in ids) + "]"

    _last_ts: tuple[datetime, str] | None = None

    def ts(self, value: datetime) -> Any:
        last = self._last_ts
        if last is not None and last[0] == value:
            return last[1]  # rows of one batch share their timestamp: format it once
        text = value.astimezone(UTC).strftime(_SQLITE_TS)
        self._last_ts = (value, text)
        return text

    def read_ts(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return datetime.fromisoformat(value).replace(tzinfo=UTC)


class PostgresDriver(Driver):
    name = "postgresql"
    sql = PG_STATEMENTS

    async def lock(self) -> None:
        # PostgreSQL: LOCK TABLE ... IN EXCLUSIVE MODE serialises appenders before
        # they read the head, while plain SELECTs (ACCESS SHARE) go on. Without it two
        # transactions could both read position n and the later commit would either
        # fail or, worse, commit after a reader had already moved past n (a tailing
        # reader would skip it). Held until commit/rollback. A table lock rather than
        # an advisory key, so ledgers in different schemas of one database never wait
        # for each other. Issued through SQLAlchemy so its transaction is begun.
        await self.connection.execute(text("LOCK TABLE ledger_events IN EXCLUSIVE MODE"))

    async def pipeline(self, steps: Sequence[Step]) -> list[Rows]:
        out: list[Rows] = []
        for sql, params, many in _merge_writes(steps, self.sql):
            if not sql:
                out.append([])  # a step folded into the CTE before it
            elif many and sql in _PG_COPY and len(params) >= _COPY_FROM_ROWS:
                # Large batches of new rows: binary COPY (asyncpg) measured faster here than
                # unnest() and than asyncpg's executemany (save_all of 11,110 on PostgreSQL: 104 -> 75 µs per artifact).
                table, names = _PG_COPY[sql]
                await self.raw.copy_records_to_table(table, records=params, columns=names)
                out.append([])
            elif many and sql in _PG_UNNEST and len(params) > 1:
                # A batch's rows as one statement over one array per column: asyncpg's
                # executemany costs ~15 µs a row here (events were 15 % of a large save_all).
                # Slices of _UNNEST_ROWS keep each array far below PostgreSQL's 1 GB per value.
                for start in range(0, len(params), _UNNEST_ROWS):
                    columns = zip(*params[start : start + _UNNEST_ROWS], strict=True)
                    await self.raw.execute(_PG_UNNEST[sql], *(list(column) for column in columns))
                out.append([])
            elif many:
                await self.raw.executemany(sql, params)
                out.append([])
            else:
                out.append(list(await self.raw.fetch(sql, *params)))
        return out

    def id_list(self, ids: Sequence[str]) -> Any:
        return list(ids)

    async def update_distinct_artifacts(self, rows: Sequence[Sequence[Any]]) -> None:
        # One UPDATE … FROM unnest() instead of a statement per row. Only for distinct ids:
        # with two rows for one id, PostgreSQL would apply either one (executemany: the last).
        for start in range(0, len(rows), _UNNEST_ROWS):
            columns = zip(*rows[start : start + _UNNEST_ROWS], strict=True)
            await self.raw.execute(_PG_UPDATE_ARTIFACTS, *(list(column) for column in columns))

    def ts(self, value: datetime) -> Any:
        return value.astimezone(UTC)

    def read_ts(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


def _unnest_insert(table: str, columns: str, types: str) -> str:
    """``INSERT … SELECT * FROM unnest($1::t1[], …)``: many rows in one statement, one array per column."""
    arrays = ", ".join(f"${n}::{t}[]" for n, t in enumerate(types.split(), start=1))
    return f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})"


_UNNEST_ROWS = 5000
_PG_UPDATE_ARTIFACTS = (
    "UPDATE ledger_artifacts a SET version = u.version, type = u.type, data = u.data, content_hash = u.content_hash, "
    "content_codec = u.content_codec, content_type = u.content_type, content_size = u.content_size, tags = u.tags, "
    "updated_at = u.updated_at, updated_by = u.updated_by FROM unnest($1::int[], $2::varchar[], $3::text[], "
    "$4::varchar[], $5::varchar[], $6::varchar[], $7::bigint[], $8::text[], $9::timestamptz[], $10::varchar[], "
    "$11::varchar[]) AS u(version, type, data, content_hash, content_codec, content_type, content_size, tags, "
    "updated_at, updated_by, id) WHERE a.id = u.id"
)
_COPY_FROM_ROWS = 64
_PG_COPY = {
    PG_STATEMENTS.insert_event: ("ledger_events", tuple(c.strip() for c in _EVENT_COLUMNS.split(","))),
    PG_STATEMENTS.insert_artifact: ("ledger_artifacts", tuple(c.strip() for c in _ARTIFACT_COLUMNS.split(","))),
    PG_STATEMENTS.insert_closure_row: ("ledger_artifact_closure", ("ancestor_id", "descendant_id", "depth")),
    PG_STATEMENTS.open_parent_link: ("ledger_artifact_parent_history", ("artifact_id", "valid_from", "parent_id")),
}
"""Multi-row inserts sent as binary COPY when a batch holds at least ``_COPY_FROM_ROWS`` of them."""
_PG_UNNEST = {
    PG_STATEMENTS.insert_event: _unnest_insert(
        "ledger_events",
        _EVENT_COLUMNS,
        "bigint varchar varchar int varchar smallint text timestamptz varchar text varchar varchar bytea bytea",
    ),
    PG_STATEMENTS.insert_artifact: _unnest_insert(
        "ledger_artifacts",
        _ARTIFACT_COLUMNS,
        "varchar varchar int int varchar text varchar varchar varchar bigint text timestamptz timestamptz "
        "varchar varchar",
    ),
    PG_STATEMENTS.insert_closure_row: _unnest_insert(
        "ledger_artifact_closure", "ancestor_id, descendant_id, depth", "varchar varchar int"
    ),
    PG_STATEMENTS.open_parent_link: _unnest_insert(
        "ledger_artifact_parent_history", "artifact_id, valid_from, parent_id", "varchar bigint varchar"
    ),
}
"""Multi-row inserts the PostgreSQL pipeline sends as one statement (column types as in ``tables.py``)."""


def _writes(sql: Statements) -> dict[str, str]:
    """Single-table write statements that read no other table: safe to combine in one CTE."""
    return {
        sql.insert_blob: "ledger_blobs",
        sql.insert_event: "ledger_events",
        sql.insert_artifact: "ledger_artifacts",
        sql.update_artifact: "ledger_artifacts",
        sql.delete_artifact: "ledger_artifacts",
        sql.insert_closure_for: "ledger_artifact_closure",
        sql.insert_closure_row: "ledger_artifact_closure",
        sql.delete_closure_of: "ledger_artifact_closure",
        sql.open_parent_link: "ledger_artifact_parent_history",
        sql.close_parent_link: "ledger_artifact_parent_history",
        sql.upsert_checkpoint: "ledger_checkpoints",
    }


_PG_WRITES = _writes(PG_STATEMENTS)
_PARAM = re.compile(r"\$(\d+)")


@lru_cache(maxsize=256)
def _cte(statements: tuple[str, ...]) -> str:
    """One data-modifying CTE running ``statements``, their ``$n`` renumbered in sequence."""
    parts: list[str] = []
    offset = 0
    for index, statement in enumerate(statements):
        shift = offset

        def renumber(match: re.Match[str], shift: int = shift) -> str:
            return f"${int(match.group(1)) + shift}"

        parts.append(f"w{index} AS ({_PARAM.sub(renumber, statement)})")
        offset += max((int(n) for n in _PARAM.findall(statement)), default=0)
    return "WITH " + ", ".join(parts) + " SELECT 1"


def _merge_writes(steps: Sequence[Step], sql: Statements) -> list[Step]:
    """PostgreSQL: fold runs of single-row writes to distinct tables into one statement (one round trip).

    Sub-statements of a CTE do not see each other's effects, so a run never holds
    two writes to one table, and only statements that read nothing but their own
    table qualify (DESIGN §2: "a single data-modifying CTE can do the whole append").
    Its result is one empty row set per original step, as if run one by one.
    """
    writes = _PG_WRITES if sql is PG_STATEMENTS else _writes(sql)
    merged: list[Step] = []
    run: list[Step] = []

    def close() -> None:
        if len(run) > 1:
            params = tuple(p for _, row, _ in run for p in row)
            merged.append((_cte(tuple(s for s, _, _ in run)), params, False))
            merged.extend(("", (), False) for _ in run[1:])  # keep one result slot per step
        else:
            merged.extend(run)
        run.clear()

    for step in steps:
        table = writes.get(step[0]) if not step[2] else None
        if table is None:
            close()
            merged.append(step)
            continue
        if any(writes[s[0]] == table for s in run):
            close()
        run.append(step)
    close()
    return merged


def _run_steps(raw: Any, steps: Sequence[Step]) -> list[Rows]:
    """Runs on aiosqlite's thread, on the sqlite3 connection itself."""
    conn = raw._conn
    out: list[Rows] = []
    for sql, params, many in steps:
        if many:
            conn.executemany(sql, params)
            out.append([])
        else:
            out.append(conn.execute(sql, params).fetchall())
    return out


async def driver_for(connection: AsyncConnection) -> Driver:
    """The :class:`Driver` for the backend under ``connection``."""
    name = connection.dialect.name
    raw = (await connection.get_raw_connection()).driver_connection
    if name == "sqlite":
        return SqliteDriver(connection, raw)
    if name == "postgresql" and connection.dialect.driver == "asyncpg":
        return PostgresDriver(connection, raw)
    raise LedgerError(
        f"unsupported database {name}+{connection.dialect.driver}: use sqlite+aiosqlite:// or postgresql+asyncpg://"
    )


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
