"""Connection loss on PostgreSQL: the server ends the writer's connection in the middle of a write.

The writer is made to wait for the ledger's write lock (another connection holds it), and its
backend is terminated with ``pg_terminate_backend`` while it waits. The write fails with a
``LedgerError`` instead of hanging, nothing of it is stored, and the next write succeeds.
"""

from __future__ import annotations

import asyncio

from reliability_support import SECRET, all_events, check_log_and_rebuild, fresh_pg_database
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from artifact_ledger import ArtifactIn, ConnectionLostError, Ledger, LedgerError


async def wait_until_waiting(admin: AsyncConnection, pid: int) -> None:
    """Until backend ``pid`` is blocked on a lock (the writer is inside its write)."""
    sql = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
    for _ in range(500):
        if (await admin.execute(sql, {"pid": pid})).scalar_one_or_none() == "Lock":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for the write lock")


async def test_terminated_connection_fails_the_write_and_the_next_one_succeeds() -> None:
    async with fresh_pg_database() as url, Ledger.open(url, secret=SECRET) as ledger:
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        holder = create_async_engine(url)
        async with ledger.manager() as manager, admin.connect() as watch, holder.connect() as blocker:
            first = await manager.save(ArtifactIn(data={"n": 1}), reason="before")
            session_conn = await manager.repo.session.connection()
            pid = (await session_conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await blocker.execute(text("LOCK TABLE ledger_events IN EXCLUSIVE MODE"))
            write = asyncio.create_task(manager.save(ArtifactIn(parent_id=first.id, data={"n": 2}), reason="lost"))
            await wait_until_waiting(watch, pid)
            await watch.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            failure = None
            try:
                await asyncio.wait_for(write, 10)
            except LedgerError as exc:
                failure = exc
            assert failure is not None, "the write did not fail"
            await blocker.rollback()  # release the lock only after the write has failed

            second = await manager.save(ArtifactIn(parent_id=first.id, data={"n": 3}), reason="after")
            assert second.level == 1
            events = await all_events(ledger)
            assert [e.reason for e in events] == ["before", "after"]
            assert [o.data for o in await manager.find_all()] == [{"n": 1}, {"n": 3}]
        await admin.dispose()
        await holder.dispose()
        await check_log_and_rebuild(ledger)


async def test_after_the_server_ends_every_connection_reads_and_writes_go_on() -> None:
    """A server restart, a failover or ``pg_terminate_backend`` of every connection: the ledger's
    reads and writes run on the driver's connection, whose error never reached the pool, so the
    dead connections went back into it and every later call failed with ConnectionLostError until
    ``pool_recycle`` (30 minutes). Each dead connection is now dropped at checkout."""
    async with fresh_pg_database() as url, Ledger.open(url, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            first = await manager.save(ArtifactIn(data={"n": 1}), reason="before")
        # several pooled connections, all idle in the pool
        managers = [ledger.manager() for _ in range(3)]
        opened = [await m.__aenter__() for m in managers]
        await asyncio.gather(*(m.find_by_id(first.id) for m in opened))
        for m in reversed(managers):
            await m.__aexit__(None, None, None)
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            ended = (
                await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).scalar_one()
        await admin.dispose()
        assert ended >= 1
        # A call that meets a connection whose end the driver has not seen yet fails once with
        # ConnectionLostError (the connection is then dropped); after those, every call works. Before,
        # every later read and write failed until pool_recycle.
        outcomes: list[str] = []
        saved = 0
        for attempt in range(12):  # an idle manager's read and write, again and again
            try:
                async with ledger.manager() as manager:
                    found = await manager.find_by_id(first.id)
                    assert found is not None, attempt
                    assert found.data == {"n": 1}
                    await manager.save(ArtifactIn(parent_id=first.id, data={"n": attempt}), reason="after")
                    saved += 1
                outcomes.append("ok")
            except ConnectionLostError:
                outcomes.append("lost")
        assert outcomes[-7:] == ["ok"] * 7, outcomes
        assert outcomes.count("lost") <= 5, outcomes  # at most one call per dead pooled connection (pool_size 5)
        events = await all_events(ledger)
        assert [e.reason for e in events] == ["before", *["after"] * saved]
        await check_log_and_rebuild(ledger)
