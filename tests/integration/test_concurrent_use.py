"""One manager per task: overlapping calls on one manager raise ConcurrentUseError, never a driver error.

A manager drives one session; before the guard, ``asyncio.gather`` over one manager surfaced as
SQLAlchemy's IllegalStateChangeError, asyncpg's "another operation is in progress" or a broken
in-memory SQLite ledger, depending on the backend and on whether a transaction was open.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import artifact_ledger
from artifact_ledger import ArtifactIn, ArtifactManager, ConcurrentUseError, Ledger, LedgerError
from ledger_support import SECRET


async def settled(manager: ArtifactManager) -> None:
    """Wait until the call gather left running in the background has finished."""
    while manager._running is not None:  # noqa: ASYNC110  # the manager has no event to wait on
        await asyncio.sleep(0.001)


async def test_gather_over_one_manager_raises_and_leaves_the_ledger_sound(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        root = await manager.save(ArtifactIn(data={"name": "root"}))
        saves = [manager.save(ArtifactIn(parent_id=root.id, data={"n": n})) for n in range(5)]
        with pytest.raises(ConcurrentUseError, match="one manager per task") as caught:
            await asyncio.gather(*saves)
        assert isinstance(caught.value, LedgerError)
        assert (caught.value.called, caught.value.running) == ("save", "save")
        await settled(manager)
        # The call that was running completed; the refused ones wrote nothing.
        children = [a for a in await manager.find_all(include_content=False) if a.parent_id == root.id]
        assert len(children) == 1
        with pytest.raises(ConcurrentUseError, match=r"find_by_id\(\) was called while save\(\)"):
            await asyncio.gather(manager.save(ArtifactIn(data={"n": 9})), manager.find_by_id(root.id))
        await settled(manager)
        assert (await ledger.verify()).ok
        # Sequential use, from any task, is fine.
        assert await asyncio.create_task(manager.exists_by_id(root.id))


async def test_gather_inside_a_transaction_commits_nothing(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        before = await manager.count()

        async def misuse() -> None:
            async with manager.transaction():
                first = await manager.save(ArtifactIn(data={"first": True}))
                # Writes in a transaction may only queue (no await, so no overlap); reads go to the database.
                await asyncio.gather(manager.find_by_id(first.id), manager.save(ArtifactIn(data={"n": 1})))

        with pytest.raises(ConcurrentUseError, match="one manager per task"):
            await misuse()
        assert manager._running is None  # the block waited for the running save, then rolled back
        assert await manager.count() == before
        saved = await manager.save(ArtifactIn(data={"after": True}))  # the manager is usable again
        assert saved.version == 1
        assert (await ledger.verify()).ok


async def test_a_stray_task_still_running_when_the_transaction_ends_rolls_it_back(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        strays: list[asyncio.Task[int]] = []

        async def misuse() -> None:
            async with manager.transaction():
                await manager.save(ArtifactIn(data={"mine": True}))
                strays.append(asyncio.create_task(manager.count()))
                await asyncio.sleep(0)  # the stray read starts and awaits the database

        with pytest.raises(ConcurrentUseError, match=r"transaction\(\) was called while count\(\)"):
            await misuse()
        assert strays[0].done()
        assert await manager.count() == 0
        assert (await ledger.verify()).ok


async def test_iter_all_reads_each_page_exclusively_but_allows_calls_between_items(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={"n": n}) for n in range(5)])
        seen = []
        async for item in manager.iter_all(page_size=2):
            assert await manager.exists_by_id(item.id)  # the same task between items: fine
            seen.append(item.id)
        assert len(seen) == 5
        items = manager.iter_all(page_size=2)
        with pytest.raises(ConcurrentUseError, match=r"iter_all\(\) was called while count\(\)"):
            await asyncio.gather(manager.count(), anext(items))
        await settled(manager)
        await items.aclose()


def test_every_public_coroutine_of_the_manager_is_guarded() -> None:
    for name, member in vars(ArtifactManager).items():
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            assert getattr(member, "__exclusive__", False), name
    assert "ConcurrentUseError" in artifact_ledger.__all__
