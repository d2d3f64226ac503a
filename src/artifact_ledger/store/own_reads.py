"""One-statement reads on connections of the ledger's own, for the per-operation reads of idle sessions.

A read on an idle session (``ArtifactRepository.read``) checks a connection out of SQLAlchemy's
pool and back in: synchronous pool code reached through a greenlet, about as much time as the
statement's round trip on PostgreSQL. :func:`fetch` runs one compiled statement with no pool of
SQLAlchemy's in between:

- SQLite: on a connection of the ledger's own (``sqlite_threads.py``), in one hop to its thread;
- PostgreSQL: on an ``asyncpg`` connection this module keeps for the engine (:class:`Own`), one
  ``fetch`` (asyncpg's prepared-statement cache). The connections are made by the engine's own
  pool, then detached from it (``_ConnectionFairy.detach``): the same connect arguments, server
  settings and type codecs as the engine's, and the engine's pool keeps its full size. At most
  :data:`MAX_OWN` per engine; when they are all busy (concurrent reads), :func:`fetch` answers
  ``None`` and the caller reads the ordinary way. A connection is only used on the event loop it
  was made on, closed after the engine's ``pool_recycle`` seconds, dropped after any error (a lost
  connection drops the idle ones too), and closed with the engine (``engine.dispose()``) or when
  the engine is garbage-collected.

A statement run here sees what any new transaction on the database sees (autocommit, as the
reads through the pool): it is for sessions with nothing of their own to see (no transaction,
nothing pending), which is what ``ArtifactRepository._reads_engine`` returning an engine means.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only, greenlet_spawn
from sqlalchemy.util.concurrency import in_greenlet

from .errors import enter_site
from .sqlite_threads import workers_of

__all__ = ["MAX_OWN", "Own", "fetch"]

MAX_OWN = 4
"""asyncpg connections an engine keeps for these reads (busy ones included)."""

_Entry = tuple[Any, asyncio.AbstractEventLoop, float]
"""An idle connection: the asyncpg connection, its event loop, when it was made (monotonic)."""


def _fetchall(connection: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    return connection.execute(sql, args).fetchall()  # type: ignore[no-any-return]


def _terminate(connection: Any) -> None:
    with contextlib.suppress(Exception):  # its event loop may be closed, or another thread's
        connection.terminate()


class Own:
    """The asyncpg connections of one engine kept for :func:`fetch` (idle ones last-in first-out)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = weakref.ref(engine)
        self.recycle: float = engine.pool._recycle  # -1: never
        self.idle: list[_Entry] = []
        self.owned = 0  # made and not yet dropped: idle or in use
        self.generation = 0
        self._lock = threading.Lock()  # the sync API runs ledgers on event loops in other threads

    def take(self, loop: asyncio.AbstractEventLoop) -> _Entry | None:
        """The idle connection used last on ``loop`` (one past its recycle age is dropped), or None."""
        stale: list[Any] = []
        found: _Entry | None = None
        now = time.monotonic()
        with self._lock:
            for index in range(len(self.idle) - 1, -1, -1):
                entry = self.idle[index]
                if entry[1] is not loop:
                    continue
                del self.idle[index]
                if entry[0].is_closed() or (self.recycle >= 0 and now - entry[2] > self.recycle):
                    self.owned -= 1
                    stale.append(entry[0])
                    continue
                found = entry
                break
        for connection in stale:
            _terminate(connection)
        return found

    async def adopt(self, engine: AsyncEngine, loop: asyncio.AbstractEventLoop) -> _Entry | None:
        """A connection made by the engine's pool and detached from it, or None past :data:`MAX_OWN`."""
        with self._lock:
            if self.owned >= MAX_OWN:
                return None
            self.owned += 1
            generation = self.generation
        try:
            fairy = await greenlet_spawn(engine.sync_engine.raw_connection)
            connection = fairy.driver_connection
            fairy.detach()  # the pool forgets it (and may open another in its place)
        except BaseException:
            with self._lock:
                self.owned -= 1
            raise
        entry = (connection, loop, time.monotonic())
        if generation != self.generation:  # disposed meanwhile
            self.drop(entry[0])
            return None
        return entry

    def give_back(self, entry: _Entry, generation: int) -> None:
        with self._lock:
            if generation == self.generation and not entry[0].is_closed():
                self.idle.append(entry)
                return
            self.owned -= 1
        _terminate(entry[0])

    def drop(self, connection: Any, *, lost: bool = False) -> None:
        """Close a connection that failed (``lost``: its server went away: close the idle ones too)."""
        idle: list[_Entry] = []
        with self._lock:
            self.owned -= 1
            if lost:
                idle, self.idle = self.idle, []
                self.owned -= len(idle)
        _terminate(connection)
        for entry in idle:
            _terminate(entry[0])

    def dispose(self) -> None:
        """Close the idle connections (gracefully when called in a greenlet on their loop, as
        ``AsyncEngine.dispose()`` runs the engine's ``engine_disposed`` listeners); those in use
        are closed when they come back."""
        with self._lock:
            idle, self.idle = self.idle, []
            self.owned -= len(idle)
            self.generation += 1
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        graceful = running is not None and in_greenlet()
        for connection, loop, _ in idle:
            try:
                if not graceful or loop is not running:
                    raise RuntimeError("not awaitable here")
                await_only(connection.close(timeout=5))
            except Exception:
                _terminate(connection)


_OWN: weakref.WeakKeyDictionary[Engine, Own] = weakref.WeakKeyDictionary()
_OWN_LOCK = threading.Lock()


def _base(engine: Engine) -> Engine:
    # Engine.execution_options() returns an OptionEngine proxying the engine the pool belongs to.
    while (proxied := getattr(engine, "_proxied", None)) is not None:
        engine = proxied
    return engine


def own_of(engine: AsyncEngine) -> Own:
    """The :class:`Own` connections of a PostgreSQL engine (made with the first read)."""
    sync = _base(engine.sync_engine)
    found = _OWN.get(sync)
    if found is not None:
        return found
    with _OWN_LOCK:
        found = _OWN.get(sync)
        if found is None:
            found = _OWN[sync] = Own(sync)
            event.listen(sync, "engine_disposed", lambda _engine, own=found: own.dispose())
            weakref.finalize(sync, _abandon, found)
    return found


def _abandon(own: Own) -> None:
    """An engine garbage-collected without ``dispose()``: its idle connections are closed abruptly."""
    for entry in own.idle:
        _terminate(entry[0])


async def fetch(engine: AsyncEngine, sql: str, args: Sequence[Any]) -> list[Any] | None:
    """The rows of one compiled statement (``sql`` in the driver's placeholder style, ``args`` bound
    in order) on a connection of the ledger's own; None when there is none for ``engine`` now (an
    in-memory SQLite database, an engine made elsewhere, every PostgreSQL one busy): read the
    ordinary way then. Driver errors are raised as they are (the caller translates them)."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        threads = workers_of(engine)
        if threads is None:
            return None
        enter_site(engine)
        worker = threads.acquire()
        try:
            return await worker.call(_fetchall, sql, args)
        except BaseException:
            worker.reset()  # a read a cancellation left open
            raise
        finally:
            threads.release(worker)
    if dialect != "postgresql" or engine.dialect.driver != "asyncpg":
        return None
    own = own_of(engine)
    loop = asyncio.get_running_loop()
    entry = own.take(loop) or await own.adopt(engine, loop)
    if entry is None:
        return None
    enter_site(engine)
    generation = own.generation
    connection = entry[0]
    try:
        rows: list[Any] = await connection.fetch(sql, *args)
    except BaseException:
        # Cancelled mid-statement, or the statement failed: the connection may be mid-protocol or
        # gone; never hand it to the next read.
        own.drop(connection, lost=connection.is_closed())
        raise
    own.give_back(entry, generation)
    return rows
