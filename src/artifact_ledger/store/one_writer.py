"""One write transaction at a time on an engine whose pool hands every caller the same connection.

An in-memory SQLite database lives in one connection, so its engine (``StaticPool``) gives that
one connection to every session and recorder. The database's own write lock cannot order two
writers there: both are the same connection, and the second's ``BEGIN`` fails ("cannot start a
transaction within a transaction"), or its statements run inside the first's transaction and
commit or roll back with it (a save reported written, then gone). So on such an engine a write
transaction takes this process-wide lock first, for as long as the transaction is open: the
lock the database would be, with the same patience (the engine's lock timeout, then
:class:`~artifact_ledger.errors.LockTimeoutError`). Engines with a connection per caller (a
SQLite file, PostgreSQL) take nothing here: the database orders their writers.

A read that opens a connection of its own (:func:`connect`: ``verify``, ``head``, export, proofs,
``events_since``, a dry-run ``gc``, history and audit) begins and ends a transaction on it too: a
snapshot's ``BEGIN`` and ``ROLLBACK``, SQLAlchemy's rollback when the connection closes. On the one
connection those undid a writer's half-done transaction or took a writer's statements into the
read's snapshot, so such a read takes its turn as well. And that connection is the database: it
is rolled back, never closed, when a write fails or is cancelled (``recorder.own_transaction``).
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import StaticPool

from ..errors import LockTimeoutError
from .engine import lock_timeout_seconds
from .errors import site_of

__all__ = ["connect", "engine_of", "one_writer", "shares_one_connection"]

_LOCKS: weakref.WeakKeyDictionary[Engine, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def engine_of(bind: Any) -> AsyncEngine | None:
    """The engine behind a session's or connection's bind (None when there is none to be had)."""
    if isinstance(bind, AsyncSession):
        bind = bind.bind
    if isinstance(bind, AsyncConnection):
        return bind.engine
    return bind if isinstance(bind, AsyncEngine) else None


def shares_one_connection(engine: AsyncEngine) -> bool:
    """Whether every caller of ``engine`` gets the same connection (in-memory SQLite): closing it
    would lose the database."""
    return isinstance(engine.sync_engine.pool, StaticPool)


def _lock(engine: AsyncEngine) -> asyncio.Lock | None:
    sync = engine.sync_engine
    if not shares_one_connection(engine):
        return None
    loop = asyncio.get_running_loop()
    per_loop = _LOCKS.setdefault(sync, weakref.WeakKeyDictionary())
    found = per_loop.get(loop)
    if found is None:
        found = per_loop[loop] = asyncio.Lock()
    return found


@asynccontextmanager
async def one_writer(engine: AsyncEngine | None) -> AsyncIterator[None]:
    """Hold the engine's one-writer lock for the block when its pool shares one connection."""
    lock = None if engine is None else _lock(engine)
    if lock is None:
        yield
        return
    site = site_of(engine)
    timeout = lock_timeout_seconds(site.lock_timeout if site is not None else None)
    try:
        if math.isinf(timeout):
            await lock.acquire()
        else:
            await asyncio.wait_for(lock.acquire(), timeout)
    except TimeoutError:
        raise LockTimeoutError(
            f"another write held this single-connection database (in-memory SQLite) for the lock timeout of "
            f"{timeout:g} s; nothing was written",
            lock_timeout=timeout,
        ) from None
    try:
        yield
    finally:
        lock.release()


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """``engine.connect()`` for a read of its own, in turn with writers where the engine shares one connection."""
    async with one_writer(engine), engine.connect() as connection:
        yield connection
