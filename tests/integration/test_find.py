"""find/count: the filter language on SQLite and PostgreSQL — operators, combinators, ordering,
keyset pages (stable while writes go on), as_of, expression indexes, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactOut,
    ArtifactRepository,
    FixedClock,
    InvalidArgumentError,
    InvalidQueryError,
    LedgerError,
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


def names(items: list[ArtifactOut]) -> list[str]:
    out = []
    for item in items:
        assert isinstance(item.data, dict)
        out.append(item.data["name"])
    return out


async def seed(m: ArtifactManager) -> dict[str, ArtifactOut]:
    root = await m.save(ArtifactIn(data={"name": "root", "metadata": {"kind": "experiment"}}), actor="ann")
    rows = {
        "m1": ({"status": "published", "accuracy": 0.93, "experiment": "x", "layers": [1, 2, 3]}, ["model"], "ann"),
        "m2": ({"status": "draft", "accuracy": 0.88, "experiment": "x", "layers": [4]}, ["model", "contract"], "bob"),
        "m3": ({"status": "published", "accuracy": 0.97, "experiment": "y", "note": None}, ["model"], "bob"),
        "d1": ({"status": "published", "title": "Contract A", "flag": True}, ["contract"], "cy"),
        "d2": ({"status": "archived", "title": "contract b", "flag": False, "accuracy": "high"}, [], "cy"),
    }
    out = {"root": root}
    for name, (meta, tags, who) in rows.items():
        out[name] = await m.save(
            ArtifactIn(parent_id=root.id, data={"name": name, "metadata": meta}, tags=tags), actor=who
        )
    return out


async def found(m: ArtifactManager, where: Any, **kw: Any) -> list[str]:
    page = await m.find(where, limit=100, **kw)
    assert page.next_cursor is None
    assert await m.count(where) == len(page.items) or "as_of" in kw
    return names(page.items)


async def test_equality_and_operators(manager: ArtifactManager) -> None:
    await seed(manager)
    m = manager
    assert await found(m, {"data.metadata.status": "published"}) == ["m1", "m3", "d1"]
    assert await found(m, {"data.metadata.status": {"ne": "published"}}) == ["m2", "d2"]
    assert await found(m, {"data.metadata.accuracy": {"gt": 0.9}}) == ["m1", "m3"]
    assert await found(m, {"data.metadata.accuracy": {"gte": 0.88, "lt": 0.95}}) == ["m1", "m2"]
    assert await found(m, {"data.metadata.accuracy": {"lte": 0.88}}) == ["m2"]
    assert await found(m, {"data.metadata.accuracy": {"gt": "a"}}) == ["d2"]  # strings compare with strings only
    assert await found(m, {"data.metadata.experiment": {"in": ["x", "z"]}}) == ["m1", "m2"]
    assert await found(m, {"data.metadata.experiment": {"nin": ["x"]}}) == ["m3"]  # missing paths never match
    assert await found(m, {"data.metadata.layers": {"contains": 4}}) == ["m2"]
    assert await found(m, {"data.metadata.title": {"contains": "ontract"}}) == ["d1", "d2"]
    assert await found(m, {"data.metadata.title": {"prefix": "Con"}}) == ["d1"]
    assert await found(m, {"data.metadata.note": {"exists": True}}) == ["m3"]
    assert await found(m, {"data.metadata.note": None}) == ["m3"]  # JSON null, present
    assert await found(m, {"data.metadata.flag": True}) == ["d1"]
    assert await found(m, {"data.metadata.flag": False}) == ["d2"]
    assert await found(m, {"data.metadata.flag": 1}) == []  # true is not 1
    assert await found(m, {"data.metadata.layers.0": 1}) == ["m1"]
    assert await found(m, {"data.metadata.title": {"exists": False}, "level": 1}) == ["m1", "m2", "m3"]
    assert await found(m, {"data.metadata.kind": "experiment"}) == ["root"]
    assert await found(m, {"data.metadata.status.deeper": "x"}) == []


# Values that a backend could confuse: SQLite's json_extract returns a JSON string as its text, an
# object or array as its JSON text, and true/false as 1/0.
LOOKALIKES: dict[str, Any] = {
    "true": True,
    "false": False,
    "one": 1,
    "zero": 0,
    "one-real": 1.0,
    "half": 0.5,
    "text-one": "1",
    "object": {"a": 1},
    "object-text": '{"a":1}',
    "array": [1],
    "array-text": "[1]",
    "empty-array": [],
    "empty-array-text": "[]",
    "null": None,
    "word": "x",
    "brace": "{",
}


@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "indexed"])
async def test_values_of_other_types_never_match(
    timed: ArtifactManager, clock: FixedClock, engine: Any, indexed: bool
) -> None:
    """Equality and ranges are exact about JSON types on both backends, with and without an
    expression index, now and as of an instant: true is not 1, a string that reads as an object's
    or array's JSON text is not that object or array, strings are outside numeric ranges, and a
    JSON null is a value (so ``$not`` of an equality matches it) while a missing path is not."""
    from artifact_ledger import Ledger

    if indexed:
        await Ledger(engine, keyring=SECRET).create_index("data.v")
    for name, value in LOOKALIKES.items():
        await timed.save(ArtifactIn(data={"name": name, "v": value}))
    await timed.save(ArtifactIn(data={"name": "missing"}))
    clock.advance(DAY)
    before = clock()
    clock.advance(DAY)
    await timed.save(ArtifactIn(data={"name": "later", "v": 1}))

    cases: list[tuple[Any, list[str]]] = [
        (1, ["one", "one-real"]),
        (0, ["zero"]),
        (1.0, ["one", "one-real"]),
        (True, ["true"]),
        (False, ["false"]),
        ("1", ["text-one"]),
        ('{"a":1}', ["object-text"]),
        ("[1]", ["array-text"]),
        ("[]", ["empty-array-text"]),
        ("{", ["brace"]),
        ("x", ["word"]),
        ({"gt": 0.2}, ["one", "one-real", "half"]),
        ({"gte": 0}, ["one", "zero", "one-real", "half"]),
        ({"lt": 1}, ["zero", "half"]),
        ({"lte": 1}, ["one", "zero", "one-real", "half"]),
        ({"gt": 5}, []),
        ({"gt": -1, "lt": 2}, ["one", "zero", "one-real", "half"]),
        ({"gt": 0.2, "lte": 0.7}, ["half"]),
        ({"gte": 1, "lt": 1.5}, ["one", "one-real"]),
        ({"gt": 1, "lt": 2}, []),
        ({"in": [1, "x"]}, ["one", "one-real", "word"]),
        ({"gte": "[", "lt": "\\"}, ["array-text", "empty-array-text"]),
        ({"gt": "x"}, ["object-text", "brace"]),  # "{" sorts after "x"; the object itself is no string
    ]
    for cond, expected in cases:
        where = {"data.v": cond}
        now = names((await timed.find(where, limit=100)).items)
        assert now == expected + (["later"] if "one" in expected else []), where
        assert await timed.count(where) == len(now), where
        assert names((await timed.find(where, as_of=before, limit=100)).items) == expected, where
        if not isinstance(cond, dict) or len(cond) == 1:
            negated = names((await timed.find({"$not": where}, limit=100)).items)
            assert negated == [n for n in [*LOOKALIKES, "missing", "later"] if n not in now], where
    assert names((await timed.find({"data.v": {"ne": "x"}}, limit=100)).items) == [
        n for n in [*LOOKALIKES, "later"] if n != "word"
    ]


async def test_columns_tags_and_combinators(manager: ArtifactManager) -> None:
    s = await seed(manager)
    m = manager
    assert await found(m, {"tags": "contract"}) == ["m2", "d1"]
    assert await found(m, {"tags": {"in": ["contract", "model"]}}) == ["m1", "m2", "m3", "d1"]
    assert await found(m, {"tags": {"nin": ["model"]}}) == ["root", "d1", "d2"]
    assert await found(m, {"tags": {"ne": "model"}, "level": {"gte": 1}}) == ["d1", "d2"]
    assert await found(m, {"parent_id": None}) == ["root"]
    assert await found(m, {"parent_id": str(s["root"].id), "created_by": "bob"}) == ["m2", "m3"]
    assert await found(m, {"created_by": {"in": ["cy"]}}) == ["d1", "d2"]
    assert await found(m, {"updated_by": {"prefix": "b"}}) == ["m2", "m3"]
    assert await found(m, {"version": 1, "level": 0}) == ["root"]
    assert await found(m, {"$or": [{"tags": "contract"}, {"data.metadata.accuracy": {"gt": 0.95}}]}) == [
        "m2",
        "m3",
        "d1",
    ]
    assert await found(m, {"$and": [{"tags": "model"}, {"$not": {"data.metadata.status": "draft"}}]}) == ["m1", "m3"]
    # $not of a comparison on a missing path matches (the comparison does not)
    assert await found(m, {"$not": {"data.metadata.experiment": "x"}}) == ["root", "m3", "d1", "d2"]
    assert await found(m, {"$not": {"$or": [{"level": 0}, {"tags": "model"}]}}) == ["d1", "d2"]
    assert await found(m, {"created_at": {"gte": datetime(2000, 1, 1, tzinfo=UTC)}}) == names(
        (await m.find(limit=100)).items
    )
    assert await found(m, {"updated_at": {"lt": "2000-01-01T00:00:00Z"}}) == []
    assert await m.count() == 6
    assert await m.count({"tags": "model"}) == 3


async def test_order_and_pages(manager: ArtifactManager) -> None:
    await seed(manager)
    m = manager
    by_acc = await m.find({"level": 1}, order_by="data.metadata.accuracy")
    # numbers by value, then strings, then documents without the path
    assert names(by_acc.items) == ["m2", "m1", "m3", "d2", "d1"]
    desc = await m.find({"level": 1}, order_by="-data.metadata.accuracy")
    assert names(desc.items) == ["d1", "d2", "m3", "m1", "m2"]
    assert names((await m.find(order_by="-id")).items) == list(reversed(names((await m.find()).items)))
    for order in ("id", "-id", "created_at", "-updated_at", "data.metadata.title", "-data.metadata.accuracy"):
        whole = names((await m.find(order_by=order, limit=100)).items)
        pages: list[str] = []
        after = None
        while True:
            page = await m.find(order_by=order, limit=2, after=after)
            pages.extend(names(page.items))
            after = page.next_cursor
            if after is None:
                break
        assert pages == whole, order


async def test_pages_stable_while_writing(manager: ArtifactManager) -> None:
    m = manager
    saved = [await m.save(ArtifactIn(data={"name": f"a{i:02}", "n": i})) for i in range(20)]
    first = await m.find({"data.n": {"gte": 0}}, limit=7)
    assert names(first.items) == [f"a{i:02}" for i in range(7)]
    # writes between pages: an update of a row already listed, a delete ahead, a new artifact
    await m.save(ArtifactIn(id=saved[1].id, data={"name": "a01", "n": 100}))
    await m.delete_by_id(saved[10].id)
    await m.save(ArtifactIn(data={"name": "new", "n": 5}))
    rest: list[str] = []
    after = first.next_cursor
    while after is not None:
        page = await m.find({"data.n": {"gte": 0}}, limit=7, after=after)
        rest.extend(names(page.items))
        after = page.next_cursor
    assert rest == [f"a{i:02}" for i in range(7, 20) if i != 10] + ["new"]


async def test_as_of(timed: ArtifactManager, clock: FixedClock) -> None:
    m = timed
    root = await m.save(ArtifactIn(data={"name": "root"}), actor="ann")
    clock.advance(DAY)
    a = await m.save(ArtifactIn(parent_id=root.id, data={"name": "a", "s": "draft", "content": b"x"}, tags=["t"]))
    b = await m.save(ArtifactIn(parent_id=a.id, data={"name": "b", "s": "draft"}))
    clock.advance(DAY)
    before = clock()
    clock.advance(DAY)
    await m.patch(a.id, {"s": "published"})
    await m.save(ArtifactIn(id=b.id, parent_id=root.id, data={"name": "b", "s": "published"}, tags=["t"]))
    await m.save(ArtifactIn(data={"name": "c", "s": "draft"}))
    await m.delete_by_id(root.id, cascade=True)
    now = await m.find({"data.s": "published"})
    assert names(now.items) == []
    past = await m.find({"data.s": "draft"}, as_of=before)
    assert names(past.items) == ["a", "b"]
    assert [i.level for i in past.items] == [1, 2]
    assert [i.version for i in past.items] == [1, 1]
    assert past.items[0].tags == ["t"]
    assert past.items[0].data == {"name": "a", "s": "draft"}
    full = await m.find({"data.s": "draft"}, as_of=before, include_content=True)
    assert full.items[0].data == {"name": "a", "s": "draft", "content": b"x"}
    assert names((await m.find({"level": 2}, as_of=before)).items) == ["b"]
    assert names((await m.find({"tags": "t", "level": {"gte": 1}}, as_of=before)).items) == ["a"]
    later = clock() - timedelta(microseconds=1)
    assert names((await m.find({"data.s": "published"}, as_of=later + timedelta(microseconds=1))).items) == []
    assert names((await m.find(as_of=START - DAY)).items) == []
    # pages over the past
    one = await m.find(as_of=before, limit=1, order_by="-updated_at")
    two = await m.find(as_of=before, limit=1, order_by="-updated_at", after=one.next_cursor)
    three = await m.find(as_of=before, limit=1, order_by="-updated_at", after=two.next_cursor)
    assert sorted(names(one.items + two.items + three.items)) == ["a", "b", "root"]
    assert three.next_cursor is None


async def _indexes(engine: Any) -> set[str]:
    from sqlalchemy import text

    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_artifacts'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'ledger_artifacts' AND schemaname = current_schema()"
    )
    async with engine.connect() as conn:
        return {str(r[0]) for r in (await conn.execute(text(query))).all()}


async def _plan(engine: Any, where: dict[str, Any]) -> str:
    """The backend's plan for find's statement (PostgreSQL told to avoid sequential scans: the table is tiny)."""
    from sqlalchemy import text

    from artifact_ledger.query import compile as sql
    from artifact_ledger.query.language import parse_order, parse_where

    stmt, _ = sql.page_statement(sql.source(engine.dialect.name), parse_where(where), parse_order("id"), None, 10)
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            compiled = stmt.compile(engine.sync_engine)
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())  # a value bound twice: twice
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, params)
            return " ".join(str(r[-1]) for r in rows.all())
        await conn.execute(text("SET enable_seqscan = off"))
        compiled = stmt.compile(engine.sync_engine)
        rows = await conn.exec_driver_sql("EXPLAIN " + compiled.string, tuple(compiled.params.values()))
        return " ".join(str(r[0]) for r in rows.all())


async def test_create_and_drop_index(manager: ArtifactManager, engine: Any) -> None:
    from artifact_ledger import Ledger

    ledger = Ledger(engine, keyring=SECRET)
    await seed(manager)
    name = await ledger.create_index("data.metadata.status")
    assert await ledger.create_index("data.metadata.status") == name  # idempotent
    assert name in await _indexes(engine)
    assert name in await _plan(engine, {"data.metadata.status": "published"})
    assert await found(manager, {"data.metadata.status": "published"}) == ["m1", "m3", "d1"]
    await ledger.rebuild()
    assert name in await _indexes(engine)
    assert await found(manager, {"data.metadata.status": "published"}) == ["m1", "m3", "d1"]
    await ledger.drop_index("data.metadata.status")
    assert name not in await _indexes(engine)
    await ledger.drop_index("data.metadata.status")  # nothing to drop: no error
    for bad in ("data.x'); DROP TABLE ledger_events; --", "metadata.status", "data.content"):
        with pytest.raises(InvalidQueryError):
            await ledger.create_index(bad)
    assert await manager.count() == 6


async def _events_indexes(engine: Any) -> set[str]:
    from sqlalchemy import text

    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_events'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'ledger_events' AND schemaname = current_schema()"
    )
    async with engine.connect() as conn:
        return {str(r[0]) for r in (await conn.execute(text(query))).all()}


async def _plan_at(engine: Any, where: dict[str, Any], position: int) -> str:
    """The backend's plan for find's statement over the state at log ``position`` (as_of)."""
    from sqlalchemy import text

    from artifact_ledger.query import compile as sql
    from artifact_ledger.query.language import parse_order, parse_where

    src = sql.source(engine.dialect.name, position)
    stmt, _ = sql.page_statement(src, parse_where(where), parse_order("id"), None, 10)
    statement = str(stmt.compile(engine.sync_engine, compile_kwargs={"literal_binds": True}))
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement)
            return " ".join(str(r[-1]) for r in rows.all())
        await conn.execute(text("SET enable_seqscan = off"))
        rows = await conn.exec_driver_sql("EXPLAIN " + statement)
        return " ".join(str(r[0]) for r in rows.all())


async def test_as_of_filters_seek_the_events_twin_index(manager: ArtifactManager, engine: Any) -> None:
    """create_index also indexes the state events' payloads: a past filter seeks the versions that match
    instead of reading every live artifact's state; rebuild makes the twin again, drop_index drops both."""
    from sqlalchemy import text

    from artifact_ledger import Ledger
    from artifact_ledger.query.indexes import index_name

    ledger = Ledger(engine, keyring=SECRET)
    made = await seed(manager)
    before = datetime.now(UTC)
    await manager.patch(made["m2"].id, {"metadata": {"status": "published"}})
    await manager.patch(made["m1"].id, {"metadata": {"status": "draft"}})
    path, where = "data.metadata.status", {"data.metadata.status": "published"}
    twin = index_name(path, events=True)
    assert twin != index_name(path)
    assert twin not in await _events_indexes(engine)
    assert await found(manager, where, as_of=before) == ["m1", "m3", "d1"]
    await ledger.create_index(path)
    assert twin in await _events_indexes(engine)
    assert twin in await _plan_at(engine, where, 6)
    assert await found(manager, where, as_of=before) == ["m1", "m3", "d1"]  # the versions current then
    assert await found(manager, where) == ["m2", "m3", "d1"]
    async with engine.begin() as conn:  # lost behind the ledger's back
        await conn.execute(text(f"DROP INDEX {twin}"))
    await ledger.rebuild()
    assert twin in await _events_indexes(engine)
    await ledger.drop_index(path)
    assert twin not in await _events_indexes(engine)
    assert await found(manager, where, as_of=before) == ["m1", "m3", "d1"]


INJECTIONS = [
    "data.a'; DROP TABLE ledger_events; --",
    'data.a".b',
    "data.a[0]",
    "data.a\x00",
    "data.a b",
    "data.$.x",
    "data.a)/*",
    "data..a",
    "data.",
    "level; DELETE FROM ledger_artifacts",
]


@pytest.mark.parametrize("key", INJECTIONS)
async def test_injection_in_paths_is_refused(manager: ArtifactManager, key: str) -> None:
    await seed(manager)
    with pytest.raises(InvalidQueryError) as info:
        await manager.find({key: 1})
    assert isinstance(info.value, LedgerError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidQueryError):
        await manager.find(order_by=key)
    assert await manager.count() == 6


VALUES_AS_TEXT = ["x' OR '1'='1", "'); DROP TABLE ledger_events; --", '"}]', "\\", "%", "_"]


@pytest.mark.parametrize("value", VALUES_AS_TEXT)
async def test_values_are_only_data(manager: ArtifactManager, value: str) -> None:
    await seed(manager)
    await manager.save(ArtifactIn(data={"name": "odd", "v": value}))
    assert await found(manager, {"data.v": value}) == ["odd"]
    assert await found(manager, {"data.v": {"prefix": value}}) == ["odd"]
    assert await found(manager, {"data.name": value}) == []
    assert await found(manager, {"tags": value}) == []
    assert await manager.count() == 7


def test_no_filter_string_changes_the_sql_structure() -> None:
    """Two filters of the same shape compile to the same SQL text whatever their values: values are bound."""
    from sqlalchemy.dialects import postgresql, sqlite

    from artifact_ledger.query import compile as sql
    from artifact_ledger.query.language import parse_order, parse_where

    shape = lambda v: {  # noqa: E731
        "data.metadata.status": v,
        "tags": {"in": [v]},
        "created_by": {"prefix": v},
        "$not": {"data.a.b": {"contains": v}},
    }
    for dialect, compiler in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        texts = set()
        for v in ("plain", "x' OR 1=1 --", "'); DROP TABLE ledger_events; --", '"}]', "1) OR (1=1"):
            stmt, _ = sql.page_statement(sql.source(dialect), parse_where(shape(v)), parse_order("id"), None, 10)
            compiled = stmt.compile(dialect=compiler)
            assert v not in compiled.string
            texts.add(compiled.string)
        assert len(texts) == 1


BAD = [
    ({"data.a": {"between": [1, 2]}}, "unknown operator 'between'"),
    ({"data.a": {"gt": True}}, "takes a number or a string"),
    ({"data.a": {"gt": None}}, "takes a number or a string"),
    ({"data.a": {"in": "abc"}}, "takes a list"),
    ({"data.a": {"exists": "yes"}}, "takes true or false"),
    ({"data.a": {"prefix": 3}}, "takes a string"),
    ({"data.a": float("nan")}, "not a finite number"),
    ({"data.a": 2**64}, "beyond 64 bits"),
    ({"data.a": [1, 2]}, "takes a string, number"),
    ({"data.a": {}}, "empty operator dict"),
    ({"data.content.x": 1}, "blob"),
    ({"data": 1}, "must start with 'data.'"),
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"$nor": []}, "unknown combinator"),
    ({"$or": []}, "non-empty list"),
    ({"$or": {"a": 1}}, "takes a list"),
    ({"$not": [1]}, "must be a dict"),
    ({"level": "1"}, "takes an int"),
    ({"level": {"contains": 1}}, "does not take contains"),
    ({"tags": {"gt": "a"}}, "does not take gt"),
    ({"tags": 3}, "takes a string"),
    ({"parent_id": "nope"}, "not an artifact id"),
    ({"created_at": "yesterday"}, "not an ISO 8601 time"),
    ({"created_at": datetime(2026, 1, 1)}, "no time zone"),
    ({"data.a": "x\x00"}, "NUL"),
    ({1: 2}, "keys must be strings"),
    ("data.a=1", "must be a dict"),
]


@pytest.mark.parametrize(("where", "message"), BAD)
async def test_bad_filters(manager: ArtifactManager, where: Any, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(").replace("$", r"\$")):
        await manager.find(where)
    with pytest.raises(InvalidQueryError):
        await manager.count(where)


async def test_bad_limits_orders_and_cursors(manager: ArtifactManager) -> None:
    m = manager
    for _ in range(3):
        await m.save(ArtifactIn(data={"name": "x", "n": 1}))
    for limit in (0, -1, 10_001, True, "5", 1.5):
        with pytest.raises(InvalidQueryError, match="limit"):
            await m.find(limit=limit)  # type: ignore[arg-type]
    for order in ("name", "-", "data", 3, "level"):
        with pytest.raises(InvalidQueryError, match="order_by"):
            await m.find(order_by=order)  # type: ignore[arg-type]
    page = await m.find({"data.n": 1}, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidQueryError, match="another query"):
        await m.find({"data.n": 2}, limit=1, after=page.next_cursor)
    with pytest.raises(InvalidQueryError, match="another query"):
        await m.find({"data.n": 1}, limit=1, after=page.next_cursor, order_by="-id")
    forged = page.next_cursor[:-3] + ("AAA" if not page.next_cursor.endswith("AAA") else "BBB")
    for bad in (forged, "garbage", "", "x" * 300_000, "eyJ9"):
        with pytest.raises(InvalidQueryError, match="cursor"):
            await m.find({"data.n": 1}, limit=1, after=bad)
    with pytest.raises(InvalidQueryError, match="cursor string"):
        await m.find(after=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="as_of"):
        await m.find(as_of=datetime(2026, 1, 1))
    with pytest.raises(InvalidArgumentError, match="include_content"):
        await m.find(include_content="no")  # type: ignore[arg-type]
    assert isinstance(InvalidQueryError("x"), InvalidArgumentError)
