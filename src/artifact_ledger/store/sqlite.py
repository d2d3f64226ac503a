"""The SQLite recorder: ``BEGIN IMMEDIATE`` as the write lock; one thread hop per pipeline on the ledger's own
connections (``sqlite_threads.py``), one per statement on aiosqlite's."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import LargeBinary, bindparam, cast, func, select

from ..chain import canonical_envelope, stored_time_text
from .recorder import Recorder, Rows, Step
from .sqlite_threads import Worker, caller_gone
from .statements import Statement, compile_for, statements_for
from .tables import events

T = TypeVar("T")

_TEXT_COLUMNS = frozenset(
    ("event_id", "artifact_id", "type", "payload", "recorded_at", "actor", "reason", "correlation_id", "causation_id")
)

_ENCODING = select(func.pragma_encoding().table_valued("encoding").c.encoding).scalar_subquery()

VERIFY_EVENTS = compile_for(
    "sqlite",
    "verify_events",
    select(
        *(cast(c, LargeBinary) if c.name in _TEXT_COLUMNS else c for c in events.c),
        _ENCODING.label("text_encoding"),
    )
    .where(events.c.position > bindparam("position"))
    .order_by(events.c.position),
    ("position",),
)
"""The log after a position with its text columns as their stored bytes: ``verify`` hashes what is
stored, so a DBA's invalid UTF-8 is a mismatch to report, not a decoding crash. The last column is
the database's text encoding (``UTF-8``, or ``UTF-16le``/``UTF-16be`` for a database created so):
its stored bytes are UTF-16 then, and :meth:`SqliteRecorder.sealed_bytes` re-encodes them as the
UTF-8 that was hashed."""

_UTF16 = {"UTF-16le": "utf-16-le", "UTF-16be": "utf-16-be"}
_TEXT_INDEXES = tuple(i for i, c in enumerate(events.c) if c.name in _TEXT_COLUMNS)


def _as_utf8(row: Sequence[Any]) -> list[Any]:
    """A ``VERIFY_EVENTS`` row of a UTF-16 database with its text as UTF-8 bytes (ValueError naming a column
    whose stored bytes are not valid UTF-16: such a row cannot match its hash)."""
    encoding = row[14]
    python_codec = _UTF16.get(encoding)
    if python_codec is None:
        raise ValueError(f"the database's text encoding {encoding!r} is not UTF-8 or UTF-16")
    out = list(row)
    for index in _TEXT_INDEXES:
        value = out[index]
        if type(value) is bytes:
            try:
                out[index] = value.decode(python_codec).encode()
            except UnicodeError:
                raise ValueError(f"its {events.c[index].name} is not {encoding} text") from None
    return out


class SqliteRecorder(Recorder):
    name = "sqlite"
    sql = statements_for("sqlite")
    verify_events: Statement = VERIFY_EVENTS

    def _lock_steps(self) -> list[Step]:
        # SQLite: BEGIN IMMEDIATE takes the database's single write lock before we read the
        # head, so positions are dense and in commit order and the hash chain has one
        # well-defined predecessor. Waiters queue for busy_timeout (the ledger's lock_timeout).
        return [] if self._open() else [(_BEGIN_IMMEDIATE, (), False)]

    async def lock(self) -> None:
        await self.pipeline(self._lock_steps())

    async def migration_lock(self) -> None:
        # The database's write lock (others queue on busy_timeout), begun through SQLAlchemy so
        # that Alembic's statements run in the same transaction.
        if not self.raw.in_transaction:
            await self.connection.exec_driver_sql("BEGIN IMMEDIATE")

    async def locked(self, steps: Sequence[Step]) -> list[Rows]:
        lock = self._lock_steps()
        return (await self.pipeline([*lock, *steps]))[len(lock) :]

    async def commit_after(self, steps: Sequence[Step]) -> None:
        # The COMMIT rides in the same thread hop as the last writes.
        await self.pipeline([*steps, (_COMMIT, (), False)])

    async def abandon(self) -> None:
        if type(self.raw) is not Worker:
            # aiosqlite: its rollback queues behind a statement still in flight (a cancelled
            # BEGIN IMMEDIATE, say), whose transaction the flag read now would not show yet.
            await self.raw.rollback()
        elif self._open():
            await self.execute(_ROLLBACK)

    def in_own_transaction(self) -> bool:
        return self.owns_transaction and self._open()

    async def whole(self, body: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if type(self.raw) is not Worker or self.blobs.external:  # a blob store of its own awaits its files
            return await body()
        return await self.raw.run(body)

    _worker_open = False
    """On a :class:`Worker`: whether this recorder's own calls left a transaction open. A worker comes
    from its pool outside any transaction (its last user's is rolled back on its thread before
    anything of ours runs there); the worker's own flag may still show that user's until then."""

    def _open(self) -> bool:
        """Whether the connection is in a transaction (the caller's, or the recorder's own)."""
        raw = self.raw
        return self._worker_open if type(raw) is Worker else bool(raw.in_transaction)

    async def pipeline(self, steps: Sequence[Step]) -> list[Rows]:
        if not steps:
            return []
        raw = self.raw
        if type(raw) is Worker:
            # A connection of our own (store/sqlite_threads.py): the whole pipeline in one hop to
            # its thread. A hop there and back costs more than the statements of a save.
            try:
                rows: list[Rows] = await raw.call(_run_steps, steps)
            finally:
                self._worker_open = raw.in_transaction
            return rows
        # aiosqlite (a SQLAlchemy connection's, or an in-memory database's): its public calls, one
        # hop to the connection's thread per statement.
        out: list[Rows] = []
        for statement, params, many in steps:
            if many:
                await raw.executemany(statement.sql, [statement.bind(p) for p in params])
                out.append([])
            else:
                out.append(list(await raw.execute_fetchall(statement.sql, statement.bind(params))))
        return out

    async def pages(self, statement: Statement, params: Sequence[Any], size: int) -> AsyncGenerator[Rows]:
        raw = self.raw
        if type(raw) is Worker:
            cursor = await raw.call(_open_cursor, statement.sql, statement.bind(params))
            try:
                while rows := await raw.call(_fetch_some, cursor, size):
                    yield rows
            finally:
                await raw.call(_close_cursor, cursor)
            return
        cursor = await raw.execute(statement.sql, tuple(statement.bind(params)))
        try:
            while rows := await cursor.fetchmany(size):
                yield rows
        finally:
            await cursor.close()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        own = not self._open()
        if own:  # deferred: the snapshot starts at the first read and lasts until ROLLBACK
            await self.execute(_BEGIN)
        try:
            yield
        finally:
            if own and self._open():
                await self.execute(_ROLLBACK)

    def id_list(self, ids: Sequence[str]) -> Any:
        return "[" + ",".join(f'"{i}"' for i in ids) + "]"  # for json_each(?): ULIDs need no escaping

    _last_ts: tuple[datetime, str] | None = None

    def ts(self, value: datetime) -> Any:
        last = self._last_ts
        if last is not None and last[0] == value:
            return last[1]  # rows of one batch share their timestamp: format it once
        # isoformat pads the year to four digits (strftime's %Y does not, below year 1000).
        text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        self._last_ts = (value, text)
        return text

    def blob_digest(self, value: Any) -> str:
        return hashlib.sha256(value).hexdigest()

    def read_ts(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    @staticmethod
    def sealed_bytes(row: Sequence[Any], position: Any) -> tuple[bytes, Any]:
        # VERIFY_EVENTS returns the text columns as their stored bytes and the time as its stored text.
        if row[14] != "UTF-8":
            row = _as_utf8(row)
        _, event_id, artifact_id, version, type_, schema, payload, recorded_at, actor, reason, cor, cau = row[:12]
        # This runs once per event: bytes (the stored text) -> str; NULL and numbers as they are. The time is
        # derived from its stored text. Invalid UTF-8 raises UnicodeDecodeError, a ValueError: the row cannot match.
        return (
            canonical_envelope(
                position,
                event_id.decode() if type(event_id) is bytes else event_id,
                artifact_id.decode() if type(artifact_id) is bytes else artifact_id,
                version,
                type_.decode() if type(type_) is bytes else type_,
                schema,
                stored_time_text(recorded_at.decode() if type(recorded_at) is bytes else recorded_at),
                actor.decode() if type(actor) is bytes else actor,
                reason.decode() if type(reason) is bytes else reason,
                cor.decode() if type(cor) is bytes else cor,
                cau.decode() if type(cau) is bytes else cau,
            ),
            payload,
        )


_BEGIN_IMMEDIATE = Statement("begin_immediate", "BEGIN IMMEDIATE", (), None)
_BEGIN = Statement("begin", "BEGIN", (), None)
_ROLLBACK = Statement("rollback", "ROLLBACK", (), None)
_COMMIT = Statement("commit", "COMMIT", (), None)


def _run_steps(conn: sqlite3.Connection, steps: Sequence[Step]) -> list[Rows]:
    """Runs on a worker's thread, on its sqlite3 connection.

    A ``COMMIT`` whose caller was cancelled meanwhile (it waited for the write lock, say, which
    the thread cannot be interrupted in) rolls back instead: a write its caller gave up on is not
    committed behind its back, after writes that began later, as PostgreSQL's server does not.
    """
    out: list[Rows] = []
    for statement, params, many in steps:
        if statement is _COMMIT and caller_gone():
            conn.rollback()
            raise asyncio.CancelledError("its caller was cancelled before the COMMIT: rolled back")
        if many:
            order = statement.order
            conn.executemany(statement.sql, params if order is None else [statement.bind(p) for p in params])
            out.append([])
        else:
            out.append(conn.execute(statement.sql, statement.bind(params)).fetchall())
    return out


def _open_cursor(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
    return conn.execute(sql, params)


def _fetch_some(_conn: sqlite3.Connection, cursor: sqlite3.Cursor, size: int) -> Rows:
    return cursor.fetchmany(size)


def _close_cursor(_conn: sqlite3.Connection, cursor: sqlite3.Cursor) -> None:
    cursor.close()
