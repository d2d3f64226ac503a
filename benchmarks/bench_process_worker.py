"""One worker process of benchmark N: its own interpreter, event loop, engine and Ledger.

The parent (bench_processes.py) starts up to eight of these once and sends each cell's orders
through a pipe; a worker opens its namespace, saves one warm-up artifact, sleeps until the
cell's common start instant and then writes for the cell's duration, timing every operation
and every wait for the write lock.

Lock wait is the time the write lock's own statement takes, timed inside the worker by
wrapping the recorder (benchmark-only code; the library is not changed):

- PostgreSQL: ``PostgresRecorder.lock`` sends ``BEGIN; LOCK TABLE ledger_events IN EXCLUSIVE
  MODE`` as one round trip of its own, so its duration is the wait for the lock plus one round
  trip (about 0.1 ms uncontended). Nothing about the write path changes.
- SQLite: the ``BEGIN IMMEDIATE`` normally rides in one thread hop with the head read; the
  wrapper sends it in a hop of its own (one extra hop per write, tens of microseconds) and
  times that hop, which is where SQLite's busy handler waits for another process's writer lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import aiosqlite
import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from artifact_ledger import ArtifactIn, Ledger, create_engine
from artifact_ledger.store.postgres import PostgresRecorder
from artifact_ledger.store.recorder import Rows, Step
from artifact_ledger.store.sqlite import SqliteRecorder

SECRET = "benchmark-N-secret"
LOCK_WAITS: list[float] = []


def instrument() -> None:
    """Time every write-lock statement of this process into ``LOCK_WAITS``."""
    pg_lock = PostgresRecorder.lock

    async def timed_pg_lock(self: PostgresRecorder) -> None:
        t0 = time.perf_counter()
        await pg_lock(self)
        LOCK_WAITS.append(time.perf_counter() - t0)

    async def timed_sqlite_locked(self: SqliteRecorder, steps: Sequence[Step]) -> list[Rows]:
        lock = self._lock_steps()
        if lock:
            t0 = time.perf_counter()
            await self.pipeline(lock)
            LOCK_WAITS.append(time.perf_counter() - t0)
        return await self.pipeline(steps)

    PostgresRecorder.lock = timed_pg_lock  # type: ignore[method-assign]  # benchmark-only timing wrapper
    SqliteRecorder.locked = timed_sqlite_locked  # type: ignore[method-assign]  # benchmark-only timing wrapper


def engine_for(order: dict[str, Any]) -> AsyncEngine:
    """The default namespace's engine: PostgreSQL with the benchmark's schema first on the search_path."""
    if order["backend"] == "sqlite":
        return create_engine(order["url"])
    return create_engine(order["url"], connect_args={"server_settings": {"search_path": order["schema"]}})


async def _until(start_at: float) -> None:
    await asyncio.sleep(max(0.0, start_at - time.time()))


async def run_ours(order: dict[str, Any]) -> dict[str, Any]:
    engine = engine_for(order)
    latencies: list[float] = []
    events = 0
    try:
        async with (
            Ledger.open(engine, secret=SECRET, namespace=order["namespace"], create=False) as ledger,
            ledger.manager() as manager,
        ):
            parent = (await manager.save(ArtifactIn(data={"worker": order["worker"]}))).id
            batch = order["batch"]
            LOCK_WAITS.clear()
            await _until(order["start_at"])
            t_start = time.perf_counter()
            deadline = t_start + order["duration"]
            i = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                if order["mode"] == "single":
                    await manager.save(ArtifactIn(parent_id=parent, data={"w": order["worker"], "i": i}))
                    events += 1
                else:
                    items = [
                        ArtifactIn(parent_id=parent, data={"w": order["worker"], "i": i, "j": j}) for j in range(batch)
                    ]
                    events += len(await manager.save_all(items))
                latencies.append(time.perf_counter() - t0)
                i += 1
            elapsed = time.perf_counter() - t_start
            waits = list(LOCK_WAITS)
    finally:
        await engine.dispose()
    return {"events": events, "elapsed": elapsed, "latencies": latencies, "lock_waits": waits, "saved": events + 1}


async def run_floor(order: dict[str, Any]) -> dict[str, Any]:
    """Plain INSERTs of (id, parent_id, data) rows on a bare driver connection: no lock, no chain."""
    latencies: list[float] = []
    events = 0
    insert = "INSERT INTO bench_floor (id, parent_id, data) VALUES ({})"
    batch = order["batch"]
    conn: Any
    if order["backend"] == "sqlite":
        conn = await aiosqlite.connect(order["floor_path"], isolation_level=None)
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000"):
            await conn.execute(pragma)
    else:
        conn = await asyncpg.connect(order["dsn"], server_settings={"search_path": order["floor_schema"]})
    try:
        await _until(order["start_at"])
        t_start = time.perf_counter()
        deadline = t_start + order["duration"]
        i = 0
        while time.perf_counter() < deadline:
            rows = [
                (str(ULID()), None, orjson.dumps({"w": order["worker"], "i": i, "j": j}).decode())
                for j in range(1 if order["mode"] == "single" else batch)
            ]
            t0 = time.perf_counter()
            if order["backend"] == "sqlite":
                if len(rows) == 1:
                    await conn.execute(insert.format("?, ?, ?"), rows[0])
                else:
                    await conn.execute("BEGIN IMMEDIATE")
                    await conn.executemany(insert.format("?, ?, ?"), rows)
                    await conn.execute("COMMIT")
            elif len(rows) == 1:
                await conn.execute(insert.format("$1, $2, $3"), *rows[0])
            else:
                await conn.copy_records_to_table("bench_floor", records=rows)
            latencies.append(time.perf_counter() - t0)
            events += len(rows)
            i += 1
        elapsed = time.perf_counter() - t_start
    finally:
        await conn.close()
    return {"events": events, "elapsed": elapsed, "latencies": latencies, "lock_waits": [], "saved": 0}


def serve(pipe: Connection) -> None:
    """The worker's loop: one order in, one result out, until the parent sends None."""
    instrument()
    while True:
        order = pipe.recv()
        if order is None:
            return
        try:
            runner = run_floor if order["kind"] == "floor" else run_ours
            pipe.send(asyncio.run(runner(order)))
        except Exception as exc:  # reported to the parent, which raises it with the cell named
            pipe.send({"error": f"{type(exc).__name__}: {exc}"})
