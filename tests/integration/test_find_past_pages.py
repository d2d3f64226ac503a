"""``find(as_of=)``'s one-statement page (levels walked up the links from the page's parents, in
the same statement) and ranges of two numeric bounds (PostgreSQL: no type guards), on both backends.

Each past page is checked item by item against ``find_by_id(id, as_of=)``, the point-in-time read
that shares none of ``find``'s SQL: levels after moves, versions, data, tags and timestamps; in
every ordering the page supports, ascending and descending, across keyset pages.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactOut, ArtifactRepository, FixedClock
from ledger_support import SECRET

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
STEP = timedelta(seconds=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START, step=STEP)


@pytest.fixture
def timed(session: AsyncSession, clock: FixedClock) -> ArtifactManager:
    return ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock))


async def _forest(m: ArtifactManager) -> dict[str, ArtifactOut]:
    """Two trees, four levels deep in the first; several children share a parent."""
    out: dict[str, ArtifactOut] = {}

    async def add(name: str, parent: str | None, n: float) -> None:
        parent_id = None if parent is None else out[parent].id
        label = name.upper() if int(n) % 3 == 0 else name  # upper and lower case: the sort is by code point
        data = {"name": name, "n": n, "kind": "x" if n % 2 else "y", "label": label}
        out[name] = await m.save(ArtifactIn(parent_id=parent_id, data=data, tags=[name[0]]))

    await add("r1", None, 1)
    await add("r2", None, 2)
    for i, name in enumerate(("a1", "a2", "a3")):
        await add(name, "r1", 10 + i)
    for i, name in enumerate(("b1", "b2", "b3", "b4")):
        await add(name, "a1" if i < 3 else "a2", 20 + i)
    await add("c1", "b1", 31)
    await add("c2", "b1", 32.5)
    await add("d1", "c1", 41)
    await add("e1", "r2", 51)
    return out


async def _same_as_point_reads(m: ArtifactManager, items: list[ArtifactOut], at: datetime) -> None:
    for item in items:
        alone = await m.find_by_id(item.id, as_of=at)
        assert alone is not None
        assert item.model_dump() == alone.model_dump()


ORDERS = ("id", "-id", "data.n", "-data.n", "data.label", "-data.label", "updated_at", "-created_at")


@pytest.mark.parametrize("where", [None, {"data.kind": "x"}, {"data.n": {"gte": 10, "lt": 40}}, {"tags": "b"}])
async def test_past_pages_equal_point_in_time_reads(timed: ArtifactManager, where: Any) -> None:
    m = timed
    made = await _forest(m)
    at = made["e1"].updated_at
    # After ``at``: a subtree moves up under the other root (its levels drop by one), one
    # artifact is updated, one deleted, one added.
    await m.save(ArtifactIn(id=made["b1"].id, parent_id=made["r2"].id, data={"name": "b1", "n": 99, "kind": "y"}))
    await m.patch(made["a3"].id, {"n": 13.5})
    await m.delete_by_id(made["b4"].id)
    await m.save(ArtifactIn(parent_id=made["d1"].id, data={"name": "z", "n": 15, "kind": "x"}))
    for order in ORDERS:
        whole = await m.find(where, order_by=order, as_of=at, limit=100)
        assert whole.next_cursor is None
        await _same_as_point_reads(m, whole.items, at)
        paged: list[ArtifactOut] = []
        after = None
        while True:
            page = await m.find(where, order_by=order, as_of=at, limit=3, after=after)
            paged.extend(page.items)
            after = page.next_cursor
            if after is None:
                break
        assert [i.id for i in paged] == [i.id for i in whole.items], order
        assert [i.level for i in paged] == [i.level for i in whole.items], order
        if order.endswith("data.label"):
            labels = [i.data["label"] for i in whole.items if isinstance(i.data, dict)]
            assert labels == sorted(labels, reverse=order.startswith("-")), labels
    every = await m.find(where, as_of=at, limit=100)
    expected_levels = {"r1": 0, "r2": 0, "a1": 1, "a2": 1, "a3": 1, "b1": 2, "b2": 2, "b3": 2, "b4": 2}
    expected_levels |= {"c1": 3, "c2": 3, "d1": 4, "e1": 1}
    for item in every.items:
        assert isinstance(item.data, dict)
        assert item.level == expected_levels[item.data["name"]]
    now = await m.find({"data.name": {"in": ["b1", "c2", "d1"]}}, order_by="data.name")
    assert [i.level for i in now.items] == [1, 2, 3]


async def test_numeric_range_matches_numbers_only(timed: ArtifactManager) -> None:
    """Two numeric bounds of one path: only numbers inside them, whatever else the path holds
    (strings, booleans, null, arrays empty or not, objects, a missing path), now and as of."""
    m = timed
    values: list[Any] = [0, 1, 2.5, 5, 10, -1, "3", "", True, False, None, [], [3], {}, {"a": 3}]
    for i, v in enumerate(values):
        await m.save(ArtifactIn(data={"name": f"v{i}", "v": v}))
    await m.save(ArtifactIn(data={"name": "missing"}))
    at = (await m.find(order_by="-updated_at", limit=1)).items[0].updated_at

    def expect(low: float, high: float, lo_op: str, hi_op: str) -> list[str]:
        ops = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}
        return sorted(
            f"v{i}"
            for i, v in enumerate(values)
            if isinstance(v, int | float)
            and not isinstance(v, bool)
            and ops[lo_op](float(v), low)
            and ops[hi_op](float(v), high)
        )

    cases = [(0, 5, "gte", "lt"), (0, 5, "gt", "lte"), (-10, 100, "gte", "lte"), (1, 1, "gte", "lte")]
    for low, high, lo_op, hi_op in cases:
        for where in ({"data.v": {lo_op: low, hi_op: high}}, {"data.v": {hi_op: high, lo_op: low}}):
            for as_of in (None, at):
                page = await m.find(where, as_of=as_of, limit=100)
                got = sorted(str(i.data["name"]) for i in page.items if isinstance(i.data, dict))
                assert got == expect(low, high, lo_op, hi_op), (where, as_of)
                outside = await m.find({"$not": where}, as_of=as_of, limit=100)
                assert len(outside.items) + len(page.items) == len(values) + 1
    # a string bound with a number bound: no shortcut (both guards stay)
    mixed = await m.find({"data.v": {"gte": 0, "lt": "z"}}, limit=100)
    assert mixed.items == []


async def test_past_levels_of_a_deep_chain(timed: ArtifactManager) -> None:
    """Parents outside the page, deeper than the step-by-step walk goes (the rest in one
    recursive statement), before and after the chain is cut short."""
    m = timed
    chain: list[ArtifactOut] = []
    for i in range(12):
        parent = chain[-1].id if chain else None
        chain.append(await m.save(ArtifactIn(parent_id=parent, data={"name": f"c{i:02}", "i": i})))
    at = chain[-1].updated_at
    await m.save(ArtifactIn(id=chain[6].id, parent_id=chain[0].id, data={"name": "c06", "i": 6}))
    for where in ({"data.name": "c11"}, {"data.i": {"in": [3, 7, 11]}}, {"data.i": {"gte": 9}}, None):
        page = await m.find(where, as_of=at, limit=100)
        assert [i.level for i in page.items] == [int(i.data["i"]) for i in page.items if isinstance(i.data, dict)]
        await _same_as_point_reads(m, page.items, at)
    now = await m.find({"data.i": {"in": [3, 7, 11]}})
    assert [i.level for i in now.items] == [3, 2, 6]
