"""In-memory SQLite: one connection serves every manager, so writes take turns in the process
(``store/one_writer.py``). Before, two managers writing at once shared the connection's
transaction: a save was reported written and then lost, and verify failed from then on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger, LockTimeoutError
from ledger_support import SECRET

MEMORY = "sqlite+aiosqlite:///:memory:"

Call = Callable[[ArtifactManager], Awaitable[Any]]


async def _both(ledger: Ledger, first: Call, second: Call) -> list[Any]:
    async def run(call: Call) -> Any:
        async with ledger.manager() as manager:
            return await call(manager)

    return list(await asyncio.gather(run(first), run(second)))


@pytest.mark.parametrize(
    "pair",
    ["link+save", "save+link", "alias+save", "hold+save", "move+move", "redact+save", "transaction+alias"],
)
async def test_two_managers_writing_at_once_both_commit(pair: str) -> None:
    async with Ledger.open(MEMORY, secret=SECRET) as ledger:
        async with ledger.manager() as m:
            a = await m.save(ArtifactIn(data={"n": "a", "content": b"bytes"}))
            b = await m.save(ArtifactIn(data={"n": "b"}))

        async def save(m: ArtifactManager) -> Any:
            return await m.save(ArtifactIn(data={"n": "c"}))

        async def in_transaction(m: ArtifactManager) -> Any:
            async with m.transaction():
                await m.save(ArtifactIn(data={"n": "t1"}))
                await asyncio.sleep(0.01)  # the other manager's write arrives meanwhile
                await m.save(ArtifactIn(data={"n": "t2"}))

        calls: dict[str, Call] = {
            "link": lambda m: m.link(a.id, b.id, "used"),
            "save": save,
            "alias": lambda m: m.set_alias("production", a.id),
            "hold": lambda m: m.hold(a.id, reason="legal"),
            "move": lambda m: m.move(b.id, a.id),
            "redact": lambda m: m.redact(a.id, reason="erasure"),
            "transaction": in_transaction,
        }
        first, second = pair.split("+")
        await _both(ledger, calls[first], calls[second])
        events = await ledger.events_since(0)
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        async with ledger.manager() as m:
            names = sorted(x.data["n"] for x in await m.find_all(include_content=False))
        if "save" in pair:
            assert "c" in names  # the save that was reported written is there
        if first == "transaction":
            assert {"t1", "t2"} <= set(names)
        report = await ledger.verify()
        assert report.ok, report.problem


async def test_a_write_waits_for_an_open_transaction_up_to_the_lock_timeout() -> None:
    async with Ledger.open(MEMORY, secret=SECRET, lock_timeout=0.2) as ledger:
        async with ledger.manager() as holder, holder.transaction():
            await holder.save(ArtifactIn(data={"n": "inside"}))
            async with ledger.manager() as other:
                with pytest.raises(LockTimeoutError, match="single-connection"):
                    await other.save(ArtifactIn(data={"n": "outside"}))
        async with ledger.manager() as m:
            assert [x.data["n"] for x in await m.find_all()] == ["inside"]
        assert (await ledger.verify()).ok


@pytest.mark.parametrize("work", ["rebuild", "create_index", "drop_index"])
async def test_saves_take_turns_with_a_rebuild_and_index_changes(engine: AsyncEngine, work: str) -> None:
    """A rebuild or an index change is a write transaction too: on in-memory SQLite a save that
    arrived meanwhile ran inside it (``cannot start a transaction within a transaction``, or its
    rows replayed twice). On every backend both finish and nothing is lost."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as m:
            await m.save_all([ArtifactIn(data={"n": i, "score": i / 10}) for i in range(150)])
        if work == "drop_index":
            await ledger.create_index("data.score")

        async def saves() -> int:
            for i in range(25):
                async with ledger.manager() as m:
                    await m.save(ArtifactIn(data={"n": f"later {i}"}))
                await asyncio.sleep(0)
            return 25

        async def maintenance() -> None:
            for _ in range(3):
                if work == "rebuild":
                    await ledger.rebuild()
                elif work == "create_index":
                    await ledger.create_index("data.score")
                    await ledger.drop_index("data.score")
                else:
                    await ledger.drop_index("data.score")
                    await ledger.create_index("data.score")

        saved, _ = await asyncio.gather(saves(), maintenance())
        assert saved == 25
        async with ledger.manager() as m:
            assert await m.count() == 175
        report = await ledger.verify()
        assert report.ok, report.problem
