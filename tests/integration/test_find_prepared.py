"""``find``/``count`` reuse a statement compiled for the same filter shape (``query/prepared.py``).

The values a reused statement runs with are listed without building it (``compile.bound``); a
test here checks that list against what building binds, for every operator and field kind on
both dialects, now and in the past, so the fast path is always taken and always right. The
others check, on SQLite and PostgreSQL, that filters of one shape with different values find
different rows (now, as of an instant, in pages), and that past tag filters (which test the
payload's text before parsing it) find tags that JSON escapes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactRepository, FixedClock
from artifact_ledger.query import compile as sql
from artifact_ledger.query import prepared
from artifact_ledger.query.find import plan
from artifact_ledger.store.json_paths import json_sql
from ledger_support import SECRET

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T = datetime(2026, 2, 1, tzinfo=UTC)
ID = "01HZZZZZZZZZZZZZZZZZZZZZZZ"

FILTERS: list[dict[str, Any]] = [
    {"data.a": "x"},
    {"data.a": 3},
    {"data.a": 2.5},
    {"data.a": True},
    {"data.a": None},
    {"data.a": {"ne": "x"}},
    {"data.a": {"ne": None}},
    {"data.a": {"in": ["x", 1, None, False, 2.5]}},
    {"data.a": {"nin": ["x", 1]}},
    {"data.a": {"gt": 1, "lte": "z"}},
    {"data.a.b.0": {"gte": 0.5, "lt": 9}},
    {"data.a": {"prefix": "ab"}},
    {"data.a": {"contains": "x"}},
    {"data.a": {"contains": 4}},
    {"data.a": {"contains": True}},
    {"data.a": {"exists": True}},
    {"data.a": {"exists": False}},
    {"tags": "t"},
    {"tags": {"ne": "t"}},
    {"tags": {"in": ["t", 'q"uote', "\\"]}},
    {"tags": {"nin": []}},
    {"tags": {"contains": "t"}},
    {"parent_id": ID},
    {"parent_id": None},
    {"parent_id": {"ne": None}},
    {"parent_id": {"in": [ID]}},
    {"parent_id": {"nin": [ID]}},
    {"level": {"gte": 1}},
    {"level": {"in": []}},
    {"version": {"ne": 2}},
    {"created_at": {"gt": T}},
    {"updated_at": {"in": [T, T + timedelta(days=1)]}},
    {"created_by": {"prefix": "al"}},
    {"updated_by": None},
    {"updated_by": {"ne": "bob"}},
    {"$or": [{"data.a": 1}, {"$not": {"tags": "t"}}], "data.b": {"exists": True}},
    {"$and": [{"data.a": {"in": ["x"]}}, {"level": 0}], "$not": {"created_by": "x"}},
]
ORDERS = ["id", "-updated_at", "data.a", "-data.a.b"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_listed_values_are_the_values_building_binds(dialect: str) -> None:
    json = json_sql(dialect)
    cursors = {"id": [ID], "-updated_at": [T, ID], "data.a": [1, "12.5", "x", ID], "-data.a.b": [0, "3", "", ID]}
    for where in FILTERS:
        for order in ORDERS:
            for at in (None, 41, T):  # the present, a log position, an instant (found by a subquery)
                position = at if isinstance(at, int) else None
                instant = at if isinstance(at, datetime) else None
                first: list[Any] = [] if at is None else [at]
                checked = plan(where, order_by=order, limit=10, after=None, as_of=None)
                kinds = checked.kinds
                values = cursors[order]  # a cursor's keys as decode() returns them
                binds = sql.Binds()
                src = sql.source(dialect, position, bind=binds, instant=instant)
                sql.page_statement(src, checked.where, checked.order, values, 10)
                listed = sql.bound(json, checked.where, list(first), past=at is not None)
                listed.extend(sql.key_bound(json, kinds, values))
                assert [(type(v), v) for v in listed] == [(type(v), v) for v in binds.values], (where, order)
                counted = sql.Binds()
                sql.count_statement(sql.source(dialect, position, bind=counted, instant=instant), checked.where)
                listed = sql.bound(json, checked.where, list(first), past=at is not None)
                assert [(type(v), v) for v in listed] == [(type(v), v) for v in counted.values], where


def test_shapes_tell_apart_what_the_sql_depends_on() -> None:
    def shape(where: dict[str, Any]) -> Any:
        return plan(where, order_by="id", limit=10, after=None, as_of=None).shape

    assert shape({"data.a": "x"}) == shape({"data.a": "y"})
    assert shape({"data.a": 1}) != shape({"data.a": 1.5})
    assert shape({"data.a": True}) != shape({"data.a": False})
    assert shape({"data.a": None}) != shape({"data.a": "None"})
    assert shape({"data.a": {"in": ["x"]}}) != shape({"data.a": {"in": ["x", "y"]}})
    assert shape({"data.a": "x"}) != shape({"data.b": "x"})
    assert shape({"$or": [{"data.a": 1}]}) != shape({"$and": [{"data.a": 1}]})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START, step=timedelta(0))


@pytest.fixture
def timed(session: AsyncSession, clock: FixedClock) -> ArtifactManager:
    return ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock))


async def names(m: ArtifactManager, where: dict[str, Any], **kw: Any) -> list[str]:
    out: list[str] = []
    after = None
    while True:
        page = await m.find(where, limit=2, after=after, **kw)
        out += [a.data["name"] for a in page.items]
        after = page.next_cursor
        if after is None:
            return sorted(out)


TAGS = ['q"uote', "back\\slash", "ünï", "tab\there", "plain"]


async def test_one_shape_many_values_now_and_then(timed: ArtifactManager, clock: FixedClock) -> None:
    m = timed
    saved = []
    for i, tag in enumerate(TAGS):
        saved.append(await m.save(ArtifactIn(data={"name": f"n{i}", "k": i % 2, "s": tag}, tags=[tag, "all"])))
    clock.advance(timedelta(days=1))
    then = clock()
    clock.advance(timedelta(days=1))
    for i, a in enumerate(saved):  # every tag and value changes after ``then``
        await m.patch(a.id, {"k": i % 2 + 10}, tags=["now"])
    for _ in range(2):  # the second round runs on the statements the first compiled
        for i, tag in enumerate(TAGS):
            assert await names(m, {"tags": tag}, as_of=then) == [f"n{i}"]
            assert await names(m, {"tags": tag}) == []
            assert await names(m, {"data.s": tag}) == [f"n{i}"]
            assert await names(m, {"tags": {"ne": tag}}, as_of=then) == sorted(f"n{j}" for j in range(5) if j != i)
            assert await m.count({"tags": {"in": [tag, "nothing"]}}, as_of=then) == 1
        for k in (0, 1):
            expected = sorted(f"n{i}" for i in range(5) if i % 2 == k)
            assert await names(m, {"data.k": k}, as_of=then) == expected
            assert await names(m, {"data.k": k + 10}) == expected
            assert await names(m, {"data.k": k}) == []
            assert await m.count({"data.k": k}, as_of=then) == len(expected)
        assert await names(m, {"tags": "all"}, as_of=then) == [f"n{i}" for i in range(5)]
        assert await names(m, {"tags": "now"}) == [f"n{i}" for i in range(5)]


def test_a_statement_is_compiled_once_per_shape() -> None:
    prepared._CACHE.clear()
    chosen = ("vA-1", "vB-2", "vC-3")
    for value in chosen:
        checked = plan({"data.z": value, "tags": value}, order_by="id", limit=7, after=None, as_of=None)

        def build(b: sql.Binds, checked: Any = checked) -> Any:
            return sql.page_statement(sql.source("sqlite", bind=b), checked.where, checked.order, None, 7)[0]

        def values(checked: Any = checked) -> list[Any]:
            return sql.bound(json_sql("sqlite"), checked.where, [])

        found, args = prepared.prepare(("t", checked.shape), "sqlite", build, values)
        assert found.mirrored
        assert value in args
        assert not set(args) & (set(chosen) - {value})
        assert value not in found.sql
    assert len(prepared._CACHE) == 1
