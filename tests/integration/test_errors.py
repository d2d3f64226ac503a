"""Refused writes: the right error, a message that names what is wrong, nothing written, session still usable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text
from ulid import ULID

from artifact_ledger import (
    ArtifactDeletedError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ContentTypeMismatchError,
    DataNotSerializableError,
    InvalidArtifactDataError,
    register_artifact_type,
)


async def counts(manager: ArtifactManager) -> tuple[int, ...]:
    session = manager.repo.session
    tables = ("ledger_events", "ledger_blobs", "ledger_artifacts", "ledger_artifact_closure", "ledger_checkpoints")
    return tuple([int((await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in tables])


async def refused(
    manager: ArtifactManager, error: type[Exception], call: Callable[[], Awaitable[Any]], *fragments: str
) -> Exception:
    """Run ``call``; it must raise ``error`` mentioning every fragment, change nothing, and leave the session usable."""
    before = await counts(manager)
    with pytest.raises(error) as info:
        await call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert await counts(manager) == before
    probe = await manager.save(ArtifactIn(data={"probe": True}))
    assert await manager.find_by_id(probe.id) is not None
    await manager.delete_by_id(probe.id)
    return info.value


async def test_unknown_parent(manager: ArtifactManager) -> None:
    await manager.save(ArtifactIn(data={"existing": 1}))
    missing = ULID()
    err = await refused(
        manager, ArtifactNotFoundError, lambda: manager.save(ArtifactIn(parent_id=missing, data={})), str(missing)
    )
    assert isinstance(err, ArtifactNotFoundError)
    assert err.artifact_id == str(missing)
    root = await manager.save(ArtifactIn(data={}))
    await refused(manager, ArtifactNotFoundError, lambda: manager.move(root.id, missing), str(missing))


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(datetime(2025, 1, 1, tzinfo=UTC), "datetime"), ({1, 2}, "set"), (object(), "object")],
)
async def test_non_json_metadata(manager: ArtifactManager, value: object, type_name: str) -> None:
    data = {"type": "custom", "metadata": {"run": {"started_at": value}}}
    await refused(
        manager,
        DataNotSerializableError,
        lambda: manager.save(ArtifactIn(data=data)),
        "data['metadata']['run']['started_at']",
        type_name,
        "data['content']",
    )


async def test_non_json_at_the_top(manager: ArtifactManager) -> None:
    err = await refused(manager, DataNotSerializableError, lambda: manager.save(ArtifactIn(data={"when": {1}})))
    assert "data['when']" in str(err)
    err = await refused(
        manager, DataNotSerializableError, lambda: manager.save(ArtifactIn(data=datetime(2025, 1, 1, tzinfo=UTC)))
    )
    assert "data is a datetime" in str(err)
    assert "data['content']" in str(err)
    err = await refused(manager, DataNotSerializableError, lambda: manager.save(ArtifactIn(data={"x": float("nan")})))
    assert "data['x'] is nan" in str(err)


async def test_non_json_in_update_leaves_artifact_unchanged(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"a": 1}))
    await refused(manager, DataNotSerializableError, lambda: manager.save(ArtifactIn(id=out.id, data={"a": {2}})))
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert (found.version, found.data) == (1, {"a": 1})


ML_METADATA = {
    "status": "success",
    "started_at": "2025-10-18T10:00:00Z",
    "completed_at": "2025-10-18T10:05:00Z",
    "duration_seconds": 300.0,
}


async def test_typed_data_with_invalid_metadata(manager: ArtifactManager) -> None:
    data = {"type": "ml_training_workspace", "metadata": ML_METADATA, "content": b"model"}
    await refused(
        manager, InvalidArtifactDataError, lambda: manager.save(ArtifactIn(data=data)), "config_id", "metadata"
    )
    ok = await manager.save(ArtifactIn(data={**data, "metadata": {**ML_METADATA, "config_id": "cfg"}}))
    assert ok.data["metadata"]["config_id"] == "cfg"
    assert ok.data["content"] == b"model"


class SurveyData(BaseModel):
    type: str
    respondents: int
    region: str


async def test_registered_user_schema_is_enforced(manager: ArtifactManager) -> None:
    register_artifact_type("test_errors_survey", SurveyData)
    bad = {"type": "test_errors_survey", "respondents": "many", "region": "north"}
    await refused(manager, InvalidArtifactDataError, lambda: manager.save(ArtifactIn(data=bad)), "respondents")
    missing = {"type": "test_errors_survey", "respondents": 3}
    await refused(manager, InvalidArtifactDataError, lambda: manager.save(ArtifactIn(data=missing)), "region")
    good = await manager.save(ArtifactIn(data={**missing, "region": "south"}))
    assert good.data["region"] == "south"


@pytest.mark.parametrize(
    "call",
    ["find_by_id", "exists_by_id", "delete_by_id", "move", "restore", "history", "build_tree", "get_root_artifact"],
)
async def test_malformed_ulid(manager: ArtifactManager, call: str) -> None:
    method = getattr(manager, call)
    args: tuple[object, ...] = ("not-a-ulid", None) if call == "move" else ("not-a-ulid",)
    await refused(manager, ArtifactNotFoundError, lambda: method(*args), "not-a-ulid")


async def test_malformed_parent_ulid_in_move(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={}))
    await refused(manager, ArtifactNotFoundError, lambda: manager.move(out.id, "zz"), "'zz'", "parent id")


@pytest.mark.parametrize(
    "tags",
    [[f"t{i}" for i in range(65)], ["x" * 256], ["ok", "y" * 1000]],
    ids=["too-many", "too-long", "one-too-long"],
)
async def test_bad_tags(manager: ArtifactManager, tags: list[str]) -> None:
    await refused(manager, InvalidArtifactDataError, lambda: manager.save(ArtifactIn(data={}, tags=tags)), "tag")


async def test_limits_on_tags_are_inclusive(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={}, tags=[f"{i:0255d}" for i in range(64)]))
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert len(found.tags) == 64
    assert len(found.tags[0]) == 255


async def test_content_type_mismatch(manager: ArtifactManager) -> None:
    data = {"content": "text, not bytes", "content_type": "application/octet-stream"}
    await refused(
        manager, ContentTypeMismatchError, lambda: manager.save(ArtifactIn(data=data)), "application/octet-stream"
    )


async def test_error_in_batch_keeps_earlier_writes_out(manager: ArtifactManager) -> None:
    items = [ArtifactIn(data={"n": 1, "content": b"blob"}), ArtifactIn(data={"n": {2}})]
    await refused(manager, DataNotSerializableError, lambda: manager.save_all(items))
    later = [ArtifactIn(data={"n": 1, "content": b"blob"}), ArtifactIn(parent_id=ULID(), data={})]
    await refused(manager, ArtifactNotFoundError, lambda: manager.save_all(later))


def _artifact_calls(manager: ArtifactManager, sid: str, other: ULID) -> list[Callable[[], Awaitable[Any]]]:
    """Every read and write that takes an artifact id, given ``sid``."""
    return [
        lambda: manager.history(sid),
        lambda: manager.history(sid, include_content=True),
        lambda: manager.find_by_id(sid, version=1),
        lambda: manager.find_by_id(sid, as_of=datetime.now(UTC)),
        lambda: manager.lineage(sid),
        lambda: manager.diff(sid, 1),
        lambda: manager.restore(sid),
        lambda: manager.revert(sid, to_version=1),
        lambda: manager.move(sid, None),
        lambda: manager.patch(sid, {"x": 1}),
        lambda: manager.save(ArtifactIn(id=sid, data={})),
        lambda: manager.save(ArtifactIn(parent_id=sid, data={})),
        lambda: manager.link(other, sid, "used"),
        lambda: manager.set_alias("other", sid),
    ]


async def test_ids_of_alias_and_link_streams_are_not_artifacts(manager: ArtifactManager) -> None:
    """The audit trail shows an alias's or a link's stream id as ``artifact_id``; passed back where an
    artifact id is expected it is not found (naming what it is), never a raw error or a drift alarm."""
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    b = await manager.save(ArtifactIn(data={"name": "b"}))
    await manager.link(a.id, b.id, "used")
    await manager.set_alias("prod", a.id)
    page = await manager.audit(event_type=["link.*", "alias.*"])
    streams = {e.event_type: str(e.artifact_id) for e in page.entries}
    assert set(streams) == {"link.added", "alias.set"}
    for event_type, sid in streams.items():
        kind = "a lineage link" if event_type == "link.added" else "an alias"
        for call in _artifact_calls(manager, sid, a.id):
            err = await refused(manager, ArtifactNotFoundError, call, sid, f"is the stream of {kind}")
            assert type(err) is ArtifactNotFoundError
            assert getattr(err, "artifact_id", None) == sid


async def test_moving_a_deleted_artifact_says_it_is_deleted(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    await manager.delete_by_id(a.id)
    err = await refused(manager, ArtifactDeletedError, lambda: manager.move(a.id, None), str(a.id), "restore")
    assert isinstance(err, ArtifactNotFoundError)  # what a move of a deleted artifact raised before
    await refused(manager, ArtifactNotFoundError, lambda: manager.move(ULID(), None), "not found")
