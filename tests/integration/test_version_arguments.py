"""Version arguments of the wrong type or range are refused up front, with a message saying why."""

from __future__ import annotations

from typing import Any

import pytest

from artifact_ledger import ArtifactIn, ArtifactManager, InvalidArgumentError

BAD = ["1", 1.0, True, -1, 2**31, 2**63, None.__class__]


@pytest.mark.parametrize("bad", BAD)
async def test_expected_version_must_be_an_int_version(manager: ArtifactManager, bad: Any) -> None:
    root = await manager.save(ArtifactIn(data={"n": 0}))
    leaf = await manager.save(ArtifactIn(data={"n": 1}))
    calls = [
        lambda: manager.save(ArtifactIn(id=leaf.id, data={"n": 2}), expected_version=bad),
        lambda: manager.move(leaf.id, root.id, expected_version=bad),
        lambda: manager.delete_by_id(leaf.id, expected_version=bad),
        lambda: manager.revert(leaf.id, to_version=1, expected_version=bad),
        lambda: manager.revert(leaf.id, to_version=bad),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError) as caught:
            await call()
        assert "version" in str(caught.value)
        assert repr(bad) in str(caught.value) or str(bad) in str(caught.value)
    after = await manager.find_by_id(leaf.id)
    assert after is not None
    assert (after.version, after.parent_id, after.data) == (1, None, {"n": 1})  # nothing was written


async def test_a_string_version_no_longer_reads_as_a_mismatch(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"n": 0}))
    with pytest.raises(InvalidArgumentError, match="not str '1'"):
        await manager.save(ArtifactIn(id=out.id, data={"n": 1}), expected_version="1")  # type: ignore[arg-type]
    assert (await manager.save(ArtifactIn(id=out.id, data={"n": 1}), expected_version=1)).version == 2
