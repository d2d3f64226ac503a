"""ArtifactManager contract on every backend: save, save_all, reads, trees, delete/restore, move, versions."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from artifact_ledger import (
    ArtifactDeletedError,
    ArtifactHasChildrenError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactOut,
    ArtifactRepository,
    ArtifactTreeNode,
    ConcurrencyError,
    DataFrame,
    InvalidMoveError,
)
from artifact_ledger.store.postgres import PostgresRecorder
from artifact_ledger.store.recorder import Recorder
from artifact_ledger.store.sqlite import SqliteRecorder
from ledger_support import SECRET
from statement_log import statements_seen


async def scalar(session: AsyncSession, sql: str) -> int:
    return int((await session.execute(text(sql))).scalar_one())


async def event_count(session: AsyncSession) -> int:
    return await scalar(session, "SELECT count(*) FROM ledger_events")


def count_commits(manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-element list counting commits from now on: the session's, and those of commands that
    ran on a pooled connection of their own (the session was idle)."""
    counter = [0]

    def bump(_session: object) -> None:
        counter[0] += 1

    event.listen(session_of(manager).sync_session, "after_commit", bump)
    for cls in (SqliteRecorder, PostgresRecorder):
        original = cls.commit_after

        async def counted(self: Recorder, steps: Any, original: Any = original) -> None:
            counter[0] += 1
            await original(self, steps)

        monkeypatch.setattr(cls, "commit_after", counted)
    return counter


def session_of(manager: ArtifactManager) -> AsyncSession:
    return manager.repo.session


def recorded_statements(manager: ArtifactManager) -> AbstractContextManager[list[str]]:
    """Every SQL statement the manager's engine runs inside the block."""
    return statements_seen(session_of(manager).sync_session.get_bind())  # type: ignore[arg-type]


async def chain(manager: ArtifactManager, depth: int) -> list[ArtifactOut]:
    """A path root -> ... of ``depth`` artifacts."""
    outs: list[ArtifactOut] = []
    for i in range(depth):
        parent = outs[-1].id if outs else None
        outs.append(await manager.save(ArtifactIn(parent_id=parent, data={"n": i})))
    return outs


# ---- save ---------------------------------------------------------------------------------------------
async def test_save_creates_at_level_0_version_1(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"a": 1}), actor="alice")
    assert (out.level, out.version, out.parent_id, out.data) == (0, 1, None, {"a": 1})
    assert out.created_at.utcoffset() == timedelta(0)
    assert out.updated_at.tzinfo is not None
    assert (out.created_by, out.updated_by) == ("alice", "alice")
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert found.created_at.utcoffset() == timedelta(0)
    assert found.created_at == out.created_at
    assert (found.version, found.created_by, found.updated_by) == (1, "alice", "alice")


async def test_save_existing_id_updates(manager: ArtifactManager) -> None:
    first = await manager.save(ArtifactIn(data={"a": 1}), actor="alice")
    second = await manager.save(ArtifactIn(id=first.id, data={"a": 2}), actor="bob")
    assert (second.id, second.version, second.data) == (first.id, 2, {"a": 2})
    assert (second.created_by, second.updated_by) == ("alice", "bob")
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    found = await manager.find_by_id(first.id)
    assert found is not None
    assert found.data == {"a": 2}
    assert found.version == 2
    assert await manager.count() == 1


async def test_identical_save_appends_nothing(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"a": [1, 2]}, tags=["x"]))
    before = await event_count(session_of(manager))
    again = await manager.save(ArtifactIn(id=out.id, data={"a": [1, 2]}, tags=["x"]))
    assert again.version == 1
    assert await event_count(session_of(manager)) == before == 1
    retagged = await manager.save(ArtifactIn(id=out.id, data={"a": [1, 2]}, tags=["y"]))
    assert retagged.version == 2
    assert retagged.tags == ["y"]


async def test_client_assigned_id(manager: ArtifactManager) -> None:
    chosen = ULID()
    out = await manager.save(ArtifactIn(id=chosen, data={"k": "v"}))
    assert out.id == chosen
    assert out.version == 1
    by_str = await manager.find_by_id(str(chosen))
    assert by_str is not None
    assert by_str.id == chosen
    assert await manager.exists_by_id(chosen)


async def test_level_in_input_is_ignored(manager: ArtifactManager) -> None:
    root = await manager.save(ArtifactIn(data={}, level=5))
    child = await manager.save(ArtifactIn(parent_id=root.id, data={}, level=0))
    assert (root.level, child.level) == (0, 1)
    found = await manager.find_by_id(child.id)
    assert found is not None
    assert found.level == 1


async def test_save_with_new_parent_moves_and_updates(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    b = await manager.save(ArtifactIn(data={"name": "b"}))
    child = await manager.save(ArtifactIn(parent_id=a.id, data={"v": 1}))
    moved = await manager.save(ArtifactIn(id=child.id, parent_id=b.id, data={"v": 1}))
    assert (moved.parent_id, moved.version, moved.level) == (b.id, 2, 1)
    both = await manager.save(ArtifactIn(id=child.id, parent_id=None, data={"v": 2}))
    assert (both.parent_id, both.version, both.level, both.data) == (None, 4, 0, {"v": 2})
    types = [v.event_type for v in await manager.history(child.id)]
    assert types == ["artifact.created", "artifact.moved", "artifact.moved", "artifact.updated"]


# ---- save_all ------------------------------------------------------------------------------------------
async def test_save_all_is_one_transaction_with_in_batch_parents(
    manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = count_commits(manager, monkeypatch)
    root_id, child_id = ULID(), ULID()
    outs = await manager.save_all(
        [
            ArtifactIn(id=root_id, data={"r": 1}),
            ArtifactIn(id=child_id, parent_id=root_id, data={"c": 1}),
            ArtifactIn(parent_id=child_id, data={"g": 1}),
        ]
    )
    assert [o.level for o in outs] == [0, 1, 2]
    assert outs[2].parent_id == child_id
    assert await manager.count() == 3
    assert commits == [1]


async def test_save_all_failure_writes_nothing(manager: ArtifactManager) -> None:
    await manager.save(ArtifactIn(data={"seed": True}))
    before = await event_count(session_of(manager))
    missing = ULID()
    with pytest.raises(ArtifactNotFoundError, match=str(missing)):
        await manager.save_all(
            [ArtifactIn(data={"a": 1}), ArtifactIn(data={"b": 2}), ArtifactIn(parent_id=missing, data={})]
        )
    assert await event_count(session_of(manager)) == before
    assert await manager.count() == 1
    assert await scalar(session_of(manager), "SELECT count(*) FROM ledger_artifact_closure") == 1
    out = await manager.save(ArtifactIn(data={"after": True}))
    assert out.version == 1
    assert await manager.count() == 2


# ---- reads ------------------------------------------------------------------------------------------------
async def test_find_all_paginated_count_exists(manager: ArtifactManager) -> None:
    ids = sorted([ULID() for _ in range(5)])
    for aid in reversed(ids):
        await manager.save(ArtifactIn(id=aid, data={"id": str(aid)}))
    assert [o.id for o in await manager.find_all()] == ids
    page, total = await manager.find_paginated(2, 2)
    assert [o.id for o in page] == ids[2:4]
    assert total == 5
    last, total = await manager.find_paginated(3, 2)
    assert [o.id for o in last] == ids[4:]
    assert total == 5
    assert await manager.count() == 5
    assert await manager.exists_by_id(ids[0])
    assert not await manager.exists_by_id(ULID())
    assert await manager.find_by_id(ULID()) is None
    found = await manager.find_all_by_id([ids[3], ids[1], ULID()])
    assert [o.id for o in found] == [ids[1], ids[3]]


async def test_iter_all_streams_every_live_artifact_in_id_order_page_by_page(manager: ArtifactManager) -> None:
    ids = sorted([ULID() for _ in range(7)])
    for aid in reversed(ids):
        await manager.save(ArtifactIn(id=aid, data={"id": str(aid), "content": b"blob-" + str(aid).encode()}))
    await manager.delete_by_id(ids[3])
    live = ids[:3] + ids[4:]
    with recorded_statements(manager) as statements:
        streamed = [o async for o in manager.iter_all(include_content=False, page_size=2)]
    assert [o.id for o in streamed] == live
    assert all("content" not in o.data for o in streamed)
    # 6 live artifacts in pages of 2: three full pages and one empty page that ends the listing.
    assert len(statements) == 4
    assert not [s for s in statements if "ledger_blobs" in s]
    with_content = [o async for o in manager.iter_all(page_size=4)]
    assert [o.id for o in with_content] == live
    assert [o.data["content"] for o in with_content] == [b"blob-" + str(i).encode() for i in live]
    assert [o.model_dump() for o in with_content] == [o.model_dump() for o in await manager.find_all()]


async def test_iter_all_sees_writes_of_an_open_transaction(manager: ArtifactManager) -> None:
    async with manager.transaction() as txn:
        saved = [await txn.save(ArtifactIn(data={"n": i})) for i in range(3)]
        assert [o.id async for o in txn.iter_all(page_size=1)] == [o.id for o in saved]


async def test_subtree_tree_expand_root(manager: ArtifactManager) -> None:
    root = await manager.save(ArtifactIn(data={"n": "root"}))
    kids = [await manager.save(ArtifactIn(id=i, parent_id=root.id, data={})) for i in sorted([ULID(), ULID()])]
    leaf = await manager.save(ArtifactIn(parent_id=kids[0].id, data={"n": "leaf"}))
    await manager.save(ArtifactIn(data={"n": "other root"}))

    subtree = await manager.find_subtree(root.id)
    assert [n.id for n in subtree] == [root.id, kids[0].id, kids[1].id, leaf.id]

    tree = await manager.build_tree(root.id)
    assert isinstance(tree, ArtifactTreeNode)
    assert tree.id == root.id
    assert (tree.level_label, tree.hierarchy) == ("training", "ml_pipeline")
    assert tree.children is not None
    assert [c.id for c in tree.children] == [k.id for k in kids]
    first, second = tree.children
    assert first.level_label == "prediction"
    assert second.children == []
    assert first.children is not None
    assert [c.id for c in first.children] == [leaf.id]
    assert first.children[0].level_label == "evaluation"
    assert first.children[0].children == []
    assert await manager.build_tree(ULID()) is None

    node = await manager.expand_artifact(leaf.id)
    assert node is not None
    assert node.children is None
    assert node.level_label == "evaluation"
    assert node.hierarchy == "ml_pipeline"
    top = await manager.get_root_artifact(leaf.id)
    assert top is not None
    assert top.id == root.id
    self_root = await manager.get_root_artifact(root.id)
    assert self_root is not None
    assert self_root.id == root.id


async def test_include_content_false_skips_content(manager: ArtifactManager) -> None:
    root = await manager.save(ArtifactIn(data={"name": "r", "content": b"\x00\x01"}))
    await manager.save(ArtifactIn(parent_id=root.id, data={"name": "c", "content": {"x": 1}}))
    with recorded_statements(manager) as statements:
        listed = await manager.find_all(include_content=False)
        tree = await manager.build_tree(root.id, include_content=False)
        one = await manager.find_by_id(root.id, include_content=False)
        page, _ = await manager.find_paginated(1, 10, include_content=False)
    assert statements
    assert not [s for s in statements if "ledger_blobs" in s]
    assert all("content" not in o.data for o in [*listed, *page])
    assert tree is not None
    assert "content" not in tree.data
    assert tree.children is not None
    assert "content" not in tree.children[0].data
    assert one is not None
    assert one.data == {"name": "r"}
    full = await manager.find_by_id(root.id)
    assert full is not None
    assert full.data == {"name": "r", "content": b"\x00\x01"}


# ---- delete / restore ----------------------------------------------------------------------------------
async def test_delete_unknown_is_noop_and_leaf_delete(manager: ArtifactManager) -> None:
    await manager.delete_by_id(ULID())
    assert await event_count(session_of(manager)) == 0
    root = await manager.save(ArtifactIn(data={}))
    leaf = await manager.save(ArtifactIn(parent_id=root.id, data={}))
    await manager.delete_by_id(leaf.id)
    assert await manager.find_by_id(leaf.id) is None
    assert not await manager.exists_by_id(leaf.id)
    assert await manager.count() == 1
    tree = await manager.build_tree(root.id)
    assert tree is not None
    assert tree.children == []
    await manager.delete_by_id(leaf.id)  # already deleted: no-op
    assert await event_count(session_of(manager)) == 3


async def test_delete_with_children_needs_cascade(manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch) -> None:
    root, mid, leaf = await chain(manager, 3)
    before = await event_count(session_of(manager))
    with pytest.raises(ArtifactHasChildrenError) as err:
        await manager.delete_by_id(root.id)
    message = str(err.value)
    assert str(root.id) in message
    assert str(mid.id) in message
    assert "cascade=True" in message
    assert await event_count(session_of(manager)) == before
    commits = count_commits(manager, monkeypatch)
    await manager.delete_by_id(root.id, cascade=True, actor="carol")
    assert commits == [1]
    assert await manager.count() == 0
    assert await scalar(session_of(manager), "SELECT count(*) FROM ledger_artifact_closure") == 0
    rows = await session_of(manager).execute(text("SELECT actor FROM ledger_events WHERE type = 'artifact.deleted'"))
    assert rows.scalars().all() == ["carol"] * 3
    assert await manager.find_all() == []
    assert await manager.find_all_by_id([root.id, leaf.id]) == []
    assert await manager.find_subtree(root.id) == []
    assert await manager.get_root_artifact(leaf.id) is None
    assert await manager.expand_artifact(mid.id) is None
    for artifact in (root, mid, leaf):
        history = await manager.history(artifact.id)
        assert history[-1].event_type == "artifact.deleted"
        assert history[-1].deleted


async def test_restore(manager: ArtifactManager) -> None:
    root, child = await chain(manager, 2)
    await manager.save(ArtifactIn(id=child.id, parent_id=root.id, data={"n": 9}, tags=["t"]))
    await manager.delete_by_id(root.id, cascade=True)
    with pytest.raises(ArtifactDeletedError, match=str(child.id)):
        await manager.save(ArtifactIn(id=child.id, parent_id=root.id, data={"n": 10}))
    with pytest.raises(ArtifactNotFoundError, match=str(root.id)) as err:
        await manager.restore(child.id)
    assert err.value.artifact_id == str(root.id)
    back = await manager.restore(root.id)
    assert (back.id, back.version, back.level) == (root.id, 3, 0)
    assert back.created_at == root.created_at
    kid = await manager.restore(child.id)
    assert (kid.data, kid.tags, kid.level, kid.version) == ({"n": 9}, ["t"], 1, 4)
    assert [v.event_type for v in await manager.history(child.id)] == [
        "artifact.created",
        "artifact.updated",
        "artifact.deleted",
        "artifact.restored",
    ]
    tree = await manager.build_tree(root.id)
    assert tree is not None
    assert tree.children is not None
    assert [c.id for c in tree.children] == [child.id]
    with pytest.raises(ArtifactNotFoundError):
        await manager.restore(ULID())


# ---- move -----------------------------------------------------------------------------------------------
async def closure_rows(session: AsyncSession) -> set[tuple[str, str, int]]:
    rows = await session.execute(text("SELECT ancestor_id, descendant_id, depth FROM ledger_artifact_closure"))
    return {(r[0], r[1], int(r[2])) for r in rows.all()}


async def transitive_closure(session: AsyncSession) -> set[tuple[str, str, int]]:
    rows = await session.execute(text("SELECT id, parent_id FROM ledger_artifacts"))
    parents: dict[str, str | None] = {r[0]: r[1] for r in rows.all()}
    expected: set[tuple[str, str, int]] = set()
    for node in parents:
        current: str | None = node
        depth = 0
        while current is not None:
            expected.add((current, node, depth))
            current, depth = parents[current], depth + 1
    return expected


async def levels(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(text("SELECT id, level FROM ledger_artifacts"))
    return {r[0]: int(r[1]) for r in rows.all()}


async def test_move_recomputes_levels_and_closure(manager: ArtifactManager) -> None:
    a = await chain(manager, 4)  # a0 > a1 > a2 > a3
    b = await chain(manager, 2)  # b0 > b1
    session = session_of(manager)
    moved = await manager.move(a[1].id, b[1].id)  # a1 (with a2, a3) under b1
    assert (moved.parent_id, moved.level, moved.version) == (b[1].id, 2, 2)
    lv = await levels(session)
    assert [lv[str(x.id)] for x in a] == [0, 2, 3, 4]
    assert await closure_rows(session) == await transitive_closure(session)
    root = await manager.get_root_artifact(a[3].id)
    assert root is not None
    assert root.id == b[0].id

    to_root = await manager.move(a[2].id, None)
    assert (to_root.parent_id, to_root.level) == (None, 0)
    lv = await levels(session)
    assert (lv[str(a[2].id)], lv[str(a[3].id)], lv[str(a[1].id)]) == (0, 1, 2)
    assert await closure_rows(session) == await transitive_closure(session)
    assert [n.id for n in await manager.find_subtree(a[2].id)] == [a[2].id, a[3].id]
    same = await manager.move(a[2].id, None)
    assert same.version == to_root.version  # no change, no event


async def test_invalid_moves(manager: ArtifactManager) -> None:
    a0, a1, a2 = await chain(manager, 3)
    before = await event_count(session_of(manager))
    with pytest.raises(InvalidMoveError, match=str(a0.id)):
        await manager.move(a0.id, a0.id)
    with pytest.raises(InvalidMoveError, match=str(a2.id)):
        await manager.move(a0.id, a2.id)
    with pytest.raises(InvalidMoveError, match=str(a1.id)):
        await manager.save(ArtifactIn(id=a0.id, parent_id=a1.id, data={"n": 0}))
    with pytest.raises(InvalidMoveError):
        await manager.save(ArtifactIn(id=a1.id, parent_id=a1.id, data={"n": 1}))
    with pytest.raises(ArtifactNotFoundError):
        await manager.move(a1.id, ULID())
    assert await event_count(session_of(manager)) == before
    assert await closure_rows(session_of(manager)) == await transitive_closure(session_of(manager))


# ---- expected_version ------------------------------------------------------------------------------------
def check_conflict(err: ConcurrencyError, artifact: ULID, expected: int, actual: int) -> None:
    message = str(err)
    assert str(artifact) in message
    assert str(expected) in message
    assert str(actual) in message
    assert (err.expected, err.actual) == (expected, actual)


async def test_expected_version_on_save_move_delete(manager: ArtifactManager) -> None:
    parent = await manager.save(ArtifactIn(data={}))
    out = await manager.save(ArtifactIn(data={"v": 1}))
    updated = await manager.save(ArtifactIn(id=out.id, data={"v": 2}), expected_version=1)
    assert updated.version == 2
    with pytest.raises(ConcurrencyError) as err:
        await manager.save(ArtifactIn(id=out.id, data={"v": 3}), expected_version=1)
    check_conflict(err.value, out.id, 1, 2)
    with pytest.raises(ConcurrencyError) as err:
        await manager.move(out.id, parent.id, expected_version=7)
    check_conflict(err.value, out.id, 7, 2)
    moved = await manager.move(out.id, parent.id, expected_version=2)
    assert moved.version == 3
    with pytest.raises(ConcurrencyError) as err:
        await manager.delete_by_id(out.id, expected_version=2)
    check_conflict(err.value, out.id, 2, 3)
    assert await manager.exists_by_id(out.id)
    await manager.delete_by_id(out.id, expected_version=3)
    assert not await manager.exists_by_id(out.id)
    created = await manager.save(ArtifactIn(id=ULID(), data={}), expected_version=0)
    assert created.version == 1


async def test_timestamps_are_utc(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={}))
    for artifact in (out, await manager.find_by_id(out.id)):
        assert artifact is not None
        assert artifact.created_at.tzinfo is not None
        assert artifact.created_at.astimezone(UTC) == artifact.created_at
    history = await manager.history(out.id)
    assert history[0].recorded_at.utcoffset() == timedelta(0)


# ---- content ------------------------------------------------------------------------------------------------
def _content(kind: str) -> tuple[object, str | None]:
    import numpy as np
    import pandas as pd

    if kind == "bytes":
        return b"\x00raw\xff", None
    if kind == "ledger-dataframe":
        return DataFrame(columns=["a", "b"], data=[[1, "x"], [2, "y"]]), None
    if kind == "json":
        return {"nested": {"list": [1, 2.5, None, "s"]}, "flag": True}, None
    if kind == "numpy":
        return np.arange(12, dtype=np.float32).reshape(3, 4), None
    if kind == "pandas":
        return pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}), None
    if kind == "chapkit-dict":
        return {"columns": ["p"], "data": [[1.5]]}, "application/vnd.chapkit.dataframe+json"
    raise AssertionError(kind)


def _same(kind: str, got: object, want: object) -> None:
    import numpy as np
    import pandas as pd

    assert type(got) is type(want)
    if kind == "numpy":
        assert isinstance(got, np.ndarray)
        assert isinstance(want, np.ndarray)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    elif kind == "pandas":
        assert isinstance(got, pd.DataFrame)
        assert isinstance(want, pd.DataFrame)
        pd.testing.assert_frame_equal(got, want)
    else:
        assert got == want


CONTENT_KINDS = ["bytes", "ledger-dataframe", "json", "numpy", "pandas", "chapkit-dict"]


@pytest.mark.parametrize("kind", CONTENT_KINDS)
async def test_content_round_trips_with_its_type(manager: ArtifactManager, kind: str) -> None:
    content, content_type = _content(kind)
    root = await manager.save(ArtifactIn(data={"name": "root"}))
    data = {"name": kind, "content": content, "content_type": content_type}
    out = await manager.save(ArtifactIn(parent_id=root.id, data=data))
    _same(kind, out.data["content"], content)
    found = await manager.find_by_id(out.id)
    assert found is not None
    _same(kind, found.data["content"], content)
    assert found.data["content_type"] == content_type
    tree = await manager.build_tree(root.id)
    assert tree is not None
    assert tree.children is not None
    _same(kind, tree.children[0].data["content"], content)
    subtree = await manager.find_subtree(root.id)
    _same(kind, subtree[1].data["content"], content)
    listed = await manager.find_all()
    _same(kind, listed[1].data["content"], content)


async def test_pickled_model_still_predicts(manager: ArtifactManager) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LinearRegression().fit(x, 2 * x[:, 0] + 1)
    data = {"type": "generic", "metadata": {}, "content": model, "content_type": "application/x-pickle"}
    out = await manager.save(ArtifactIn(data=data))
    codec_name = await session_of(manager).execute(text("SELECT content_codec, content_type FROM ledger_artifacts"))
    assert codec_name.one() == ("pickle", "application/x-pickle")
    for read in (await manager.find_by_id(out.id), await manager.build_tree(out.id)):
        assert read is not None
        restored = read.data["content"]
        assert isinstance(restored, LinearRegression)
        np.testing.assert_allclose(restored.predict(np.array([[10.0]])), [21.0])


async def test_identical_content_stored_once(manager: ArtifactManager) -> None:
    payload = b"shared bytes" * 100
    first = await manager.save(ArtifactIn(data={"n": 1, "content": payload}))
    await manager.save(ArtifactIn(data={"n": 2, "content": payload}))
    await manager.save(ArtifactIn(id=first.id, data={"n": 3, "content": payload}))
    assert await scalar(session_of(manager), "SELECT count(*) FROM ledger_blobs") == 1
    assert await scalar(session_of(manager), "SELECT count(*) FROM ledger_events") == 3


async def test_clock_in_another_zone_still_gives_utc(session: AsyncSession) -> None:
    plus_two = timezone(timedelta(hours=2))
    manager = ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=lambda: datetime.now(plus_two)))
    out = await manager.save(ArtifactIn(data={}))
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert out.created_at.utcoffset() == timedelta(0)
    assert out.created_at == found.created_at
    naive = ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=datetime.now))
    before = await event_count(session)
    with pytest.raises(ValueError, match="naive"):
        await naive.save(ArtifactIn(data={}))
    assert await event_count(session) == before
