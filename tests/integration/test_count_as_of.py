"""``count(where, as_of=...)``: how many artifacts were live (and matched) at an instant, on
SQLite and PostgreSQL; it agrees with ``find`` over the same instant, and bad input is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactRepository,
    FixedClock,
    InvalidArgumentError,
    InvalidQueryError,
)
from ledger_support import SECRET

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START, step=timedelta(0))


@pytest.fixture
def timed(session: AsyncSession, clock: FixedClock) -> ArtifactManager:
    return ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock))


async def found(m: ArtifactManager, where: dict[str, object] | None, as_of: datetime) -> int:
    page = await m.find(where, limit=1000, as_of=as_of)
    assert page.next_cursor is None
    return len(page.items)


async def test_count_as_of_follows_updates_moves_and_deletes(timed: ArtifactManager, clock: FixedClock) -> None:
    m = timed
    root = await m.save(ArtifactIn(data={"name": "root", "s": "draft"}))
    a = await m.save(ArtifactIn(parent_id=root.id, data={"name": "a", "s": "draft"}, tags=["t"]))
    b = await m.save(ArtifactIn(parent_id=a.id, data={"name": "b", "s": "published"}))
    clock.advance(DAY)
    first = clock()
    clock.advance(DAY)
    await m.patch(a.id, {"s": "published"})
    await m.move(b.id, root.id)  # b from level 2 to level 1
    other = await m.save(ArtifactIn(data={"name": "other", "s": "draft"}))
    clock.advance(DAY)
    second = clock()
    clock.advance(DAY)
    await m.delete_by_id(a.id)
    await m.delete_by_id(other.id)

    assert await m.count() == 2  # root, b
    assert await m.count(as_of=first) == 3
    assert await m.count(as_of=second) == 4
    assert await m.count(as_of=START - DAY) == 0  # before the first event
    assert await m.count(as_of=clock()) == await m.count()

    published = {"data.s": "published"}
    assert await m.count(published) == 1  # b
    assert await m.count(published, as_of=first) == 1  # b
    assert await m.count(published, as_of=second) == 2  # a, b
    assert await m.count({"level": 2}, as_of=first) == 1  # b was under a then
    assert await m.count({"level": 2}, as_of=second) == 0  # b had moved up
    assert await m.count({"tags": "t"}, as_of=second) == 1
    assert await m.count({"tags": "t"}) == 0
    for where in (None, published, {"level": 2}, {"$or": [{"data.s": "draft"}, {"level": 0}]}):
        for instant in (first, second):
            assert await m.count(where, as_of=instant) == await found(m, where, instant), (where, instant)


async def test_count_as_of_refuses_bad_input(timed: ArtifactManager) -> None:
    m = timed
    await m.save(ArtifactIn(data={"name": "x"}))
    with pytest.raises(InvalidArgumentError, match="as_of"):
        await m.count(as_of=datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidArgumentError, match="as_of"):
        await m.count(as_of="2026-01-01")  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError, match="nope"):
        await m.count({"nope": 1}, as_of=START)
    assert await m.count() == 1
