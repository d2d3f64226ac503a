"""``manager.transaction()`` / ``ledger.transaction()``: one commit at the end, all or nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactNotFoundError, Ledger, TransactionAbortedError
from ledger_support import HIERARCHY, SECRET

TABLES = ("ledger_events", "ledger_blobs", "ledger_artifacts", "ledger_artifact_closure", "ledger_checkpoints")


async def counts(session: AsyncSession) -> dict[str, int]:
    return {t: int((await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in TABLES}


def commit_counter(session: AsyncSession) -> list[int]:
    counter = [0]

    def bump(_session: object) -> None:
        counter[0] += 1

    event.listen(session.sync_session, "after_commit", bump)
    return counter


async def visible_elsewhere(make_engine: Callable[[], AsyncEngine], backend: str) -> int | None:
    """Events another connection sees (None on in-memory SQLite, whose one connection is shared)."""
    if backend == "sqlite-memory":
        return None
    async with make_engine().connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def test_commits_once_at_the_end(
    manager: ArtifactManager, make_engine: Callable[[], AsyncEngine], backend: str
) -> None:
    commits = commit_counter(manager.repo.session)
    async with manager.transaction() as tx:
        assert tx is manager
        root = await manager.save(ArtifactIn(data={"n": 0}))
        child = await manager.save(ArtifactIn(parent_id=root.id, data={"n": 1, "content": b"bytes"}))
        await manager.save(ArtifactIn(id=child.id, parent_id=root.id, data={"n": 2}))
        assert await manager.count() == 2  # flushes pending writes into the open transaction
        assert commits == [0]
        assert await visible_elsewhere(make_engine, backend) in (0, None)
    assert commits == [1]
    assert await visible_elsewhere(make_engine, backend) in (3, None)
    found = await manager.find_by_id(child.id)
    assert found is not None
    assert found.version == 2
    assert found.data == {"n": 2}


async def test_exception_rolls_everything_back(manager: ArtifactManager) -> None:
    before = await counts(manager.repo.session)
    written: list[ULID] = []

    async def work() -> None:
        async with manager.transaction():
            root = await manager.save(ArtifactIn(data={"content": b"\x01\x02"}))
            written.append(root.id)
            await manager.save(ArtifactIn(parent_id=root.id, data={}))
            assert await manager.exists_by_id(root.id)
            await manager.move(root.id, None)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await work()
    assert await counts(manager.repo.session) == before
    assert await manager.find_by_id(written[0]) is None
    after = await manager.save(ArtifactIn(data={"next": True}))  # still usable
    assert after.version == 1
    assert (await counts(manager.repo.session))["ledger_events"] == 1


async def test_ledger_error_inside_rolls_back(manager: ArtifactManager) -> None:
    existing = await manager.save(ArtifactIn(data={}))
    before = await counts(manager.repo.session)

    async def work() -> None:
        async with manager.transaction():
            await manager.save(ArtifactIn(id=existing.id, data={"changed": True}))
            await manager.save(ArtifactIn(parent_id=manager.repo.new_id(), data={}))

    with pytest.raises(ArtifactNotFoundError, match="not found"):
        await work()
    assert await counts(manager.repo.session) == before
    found = await manager.find_by_id(existing.id)
    assert found is not None
    assert found.version == 1
    assert found.data == {}


async def test_reads_see_pending_writes(manager: ArtifactManager) -> None:
    async with manager.transaction():
        root = await manager.save(ArtifactIn(data={"name": "root"}))
        kid = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "kid", "content": {"k": 1}}))
        found = await manager.find_by_id(kid.id)
        assert found is not None
        assert found.level == 1
        assert found.data["content"] == {"k": 1}
        tree = await manager.build_tree(root.id)
        assert tree is not None
        assert tree.children is not None
        assert [c.id for c in tree.children] == [kid.id]
        assert [o.id for o in await manager.find_all()] == [root.id, kid.id]
        await manager.delete_by_id(kid.id)
        assert await manager.count() == 1
        assert not await manager.exists_by_id(kid.id)
        restored = await manager.restore(kid.id)
        assert restored.version == 3
        assert [v.event_type for v in await manager.history(kid.id)] == [
            "artifact.created",
            "artifact.deleted",
            "artifact.restored",
        ]
        other_root = await manager.save(ArtifactIn(data={}))
        moved = await manager.move(kid.id, other_root.id)
        assert moved.parent_id == other_root.id
        grandchild = await manager.save(ArtifactIn(parent_id=kid.id, data={}))
        assert grandchild.level == 2
    assert await manager.count() == 4


async def test_nested_transaction_joins_the_outer(manager: ArtifactManager) -> None:
    commits = commit_counter(manager.repo.session)

    async def work() -> None:
        async with manager.transaction():
            await manager.save(ArtifactIn(data={"outer": 1}))
            async with manager.transaction():
                await manager.save(ArtifactIn(data={"inner": 1}))
            raise KeyError("late failure")

    with pytest.raises(KeyError):
        await work()
    assert commits == [0]
    assert await manager.count() == 0


async def test_ledger_transaction(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.transaction(HIERARCHY) as manager:
            root = await manager.save(ArtifactIn(data={}))
            await manager.save_all([ArtifactIn(parent_id=root.id, data={"i": i}) for i in range(3)])

        async def work() -> None:
            async with ledger.transaction() as manager:
                await manager.save(ArtifactIn(data={"lost": True}))
                raise ValueError("abort")

        with pytest.raises(ValueError, match="abort"):
            await work()
        async with ledger.manager(HIERARCHY) as manager:
            assert await manager.count() == 4
            tree = await manager.build_tree(root.id)
            assert tree is not None
            assert tree.level_label == "training"
        assert len(await ledger.events_since(0)) == 4


async def test_a_batch_failing_part_way_aborts_the_whole_transaction(manager: ArtifactManager) -> None:
    root = await manager.save(ArtifactIn(data={"root": True}))
    before = await counts(manager.repo.session)
    missing_parent = ULID()

    async def batch_with_a_bad_item() -> None:
        async with manager.transaction():
            await manager.save(ArtifactIn(parent_id=root.id, data={"kept?": "no"}))
            with pytest.raises(ArtifactNotFoundError):
                await manager.save_all(
                    [ArtifactIn(parent_id=root.id, data={"i": 1}), ArtifactIn(parent_id=missing_parent, data={"i": 2})]
                )
            with pytest.raises(TransactionAbortedError, match="earlier error"):
                await manager.save(ArtifactIn(data={"after": 1}))

    with pytest.raises(TransactionAbortedError, match=str(missing_parent)):
        await batch_with_a_bad_item()
    assert await counts(manager.repo.session) == before
    assert await manager.count() == 1
    # the manager is usable again afterwards
    await manager.save(ArtifactIn(data={"next": 1}))
    assert await manager.count() == 2


async def test_a_command_refused_before_appending_keeps_the_transaction(manager: ArtifactManager) -> None:
    async with manager.transaction():
        first = await manager.save(ArtifactIn(data={"a": 1}))
        with pytest.raises(ArtifactNotFoundError):
            await manager.save(ArtifactIn(parent_id=ULID(), data={"orphan": True}))
        await manager.save(ArtifactIn(parent_id=first.id, data={"b": 2}))
    assert await manager.count() == 2


async def test_a_refused_first_write_keeps_the_transaction(manager: ArtifactManager) -> None:
    await manager.save(ArtifactIn(data={"existing": True}))  # the log is not empty
    async with manager.transaction():
        with pytest.raises(ArtifactNotFoundError):
            await manager.save(ArtifactIn(parent_id=ULID(), data={"orphan": True}))
        await manager.save(ArtifactIn(data={"after": 1}))
    assert await manager.count() == 2


async def test_replies_outside_a_transaction_are_the_callers_own(manager: ArtifactManager) -> None:
    """Outside a transaction a reply hands over the command's own data (no copy per value): editing
    it changes nothing stored, and two replies of one save_all for the same artifact share nothing."""
    saved = await manager.save(ArtifactIn(data={"b": [1], "content": {"k": [1]}}))
    saved.data["b"].append(2)
    saved.data["content"]["k"].append(2)
    again = await manager.save(ArtifactIn(id=saved.id, data={"b": [1], "content": {"k": [1]}}))
    assert again.version == 1  # the edits reached nothing the ledger compares with
    first, second = await manager.save_all(
        [ArtifactIn(id=saved.id, data={"b": [7]}), ArtifactIn(id=saved.id, data={"b": [7]})]
    )
    first.data["b"].append(8)
    assert second.data == {"b": [7]}
    stored = await manager.find_by_id(saved.id)
    assert stored is not None
    assert (stored.version, stored.data) == (2, {"b": [7]})


async def test_replies_and_inputs_never_alias_the_transactions_own_rows(manager: ArtifactManager) -> None:
    """Editing a reply, or the dict that was saved, inside a transaction changes nothing stored."""
    parent = await manager.save(ArtifactIn(data={"n": "parent"}))
    kept = await manager.save(ArtifactIn(data={"b": [1]}))
    given = {"c": [1]}
    async with manager.transaction() as txn:
        moved = await txn.move(kept.id, parent.id)
        moved.data["b"].append(2)  # the caller plays with its reply ...
        updated = await txn.save(ArtifactIn(id=kept.id, parent_id=parent.id, data={"b": [1, 2]}))
        assert updated.version == 3  # ... and a real change is still a change
        other = await txn.save(ArtifactIn(data=given))
        given["c"].append(2)  # the caller reuses the dict it saved ...
        again = await txn.save(ArtifactIn(id=other.id, data=given))
        assert again.version == 2  # ... and saving it again is an update, not a no-op
        reverted = await txn.revert(kept.id, to_version=1)
        reverted.data["b"].append(99)
        same = await txn.save(ArtifactIn(id=kept.id, data={"b": [1]}))
        assert same.version == reverted.version  # identical to the stored state: nothing appended
    stored = await manager.find_by_id(kept.id)
    assert stored is not None
    assert (stored.version, stored.data, stored.parent_id) == (4, {"b": [1]}, None)
    stored_other = await manager.find_by_id(other.id)
    assert stored_other is not None
    assert (stored_other.version, stored_other.data) == (2, {"c": [1, 2]})
