"""Point-in-time reads: find_by_id(version=/as_of=), find_subtree/build_tree(as_of=), moves and deletes included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactRepository,
    ArtifactTreeNode,
    FixedClock,
    VersionNotFoundError,
)
from ledger_support import HIERARCHY, SECRET

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START, step=timedelta(0))


@pytest.fixture
def timed(session: AsyncSession, clock: FixedClock) -> ArtifactManager:
    """A manager whose clock only moves when a test advances it."""
    return ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock), hierarchy=HIERARCHY)


def shape(node: ArtifactTreeNode | None) -> object:
    """A tree as nested (name, level, [children]) tuples."""
    if node is None:
        return None
    assert isinstance(node.data, dict)
    return (node.data["name"], node.level, [shape(c) for c in node.children or []])


async def test_find_by_id_version_and_as_of(timed: ArtifactManager, clock: FixedClock) -> None:
    root = await timed.save(ArtifactIn(data={"name": "root"}), actor="ann")
    clock.advance(DAY)
    doc = await timed.save(ArtifactIn(parent_id=root.id, data={"name": "doc", "v": 1, "content": b"one"}), actor="ann")
    clock.advance(DAY)
    await timed.save(ArtifactIn(id=doc.id, parent_id=root.id, data={"name": "doc", "v": 2}, tags=["x"]), actor="bob")
    clock.advance(DAY)
    await timed.move(doc.id, None, actor="cy")

    v1 = await timed.find_by_id(doc.id, version=1)
    assert v1 is not None
    assert (v1.version, v1.data, v1.parent_id, v1.level, v1.tags) == (
        1,
        {"name": "doc", "v": 1, "content": b"one"},
        root.id,
        1,
        [],
    )
    assert (v1.created_at, v1.updated_at, v1.created_by, v1.updated_by) == (START + DAY, START + DAY, "ann", "ann")
    v2 = await timed.find_by_id(doc.id, version=2)
    assert v2 is not None
    assert (v2.data, v2.tags, v2.updated_by, v2.updated_at, v2.created_at) == (
        {"name": "doc", "v": 2},
        ["x"],
        "bob",
        START + 2 * DAY,
        START + DAY,
    )
    v3 = await timed.find_by_id(doc.id, version=3)
    assert v3 is not None
    assert (v3.parent_id, v3.level, v3.data, v3.updated_by) == (None, 0, {"name": "doc", "v": 2}, "cy")
    assert v3.model_dump() == (await timed.find_by_id(doc.id)).model_dump()  # type: ignore[union-attr]

    assert await timed.find_by_id(doc.id, as_of=START) is None  # before it existed
    at_day1 = await timed.find_by_id(doc.id, as_of=START + DAY + timedelta(hours=5))
    assert at_day1 is not None
    assert at_day1.model_dump() == v1.model_dump()
    at_day2 = await timed.find_by_id(doc.id, as_of=START + 2 * DAY)  # inclusive: the instant of version 2
    assert at_day2 is not None
    assert at_day2.version == 2
    assert (await timed.find_by_id(doc.id, as_of=START + 10 * DAY)).version == 3  # type: ignore[union-attr]
    no_content = await timed.find_by_id(doc.id, version=1, include_content=False)
    assert no_content is not None
    assert no_content.data == {"name": "doc", "v": 1}


async def test_as_of_accepts_other_time_zones(timed: ArtifactManager, clock: FixedClock) -> None:
    clock.advance(DAY)
    out = await timed.save(ArtifactIn(data={"name": "tz"}))
    plus_two = timezone(timedelta(hours=2))
    assert await timed.find_by_id(out.id, as_of=(START + DAY - timedelta(seconds=1)).astimezone(plus_two)) is None
    found = await timed.find_by_id(out.id, as_of=(START + DAY).astimezone(plus_two))
    assert found is not None
    assert found.created_at.utcoffset() == timedelta(0)


async def test_deleted_then_restored_over_time(timed: ArtifactManager, clock: FixedClock) -> None:
    out = await timed.save(ArtifactIn(data={"name": "x", "n": 1}))
    clock.advance(DAY)
    await timed.delete_by_id(out.id)
    clock.advance(DAY)
    await timed.restore(out.id)
    assert (await timed.find_by_id(out.id, as_of=START)).version == 1  # type: ignore[union-attr]
    assert await timed.find_by_id(out.id, as_of=START + DAY) is None
    assert await timed.find_by_id(out.id, version=2) is None  # the deletion itself
    restored = await timed.find_by_id(out.id, as_of=START + 2 * DAY)
    assert restored is not None
    assert (restored.version, restored.data, restored.created_at) == (3, {"name": "x", "n": 1}, START)
    assert await timed.find_subtree(out.id, as_of=START + DAY) == []
    assert await timed.build_tree(out.id, as_of=START + DAY) is None


async def test_tree_as_of_includes_moves_and_deletes(timed: ArtifactManager, clock: FixedClock) -> None:
    """An artifact moved out of the subtree is in yesterday's tree, not today's; a deleted one too."""
    run = await timed.save(ArtifactIn(data={"name": "run"}))
    other = await timed.save(ArtifactIn(data={"name": "other"}))
    p1 = await timed.save(ArtifactIn(parent_id=run.id, data={"name": "p1"}))
    p2 = await timed.save(ArtifactIn(parent_id=run.id, data={"name": "p2"}))
    e1 = await timed.save(ArtifactIn(parent_id=p2.id, data={"name": "e1"}))
    clock.advance(DAY)
    await timed.move(p2.id, other.id)  # p2 (with e1) leaves run's tree
    p3 = await timed.save(ArtifactIn(parent_id=run.id, data={"name": "p3"}))
    clock.advance(DAY)
    await timed.delete_by_id(p1.id)
    await timed.save(ArtifactIn(id=p3.id, parent_id=run.id, data={"name": "p3b"}))

    day0 = ("run", 0, [("p1", 1, []), ("p2", 1, [("e1", 2, [])])])
    day1 = ("run", 0, [("p1", 1, []), ("p3", 1, [])])
    day2 = ("run", 0, [("p3b", 1, [])])
    assert shape(await timed.build_tree(run.id, as_of=START)) == day0
    assert shape(await timed.build_tree(run.id, as_of=START + DAY)) == day1
    assert shape(await timed.build_tree(run.id, as_of=START + 2 * DAY)) == day2
    assert shape(await timed.build_tree(run.id)) == day2
    assert shape(await timed.build_tree(other.id, as_of=START)) == ("other", 0, [])
    assert shape(await timed.build_tree(other.id, as_of=START + DAY)) == ("other", 0, [("p2", 1, [("e1", 2, [])])])

    nodes = await timed.find_subtree(run.id, as_of=START)
    assert [n.id for n in nodes] == [run.id, *sorted([p1.id, p2.id]), e1.id]
    by_id = {n.id: n for n in nodes}
    assert by_id[e1.id].parent_id == p2.id
    assert (by_id[e1.id].level_label, by_id[e1.id].hierarchy) == ("evaluation", "ml_pipeline")
    sub = await timed.find_subtree(p2.id, as_of=START + DAY)  # levels as they were then, below "other"
    assert [(n.data["name"], n.level, n.parent_id) for n in sub] == [("p2", 1, other.id), ("e1", 2, p2.id)]
    assert await timed.find_subtree(p3.id, as_of=START) == []


async def test_one_transaction_is_one_instant(timed: ArtifactManager, clock: FixedClock) -> None:
    root = await timed.save(ArtifactIn(data={"name": "root"}))
    clock.advance(DAY)
    async with timed.transaction():
        a = await timed.save(ArtifactIn(parent_id=root.id, data={"name": "a"}))
        await timed.save(ArtifactIn(id=a.id, parent_id=root.id, data={"name": "a2"}))
        await timed.save(ArtifactIn(parent_id=a.id, data={"name": "b"}))
    assert shape(await timed.build_tree(root.id, as_of=START + DAY)) == ("root", 0, [("a2", 1, [("b", 2, [])])])
    first = await timed.find_by_id(a.id, version=1)  # a version inside the transaction is still readable
    assert first is not None
    assert first.data == {"name": "a"}


async def test_bad_input(timed: ArtifactManager, clock: FixedClock) -> None:
    out = await timed.save(ArtifactIn(data={"name": "x"}))
    await timed.save(ArtifactIn(id=out.id, data={"name": "y"}))
    with pytest.raises(VersionNotFoundError, match=r"no version 3.*latest 2"):
        await timed.find_by_id(out.id, version=3)
    with pytest.raises(VersionNotFoundError, match="latest 2"):
        await timed.find_by_id(out.id, version=0)
    unknown = ULID()
    for call in (
        timed.find_by_id(unknown, version=1),
        timed.find_by_id(unknown, as_of=START),
        timed.find_subtree(unknown, as_of=START),
        timed.build_tree(unknown, as_of=START),
    ):
        with pytest.raises(ArtifactNotFoundError, match=str(unknown)):
            await call
    with pytest.raises(ValueError, match="naive"):
        await timed.find_by_id(out.id, as_of=datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="naive"):
        await timed.build_tree(out.id, as_of=datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="not both"):
        await timed.find_by_id(out.id, version=1, as_of=START)
    with pytest.raises(TypeError, match="version must be an int"):
        await timed.find_by_id(out.id, version="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="as_of must be a datetime"):
        await timed.find_by_id(out.id, as_of="2026-03-01")  # type: ignore[arg-type]


async def test_reads_inside_a_transaction_see_its_writes(timed: ArtifactManager, clock: FixedClock) -> None:
    async with timed.transaction():
        out = await timed.save(ArtifactIn(data={"name": "pending"}))
        found = await timed.find_by_id(out.id, version=1)
        assert found is not None
        assert found.data == {"name": "pending"}
        assert shape(await timed.build_tree(out.id, as_of=START)) == ("pending", 0, [])
