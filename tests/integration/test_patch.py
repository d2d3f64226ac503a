"""patch: RFC 7396 merge patches of data on the save path, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from artifact_ledger import (
    ArtifactDeletedError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ConcurrencyError,
    InvalidArgumentError,
)
from artifact_ledger.patching import merge_patch


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": None, "y": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"y": 1}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}  # unchanged
    assert merge_patch([1], {"a": 1}) == {"a": 1}
    assert merge_patch({"a": 1}, 5) == 5


async def test_patch_changes_only_what_it_names(manager: ArtifactManager) -> None:
    m = manager
    a = await m.save(
        ArtifactIn(data={"name": "doc", "metadata": {"status": "draft", "n": 1}, "content": b"bytes"}, tags=["t"])
    )
    out = await m.patch(a.id, {"metadata": {"status": "published", "n": None, "extra": [1]}})
    assert out.version == 2
    assert out.data == {"name": "doc", "metadata": {"status": "published", "extra": [1]}, "content": b"bytes"}
    assert out.tags == ["t"]
    history = await m.history(a.id)
    assert history[-1].content_hash == history[0].content_hash  # content kept by reference
    same = await m.patch(a.id, {"metadata": {"status": "published"}})
    assert same.version == 2  # a no-op patch appends nothing
    assert len(await m.history(a.id)) == 2
    tagged = await m.patch(a.id, {}, tags=["u"])
    assert (tagged.version, tagged.tags) == (3, ["u"])
    replaced = await m.patch(a.id, {"content": b"other"})
    assert replaced.data["content"] == b"other"  # type: ignore[index]
    removed = await m.patch(a.id, {"content": None})
    assert "content" not in removed.data  # type: ignore[operator]
    found = await m.find({"data.metadata.status": "published"})
    assert [i.id for i in found.items] == [a.id]


async def test_patch_keeps_parent_and_checks_versions(manager: ArtifactManager) -> None:
    m = manager
    root = await m.save(ArtifactIn(data={"name": "root"}))
    child = await m.save(ArtifactIn(parent_id=root.id, data={"name": "c"}))
    out = await m.patch(child.id, {"x": 1}, expected_version=1)
    assert (out.parent_id, out.level, out.version) == (root.id, 1, 2)
    with pytest.raises(ConcurrencyError):
        await m.patch(child.id, {"x": 2}, expected_version=1)
    assert (await m.find_by_id(child.id)).data == {"name": "c", "x": 1}  # type: ignore[union-attr]
    with pytest.raises(InvalidArgumentError, match="merge patch"):
        await m.patch(child.id, [1])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="expected_version"):
        await m.patch(child.id, {}, expected_version="1")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"tags\[1\] is NoneType None; tags are strings"):
        await m.patch(child.id, {}, tags=["ok", None])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match=r"tags\[0\] is int 1"):
        await m.patch(child.id, {}, tags=[1])  # type: ignore[list-item]
    with pytest.raises(ArtifactNotFoundError):
        await m.patch("01ARZ3NDEKTSV4RRFFQ69G5FAV", {"x": 1})
    await m.delete_by_id(child.id)
    with pytest.raises(ArtifactDeletedError):
        await m.patch(child.id, {"x": 3})
    assert len(await m.history(child.id)) == 3
