"""chapkit's update semantics: saving an existing id changes only the fields the ArtifactIn sets."""

from __future__ import annotations

from artifact_ledger import ArtifactIn, ArtifactManager


async def test_an_update_without_parent_id_keeps_the_parent(manager: ArtifactManager) -> None:
    root = await manager.save(ArtifactIn(data={"name": "root"}))
    child = await manager.save(ArtifactIn(parent_id=root.id, data={"v": 1}))
    updated = await manager.save(ArtifactIn(id=child.id, data={"v": 2}))
    assert updated.parent_id == root.id
    assert updated.level == 1
    assert [v.event_type for v in await manager.history(child.id)] == ["artifact.created", "artifact.updated"]
    stored = await manager.find_by_id(child.id)
    assert stored is not None
    assert stored.parent_id == root.id
    assert stored.data == {"v": 2}


async def test_an_explicit_parent_id_none_moves_to_the_root(manager: ArtifactManager) -> None:
    root = await manager.save(ArtifactIn(data={"name": "root"}))
    child = await manager.save(ArtifactIn(parent_id=root.id, data={"v": 1}))
    moved = await manager.save(ArtifactIn(id=child.id, parent_id=None, data={"v": 1}))
    assert moved.parent_id is None
    assert moved.level == 0
    assert [v.event_type for v in await manager.history(child.id)][-1] == "artifact.moved"


async def test_unset_tags_are_kept_and_explicit_empty_tags_clear_them(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"v": 1}, tags=["a", "b"]))
    kept = await manager.save(ArtifactIn(id=out.id, data={"v": 2}))
    assert kept.tags == ["a", "b"]
    cleared = await manager.save(ArtifactIn(id=out.id, data={"v": 2}, tags=[]))
    assert cleared.tags == []
    assert cleared.version == 3


async def test_unset_data_keeps_data_and_content(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"name": "model", "content": b"weights"}, tags=["x"]))
    retagged = await manager.save(ArtifactIn(id=out.id, tags=["x", "y"]))
    assert retagged.data == {"name": "model", "content": b"weights"}
    assert retagged.tags == ["x", "y"]
    stored = await manager.find_by_id(out.id)
    assert stored is not None
    assert stored.data == {"name": "model", "content": b"weights"}
    # Nothing set beyond the id: nothing changes, and no version is appended.
    same = await manager.save(ArtifactIn(id=out.id))
    assert same.version == retagged.version


async def test_save_all_updates_keep_unset_fields_too(manager: ArtifactManager) -> None:
    root = await manager.save(ArtifactIn(data={"name": "root"}))
    a = await manager.save(ArtifactIn(parent_id=root.id, data={"v": 1}, tags=["t"]))
    (updated,) = await manager.save_all([ArtifactIn(id=a.id, data={"v": 2})])
    assert updated.parent_id == root.id
    assert updated.tags == ["t"]
    assert updated.data == {"v": 2}


async def test_a_new_artifact_with_a_client_id_uses_the_defaults(manager: ArtifactManager) -> None:
    from ulid import ULID

    aid = ULID()
    out = await manager.save(ArtifactIn(id=aid, data={"v": 1}))
    assert out.parent_id is None
    assert out.tags == []
    assert out.level == 0
