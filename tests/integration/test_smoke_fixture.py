from artifact_ledger import ArtifactIn, ArtifactManager


async def test_save_and_find(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"a": 1}))
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert found.data == {"a": 1}
