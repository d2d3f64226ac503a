"""diff(id, v1, v2): structured and printable; revert(id, to_version=n): a new version equal to version n."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from artifact_ledger import (
    ArtifactDeletedError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ConcurrencyError,
    InvalidMoveError,
    Ledger,
    VersionNotFoundError,
)
from artifact_ledger.schemas import ArtifactDiff, PatchOperation, ValueChange
from ledger_support import SECRET


async def event_count(manager: ArtifactManager) -> int:
    return int((await manager.repo.session.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def test_diff_reports_every_kind_of_change(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    b = await manager.save(ArtifactIn(parent_id=a.id, data={"name": "b"}))
    doc = await manager.save(
        ArtifactIn(parent_id=a.id, data={"title": "Plan", "metrics": {"f1": 0.71, "old": 1}, "content": b"abc"})
    )
    await manager.save(
        ArtifactIn(
            id=doc.id,
            parent_id=a.id,
            data={"title": "Plan", "metrics": {"f1": 0.74, "new": True}, "content": b"abcdef"},
            tags=["final"],
        )
    )
    await manager.move(doc.id, b.id)

    diff = await manager.diff(doc.id, 1, 3)
    assert isinstance(diff, ArtifactDiff)
    assert (diff.artifact_id, diff.from_version, diff.to_version) == (doc.id, 1, 3)
    assert diff.data == [
        PatchOperation(op="remove", path="/metrics/old", old=1),
        PatchOperation(op="replace", path="/metrics/f1", old=0.71, value=0.74),
        PatchOperation(op="add", path="/metrics/new", value=True),
    ]
    assert diff.content is not None
    assert (diff.content.old_size, diff.content.new_size) == (3, 6)
    assert diff.content.old_hash != diff.content.new_hash
    assert diff.parent == ValueChange(old=a.id, new=b.id)
    assert diff.level == ValueChange(old=1, new=2)
    assert diff.tags == ValueChange(old=[], new=["final"])
    assert diff.deleted is None
    assert diff.changed

    rendered = str(diff)
    assert rendered.splitlines()[0] == f"artifact {doc.id}: version 1 -> 3"
    for line in (
        f"parent: {a.id} -> {b.id}",
        "level: 1 -> 2",
        "tags: [] -> ['final']",
        "  ~ /metrics/f1: 0.71 -> 0.74",
        "  - /metrics/old: 1",
        "  + /metrics/new: True",
    ):
        assert line in rendered.splitlines(), rendered
    assert "(3 bytes, application/octet-stream) -> sha256:" in rendered

    latest = await manager.diff(doc.id, 2)  # v2 defaults to the latest version
    assert latest.to_version == 3
    assert latest.data == []
    assert latest.content is None
    assert latest.parent == ValueChange(old=a.id, new=b.id)
    backwards = await manager.diff(doc.id, 3, 1)
    assert backwards.parent == ValueChange(old=b.id, new=a.id)
    same = await manager.diff(doc.id, 2, 2)
    assert not same.changed
    assert str(same) == f"artifact {doc.id}: version 2 -> 2: no changes"


async def test_diff_across_a_deletion(manager: ArtifactManager) -> None:
    doc = await manager.save(ArtifactIn(data={"n": 1}))
    await manager.delete_by_id(doc.id)
    diff = await manager.diff(doc.id, 1, 2)
    assert diff.deleted == ValueChange(old=False, new=True)
    assert diff.level == ValueChange(old=0, new=None)
    assert diff.data == []
    assert "deleted: False -> True" in str(diff)


async def test_diff_bad_versions(manager: ArtifactManager) -> None:
    doc = await manager.save(ArtifactIn(data={"n": 1}))
    await manager.save(ArtifactIn(id=doc.id, data={"n": 2}))
    with pytest.raises(VersionNotFoundError, match=r"no version 5.*latest 2"):
        await manager.diff(doc.id, 1, 5)
    with pytest.raises(VersionNotFoundError, match=r"no version 0"):
        await manager.diff(doc.id, 0)
    with pytest.raises(ArtifactNotFoundError):
        await manager.diff(ULID(), 1, 2)
    with pytest.raises(TypeError):
        await manager.diff(doc.id, "1")  # type: ignore[arg-type]


async def test_revert_appends_a_version_equal_to_the_old_one(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    b = await manager.save(ArtifactIn(data={"name": "b"}))
    doc = await manager.save(ArtifactIn(parent_id=a.id, data={"v": 1, "content": b"first"}, tags=["one"]))
    kid = await manager.save(ArtifactIn(parent_id=doc.id, data={"kid": True}))
    await manager.save(ArtifactIn(id=doc.id, parent_id=a.id, data={"v": 2, "content": b"second"}, tags=[]))
    await manager.move(doc.id, b.id)
    assert (await manager.find_by_id(kid.id)).level == 2  # type: ignore[union-attr]

    out = await manager.revert(doc.id, to_version=1, reason="bad edit", actor="ann")
    assert (out.version, out.data, out.tags, out.parent_id, out.level) == (
        4,
        {"v": 1, "content": b"first"},
        ["one"],
        a.id,
        1,
    )
    assert (out.updated_by, out.created_at) == ("ann", doc.created_at)
    assert (await manager.find_by_id(kid.id)).level == 2  # type: ignore[union-attr]
    assert [n.id for n in await manager.find_subtree(a.id)] == [a.id, doc.id, kid.id]
    history = await manager.history(doc.id)
    assert [v.event_type for v in history] == [
        "artifact.created",
        "artifact.updated",
        "artifact.moved",
        "artifact.reverted",
    ]
    assert (history[-1].reverted_to, history[-1].reason, history[-1].actor) == (1, "bad edit", "ann")
    assert history[-1].content_hash == history[0].content_hash
    assert not (await manager.diff(doc.id, 1, 4)).changed
    v1 = await manager.find_by_id(doc.id, version=1)
    assert v1 is not None
    assert (v1.data, v1.parent_id) == (out.data, out.parent_id)

    count = await event_count(manager)
    again = await manager.revert(doc.id, to_version=1)  # the current state: nothing appended
    assert again.version == 4
    assert await event_count(manager) == count
    await manager.revert(doc.id, to_version=4)  # the current version itself
    assert await event_count(manager) == count

    back = await manager.revert(doc.id, to_version=3)  # revert the revert
    assert (back.version, back.data, back.parent_id, back.tags) == (5, {"v": 2, "content": b"second"}, b.id, [])


async def test_revert_only_data_keeps_parent(manager: ArtifactManager) -> None:
    doc = await manager.save(ArtifactIn(data={"v": 1}))
    await manager.save(ArtifactIn(id=doc.id, data={"v": 2}))
    out = await manager.revert(doc.id, to_version=1, expected_version=2)
    assert (out.version, out.data, out.parent_id) == (3, {"v": 1}, None)


async def test_revert_refusals(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    doc = await manager.save(ArtifactIn(parent_id=a.id, data={"v": 1}))
    await manager.move(doc.id, None)
    await manager.save(ArtifactIn(id=doc.id, data={"v": 2}))
    with pytest.raises(VersionNotFoundError, match=r"no version 9.*latest 3"):
        await manager.revert(doc.id, to_version=9)
    with pytest.raises(VersionNotFoundError, match="latest 3"):
        await manager.revert(doc.id, to_version=0)
    with pytest.raises(ConcurrencyError, match="expected version 1"):
        await manager.revert(doc.id, to_version=1, expected_version=1)
    with pytest.raises(TypeError):
        await manager.revert(doc.id, to_version="1")  # type: ignore[arg-type]
    with pytest.raises(ArtifactNotFoundError):
        await manager.revert(ULID(), to_version=1)

    await manager.move(a.id, doc.id)  # version 1's parent is now below doc
    with pytest.raises(InvalidMoveError, match="descendants"):
        await manager.revert(doc.id, to_version=1)
    await manager.move(a.id, None)
    await manager.delete_by_id(a.id)  # version 1's parent is now deleted
    with pytest.raises(ArtifactNotFoundError, match=f"restore {a.id} first"):
        await manager.revert(doc.id, to_version=1)
    await manager.restore(a.id)
    assert (await manager.revert(doc.id, to_version=1)).parent_id == a.id

    gone = await manager.save(ArtifactIn(data={"v": 1}))
    await manager.delete_by_id(gone.id)
    with pytest.raises(ArtifactDeletedError, match="restore"):
        await manager.revert(gone.id, to_version=1)
    await manager.restore(gone.id)
    with pytest.raises(VersionNotFoundError, match="is its deletion"):
        await manager.revert(gone.id, to_version=2)


async def test_revert_in_a_transaction_and_rebuild(manager: ArtifactManager, engine: AsyncEngine) -> None:
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    b = await manager.save(ArtifactIn(data={"name": "b"}))
    async with manager.transaction():
        doc = await manager.save(ArtifactIn(parent_id=a.id, data={"v": 1}))
        await manager.save(ArtifactIn(id=doc.id, parent_id=b.id, data={"v": 2}))
        out = await manager.revert(doc.id, to_version=1)
        assert (out.version, out.parent_id, out.data) == (4, a.id, {"v": 1})
    await manager.repo.session.commit()
    sql = "SELECT * FROM ledger_artifact_parent_history ORDER BY artifact_id, valid_from"
    async with engine.connect() as conn:
        live = [tuple(r) for r in (await conn.execute(text(sql))).all()]
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).ok  # reverted events chain, fold and project like any other
        assert await ledger.rebuild() == 6
    async with engine.connect() as conn:
        assert [tuple(r) for r in (await conn.execute(text(sql))).all()] == live
    assert (await manager.find_by_id(doc.id)).version == 4  # type: ignore[union-attr]
