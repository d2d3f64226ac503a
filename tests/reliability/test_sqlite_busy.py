"""SQLite: a writer that finds the database locked waits for it; "database is locked" never surfaces.

Another connection holds the write lock (``BEGIN IMMEDIATE``) for a moment while a manager
writes, on its own and inside ``transaction()`` after a read (the case where a deferred read
transaction upgrading to a write would get ``SQLITE_BUSY`` at once, busy timeout or not: the
ledger's writes take the lock with ``BEGIN IMMEDIATE`` before reading anything they decide on).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import nullcontext
from pathlib import Path

from reliability_support import SECRET, check_log_and_rebuild, create_tables
from sqlalchemy import text

from artifact_ledger import ArtifactIn, Ledger, create_engine

HOLD_S = 0.4


async def hold_write_lock(url: str, started: asyncio.Event) -> None:
    engine = create_engine(url)
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute("BEGIN IMMEDIATE")
        await raw.execute("CREATE TABLE IF NOT EXISTS side (x INTEGER)")
        await raw.execute("INSERT INTO side VALUES (1)")
        started.set()
        await asyncio.sleep(HOLD_S)
        await raw.commit()  # a commit in between: a stale read snapshot could no longer write
    await engine.dispose()


async def test_writers_wait_for_a_held_lock_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    await create_tables(url)
    async with Ledger.open(url, secret=SECRET) as ledger, ledger.manager() as manager:
        root = await manager.save(ArtifactIn(data={"n": 0}))
        for in_transaction in (False, True):
            async with manager.transaction() if in_transaction else nullcontext():
                if in_transaction:  # a read first: the write after it must not be a stale snapshot's
                    assert await manager.count() == 2
                started = asyncio.Event()
                holder = asyncio.create_task(hold_write_lock(url, started))
                await started.wait()
                began = time.monotonic()
                await manager.save(ArtifactIn(parent_id=root.id, data={"n": 1 + in_transaction}))
                assert time.monotonic() - began >= HOLD_S / 2  # it waited for the lock
            await holder
        assert sorted(o.data["n"] for o in await manager.find_all()) == [0, 1, 2]
        async with ledger.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM side"))).scalar_one() == 2
        await check_log_and_rebuild(ledger)
