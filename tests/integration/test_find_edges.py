"""find at the edges an adversarial review found: keyset pages past numbers of every size, cursors
edited with a valid checksum, long ``in`` lists, filters of many values, array-index paths in
``create_index`` — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactRepository, FixedClock, InvalidQueryError, Ledger
from artifact_ledger.query import cursor
from artifact_ledger.query.language import MAX_LIST, MAX_VALUES
from ledger_support import SECRET


async def walk(m: ArtifactManager, where: Any = None, *, order_by: str = "id", limit: int = 1) -> list[Any]:
    """Every page of ``find`` in turn; fails instead of looping if the pages never end."""
    out: list[Any] = []
    after = None
    for _ in range(50):
        page = await m.find(where, order_by=order_by, limit=limit, after=after)
        out.extend(a.data["x"] for a in page.items)
        if page.next_cursor is None:
            return out
        after = page.next_cursor
    raise AssertionError(f"the pages never ended: {out[:12]}")


@pytest.mark.parametrize(
    "values",
    [
        [0.5, 2**53 + 1, 2**53 + 3],  # a double's key, then integers a double would round together
        [2**53 + 3, 0.5, 2**53 + 1, 7.25, 2**62 + 1, 2**62 + 3],
        [5, 1e20, 1e308, 2**63 - 1, -(2**63), 1.5e-300],  # keys beyond SQLite's integers, bound as doubles
    ],
)
async def test_pages_by_a_number_path_visit_each_row_once(manager: ArtifactManager, values: list[Any]) -> None:
    for v in values:
        await manager.save(ArtifactIn(data={"x": v}))
    expected = sorted(values)
    assert await walk(manager, order_by="data.x") == expected
    assert await walk(manager, order_by="-data.x") == expected[::-1]
    assert await walk(manager, order_by="data.x", limit=2) == expected


def _forged(real: str, replace: dict[int, Any]) -> str:
    """``real`` with some of its key values replaced, sealed again with a valid checksum."""
    raw = base64.urlsafe_b64decode(real + "=" * (-len(real) % 4))
    body = orjson.loads(orjson.loads(raw)["b"])
    keys = list(body["k"])
    for i, value in replace.items():
        keys[i] = value
    return cursor.encode(body["q"], keys)


@pytest.mark.parametrize("number", ["1e400", "9" * 399, "1_000", "\u0663", "1e-999999", "+1", ".5", "0x10", " 1"])
async def test_an_edited_number_key_is_refused(manager: ArtifactManager, number: str) -> None:
    for v in (1, 2, 3):
        await manager.save(ArtifactIn(data={"x": v}))
    real = (await manager.find(order_by="data.x", limit=1)).next_cursor
    assert real is not None
    with pytest.raises(InvalidQueryError, match="number key that is not valid"):
        await manager.find(order_by="data.x", limit=1, after=_forged(real, {1: number}))


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-23:59"]
)
async def test_an_edited_time_key_is_refused(manager: ArtifactManager, stamp: str) -> None:
    for v in (1, 2):
        await manager.save(ArtifactIn(data={"x": v}))
    real = (await manager.find(order_by="created_at", limit=1)).next_cursor
    assert real is not None
    with pytest.raises(InvalidQueryError, match="time key that is not valid"):
        await manager.find(order_by="created_at", limit=1, after=_forged(real, {0: stamp}))


async def test_in_lists_up_to_the_limit_on_data_and_tags(session: AsyncSession) -> None:
    clock = FixedClock(datetime(2026, 5, 1, tzinfo=UTC), step=timedelta(seconds=1))
    m = ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock))
    names = ["a", "b", "c", "d", "e"]
    for i, name in enumerate(names):
        value: Any = [i, True, None, "x", "{}"][i]
        await m.save(ArtifactIn(data={"name": name, "x": value}, tags=[f"t{i}"]))
    instant = clock()
    await m.save(ArtifactIn(data={"name": "later", "x": 0}, tags=["t0"]))
    many = [f"v{i}" for i in range(MAX_LIST - 4)] + [0, None, "x", True]  # 1,000 values
    assert len(many) == MAX_LIST

    async def names_of(where: dict[str, Any], **kw: Any) -> list[str]:
        return [a.data["name"] for a in (await m.find(where, limit=100, **kw)).items]

    assert await names_of({"data.x": {"in": many}}) == ["a", "b", "c", "d", "later"]
    assert await names_of({"data.x": {"nin": many}}) == ["e"]  # "{}" is a string, not an object
    assert await names_of({"data.x": {"in": many}}, as_of=instant) == ["a", "b", "c", "d"]
    tags = [f"t{i}" for i in range(2, MAX_LIST + 2)]
    assert await names_of({"tags": {"in": tags}}) == ["c", "d", "e"]
    assert await names_of({"tags": {"nin": tags}}) == ["a", "b", "later"]
    assert await names_of({"tags": {"in": tags}}, as_of=instant) == ["c", "d", "e"]
    assert await names_of({"tags": {"in": ["t0", "t1"]}}, as_of=instant) == ["a", "b"]
    assert await m.count({"data.x": {"in": many}}) == 5


async def test_a_filter_of_too_many_values_is_refused(manager: ArtifactManager) -> None:
    lists = [{"data.x": {"in": list(range(k * MAX_LIST, (k + 1) * MAX_LIST))}} for k in range(MAX_VALUES // MAX_LIST)]
    assert await manager.count({"$or": lists}) == 0  # exactly the most values: answered
    with pytest.raises(InvalidQueryError, match=f"more than {MAX_VALUES} values"):
        await manager.find({"$or": [*lists, {"data.y": 1}]})
    with pytest.raises(InvalidQueryError, match=f"more than {MAX_VALUES} values"):
        await manager.count({"$or": [*lists, {"tags": {"in": ["a"]}}]})


async def test_create_index_on_an_array_element(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await manager.save(ArtifactIn(data={"name": "m", "x": 1, "layers": [4, 5]}))
    await manager.save(ArtifactIn(data={"name": "n", "x": 2, "layers": 4}))  # a scalar has no element 0
    ledger = Ledger(engine, keyring=SECRET)
    name = await ledger.create_index("data.layers.0")
    assert [i.path for i in await ledger.indexes()] == ["data.layers.0"]
    assert [i.name for i in await ledger.indexes()] == [name]
    assert [a.data["name"] for a in (await manager.find({"data.layers.0": 4})).items] == ["m"]
    await ledger.rebuild()
    assert [i.name for i in await ledger.indexes()] == [name]
    await ledger.drop_index("data.layers.0")
    assert await ledger.indexes() == []


@pytest.mark.parametrize("key", ["data.a.1234567890", "data.00000000001", "data.a.99999999999999999999"])
async def test_an_array_index_of_ten_digits_is_refused(manager: ArtifactManager, key: str) -> None:
    with pytest.raises(InvalidQueryError, match="is too large"):
        await manager.find({key: 1})
    with pytest.raises(InvalidQueryError, match="is too large"):
        await manager.find(order_by=key)
