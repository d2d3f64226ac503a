"""The ledger's own SQLite connections: one stdlib ``sqlite3`` connection per thread of ours.

aiosqlite runs every call on its connection's own thread, and its public API is one call per
statement. A thread hop costs more than the statements of a write (a wake-up there and back),
so the write path and the reads on an idle session use connections of this module instead: a
:class:`Worker` runs any function on its connection in one hop (a pipeline of statements, a
whole command's statements), using nothing but ``sqlite3``, ``threading`` and ``asyncio``'s
public API.

An engine made by :func:`~artifact_ledger.store.engine.create_engine` on a SQLite file gets a
:class:`Workers` pool beside SQLAlchemy's pool (:func:`attach`): the same database file, the
same connect arguments and PRAGMAs (WAL, ``synchronous=NORMAL``, ``busy_timeout``, foreign
keys) and the same functions SQLAlchemy registers (``regexp``, ``floor``). They are separate
connections of one WAL database, like the connections of SQLAlchemy's own pool: the write lock
(``BEGIN IMMEDIATE``) and ``busy_timeout`` order writers across all of them, and a commit on
one is seen by the next transaction any other begins. In-memory databases (one connection,
``StaticPool``) and engines made elsewhere have no pool here; their recorders go through
aiosqlite's public calls.

A worker's connection is opened on its thread and used only there (``check_same_thread``
stays on). Idle workers are reused last-in first-out, so the one used last, whose page cache
is warm, serves the next call. ``engine.dispose()`` closes the idle ones and the others when
they come back; a pool that is garbage-collected stops its threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Coroutine, Sequence
from queue import SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .sqlite_checkpointer import Checkpointer

__all__ = ["Worker", "Workers", "attach", "caller_gone", "workers_of"]

T = TypeVar("T")

MAX_IDLE = 8
"""Idle connections a pool keeps; more come back only under concurrency, and are closed."""

_Call = (
    tuple[asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | None", Callable[..., Any], tuple[Any, ...]] | None
)


_running = threading.local()
"""On a worker's thread: ``future``, that of the call running there (``None`` between calls)."""


def caller_gone() -> bool:
    """On a worker's thread: whether the caller of the call running there stopped waiting for it
    (its task was cancelled). The thread cannot be interrupted, in a wait for the write lock say,
    so a command that learns it before its ``COMMIT`` rolls back instead (see ``store/sqlite.py``)."""
    future = getattr(_running, "future", None)
    return future is not None and future.cancelled()


def _regexp(pattern: str, value: str | None) -> bool | None:
    return None if value is None else re.search(pattern, value) is not None


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the caller was cancelled while the call ran
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _serve(calls: SimpleQueue[_Call], connect: Callable[[], sqlite3.Connection], state: list[Any]) -> None:
    """The worker thread: run each call on the connection (opened by the first) until ``None`` arrives.

    ``state``: whether the connection is in a transaction, written after every call (before its
    future is resolved, so the caller reads it once the call has returned), and the connection
    (for calls made on this thread by a call running here, see :meth:`Worker.call`).
    """
    connection: sqlite3.Connection | None = None
    while True:
        item = calls.get()
        if item is None:
            break
        loop, future, function, args = item
        if loop is None:  # posted (no reply): see Worker.post
            if connection is not None or function is not _rollback:
                try:
                    if connection is None:
                        connection = state[1] = connect()
                    function(connection, *args)
                except Exception:  # a broken connection: the next call opens a new one
                    if connection is not None:
                        _closed(connection)
                        connection = state[1] = None
            state[0] = connection is not None and connection.in_transaction
            continue
        _running.future = future
        try:
            if connection is None:
                connection = state[1] = connect()
            result = function(connection, *args)
        except BaseException as error:  # handed to the caller, whatever it is
            outcome: tuple[Callable[..., None], Any] = (_fail, error)
        else:
            outcome = (_succeed, result)
        finally:
            _running.future = None
        state[0] = connection is not None and connection.in_transaction
        with contextlib.suppress(RuntimeError):  # the caller's event loop is closed: nobody waits any more
            loop.call_soon_threadsafe(outcome[0], future, outcome[1])
    if connection is not None:
        _closed(connection)


def _closed(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        connection.close()


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.rollback()


def _fetchall(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any]) -> list[Any]:
    return connection.execute(sql, parameters).fetchall()


def _executemany(connection: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    connection.executemany(sql, rows)


def _drive(_connection: sqlite3.Connection, context: contextvars.Context, body: Callable[[], Any]) -> Any:
    return context.run(_complete, body)


def _complete(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    coroutine = body()
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError(
        "a command run on the ledger's SQLite thread awaited something other than its connection "
        "(it needs the event loop): nothing was written"
    )


class Worker:
    """One ``sqlite3`` connection and the thread that runs every call on it."""

    __slots__ = ("__weakref__", "_calls", "_ident", "_state", "_thread", "generation")

    def __init__(self, connect: Callable[[], sqlite3.Connection], generation: int) -> None:
        self._calls: SimpleQueue[_Call] = SimpleQueue()
        self._state: list[Any] = [False, None]
        self.generation = generation
        thread = threading.Thread(
            target=_serve, args=(self._calls, connect, self._state), name="artifact-ledger-sqlite", daemon=True
        )
        thread.start()
        self._thread = thread
        self._ident = thread.ident
        weakref.finalize(self, self._calls.put, None)  # a worker dropped without close() stops its thread

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)`` on the worker's thread: one hop there and back.

        Called on that thread (by a coroutine :meth:`run` drives there), it runs at once, without
        suspending.
        """
        if threading.get_ident() == self._ident:
            state = self._state
            try:
                return function(state[1], *args)
            finally:
                state[0] = state[1].in_transaction
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, function, args))
        return await future

    async def run(self, body: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``body()`` run whole on the worker's thread, in one hop, in a copy of the caller's context.

        Every statement it sends through this worker runs at once on the thread (see :meth:`call`),
        so a body that awaits nothing else never suspends. One that awaits anything else (the event
        loop is not there) fails with ``RuntimeError``: run such a body on the event loop instead.
        """
        return await self.call(_drive, contextvars.copy_context(), body)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of one statement (as aiosqlite's call of that name): one hop."""
        return await self.call(_fetchall, sql, parameters)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows (as aiosqlite's call of that name): one hop."""
        await self.call(_executemany, sql, rows)

    @property
    def in_transaction(self) -> bool:
        """Whether the connection was in a transaction when the last call returned."""
        return bool(self._state[0])

    def post(self, function: Callable[..., Any], *args: Any) -> None:
        """``function(connection, *args)`` on the thread before any later call, without waiting for
        it. If it fails, the connection is closed and the next call opens a new one."""
        self._calls.put((None, None, function, args))

    def reset(self) -> None:
        """Roll back what the last user left open, on the thread before any later call (no wait):
        after a failure or a cancellation, the thread may still be running that user's call."""
        self.post(_rollback)

    def close(self, *, wait: bool = False) -> None:
        """Close the connection and end the thread once the calls already queued have run; with
        ``wait``, return when it has (the last connection to close checkpoints the WAL file)."""
        self._calls.put(None)
        if wait:
            self._thread.join()


class Workers:
    """The idle workers of one engine, made as the engine makes its own connections."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self.checkpointer = Checkpointer(connect)
        """Folds the WAL after commits, off the writers' path (``sqlite_checkpointer.py``)."""
        self._idle: list[Worker] = []
        self._lock = threading.Lock()  # the sync API runs the ledger on event loops in other threads
        self._generation = 0

    def acquire(self) -> Worker:
        """An idle worker (the one used last), or a new one (its connection opens with its first call)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            generation = self._generation
        return Worker(self._connect, generation)

    def release(self, worker: Worker, *, discard: bool = False) -> None:
        """Take ``worker`` back (not in a transaction); ``discard``: its connection failed, close it."""
        with self._lock:
            if not discard and worker.generation == self._generation and len(self._idle) < MAX_IDLE:
                self._idle.append(worker)
                return
        worker.close()

    def committed(self) -> None:
        """A worker of this pool committed a write: the checkpointer folds the WAL soon."""
        self.checkpointer.nudge()

    def dispose(self) -> None:
        """Close the idle workers and the checkpointer's connection and wait for them; those in use
        close when they come back."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        self.checkpointer.stop()
        for worker in idle:
            worker.close()
        for worker in idle:
            worker.close(wait=True)


_POOLS: weakref.WeakKeyDictionary[Engine, Workers] = weakref.WeakKeyDictionary()


def _base(engine: Engine) -> Engine:
    # Engine.execution_options() returns an OptionEngine proxying the engine the pool belongs to.
    while (proxied := getattr(engine, "_proxied", None)) is not None:
        engine = proxied
    return engine


def workers_of(engine: Any) -> Workers | None:
    """The worker pool of ``engine`` (sync or async), if :func:`attach` gave it one."""
    sync = getattr(engine, "sync_engine", engine)
    return _POOLS.get(_base(sync)) if isinstance(sync, Engine) else None


def attach(
    engine: Engine,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    configure: Callable[[sqlite3.Connection], None],
) -> Workers:
    """Give ``engine`` a pool of worker connections: ``sqlite3.connect(*args, **kwargs)``, then ``configure``.

    The connections run in autocommit mode (the recorder begins and ends every transaction
    itself) and get the functions SQLAlchemy's SQLite dialect registers on its own.
    """
    options = {**kwargs, "isolation_level": None, "check_same_thread": True}

    def connect() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(*args, **options)
        try:
            connection.create_function("regexp", 2, _regexp, deterministic=True)
            connection.create_function("floor", 1, math.floor, deterministic=True)
            configure(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    workers = Workers(connect)
    _POOLS[engine] = workers
    event.listen(engine, "engine_disposed", lambda _engine: workers.dispose())
    return workers
