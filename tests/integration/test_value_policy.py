"""One value policy on both backends: what PostgreSQL cannot store is refused on SQLite too.

Every bad value below is refused before the database with the same exact error class on
SQLite and PostgreSQL, and nothing is written (every table's row count and the log's head are
unchanged). The edge values that are allowed (astral-plane characters, strings of the longest
length a column takes, the 64-bit integer limits, nesting at the maximum depth) are stored on
both, and a SQLite ledger holding them exports and imports into PostgreSQL. SQLite databases
created in UTF-16 verify like UTF-8 ones.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    DataNotSerializableError,
    InvalidArgumentError,
    InvalidArtifactDataError,
    InvalidAttributionError,
    Ledger,
    MalformedIdError,
    attribution,
)
from artifact_ledger.codec import MAX_DEPTH
from artifact_ledger.integrity import head
from artifact_ledger.store.tables import metadata
from artifact_ledger.transfer import export_ledger, import_bundle
from ledger_support import SECRET, pg_engine

LONG = 255  # VARCHAR(255): actor, correlation/causation ids, content_type, data['type'], a tag


def nested(depth: int, kind: str = "list") -> Any:
    """A value ``depth`` levels deep (``nested(1)`` is ``[0]``), built without recursion."""
    value: Any = 0
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@dataclass
class Ctx:
    manager: ArtifactManager
    engine: AsyncEngine
    root: str


async def write_with(c: Ctx, **who: str) -> object:
    with attribution(**who):
        return await c.manager.save(ArtifactIn(data={"n": 1}))


async def save_all_with_one_bad(c: Ctx) -> object:
    items = [ArtifactIn(data={"n": i}) for i in range(5)] + [ArtifactIn(data={"bad": "\x00"})]
    return await c.manager.save_all(items)


async def events_since(c: Ctx, position: Any, limit: Any = 10) -> object:
    async with Ledger.open(c.engine, secret=SECRET) as ledger:
        return await ledger.events_since(position, limit=limit)


Call = Callable[[Ctx], Awaitable[object]]


def case(name: str, call: Call, error: type[Exception], *fragments: str) -> Any:
    return pytest.param(call, error, fragments, id=name)


def save(data: Any, **kwargs: Any) -> Call:
    return lambda c: c.manager.save(ArtifactIn(data=data), **kwargs)


def tagged(*tags: Any) -> Call:
    return lambda c: c.manager.save(ArtifactIn.model_construct(data={}, tags=list(tags)))


WRITES = [
    # NUL: PostgreSQL text cannot hold it, so no backend stores it
    case("NUL in a data value", save({"a": "x\x00y"}), InvalidArtifactDataError, "data['a']", "NUL"),
    case("NUL in a data key", save({"a\x00": 1}), InvalidArtifactDataError, "(key)", "NUL"),
    case("NUL deep in data", save({"m": [1, {"s": "\x00"}]}), InvalidArtifactDataError, "data['m'][1]['s']"),
    case("NUL as the whole data", save("\x00"), InvalidArtifactDataError, "NUL"),
    case(
        "NUL in an update",
        lambda c: c.manager.save(ArtifactIn(id=c.root, data={"v": "\x00"})),  # type: ignore[arg-type]
        InvalidArtifactDataError,
        "data['v']",
    ),
    case("NUL in a tag", tagged("ok", "a\x00"), InvalidArtifactDataError, "tag 1", "NUL"),
    case("NUL in data['type']", save({"type": "t\x00"}), InvalidArtifactDataError, "data['type']", "NUL"),
    case(
        "NUL in content_type",
        save({"content": b"x", "content_type": "text/plain\x00"}),
        InvalidArtifactDataError,
        "content_type",
        "NUL",
    ),
    case("NUL in actor", save({}, actor="a\x00"), InvalidAttributionError, "actor", "NUL"),
    case("NUL in reason", save({}, reason="\x00"), InvalidAttributionError, "reason", "NUL"),
    case("NUL in correlation_id", lambda c: write_with(c, correlation_id="\x00"), InvalidAttributionError, "NUL"),
    case("NUL in causation_id", lambda c: write_with(c, causation_id="c\x00"), InvalidAttributionError, "NUL"),
    case("NUL in one item of save_all", save_all_with_one_bad, InvalidArtifactDataError, "data['bad']"),
    case(
        "NUL in a move's actor",
        lambda c: c.manager.move(c.root, None, actor="\x00"),
        InvalidAttributionError,
        "NUL",
    ),
    case(
        "NUL in a delete's reason",
        lambda c: c.manager.delete_by_id(c.root, reason="\x00"),
        InvalidAttributionError,
        "NUL",
    ),
    # lone surrogates: no UTF-8 encoding
    case("lone surrogate in a data value", save({"a": "\ud800"}), DataNotSerializableError, "lone surrogate"),
    case("lone surrogate in a data key", save({"\udfff": 1}), DataNotSerializableError, "(key)"),
    case("lone surrogate in a tag", tagged("\ud800"), InvalidArtifactDataError, "tag 0", "lone surrogate"),
    case(
        "lone surrogate in content_type",
        save({"content": b"x", "content_type": "a\udc00"}),
        InvalidArtifactDataError,
        "content_type",
        "lone surrogate",
    ),
    case("lone surrogate in actor", save({}, actor="\ud800"), InvalidAttributionError, "actor"),
    case("lone surrogate in reason", save({}, reason="\udc00"), InvalidAttributionError, "reason"),
    case(
        "lone surrogate in a restore's actor",
        lambda c: c.manager.restore(c.root, actor="\ud800"),
        InvalidAttributionError,
        "actor",
    ),
    # over-long text for bounded columns
    case("a tag of 256 characters", tagged("x" * 256), InvalidArtifactDataError, "tag 0", "256", "255"),
    case("65 tags", tagged(*(f"t{i}" for i in range(65))), InvalidArtifactDataError, "65 tags", "64"),
    case("a tag that is not text", tagged(5), InvalidArtifactDataError, "tag 0", "int"),
    case(
        "content_type of 256 characters",
        save({"content": b"x", "content_type": "a/" + "b" * 254}),
        InvalidArtifactDataError,
        "content_type",
        "256 characters",
    ),
    case("data['type'] of 256 characters", save({"type": "t" * 256}), InvalidArtifactDataError, "256", "255"),
    case("actor of 256 characters", save({}, actor="a" * 256), InvalidAttributionError, "256", "255"),
    case("reason of 10,001 characters", save({}, reason="r" * 10_001), InvalidAttributionError, "10000"),
    case(
        "correlation_id of 256 characters",
        lambda c: write_with(c, correlation_id="c" * 256),
        InvalidAttributionError,
        "correlation_id",
    ),
    case(
        "causation_id of 256 characters",
        lambda c: write_with(c, causation_id="c" * 256),
        InvalidAttributionError,
        "causation_id",
    ),
    # nesting
    case(
        f"data nested {MAX_DEPTH + 1} levels",
        save({"a": nested(MAX_DEPTH)}),
        InvalidArtifactDataError,
        f"deeper than {MAX_DEPTH} levels",
    ),
    case("100,000 nested lists", save(nested(100_000)), InvalidArtifactDataError, "deeper than"),
    case("100,000 nested dicts", save(nested(100_000, "dict")), InvalidArtifactDataError, "deeper than"),
    case(
        "100,000 nested lists as content",
        save({"content": nested(100_000)}),
        InvalidArtifactDataError,
        "nor pickled",
    ),
    # numbers JSON cannot carry exactly
    case("2**64 in data", save({"n": 2**64}), DataNotSerializableError, "beyond 64 bits"),
    case("-2**63 - 1 in data", save({"n": -(2**63) - 1}), DataNotSerializableError, "beyond 64 bits"),
    case("NaN in data", save({"x": math.nan}), DataNotSerializableError, "nan"),
    case("infinity in data", save({"x": math.inf}), DataNotSerializableError, "inf"),
    case("-infinity in data", save({"x": [-math.inf]}), DataNotSerializableError, "data['x'][0]"),
    # NumPy values with no exact JSON form (exact ones are converted: test_numpy_values.py)
    case("a NumPy complex", save({"n": [np.complex128(1j)]}), DataNotSerializableError, "data['n'][0]", "complex"),
    case("a NumPy datetime64", save({"t": np.datetime64("2026-01-01")}), DataNotSerializableError, "ISO strings"),
    case("a NumPy object array", save({"a": np.array([1, None])}), DataNotSerializableError, "dtype object"),
    case("a NumPy NaN", save({"x": np.float32("nan")}), DataNotSerializableError, "data['x']", "numpy.float32"),
    case("a Decimal", save({"d": Decimal("0.1")}), DataNotSerializableError, "Decimal"),
    case("a float subclass", save({"f": type("F", (float,), {})(1.5)}), DataNotSerializableError, "a F,"),
    case("an actor that is not text", save({}, actor=5), InvalidAttributionError, "int"),
    # arguments of the wrong type
    case("save of a dict", lambda c: c.manager.save({"data": {}}), InvalidArgumentError, "ArtifactIn", "dict"),  # type: ignore[arg-type]
    case("save of None", lambda c: c.manager.save(None), InvalidArgumentError, "ArtifactIn"),  # type: ignore[arg-type]
    case("save_all of None", lambda c: c.manager.save_all(None), InvalidArgumentError, "iterable"),  # type: ignore[arg-type]
    case("save_all of dicts", lambda c: c.manager.save_all([{"data": {}}]), InvalidArgumentError, "item 0"),  # type: ignore[list-item]
    case("save_all of one ArtifactIn", lambda c: c.manager.save_all(ArtifactIn(data={})), InvalidArgumentError),  # type: ignore[arg-type]
    case(
        "an id that is text, not a ULID",
        lambda c: c.manager.save(ArtifactIn.model_construct(id="../../etc/passwd", data={})),
        MalformedIdError,
        "not a valid ULID",
    ),
    case(
        "a parent_id that is an int",
        lambda c: c.manager.save(ArtifactIn.model_construct(parent_id=5, data={})),
        MalformedIdError,
        "parent id 5",
    ),
    case(
        "tags None", lambda c: c.manager.save(ArtifactIn.model_construct(data={}, tags=None)), InvalidArtifactDataError
    ),
    case(
        "tags a string",
        lambda c: c.manager.save(ArtifactIn.model_construct(data={}, tags="abc")),
        InvalidArtifactDataError,
        "list of strings",
    ),
    case(
        "revert to_version None",
        lambda c: c.manager.revert(c.root, to_version=None),  # type: ignore[arg-type]
        InvalidArgumentError,
        "to_version",
    ),
    case(
        "cascade='no'",
        lambda c: c.manager.delete_by_id(c.root, cascade="no"),  # type: ignore[arg-type]
        InvalidArgumentError,
        "cascade must be True or False",
    ),
]

NAIVE = datetime(2025, 1, 1)
NO_UTC = datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))

READS = [
    case("audit actor with NUL", lambda c: c.manager.audit(actor="a\x00"), InvalidArgumentError, "NUL"),
    case("audit actor lone surrogate", lambda c: c.manager.audit(actor="a\ud800"), InvalidArgumentError, "surrogate"),
    case("audit actor an int", lambda c: c.manager.audit(actor=5), InvalidArgumentError, "int 5"),  # type: ignore[arg-type]
    case("audit actors with an int", lambda c: c.manager.audit(actor=["a", 1]), InvalidArgumentError),  # type: ignore[list-item]
    case("audit actor bytes", lambda c: c.manager.audit(actor=b"alice"), InvalidArgumentError, "bytes"),  # type: ignore[arg-type]
    case("audit event_type with NUL", lambda c: c.manager.audit(event_type="\x00"), InvalidArgumentError, "NUL"),
    case("audit event_type surrogate", lambda c: c.manager.audit(event_type="\ud800"), InvalidArgumentError),
    case(
        "audit unknown event_type",
        lambda c: c.manager.audit(event_type="artifact.renamed"),
        InvalidArgumentError,
        "unknown event type",
    ),
    case("audit after 2**63", lambda c: c.manager.audit(after=2**63), InvalidArgumentError, "after"),
    case("audit after -1", lambda c: c.manager.audit(after=-1), InvalidArgumentError, "after"),
    case("audit after '1'", lambda c: c.manager.audit(after="1"), InvalidArgumentError, "str '1'"),  # type: ignore[arg-type]
    case("audit after 1.0", lambda c: c.manager.audit(after=1.0), InvalidArgumentError, "float"),  # type: ignore[arg-type]
    case("audit after True", lambda c: c.manager.audit(after=True), InvalidArgumentError, "bool"),
    case("audit limit 0", lambda c: c.manager.audit(limit=0), InvalidArgumentError, "limit"),
    case("audit limit 10,001", lambda c: c.manager.audit(limit=10_001), InvalidArgumentError, "10000"),
    case("audit limit 2**70", lambda c: c.manager.audit(limit=2**70), InvalidArgumentError, "limit"),
    case("audit limit None", lambda c: c.manager.audit(limit=None), InvalidArgumentError, "NoneType"),  # type: ignore[arg-type]
    case("audit since naive", lambda c: c.manager.audit(since=NAIVE), InvalidArgumentError, "naive"),
    case("audit since text", lambda c: c.manager.audit(since="2025-01-01"), InvalidArgumentError, "str"),  # type: ignore[arg-type]
    case("audit until an int", lambda c: c.manager.audit(until=0), InvalidArgumentError, "int"),  # type: ignore[arg-type]
    case("audit since year 1 at UTC+1", lambda c: c.manager.audit(since=NO_UTC), InvalidArgumentError, "no UTC"),
    case(
        "find_by_id version 2**31",
        lambda c: c.manager.find_by_id(c.root, version=2**31),
        InvalidArgumentError,
        "2147483647",
    ),
    case("find_by_id version -1", lambda c: c.manager.find_by_id(c.root, version=-1), InvalidArgumentError),
    case("find_by_id version '1'", lambda c: c.manager.find_by_id(c.root, version="1"), InvalidArgumentError),  # type: ignore[arg-type]
    case("find_by_id version 1.5", lambda c: c.manager.find_by_id(c.root, version=1.5), InvalidArgumentError),  # type: ignore[arg-type]
    case("find_by_id as_of text", lambda c: c.manager.find_by_id(c.root, as_of="now"), InvalidArgumentError),  # type: ignore[arg-type]
    case("find_by_id as_of naive", lambda c: c.manager.find_by_id(c.root, as_of=NAIVE), InvalidArgumentError),
    case(
        "find_by_id version and as_of",
        lambda c: c.manager.find_by_id(c.root, version=1, as_of=datetime.now(UTC)),
        InvalidArgumentError,
        "not both",
    ),
    case(
        "find_by_id include_content 'no'",
        lambda c: c.manager.find_by_id(c.root, include_content="no"),  # type: ignore[arg-type]
        InvalidArgumentError,
        "include_content",
    ),
    case("find_all include_content 1", lambda c: c.manager.find_all(include_content=1), InvalidArgumentError),  # type: ignore[arg-type]
    case("find_paginated page 2**70", lambda c: c.manager.find_paginated(2**70, 10), InvalidArgumentError, "page"),
    case("find_paginated page '1'", lambda c: c.manager.find_paginated("1", 10), InvalidArgumentError, "page"),  # type: ignore[arg-type]
    case("find_paginated size 2**70", lambda c: c.manager.find_paginated(1, 2**70), InvalidArgumentError, "size"),
    case("find_paginated size 0", lambda c: c.manager.find_paginated(1, 0), InvalidArgumentError, "size"),
    case("iter_all page_size '5'", lambda c: anext(c.manager.iter_all(page_size="5")), InvalidArgumentError),  # type: ignore[arg-type]
    case("iter_all page_size 2**70", lambda c: anext(c.manager.iter_all(page_size=2**70)), InvalidArgumentError),
    case("find_all_by_id None", lambda c: c.manager.find_all_by_id(None), InvalidArgumentError, "sequence"),  # type: ignore[arg-type]
    case("find_all_by_id one id", lambda c: c.manager.find_all_by_id(c.root), InvalidArgumentError, "sequence"),  # type: ignore[arg-type]
    case("find_all_by_id an int", lambda c: c.manager.find_all_by_id(5), InvalidArgumentError),  # type: ignore[arg-type]
    case("find_subtree as_of text", lambda c: c.manager.find_subtree(c.root, as_of="x"), InvalidArgumentError),  # type: ignore[arg-type]
    case("build_tree as_of naive", lambda c: c.manager.build_tree(c.root, as_of=NAIVE), InvalidArgumentError),
    case("diff v1 '1'", lambda c: c.manager.diff(c.root, "1"), InvalidArgumentError, "v1"),  # type: ignore[arg-type]
    case("diff v1 2**70", lambda c: c.manager.diff(c.root, 2**70), InvalidArgumentError, "v1"),
    case("diff v2 -1", lambda c: c.manager.diff(c.root, 1, -1), InvalidArgumentError, "v2"),
    case(
        "history include_content None",
        lambda c: c.manager.history(c.root, include_content=None),  # type: ignore[arg-type]
        InvalidArgumentError,
    ),
    case("events_since 2**63", lambda c: events_since(c, 2**63), InvalidArgumentError, "position"),
    case("events_since -1", lambda c: events_since(c, -1), InvalidArgumentError, "position"),
    case("events_since '0'", lambda c: events_since(c, "0"), InvalidArgumentError, "position"),
    case("events_since limit 0", lambda c: events_since(c, 0, 0), InvalidArgumentError, "limit"),
]


def test_the_case_counts() -> None:
    assert (len(WRITES), len(READS)) == (58, 49)


async def state(engine: AsyncEngine) -> tuple[dict[str, int], str]:
    """Every table's row count and the log's head hash."""
    async with engine.connect() as conn:
        counts = {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t in metadata.sorted_tables
        }
    return counts, (await head(engine)).hash


@pytest.mark.parametrize(("call", "error", "fragments"), WRITES + READS)
async def test_refused_alike_and_nothing_written(
    call: Call, error: type[Exception], fragments: tuple[str, ...], manager: ArtifactManager, engine: AsyncEngine
) -> None:
    root = await manager.save(ArtifactIn(data={"name": "root", "content": b"\x00bytes"}, tags=["t"]))
    await manager.save(ArtifactIn(id=root.id, data={"name": "root", "v": 2}))
    ctx = Ctx(manager, engine, str(root.id))
    before = await state(engine)
    with pytest.raises(Exception) as caught:  # noqa: PT011  # the exact type is checked below
        await asyncio.wait_for(call(ctx), timeout=30)
    assert type(caught.value) is error, repr(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))
    assert len(str(caught.value)) < 2000  # a message, not a dump of the value
    assert await state(engine) == before
    assert (await manager.save(ArtifactIn(data={"probe": True}))).version == 1  # the session is still usable


EDGE_DATA: dict[str, Any] = {
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 \U0010ffff",
    "combining": "e\u0301",
    "max_int": 2**63 - 1,
    "min_int": -(2**63),
    "max_unsigned": 2**64 - 1,
    "tiny": 5e-324,
    "big": 1.7976931348623157e308,
    "backslash_u0000": "\\u0000 is six characters, not a NUL",
    "deep": nested(MAX_DEPTH - 1),
    "type": "t" * LONG,
    "😀": "an astral key",
}
EDGE_TAGS = ["😀" * LONG, "x" * LONG, "\U0001f600tag"]
EDGE_CONTENT_TYPE = "application/octet-stream; name=" + "n" * (LONG - 31)
EDGE_WHO = {"actor": "🦊" * LONG, "correlation_id": "c" * LONG, "causation_id": "\U00010000" * LONG}


async def save_edges(manager: ArtifactManager) -> list[str]:
    with attribution(**EDGE_WHO):
        a = await manager.save(ArtifactIn(data=EDGE_DATA, tags=EDGE_TAGS), reason="r" * 10_000)
        b = await manager.save(
            ArtifactIn(
                parent_id=a.id, data={"content": b"\x00\x00 NUL bytes are content", "content_type": EDGE_CONTENT_TYPE}
            )
        )
        c = await manager.save(ArtifactIn(parent_id=a.id, data={"content": {"nul": "\x00", "n": 2**64 - 1}}))
    return [str(a.id), str(b.id), str(c.id)]


async def check_edges(manager: ArtifactManager, ids: list[str]) -> None:
    a, b, c = [await manager.find_by_id(i) for i in ids]
    assert a is not None
    assert b is not None
    assert c is not None
    assert a.data == EDGE_DATA
    assert a.tags == EDGE_TAGS
    assert a.created_by == EDGE_WHO["actor"]
    assert b.data["content"] == b"\x00\x00 NUL bytes are content"
    assert c.data["content"] == {"nul": "\x00", "n": 2**64 - 1}
    entries = (await manager.audit(actor=EDGE_WHO["actor"], artifact_id=ids[0])).entries
    assert [(e.actor, e.correlation_id, e.causation_id) for e in entries] == [
        (EDGE_WHO["actor"], EDGE_WHO["correlation_id"], EDGE_WHO["causation_id"])
    ]


async def test_the_edge_values_are_stored_on_every_backend(manager: ArtifactManager, engine: AsyncEngine) -> None:
    ids = await save_edges(manager)
    await check_edges(manager, ids)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
    assert report.ok, report.problem


async def test_a_sqlite_export_of_the_edge_values_imports_into_postgresql(tmp_path: Path, pg_schema: str) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'edge.db'}", secret=SECRET) as source:
        async with source.manager() as manager:
            ids = await save_edges(manager)
        manifest = await export_ledger(source.engine, tmp_path / "bundle")
    pg = pg_engine(pg_schema)
    try:
        async with Ledger.open(pg, secret=SECRET) as target:
            result = await import_bundle(target.engine, tmp_path / "bundle")
            assert result.events_imported == manifest.event_count == 3
            report = await target.verify()
            assert report.ok, report.problem
            assert report.head_hash == manifest.head_hash
            async with target.manager() as manager:
                await check_edges(manager, ids)
    finally:
        await pg.dispose()


def utf16_database(path: Path, encoding: str) -> str:
    """An empty SQLite file whose text encoding is ``encoding`` (fixed once the first table exists)."""
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA encoding = '{encoding}'")
    conn.execute("CREATE TABLE fix_the_encoding (x)")
    conn.execute("DROP TABLE fix_the_encoding")
    conn.commit()
    assert conn.execute("PRAGMA encoding").fetchone()[0] == encoding
    conn.close()
    return f"sqlite+aiosqlite:///{path}"


@pytest.mark.parametrize("encoding", ["UTF-16le", "UTF-16be"])
async def test_a_utf16_sqlite_ledger_verifies_exports_and_detects_tampering(
    encoding: str, tmp_path: Path, pg_schema: str
) -> None:
    url = utf16_database(tmp_path / "u16.db", encoding)
    async with Ledger.open(url, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            ids = await save_edges(manager)
            await manager.move(ids[2], None, actor="mövé")
            await check_edges(manager, ids)
        report = await ledger.verify()
        assert report.ok, report.problem
        assert report.events_checked == 4
        manifest = await export_ledger(ledger.engine, tmp_path / "bundle")
        async with ledger.engine.begin() as conn:  # as a DBA would: the guard off, the row changed, the guard back
            guard = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'ledger_events_no_update'"
            ddl = (await conn.execute(text(guard))).scalar_one()
            await conn.execute(text("DROP TRIGGER ledger_events_no_update"))
            await conn.execute(text("UPDATE ledger_events SET actor = 'mallory' WHERE position = 4"))
            await conn.execute(text(ddl))
        broken = await ledger.verify()
        assert (broken.ok, broken.broken_position, broken.reason) == (False, 4, "modified")
    pg = pg_engine(pg_schema)
    try:
        async with Ledger.open(pg, secret=SECRET) as target:
            await import_bundle(target.engine, tmp_path / "bundle")
            imported = await target.verify()
            assert imported.ok, imported.problem
            assert imported.head_hash == manifest.head_hash == report.head_hash
    finally:
        await pg.dispose()
