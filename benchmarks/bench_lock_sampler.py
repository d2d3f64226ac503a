"""Lock wait on PostgreSQL as the server sees it: backends waiting for a table lock, sampled.

A thread of its own (its own event loop and asyncpg connection) asks ``pg_locks`` every 10 ms
how many backends wait for a lock on a table of the benchmark's schemas (``NOT granted``: the
write lock, ``LOCK TABLE ledger_events IN EXCLUSIVE MODE``, is the only table lock a ledger
write waits for). The mean count over a cell, divided by the processes writing, is the share of
their time spent waiting for the write lock; unlike timing the lock statement in the worker, it
does not count the time a runnable process waits for a CPU.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

import asyncpg

INTERVAL = 0.01
_WAITING = (
    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE l.locktype = 'relation' AND NOT l.granted AND n.nspname = ANY($1::text[])"
)


class LockSampler:
    def __init__(self, dsn: str, schemas: list[str]) -> None:
        self.dsn = dsn
        self.schemas = schemas
        self.samples = 0
        self.waiting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._ready = threading.Event()

    @property
    def mean_waiting(self) -> float:
        """Mean number of backends waiting for a table lock over the samples taken."""
        return self.waiting / self.samples if self.samples else 0.0

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            self._ready.set()
            while not self._stop.is_set():
                self.waiting += int(await conn.fetchval(_WAITING, self.schemas))
                self.samples += 1
                await asyncio.sleep(INTERVAL)
        finally:
            self._ready.set()
            await conn.close()

    def __enter__(self) -> LockSampler:
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
