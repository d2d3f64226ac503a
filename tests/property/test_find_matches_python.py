"""Property: ``find(where, order_by=...)`` paged through with small pages returns exactly the
artifacts, in exactly the order, that filtering and sorting ``find_all()`` in Python gives — for
random data and random filters, now and ``as_of`` an instant before later updates, moves and
deletes. ``count(where)`` agrees.

The Python side below is the language's reference semantics, written independently of the SQL:
a path the data lacks matches no comparison (``ne`` and ``nin`` included), true is not 1, numbers
compare with numbers and strings with strings (by code point), ``$not`` negates the whole result.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import async_sessionmaker
from test_closure_properties import SECRET, fresh_engine

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactOut, ArtifactRepository, FixedClock

START = datetime(2026, 6, 1, tzinfo=UTC)
MAX_EXAMPLES = {"sqlite-file": 12, "sqlite-memory": 12, "postgresql": 10}
MISSING = object()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 2.0, 1e3]),
    st.sampled_from(["", "a", "ab", "b", "B", "é", "a b", "z"]),
    st.sampled_from(["[]", "{}", "[1]", '{"a":1}', "[", "{"]),  # an array's or object's JSON text
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), scalars, max_size=2),
)
documents = st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=3)
tag_lists = st.lists(st.sampled_from(["x", "y", "z"]), max_size=2, unique=True)
PATHS = ["data.a", "data.b", "data.c", "data.a.a", "data.b.0", "data.a.b"]


def _op_value(op: str) -> st.SearchStrategy[Any]:
    if op in ("lt", "lte", "gt", "gte"):
        return st.one_of(st.integers(-3, 3), st.sampled_from([0.5, "a", "b", "é", "", "[", "{"]))
    if op in ("in", "nin"):
        return st.lists(scalars, max_size=3)
    if op == "contains":
        return st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", ""]))
    if op == "prefix":
        return st.sampled_from(["", "a", "b", "é"])
    if op == "exists":
        return st.booleans()
    return scalars


data_ops = st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "in", "nin", "contains", "prefix", "exists"])


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["data", "data", "data", "tags", "level", "literal", "range"]))
    if kind == "range":  # two bounds on one path: compiled as one range where the backend can
        bound = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -0.5, 1.5, "a", "["]))
        low, high = draw(st.sampled_from(["gt", "gte"])), draw(st.sampled_from(["lt", "lte"]))
        return {draw(st.sampled_from(PATHS)): {low: draw(bound), high: draw(bound)}}
    if kind == "tags":
        op = draw(st.sampled_from(["eq", "ne", "contains", "in", "nin"]))
        tag = st.sampled_from(["x", "y", "w"])
        return {"tags": {op: draw(st.lists(tag, max_size=2) if op in ("in", "nin") else tag)}}
    if kind == "level":
        op = draw(st.sampled_from(["eq", "ne", "lt", "gte", "in"]))
        return {"level": {op: draw(st.lists(st.integers(0, 2), max_size=2) if op == "in" else st.integers(0, 2))}}
    path = draw(st.sampled_from(PATHS))
    if kind == "literal":
        return {path: draw(scalars)}
    op = draw(data_ops)
    return {path: {op: draw(_op_value(op))}}


filters = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"$and": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"$or": xs}),
        inner.map(lambda x: {"$not": x}),
    ),
    max_leaves=5,
)
orders = st.sampled_from(["id", "-id", "data.a", "-data.a", "data.b.0", "-updated_at", "created_at"])

# ---- the reference semantics -------------------------------------------------------------------------


def get(data: Any, path: str) -> Any:
    value = data
    for seg in path.split(".")[1:]:
        if seg.isdigit():
            if not isinstance(value, list) or int(seg) >= len(value):
                return MISSING
            value = value[int(seg)]
        else:
            if not isinstance(value, dict) or seg not in value:
                return MISSING
            value = value[seg]
    return value


def is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def eq(v: Any, x: Any) -> bool:
    if x is None:
        return v is None
    if isinstance(x, bool):
        return v is x
    if is_num(x):
        return is_num(v) and v == x
    return isinstance(v, str) and v == x


def data_match(v: Any, op: str, x: Any) -> bool:
    if op == "exists":
        return (v is not MISSING) == x
    if v is MISSING:
        return False
    if op == "eq":
        return eq(v, x)
    if op == "ne":
        return not eq(v, x)
    if op == "in":
        return any(eq(v, i) for i in x)
    if op == "nin":
        return not any(eq(v, i) for i in x)
    if op in ("lt", "lte", "gt", "gte"):
        if (is_num(x) and is_num(v)) or (isinstance(x, str) and isinstance(v, str)):
            return {"lt": v < x, "lte": v <= x, "gt": v > x, "gte": v >= x}[op]
        return False
    if op == "prefix":
        return isinstance(v, str) and v.startswith(x)
    assert op == "contains"
    if isinstance(v, list):
        return any(eq(e, x) for e in v)
    return isinstance(v, str) and isinstance(x, str) and x in v


def matches(a: ArtifactOut, where: dict[str, Any]) -> bool:
    for key, value in where.items():
        if key == "$and":
            ok = all(matches(a, w) for w in value)
        elif key == "$or":
            ok = any(matches(a, w) for w in value)
        elif key == "$not":
            ok = not matches(a, value)
        else:
            ops = value if isinstance(value, dict) else {"contains" if key == "tags" else "eq": value}
            ok = all(leaf(a, key, op, x) for op, x in ops.items())
        if not ok:
            return False
    return True


def leaf(a: ArtifactOut, key: str, op: str, x: Any) -> bool:
    if key == "tags":
        has = [t in a.tags for t in (x if op in ("in", "nin") else [x])]
        return {"eq": any, "contains": any, "in": any}.get(op, lambda h: not any(h))(has)
    if key == "level":
        v = a.level
        return {
            "eq": v == x,
            "ne": v != x,
            "lt": v < x if not isinstance(x, list) else False,
            "gte": v >= x if not isinstance(x, list) else False,
            "in": v in x if isinstance(x, list) else False,
        }[op]
    return data_match(get(a.data, key), op, x)


def sort_key(a: ArtifactOut, order: str) -> tuple[Any, ...]:
    name = order.lstrip("-")
    if name == "id":
        return (str(a.id),)
    if name in ("updated_at", "created_at"):
        return (getattr(a, name), str(a.id))
    v = get(a.data, name)
    rank = 0 if is_num(v) else 1 if isinstance(v, str) else 3 if v is MISSING else 2
    return (rank, v if rank == 0 else 0, v if rank == 1 else "", str(a.id))


def expected(items: list[ArtifactOut], where: dict[str, Any], order: str) -> list[str]:
    kept = [a for a in items if matches(a, where)]
    kept.sort(key=lambda a: sort_key(a, order), reverse=order.startswith("-"))
    return [str(a.id) for a in kept]


async def listed(m: ArtifactManager, where: dict[str, Any], order: str, as_of: datetime | None) -> list[str]:
    out: list[str] = []
    after = None
    while True:
        page = await m.find(where, order_by=order, limit=3, after=after, as_of=as_of)
        out.extend(str(a.id) for a in page.items)
        after = page.next_cursor
        if after is None:
            return out


async def scenario(backend: str, docs: list[Any], tags: list[list[str]], queries: list[Any]) -> None:
    async with fresh_engine(backend) as engine:
        clock = FixedClock(START, step=timedelta(seconds=1))
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            m = ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock))
            saved: list[ArtifactOut] = []
            for i, (doc, tag) in enumerate(zip(docs, tags, strict=False)):
                parent = saved[i // 3].id if i >= 3 and i % 2 else None
                saved.append(await m.save(ArtifactIn(parent_id=parent, data=doc, tags=tag)))
            then = clock()
            before = await m.find_all(include_content=False)
            clock.advance(timedelta(minutes=1))
            # later history that as_of must not see: updates, a patch, a move and a delete
            for out in saved[: len(saved) // 2]:
                await m.save(ArtifactIn(id=out.id, data={**(out.data or {}), "a": "changed"}, tags=["z"]))
            if len(saved) > 2:
                await m.patch(saved[-1].id, {"b": [7]})
                leaf_ids = {str(a.id) for a in saved} - {str(a.parent_id) for a in saved if a.parent_id}
                await m.delete_by_id(sorted(leaf_ids)[0])
            now = await m.find_all(include_content=False)
            for where, order in queries:
                got = await listed(m, where, order, None)
                assert got == expected(now, where, order), (where, order)
                assert await m.count(where) == len(got), where
                past = await listed(m, where, order, then)
                assert past == expected(before, where, order), ("as_of", where, order)


def test_find_matches_python_filter(backend: str) -> None:
    @settings(
        max_examples=MAX_EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        report_multiple_bugs=False,
    )
    @given(
        docs=st.lists(documents, min_size=1, max_size=12),
        tags=st.lists(tag_lists, min_size=12, max_size=12),
        queries=st.lists(st.tuples(filters, orders), min_size=1, max_size=8),
    )
    def run(docs: list[Any], tags: list[list[str]], queries: list[Any]) -> None:
        asyncio.run(scenario(backend, docs, tags, queries))

    run()
