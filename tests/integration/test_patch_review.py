"""patch, from an adversarial review: a patch that changes ``content_type`` declares the content
again, as a save of the whole artifact would (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from artifact_ledger import ArtifactIn, ArtifactManager, ContentTypeMismatchError


async def test_a_patched_content_type_is_the_content_s_media_type(manager: ArtifactManager) -> None:
    saved = await manager.save(ArtifactIn(data={"content": b"a,b\n1,2\n", "content_type": "text/plain"}))
    out = await manager.patch(saved.id, {"content_type": "text/csv"})
    assert (out.version, out.data["content"]) == (2, b"a,b\n1,2\n")  # type: ignore[index]
    first, second = await manager.history(saved.id)
    assert second.content_type == "text/csv"  # was text/plain: the stored ref kept the old type
    assert second.content_hash == first.content_hash  # the same bytes: the same blob
    cleared = await manager.patch(saved.id, {"content_type": None})
    assert "content_type" not in cleared.data  # type: ignore[operator]
    assert (await manager.history(saved.id))[-1].content_type == "application/octet-stream"


async def test_a_patched_content_type_is_checked_against_the_content(manager: ArtifactManager) -> None:
    saved = await manager.save(ArtifactIn(data={"content": b"not json", "content_type": "text/plain"}))
    with pytest.raises(ContentTypeMismatchError, match="application/json"):
        await manager.patch(saved.id, {"content_type": "application/json"})
    assert len(await manager.history(saved.id)) == 1  # refused: nothing appended
    json_content = await manager.save(ArtifactIn(data={"content": {"k": [1]}}))
    pickled = await manager.patch(json_content.id, {"content_type": "application/x-pickle"})
    assert pickled.data["content"] == {"k": [1]}  # type: ignore[index]
    assert [v.content_type for v in await manager.history(json_content.id)] == [
        "application/json",
        "application/x-pickle",
    ]


async def test_a_patch_that_leaves_content_type_keeps_the_content_by_reference(manager: ArtifactManager) -> None:
    saved = await manager.save(ArtifactIn(data={"content": b"x", "content_type": "text/plain", "n": 1}))
    same_type = await manager.patch(saved.id, {"content_type": "text/plain", "n": 2})
    assert same_type.version == 2
    assert [v.content_type for v in await manager.history(saved.id)] == ["text/plain", "text/plain"]
    unchanged = await manager.patch(saved.id, {"content_type": "text/plain"})
    assert unchanged.version == 2  # a no-op patch appends nothing
