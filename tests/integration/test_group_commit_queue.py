"""Group commit's queue under load, on every backend: thousands of queued commands cancelled at
once, and commands of several clocks queued together.

Each command here is a bare action on the group's batch (nothing to write), submitted to the
engine's committer while it is marked busy, then handed over as a finished transaction would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import Ledger
from artifact_ledger.clock import system_clock
from artifact_ledger.group_commit import MAX_GROUP, Committer, committer_for
from artifact_ledger.ids import new_id
from artifact_ledger.writer import WriteBatch
from ledger_support import SECRET


@pytest.fixture
async def committer(engine: AsyncEngine) -> AsyncIterator[Committer]:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        yield committer_for(ledger.engine)


def recording(ran: list[tuple[Any, ...]], tag: Any, clock: Any = system_clock) -> Any:
    """A command that takes the write lock (so its group has a transaction to commit) and records
    itself: its tag, its group's batch and its own clock."""

    async def action(batch: WriteBatch) -> Any:
        await batch.driver.lock()
        ran.append((tag, batch, clock))  # the batch itself: kept alive, its id is not reused
        return tag

    return action


async def until_queued(committer: Committer, count: int) -> None:
    for _ in range(50):
        if len(committer.queue) == count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{len(committer.queue)} of {count} commands reached the queue")


async def test_thousands_of_cancelled_waiting_commands_never_run(committer: Committer) -> None:
    ran: list[tuple[Any, ...]] = []
    committer.running = True
    tasks = [asyncio.ensure_future(committer.submit(recording(ran, n), system_clock, new_id)) for n in range(20_000)]
    await until_queued(committer, len(tasks))
    kept = set(range(0, 20_000, 997))
    for n in reversed(range(len(tasks))):  # the last first: each one deep in the queue
        if n not in kept:
            tasks[n].cancel()
    await asyncio.sleep(0)
    committer._hand_over()
    outs = await asyncio.gather(*tasks, return_exceptions=True)

    assert [tag for tag, _, _ in ran] == sorted(kept)  # only the commands still waited for ran, in order
    for n, out in enumerate(outs):
        if n in kept:
            assert out[1] == n
        else:
            assert isinstance(out, asyncio.CancelledError)
    assert len({id(batch) for _, batch, _ in ran}) == 1  # the 21 kept fit in one group
    assert not committer.queue
    assert not committer.running


async def test_commands_of_several_clocks_each_run_in_order_in_groups_of_their_own(committer: Committer) -> None:
    def other_clock() -> Any:
        return system_clock()

    clocks = (system_clock, other_clock)
    ran: list[tuple[Any, ...]] = []
    committer.running = True
    count = 3 * MAX_GROUP + 5
    tasks = [
        asyncio.ensure_future(committer.submit(recording(ran, n, clocks[n % 3 == 2]), clocks[n % 3 == 2], new_id))
        for n in range(count)
    ]
    await until_queued(committer, count)
    committer._hand_over()
    outs = await asyncio.gather(*tasks)

    assert [out[1] for out in outs] == list(range(count))  # each command its own result
    for clock in clocks:  # each clock's commands in the order they came
        mine = [tag for tag, _, c in ran if c is clock]
        assert mine == [n for n in range(count) if clocks[n % 3 == 2] is clock]
    groups: dict[int, list[tuple[Any, ...]]] = {}
    for entry in ran:
        groups.setdefault(id(entry[1]), []).append(entry)
    for members in groups.values():
        assert len({c for _, _, c in members}) == 1  # one clock per group
        assert len(members) <= MAX_GROUP
    assert [tag for tag, _, _ in ran][:MAX_GROUP] == [n for n in range(count) if n % 3 != 2][:MAX_GROUP]
    assert not committer.queue
    assert not committer.running
