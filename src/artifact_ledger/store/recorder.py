"""The storage boundary: a :class:`Recorder` per backend runs the ledger's statements in one transaction.

Everything that knows SQL or a backend lives under ``store/``: the tables (``tables.py``), the
statements built from them (``statements.py``), the row mappings (``rows.py``), the error
translation (``errors.py``) and one recorder per backend (``sqlite.py``, ``postgres.py``). The
rest of the library hands a recorder :class:`~.statements.Statement` objects and plain values.

A recorder wraps the driver connection underneath one SQLAlchemy connection, so its statements
run in the caller's transaction; it never commits.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import await_only, greenlet_spawn

from ..errors import ConnectionLostError, LedgerError
from .blobs import DATABASE, BlobStore, store_of
from .errors import enter_site
from .one_writer import one_writer, shares_one_connection
from .sqlite_threads import workers_of
from .statements import Statement, Statements

Step = tuple[Statement, Any, bool]
"""One statement of a pipeline: the statement, its values (a row; a list of rows when ``many``), ``many``."""

Rows = list[Sequence[Any]]
T = TypeVar("T")


class Recorder:
    """The driver connection under one SQLAlchemy connection, with its backend's statements."""

    name: str
    sql: Statements
    verify_events: Statement
    """The log after a position, as ``verify`` hashes it (see each backend)."""
    lateral_top_one: bool = False
    """Point-in-time reads should find each member's events with ``LATERAL … LIMIT 1`` probes
    rather than correlated subqueries (see ``temporal.tree_at``)."""
    blobs: BlobStore = DATABASE
    """Where this ledger's blobs live (``store/blobs.py``): the database unless its engine has a store attached."""

    def __init__(self, connection: AsyncConnection | None, raw: Any, *, owns_transaction: bool = False) -> None:
        self._connection = connection
        self.raw = raw
        self.owns_transaction = owns_transaction
        """The recorder begins and ends its transaction on the driver (SQLAlchemy never begins one
        on ``connection``); otherwise the caller's session or connection commits."""

    @property
    def connection(self) -> AsyncConnection:
        """The SQLAlchemy connection the driver connection belongs to (not for pooled recorders)."""
        if self._connection is None:
            raise LedgerError("this recorder runs on a pooled driver connection without a SQLAlchemy connection")
        return self._connection

    # ---- the write lock -------------------------------------------------------------------------
    async def lock(self) -> None:
        """Take the ledger's write lock (held until the transaction ends)."""
        raise NotImplementedError

    async def migration_lock(self) -> None:
        """Take the lock that serialises schema migrations (held until the transaction ends)."""
        raise NotImplementedError

    async def locked(self, steps: Sequence[Step]) -> list[Rows]:
        """Take the write lock, then run ``steps``; returns each step's rows."""
        await self.lock()
        return await self.pipeline(steps)

    async def commit_after(self, steps: Sequence[Step]) -> None:
        """Run ``steps``, then commit the recorder's own transaction."""
        raise NotImplementedError

    async def abandon(self) -> None:
        """Roll back the recorder's own transaction, if one is open (after an error)."""
        raise NotImplementedError

    async def join(self) -> None:
        """Make the statements that follow run in the SQLAlchemy connection's transaction, begun if
        it was not yet (its isolation level and snapshot then hold for them)."""

    def in_own_transaction(self) -> bool:
        """Whether the recorder's own transaction is open."""
        raise NotImplementedError

    async def whole(self, body: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``body`` (one command: its reads, decision, writes and commit through this recorder)
        where that costs least. Here: as it is. SQLite runs it whole on its connection's thread
        (one hop for the command instead of one per pipeline); ``body`` must then await nothing but
        this recorder (no blob store of its own, no stream to read), or it fails."""
        return await body()

    # ---- statements ------------------------------------------------------------------------------
    async def pipeline(self, steps: Sequence[Step]) -> list[Rows]:
        """Run statements in order in the current transaction; returns each step's rows."""
        raise NotImplementedError

    async def fetch(self, statement: Statement, *args: Any) -> Rows:
        return (await self.pipeline([(statement, args, False)]))[0]

    async def execute(self, statement: Statement, *args: Any) -> None:
        await self.pipeline([(statement, args, False)])

    async def executemany(self, statement: Statement, rows: Sequence[Sequence[Any]]) -> None:
        await self.pipeline([(statement, rows, True)])

    async def update_distinct_artifacts(self, rows: Sequence[Sequence[Any]]) -> None:
        """``update_artifact`` for many rows whose ids are all different (rebuild's chunks)."""
        await self.executemany(self.sql.update_artifact, rows)

    def pages(self, statement: Statement, params: Sequence[Any], size: int) -> AsyncGenerator[Rows]:
        """The rows of one query, ``size`` at a time, from a server-side cursor.

        Use it under ``contextlib.aclosing`` so the cursor closes when the caller stops early.
        """
        raise NotImplementedError

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """One consistent read-only view for whole-table reads (the caller's transaction, if one is open)."""
        raise NotImplementedError
        yield  # pragma: no cover

    # ---- values ----------------------------------------------------------------------------------
    def id_list(self, ids: Sequence[str]) -> Any:
        """The one bound value that the statements' ``ids`` parameter takes for many ids."""
        raise NotImplementedError

    def ts(self, value: datetime) -> Any:
        """A timestamp as the driver stores it."""
        raise NotImplementedError

    def read_ts(self, value: Any) -> datetime:
        """A stored timestamp as an aware UTC datetime."""
        raise NotImplementedError

    def read_bytes(self, value: Any) -> bytes:
        return bytes(value)

    def blob_digest(self, value: Any) -> str:
        """The SHA-256 (hex) of a stored blob, from the last column of ``blob_digests_in``."""
        raise NotImplementedError

    @staticmethod
    def sealed_bytes(row: Sequence[Any], position: Any) -> tuple[bytes, Any]:
        """Envelope and payload bytes of a row of ``verify_events``, as sealed at ``position``.

        Raises :class:`TypeError` or :class:`ValueError` when the stored fields cannot be
        hashed (a wrong type, text that is not UTF-8): such a row cannot match its hash.
        """
        raise NotImplementedError


def recorder_class(dialect: str, driver: str | None = None) -> type[Recorder]:
    """The :class:`Recorder` class for a SQLAlchemy dialect (and driver) name."""
    found = _CLASSES.get((dialect, driver))  # every read asks: the imports below cost more than the lookup
    if found is not None:
        return found
    from .postgres import PostgresRecorder
    from .sqlite import SqliteRecorder

    if dialect == "sqlite" and driver in (None, "aiosqlite"):
        found = SqliteRecorder
    elif dialect == "postgresql" and driver in (None, "asyncpg"):
        found = PostgresRecorder
    else:
        raise LedgerError(f"unsupported database {dialect}+{driver}: use sqlite+aiosqlite:// or postgresql+asyncpg://")
    _CLASSES[dialect, driver] = found
    return found


_CLASSES: dict[tuple[str, str | None], type[Recorder]] = {}


def _with_blobs(recorder: Recorder, engine: AsyncEngine | AsyncConnection) -> Recorder:
    store = store_of(engine.sync_engine)
    if store is not DATABASE:
        recorder.blobs = store
    return recorder


async def recorder_for(connection: AsyncConnection, *, owns_transaction: bool = False) -> Recorder:
    """The :class:`Recorder` for the backend under ``connection``.

    ``owns_transaction``: the recorder runs its own transaction on the driver connection
    (``connection`` must not be in one); see :func:`own_transaction`.
    """
    cls = recorder_class(connection.dialect.name, connection.dialect.driver)
    raw = (await connection.get_raw_connection()).driver_connection
    return _with_blobs(cls(connection, raw, owns_transaction=owns_transaction), connection)


@asynccontextmanager
async def own_transaction(engine: AsyncEngine) -> AsyncIterator[Recorder]:
    """A recorder on a pooled connection of ``engine`` that begins, commits and rolls back by itself.

    Its transaction costs no round trip of its own: on SQLite the ``BEGIN IMMEDIATE`` goes with
    the first statements and the ``COMMIT`` with the last (two thread hops for a save); on
    PostgreSQL ``BEGIN`` and the write lock are one round trip. Commit with
    :meth:`Recorder.commit_after`; leaving the block without it rolls back.
    """
    cls = recorder_class(engine.dialect.name, engine.dialect.driver)
    threads = workers_of(engine)
    if threads is not None:  # SQLite: a connection of the ledger's own (sqlite_threads.py)
        enter_site(engine)
        worker = threads.acquire()
        try:
            yield _with_blobs(cls(None, worker, owns_transaction=True), engine)
        except BaseException:
            worker.reset()  # the rollback runs on the worker's thread before anything after it
            raise
        else:
            if worker.in_transaction:  # the block ended without committing (nothing to write)
                worker.reset()
            else:
                threads.committed()  # the WAL is folded on a thread of its own, not by a later commit
        finally:
            threads.release(worker)
        return
    async with one_writer(engine):  # in-memory SQLite: its one connection is every writer's
        pooled = await engine.raw_connection()
        recorder = _with_blobs(cls(None, pooled.driver_connection, owns_transaction=True), engine)
        async with _pooled_transaction(pooled, recorder, keep=shares_one_connection(engine)):
            yield recorder


@asynccontextmanager
async def _pooled_transaction(pooled: Any, recorder: Recorder, *, keep: bool = False) -> AsyncIterator[None]:
    """The transaction of :func:`own_transaction` on a pooled connection: rolled back unless
    committed, and the connection closed rather than pooled when its state is unknown.

    ``keep``: the connection is the database (in-memory SQLite, one connection for everyone), so it
    is never closed: closing it lost every artifact when one save was cancelled. It is rolled back
    instead; its driver (aiosqlite) runs the rollback after the statement in flight, in order."""
    try:
        yield
        if recorder.in_own_transaction():  # the block ended without committing (nothing to write)
            await recorder.abandon()
    except BaseException as error:
        if keep:
            await recorder.abandon()
            raise
        if not isinstance(error, Exception):
            # Cancelled (or interrupted) with a statement in flight, say while waiting for the
            # write lock: the driver does not know yet whether the server began the transaction,
            # so a rollback decided now could be skipped and the connection go back to the pool
            # inside an aborted transaction. It is closed instead; the server rolls back.
            await greenlet_spawn(pooled.invalidate)
            raise
        try:
            await recorder.abandon()
        except Exception:  # the connection itself failed: never hand it to the next caller
            await greenlet_spawn(pooled.invalidate)
        raise
    finally:
        await greenlet_spawn(pooled.close)  # check-in may run the pool's reset, a driver call


@asynccontextmanager
async def autocommit_reads(engine: AsyncEngine) -> AsyncIterator[Recorder]:
    """A recorder on a pooled connection of ``engine`` for single-statement reads, outside any transaction."""
    cls = recorder_class(engine.dialect.name, engine.dialect.driver)
    threads = workers_of(engine)
    if threads is not None:  # SQLite: a connection of the ledger's own (sqlite_threads.py)
        enter_site(engine)
        worker = threads.acquire()
        try:
            yield _with_blobs(cls(None, worker), engine)
        except BaseException:
            worker.reset()  # a snapshot a failed or cancelled read left open
            raise
        finally:
            threads.release(worker)
        return
    pooled = await engine.raw_connection()
    try:
        yield _with_blobs(cls(None, pooled.driver_connection), engine)
    except ConnectionLostError:
        await greenlet_spawn(pooled.invalidate)  # never back into the pool (see read_once)
        raise
    finally:
        await greenlet_spawn(pooled.close)


async def read_once(engine: AsyncEngine, body: Callable[[Recorder], Awaitable[T]]) -> T:
    """``body`` on the recorder :func:`autocommit_reads` yields, for the short reads of a request.

    SQLAlchemy's pool is synchronous code that reaches the driver through a greenlet:
    :func:`autocommit_reads` enters one for the checkout and another for the check-in (each
    entry ~20-30 µs here, as much as a lookup's round trip). This checks out, awaits ``body``
    and checks in within one entry, as SQLAlchemy's own async calls do. A SQLite engine with
    connections of the ledger's own reads on those, through :func:`autocommit_reads`.
    """
    if workers_of(engine) is not None:
        async with autocommit_reads(engine) as recorder:
            return await body(recorder)
    cls = recorder_class(engine.dialect.name, engine.dialect.driver)
    sync_engine = engine.sync_engine

    def run() -> T:
        pooled = sync_engine.raw_connection()
        try:
            return await_only(body(_with_blobs(cls(None, pooled.driver_connection), engine)))
        except ConnectionLostError:
            # The server went away under this read: a connection the driver does not know is closed
            # yet (its error came first) would go back into the pool and fail the next read too.
            pooled.invalidate()
            raise
        finally:
            pooled.close()  # in the greenlet: a check-in that calls the driver may await it

    return await greenlet_spawn(run)


@asynccontextmanager
async def reading(connection: AsyncConnection) -> AsyncIterator[Recorder]:
    """A recorder on ``connection`` inside one consistent snapshot (``verify`` and export read through it)."""
    recorder = await recorder_for(connection)
    async with recorder.snapshot():
        yield recorder
