"""Group commit on every backend: concurrent single commands of one process share transactions,
each keeping its own events, reply and error.

Most tests form a group deterministically: the engine's committer is marked busy (as while a
transaction runs), the commands queue behind it, then the queue is handed over and runs as one
group (:meth:`Committer._hand_over`, what a finished transaction does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from artifact_ledger import (
    ArtifactIn,
    ArtifactNotFoundError,
    ArtifactOut,
    ConcurrencyError,
    InvalidArgumentError,
    Ledger,
    StorageFullError,
    TransactionAbortedError,
)
from artifact_ledger.commands import Commands
from artifact_ledger.group_commit import committer_for
from artifact_ledger.projections.projector import ProjectionError, Projector
from artifact_ledger.writer import WriteBatch
from ledger_support import SECRET, queued


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


async def event_count(ledger: Ledger) -> int:
    async with ledger.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def save(ledger: Ledger, item: ArtifactIn, **kwargs: Any) -> ArtifactOut:
    """One save on a manager of its own (a new session per operation, as the HTTP API does)."""
    async with ledger.manager() as manager:
        return await manager.save(item, **kwargs)


async def test_concurrent_saves_share_transactions(ledger: Ledger) -> None:
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    before, groups = await event_count(ledger), committer.groups

    outs = await asyncio.gather(*(save(ledger, ArtifactIn(parent_id=root.id, data={"i": i})) for i in range(64)))

    assert [out.data for out in outs] == [{"i": i} for i in range(64)]  # each its own reply
    assert len({out.id for out in outs}) == 64
    assert await event_count(ledger) == before + 64
    assert committer.groups - groups < 64  # groups formed: fewer transactions than saves
    async with ledger.manager() as manager:
        for out in outs:
            found = await manager.find_by_id(out.id)
            assert found is not None
            assert found.data == out.data
    report = await ledger.verify()
    assert report.ok, report.problem
    assert report.events_checked == before + 64


async def test_a_group_commits_once_and_positions_stay_in_arrival_order(ledger: Ledger) -> None:
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    groups = committer.groups
    outs = await queued(committer, [save(ledger, ArtifactIn(parent_id=root.id, data={"n": n})) for n in range(10)])
    assert committer.groups == groups + 1  # ten saves, one transaction
    assert all(isinstance(out, ArtifactOut) for out in outs)
    async with ledger.manager() as manager:
        history = [await manager.history(out.id) for out in outs]
    positions = [versions[-1].position for versions in history]
    assert positions == sorted(positions)
    assert positions == list(range(positions[0], positions[0] + 10))  # gap-free, in arrival order
    assert (await ledger.verify()).ok


async def test_a_member_sees_the_effects_of_earlier_members(ledger: Ledger) -> None:
    committer = committer_for(ledger.engine)
    parent_id = ULID()
    parent, child, update = await queued(
        committer,
        [
            save(ledger, ArtifactIn(id=parent_id, data={"name": "parent"})),
            save(ledger, ArtifactIn(parent_id=parent_id, data={"name": "child"})),
            save(ledger, ArtifactIn(id=parent_id, data={"name": "parent v2"}), expected_version=1),
        ],
    )
    assert isinstance(parent, ArtifactOut)
    assert isinstance(child, ArtifactOut)
    assert isinstance(update, ArtifactOut)
    assert child.parent_id == parent_id
    assert update.version == 2
    assert update.data == {"name": "parent v2"}


async def test_a_refused_member_fails_alone(ledger: Ledger) -> None:
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    before = await event_count(ledger)
    missing = ULID()
    outs = await queued(
        committer,
        [
            save(ledger, ArtifactIn(parent_id=root.id, data={"n": 0})),
            save(ledger, ArtifactIn(parent_id=missing, data={"orphan": True})),
            save(ledger, ArtifactIn(id=root.id, data={"stale": True}), expected_version=7),
            save(ledger, ArtifactIn(parent_id=root.id, data={"n": 1})),
        ],
    )
    first, orphan, stale, last = outs
    assert isinstance(first, ArtifactOut)
    assert isinstance(last, ArtifactOut)
    assert isinstance(orphan, ArtifactNotFoundError)
    assert str(missing) in str(orphan)
    assert isinstance(stale, ConcurrencyError)
    assert str(root.id) in str(stale)
    assert await event_count(ledger) == before + 2  # the two refused appended nothing
    async with ledger.manager() as manager:
        unchanged = await manager.find_by_id(root.id)
    assert unchanged is not None
    assert unchanged.data == {"root": True}
    assert (await ledger.verify()).ok


async def test_every_member_refused_commits_nothing(ledger: Ledger) -> None:
    committer = committer_for(ledger.engine)
    before = await event_count(ledger)
    outs = await queued(committer, [save(ledger, ArtifactIn(parent_id=ULID(), data={"n": n})) for n in range(3)])
    assert all(isinstance(out, ArtifactNotFoundError) for out in outs)
    assert await event_count(ledger) == before
    assert (await ledger.verify()).ok


async def test_a_member_failing_after_sealing_is_taken_out_and_the_rest_commit(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply that fails after the command's event was sealed: that command must not be half
    kept, so the group runs again without it."""
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    before = await event_count(ledger)
    reply = Commands._reply

    def failing_reply(self: Commands, row: Any, content: Any, **kwargs: Any) -> ArtifactOut:
        if row.data == {"poison": True}:
            raise RuntimeError("the reply of the poisoned save failed")
        return reply(self, row, content, **kwargs)

    monkeypatch.setattr(Commands, "_reply", failing_reply)
    outs = await queued(
        committer,
        [
            save(ledger, ArtifactIn(parent_id=root.id, data={"n": 0})),
            save(ledger, ArtifactIn(parent_id=root.id, data={"poison": True})),
            save(ledger, ArtifactIn(parent_id=root.id, data={"n": 1})),
        ],
    )
    assert isinstance(outs[0], ArtifactOut)
    assert isinstance(outs[1], RuntimeError)
    assert isinstance(outs[2], ArtifactOut)
    assert await event_count(ledger) == before + 2
    async with ledger.manager() as manager:
        assert await manager.find_by_id(outs[0].id) is not None
        assert await manager.find_by_id(outs[2].id) is not None
    assert (await ledger.verify()).ok


async def test_members_replying_with_the_same_row_get_replies_of_their_own(ledger: Ledger) -> None:
    """Two callers whose commands end on the same artifact's row (an update, then an identical save
    and a move of it) were handed one data object: one caller editing its reply changed the others'."""
    parent = await save(ledger, ArtifactIn(data={"parent": True}))
    item = await save(ledger, ArtifactIn(data={"tags": ["a"]}))
    committer = committer_for(ledger.engine)

    async def move() -> ArtifactOut:
        async with ledger.manager() as manager:
            return await manager.move(item.id, parent.id)

    outs = await queued(
        committer,
        [
            save(ledger, ArtifactIn(id=item.id, data={"tags": ["b"]})),
            save(ledger, ArtifactIn(id=item.id, data={"tags": ["b"]})),  # identical: appends nothing
            move(),
        ],
    )
    assert all(isinstance(out, ArtifactOut) for out in outs), outs
    updated, same, moved = outs
    assert [out.version for out in outs] == [2, 2, 3]
    updated.data["tags"].append("edited by the first caller")
    assert same.data == {"tags": ["b"]}
    assert moved.data == {"tags": ["b"]}
    assert moved.parent_id == parent.id


class CancelledWhilePickled:
    """Content whose own code raises CancelledError when it is pickled (inside the group's transaction)."""

    def __reduce__(self) -> Any:
        raise asyncio.CancelledError()


async def test_a_member_whose_own_code_raises_cancelled_error_cancels_no_neighbour(ledger: Ledger) -> None:
    """A patch's content is encoded inside the group; its code raising CancelledError cancelled every
    command of the group and of the queue, as if their callers had gone away: none was written."""
    item = await save(ledger, ArtifactIn(data={"n": 0}))
    committer = committer_for(ledger.engine)
    before = await event_count(ledger)

    async def patch(data: dict[str, Any]) -> ArtifactOut:
        async with ledger.manager() as manager:
            return await manager.patch(item.id, data)

    first, cancelled, last = await queued(
        committer, [patch({"a": 1}), patch({"content": CancelledWhilePickled()}), patch({"b": 2})]
    )
    assert isinstance(cancelled, asyncio.CancelledError)
    assert isinstance(first, ArtifactOut), first
    assert isinstance(last, ArtifactOut), last
    assert last.data == {"n": 0, "a": 1, "b": 2}
    assert await event_count(ledger) == before + 2
    assert not committer.running
    assert (await ledger.verify()).ok


def failing_projection(monkeypatch: pytest.MonkeyPatch, artifact_id: str) -> None:
    """Projecting the deletion of ``artifact_id`` fails (a damaged projection, provoked): after the
    command's events were sealed, before they were handed to the batch."""
    apply = Projector.apply

    async def failing(self: Projector, event: Any) -> None:
        if event.artifact_id == artifact_id and event.type == "artifact.deleted":
            raise ProjectionError(f"the deletion of {artifact_id} cannot be projected (provoked by the test)")
        await apply(self, event)

    monkeypatch.setattr(Projector, "apply", failing)


async def test_a_member_failing_while_projecting_its_sealed_events_leaves_no_gap(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cascading delete whose second event fails to project: the head had moved past its first
    event, so the group went on from there and committed a log with positions missing."""
    parent = await save(ledger, ArtifactIn(data={"parent": True}))
    child = await save(ledger, ArtifactIn(parent_id=parent.id, data={"child": True}))
    committer = committer_for(ledger.engine)
    before = await event_count(ledger)
    failing_projection(monkeypatch, str(child.id))

    async def delete() -> None:
        async with ledger.manager() as manager:
            await manager.delete_by_id(parent.id, cascade=True)

    first, refused, last = await queued(
        committer,
        [save(ledger, ArtifactIn(data={"n": 0})), delete(), save(ledger, ArtifactIn(data={"n": 1}))],
    )
    assert isinstance(first, ArtifactOut)
    assert isinstance(refused, ProjectionError)
    assert str(child.id) in str(refused)
    assert isinstance(last, ArtifactOut)
    assert await event_count(ledger) == before + 2
    report = await ledger.verify()
    assert report.ok, report.problem
    async with ledger.manager() as manager:
        assert await manager.find_by_id(parent.id) is not None
        assert await manager.find_by_id(child.id) is not None


async def test_a_transaction_whose_command_failed_while_projecting_commits_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same failure inside ``transaction()``, caught by the caller: the block must not commit."""
    parent = await save(ledger, ArtifactIn(data={"parent": True}))
    child = await save(ledger, ArtifactIn(parent_id=parent.id, data={"child": True}))
    before = await event_count(ledger)
    failing_projection(monkeypatch, str(child.id))

    async def caught_and_carried_on() -> None:
        async with ledger.manager() as manager, manager.transaction():
            with pytest.raises(ProjectionError):
                await manager.delete_by_id(parent.id, cascade=True)
            await manager.save(ArtifactIn(data={"after": True}))

    with pytest.raises(TransactionAbortedError):
        await caught_and_carried_on()
    assert await event_count(ledger) == before
    report = await ledger.verify()
    assert report.ok, report.problem


async def test_a_storage_failure_reaches_every_member_and_writes_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    before = await event_count(ledger)
    flush = WriteBatch.flush

    async def full_disk(self: WriteBatch, *, commit: bool = False) -> None:
        if commit:
            raise StorageFullError("the disk is full (provoked by the test); nothing was written")
        await flush(self, commit=commit)

    monkeypatch.setattr(WriteBatch, "flush", full_disk)
    outs = await queued(committer, [save(ledger, ArtifactIn(parent_id=root.id, data={"n": n})) for n in range(4)])
    assert all(isinstance(out, StorageFullError) for out in outs)
    assert len({id(out) for out in outs}) == 1  # the transaction's one failure, shared
    assert await event_count(ledger) == before
    monkeypatch.setattr(WriteBatch, "flush", flush)
    assert (await save(ledger, ArtifactIn(parent_id=root.id, data={"after": True}))).version == 1
    assert await event_count(ledger) == before + 1
    assert (await ledger.verify()).ok


async def test_a_cancelled_waiting_command_never_runs(ledger: Ledger) -> None:
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    before = await event_count(ledger)
    committer.running = True
    tasks = [asyncio.ensure_future(save(ledger, ArtifactIn(parent_id=root.id, data={"n": n}))) for n in range(3)]
    for _ in range(50):
        if len(committer.queue) == 3:
            break
        await asyncio.sleep(0)
    tasks[1].cancel()
    await asyncio.sleep(0)
    committer._hand_over()
    outs = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outs[0], ArtifactOut)
    assert isinstance(outs[1], asyncio.CancelledError)
    assert isinstance(outs[2], ArtifactOut)
    assert await event_count(ledger) == before + 2
    assert not committer.running
    assert not committer.queue
    assert (await ledger.verify()).ok


async def test_a_lone_command_runs_at_once_and_transactions_are_not_grouped(ledger: Ledger) -> None:
    committer = committer_for(ledger.engine)
    groups = committer.groups
    root = await save(ledger, ArtifactIn(data={"root": True}))
    assert committer.groups == groups + 1
    assert not committer.running  # nothing left behind: the next command runs at once too
    async with ledger.manager() as manager, manager.transaction():
        await manager.save(ArtifactIn(parent_id=root.id, data={"in": "transaction"}))
        await manager.save(ArtifactIn(parent_id=root.id, data={"in": "transaction", "n": 2}))
    assert committer.groups == groups + 1  # a transaction block keeps its own transaction


async def test_group_commit_can_be_turned_off(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET, group_commit=False) as ledger:
        committer = committer_for(ledger.engine)
        assert not committer.enabled
        groups = committer.groups
        root = await save(ledger, ArtifactIn(data={"root": True}))
        outs = [await save(ledger, ArtifactIn(parent_id=root.id, data={"i": i})) for i in range(8)]
        assert len({out.id for out in outs}) == 8
        assert committer.groups == groups  # every save its own transaction, outside the committer
        assert (await ledger.verify()).ok
    with pytest.raises(InvalidArgumentError, match="group_commit"):
        async with Ledger.open(engine, secret=SECRET, group_commit="yes"):  # type: ignore[arg-type]
            pass
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert committer_for(ledger.engine).enabled


async def test_the_write_log_reports_each_member_s_own_event(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    """A grouped command's debug line names its own artifact, version and position, not the group's."""
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    with caplog.at_level(logging.DEBUG, logger="artifact_ledger.writes"):
        outs = await queued(committer, [save(ledger, ArtifactIn(parent_id=root.id, data={"n": n})) for n in range(4)])
    lines = [r.getMessage() for r in caplog.records if r.name == "artifact_ledger.writes"]
    async with ledger.manager() as manager:
        positions = [(await manager.history(out.id))[-1].position for out in outs]
    assert lines == [
        f"save: artifact {out.id} version 1 at position {p}" for out, p in zip(outs, positions, strict=True)
    ]
