"""In-memory SQLite: one connection serves every manager, so writes take turns in the process
(``store/one_writer.py``). Before, two managers writing at once shared the connection's
transaction: a save was reported written and then lost, and verify failed from then on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger, LockTimeoutError
from artifact_ledger.migrate import repair_guards, upgrade
from artifact_ledger.transfer import export_ledger
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


@pytest.mark.parametrize("work", ["rebuild", "create_index", "drop_index", "migrate", "repair_guards"])
async def test_saves_take_turns_with_a_rebuild_and_index_changes(engine: AsyncEngine, work: str) -> None:
    """A rebuild, an index change or a migration (``artifact-ledger migrate``, ``--repair-guards``)
    is a write transaction too: on in-memory SQLite a save that arrived meanwhile ran inside it
    (``cannot start a transaction within a transaction``, or its rows replayed twice), or the
    migration's commit ended the save's transaction half done (a Merkle frontier ahead of the log:
    every later write refused). On every backend both finish and nothing is lost."""
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
                elif work == "migrate":
                    await upgrade(ledger.engine)
                elif work == "repair_guards":
                    await repair_guards(ledger.engine)
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


@pytest.mark.parametrize("read", ["verify", "gc_dry_run", "export", "events_since", "audit", "proof"])
async def test_saves_take_turns_with_reads_of_their_own(engine: AsyncEngine, read: str, tmp_path: Path) -> None:
    """A read on a connection of its own begins and ends a transaction there (a snapshot's BEGIN
    and ROLLBACK, the rollback when SQLAlchemy closes it). On in-memory SQLite that connection is
    every writer's: a save failed (``cannot start a transaction within a transaction``), was
    reported written and then rolled back, or committed half (an event without its blob, a row
    without its event), and verify failed from then on. On every backend nothing is lost now."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as m:
            await m.save_all([ArtifactIn(data={"n": i, "content": bytes([i])}) for i in range(200)])
        saved: list[str] = []
        problems: list[str] = []

        async def saves() -> None:
            for i in range(30):
                async with ledger.manager() as m:
                    saved.append(str((await m.save(ArtifactIn(data={"later": i, "content": b"c%d" % i}))).id))
                await asyncio.sleep(0)

        async def reads() -> None:
            for round in range(3):
                if read == "verify":
                    report = await ledger.verify()
                    if not report.ok:
                        problems.append(str(report.problem))
                elif read == "gc_dry_run":
                    await ledger.gc(dry_run=True)
                elif read == "export":
                    await export_ledger(ledger.engine, tmp_path / f"bundle{round}")
                elif read == "events_since":
                    await ledger.events_since(0, limit=10_000)
                elif read == "audit":
                    async with ledger.manager() as m:
                        await m.audit(limit=1000)
                else:
                    await ledger.prove_consistency(100)

        await asyncio.gather(saves(), reads())
        assert problems == []
        async with ledger.manager() as m:
            live = {str(a.id) for a in await m.find_all(include_content=False)}
        assert len(saved) == 30
        assert set(saved) <= live
        report = await ledger.verify()
        assert report.ok, report.problem


async def test_a_cancelled_save_keeps_the_in_memory_database() -> None:
    """The one connection of an in-memory database is the database: a save cancelled in flight (a
    client gone, a timeout) closed it, and every artifact was gone (``no such table``)."""
    async with Ledger.open(MEMORY, secret=SECRET) as ledger:
        async with ledger.manager() as m:
            await m.save_all([ArtifactIn(data={"n": i}) for i in range(20)])
        for step in range(1, 20):
            async with ledger.manager() as m:
                task = asyncio.create_task(m.save(ArtifactIn(data={"cancelled": step, "content": b"x" * 1000})))
                await asyncio.sleep(0.0005 * step)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        async with ledger.manager() as m:
            assert await m.count() >= 20
            await m.save(ArtifactIn(data={"n": "after"}))
        report = await ledger.verify()
        assert report.ok, report.problem
