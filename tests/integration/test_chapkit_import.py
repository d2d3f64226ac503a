"""Import from chapkit: a table built the way chapkit builds it (PickleType(protocol=4) data)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    PickleType,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from ulid import ULID

from artifact_ledger import ArtifactIn
from artifact_ledger.chapkit_import import ACTOR, ChapkitRowError, _order, import_chapkit
from artifact_ledger.errors import UntrustedContentError
from artifact_ledger.ledger import Ledger
from ledger_support import HIERARCHY, SECRET


class Base(DeclarativeBase):
    pass


class ChapkitArtifact(Base):
    """chapkit's ``artifacts`` table: the data column is an unsigned pickle."""

    __tablename__ = "artifacts"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(String(26), ForeignKey("artifacts.id"), nullable=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[object] = mapped_column(PickleType(protocol=4))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)


T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def chapkit_table(engine: AsyncEngine) -> dict[str, str]:
    """Root, two children and a grandchild, with chapkit's own level numbers."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    ids = {name: str(ULID()) for name in ("root", "a", "b", "leaf")}
    rows = [
        ("root", None, 0, {"type": "training", "metadata": {"status": "success"}}, 0, []),
        ("a", "root", 1, {"type": "prediction", "content": b"\x01\x02raw"}, 1, []),
        ("b", "root", 1, {"type": "prediction", "content": {"rows": [[1, 2]]}}, 2, ["x", "y"]),
        ("leaf", "a", 2, {"type": "evaluation", "metrics": {"rmse": 0.3}}, 3, ["final"]),
    ]
    sessions = async_sessionmaker(engine)
    async with sessions() as session:
        for name, parent, level, data, minutes, tags in rows:
            session.add(
                ChapkitArtifact(
                    id=ids[name],
                    parent_id=ids[parent] if parent else None,
                    level=level,
                    data=data,
                    created_at=T0 + timedelta(minutes=minutes),
                    updated_at=T0 + timedelta(minutes=minutes, seconds=30),
                    tags=tags,
                )
            )
            await session.flush()
        await session.commit()
    return ids


async def test_import_keeps_ids_parents_times_and_content(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()
    ids = await chapkit_table(engine)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        with pytest.raises(UntrustedContentError, match="--trust-source"):
            await import_chapkit(engine, ledger)
        result = await import_chapkit(engine, ledger, trust_source=True)
        assert (result.imported, result.skipped) == (4, 0)
        async with ledger.manager(HIERARCHY) as manager:
            tree = await manager.build_tree(ids["root"])
            assert tree is not None
            assert [str(c.id) for c in tree.children or []] == sorted([ids["a"], ids["b"]])
            leaf = await manager.find_by_id(ids["leaf"])
            assert leaf is not None
            assert (str(leaf.parent_id), leaf.level, leaf.tags) == (ids["a"], 2, ["final"])
            assert leaf.created_at == T0 + timedelta(minutes=3)
            assert leaf.created_by == ACTOR
            a = await manager.find_by_id(ids["a"])
            assert a is not None
            assert a.data["content"] == b"\x01\x02raw"
            history = await manager.history(ids["b"])
            assert [(h.event_type, h.actor) for h in history] == [("artifact.created", ACTOR)]
            assert history[0].recorded_at == T0 + timedelta(minutes=2)
        again = await import_chapkit(engine, ledger, trust_source=True)
        assert (again.imported, again.skipped) == (0, 4)
        report = await ledger.verify()
        assert report.ok
        assert report.events_checked == 4


def test_order_puts_parents_first_even_when_clocks_disagree() -> None:
    rows = [("child", "parent", T0), ("parent", "root", T0 + timedelta(minutes=5)), ("root", None, T0)]
    assert list(_order(rows)) == ["root", "parent", "child"]
    with pytest.raises(ChapkitRowError, match="table 'artifacts', row x: parent_id names a parent ghost"):
        list(_order([("x", "ghost", T0)]))


def raw_table(name: str, *, text_data: bool = False, primary_key: bool = True) -> Table:
    """A chapkit-like table whose columns take any raw value, so tests can store what chapkit should not have."""
    return Table(
        name,
        MetaData(),
        Column("id", String(40), primary_key=primary_key),
        Column("parent_id", String(40)),
        Column("data", Text if text_data else LargeBinary),
        Column("tags", Text),
        Column("created_at", Text),
    )


def row(artifact_id: str, minutes: int, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": artifact_id,
        "parent_id": None,
        "data": pickle.dumps({"type": "t", "n": minutes}, protocol=4),
        "tags": '["x"]',
        "created_at": (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    return {**values, **changes}


async def fill(engine: AsyncEngine, table: Table, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
        await conn.execute(insert(table), rows)


async def assert_nothing_written(ledger: Ledger) -> None:
    assert await ledger.events_since(0) == []


async def test_a_created_at_in_the_future_is_refused_before_anything_is_written(
    make_engine: Callable[[], AsyncEngine],
) -> None:
    """A row in 2999 would fix the ledger's time there for good (recorded_at never goes backwards)."""
    engine = make_engine()
    ids = await chapkit_table(engine)
    future = str(ULID())
    sessions = async_sessionmaker(engine)
    async with sessions() as session:
        when = datetime(2999, 1, 1, tzinfo=UTC)
        session.add(ChapkitArtifact(id=future, parent_id=ids["leaf"], data={}, created_at=when, updated_at=when))
        await session.commit()
    async with Ledger.open(engine, secret=SECRET) as ledger:
        with pytest.raises(ChapkitRowError, match=f"table 'artifacts', row {future}: created_at 2999-01-01T00:00:00Z"):
            await import_chapkit(engine, ledger, trust_source=True)
        await assert_nothing_written(ledger)
        # A clock a little behind the source's (within the tolerance) is no reason to refuse.
        async with sessions() as session:
            soon = datetime.now(UTC) + timedelta(minutes=1)
            stored = await session.get(ChapkitArtifact, future)
            assert stored is not None
            stored.created_at = soon
            await session.commit()
        result = await import_chapkit(engine, ledger, trust_source=True)
        assert (result.imported, result.skipped) == (5, 0)


async def test_times_the_log_cannot_keep_are_counted_and_kept_in_the_reason(
    make_engine: Callable[[], AsyncEngine],
) -> None:
    engine = make_engine()
    ids = await chapkit_table(engine)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"already": "here"}))  # recorded now, after every chapkit row
        result = await import_chapkit(engine, ledger, trust_source=True)
        assert (result.imported, result.times_raised_by_ledger, result.times_raised_by_import) == (4, 4, 0)
        assert result.times_missing == 0
        async with ledger.manager() as manager:
            leaf = await manager.find_by_id(ids["leaf"])
            assert leaf is not None
            assert leaf.created_at > T0 + timedelta(days=1)  # the import's time, not chapkit's
            (created,) = await manager.history(ids["leaf"])
            assert created.reason == "imported from chapkit (table 'artifacts', created_at 2025-03-01T12:03:00Z)"


async def test_a_child_older_than_its_parent_and_a_null_time_are_counted(
    make_engine: Callable[[], AsyncEngine],
) -> None:
    engine = make_engine()
    parent, child, undated = str(ULID()), str(ULID()), str(ULID())
    table = raw_table("chapkit_times")
    await fill(
        engine,
        table,
        [row(parent, 10), row(child, 0, parent_id=parent), row(undated, 5, created_at=None)],
    )
    async with Ledger.open(engine, secret=SECRET) as ledger:
        result = await import_chapkit(engine, ledger, trust_source=True, table="chapkit_times")
        assert (result.imported, result.times_raised_by_ledger, result.times_raised_by_import) == (3, 0, 1)
        assert result.times_missing == 1
        async with ledger.manager() as manager:
            first = await manager.find_by_id(parent)
            second = await manager.find_by_id(child)
            assert first is not None
            assert second is not None
            assert first.created_at == second.created_at == T0 + timedelta(minutes=10)
            (created,) = await manager.history(child)
            assert created.reason is not None
            assert "created_at 2025-03-01T12:00:00Z" in created.reason
            (none,) = await manager.history(undated)
            assert none.reason == "imported from chapkit (table 'chapkit_times', created_at NULL)"


async def test_a_deleted_artifact_counts_as_imported_on_a_second_run(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()
    ids = await chapkit_table(engine)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await import_chapkit(engine, ledger, trust_source=True)).imported == 4
        async with ledger.manager() as manager:
            await manager.delete_by_id(ids["leaf"])
        again = await import_chapkit(engine, ledger, trust_source=True)
        assert (again.imported, again.skipped) == (0, 4)
        async with ledger.manager() as manager:
            assert await manager.find_by_id(ids["leaf"]) is None  # stays deleted


BAD_ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "not a pickle": ({"data": b'{"a": 1}'}, "data is not a readable pickle (UnpicklingError"),
    "bad tags JSON": ({"tags": "not json"}, "tags 'not json' is not JSON"),
    "tags an object": ({"tags": '{"k": "v"}'}, "tags is a JSON dict"),
    "tags not strings": ({"tags": "[1]"}, "tag 0 is int 1, not a string"),
    "created_at not a time": ({"created_at": "yesterday"}, "created_at 'yesterday' is not a time"),
    "id not a ULID": ({"id": "not-a-ulid"}, "id 'not-a-ulid' is not a ULID"),
    "parent_id not a ULID": ({"parent_id": "nope"}, "parent_id 'nope' is not a ULID"),
    "data the ledger refuses": (
        {"data": pickle.dumps({"when": datetime(2024, 1, 1)}, protocol=4)},
        "data['when'] is",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
async def test_a_bad_row_is_named_and_nothing_is_written(case: str, make_engine: Callable[[], AsyncEngine]) -> None:
    """More rows than one batch (500) come before the bad one: none of them is written either."""
    engine = make_engine()
    table = raw_table("chapkit_bad")
    good = [row(str(ULID()), minutes) for minutes in range(600)]
    changes, problem = BAD_ROWS[case]
    bad = row(str(ULID()), 700, **changes)
    await fill(engine, table, [*good, bad])
    async with Ledger.open(engine, secret=SECRET) as ledger:
        with pytest.raises(ChapkitRowError) as raised:
            await import_chapkit(engine, ledger, trust_source=True, table="chapkit_bad")
        message = str(raised.value)
        assert message.startswith(f"chapkit table 'chapkit_bad', row {bad['id']}: "), message
        assert problem in message, message
        assert message.endswith("nothing was imported")
        await assert_nothing_written(ledger)


async def test_data_stored_as_text_is_named(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()
    table = raw_table("chapkit_text", text_data=True)
    bad = row(str(ULID()), 1, data='{"a": 1}')
    await fill(engine, table, [bad])
    async with Ledger.open(engine, secret=SECRET) as ledger:
        with pytest.raises(ChapkitRowError, match=f"row {bad['id']}: data is stored as str"):
            await import_chapkit(engine, ledger, trust_source=True, table="chapkit_text")
        await assert_nothing_written(ledger)


async def test_an_id_two_rows_share_is_refused(make_engine: Callable[[], AsyncEngine]) -> None:
    """A table without a primary key may hold an id twice: importing would silently keep only one."""
    engine = make_engine()
    table = raw_table("chapkit_dup", primary_key=False)
    twice = str(ULID())
    await fill(engine, table, [row(twice, 0), row(str(ULID()), 1), row(twice, 2)])
    async with Ledger.open(engine, secret=SECRET) as ledger:
        with pytest.raises(ChapkitRowError, match=f"row {twice}: id {twice} is held by more than one row"):
            await import_chapkit(engine, ledger, trust_source=True, table="chapkit_dup")
        await assert_nothing_written(ledger)


async def test_a_row_whose_parent_was_deleted_in_the_ledger_is_named(make_engine: Callable[[], AsyncEngine]) -> None:
    """An import that stopped before a child, whose parent was then deleted in the ledger: the child cannot
    be saved under a deleted parent, and the error says so, naming the row (not "parent not found")."""
    engine = make_engine()
    table = raw_table("chapkit_orphaned")
    parent, child = str(ULID()), str(ULID())
    await fill(engine, table, [row(parent, 0)])
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await import_chapkit(engine, ledger, trust_source=True, table="chapkit_orphaned")
        async with ledger.manager() as manager:
            await manager.delete_by_id(parent)
        await fill(engine, table, [row(child, 1, parent_id=parent)])
        with pytest.raises(
            ChapkitRowError, match=f"row {child}: its parent {parent} was imported before and is deleted"
        ):
            await import_chapkit(engine, ledger, trust_source=True, table="chapkit_orphaned")


async def test_a_path_in_chapkit_content_is_kept_as_a_path_never_read(
    make_engine: Callable[[], AsyncEngine], tmp_path: Path
) -> None:
    """chapkit pickles a ``pathlib.Path`` as a value. A save streams the file a path names, so an
    import through ``save`` read whatever file the row named on the importing machine (or failed
    where there was none): the row's value must come through as the path it was."""
    engine = make_engine()
    secret_file = tmp_path / "not-for-the-ledger.txt"
    secret_file.write_bytes(b"a local file the import must not read")
    table = raw_table("chapkit_paths")
    named, gone = str(ULID()), str(ULID())
    await fill(
        engine,
        table,
        [
            row(named, 0, data=pickle.dumps({"type": "model", "content": secret_file}, protocol=4)),
            row(gone, 1, data=pickle.dumps({"type": "model", "content": tmp_path / "missing.bin"}, protocol=4)),
        ],
    )
    async with Ledger.open(engine, secret=SECRET) as ledger:
        result = await import_chapkit(engine, ledger, trust_source=True, table="chapkit_paths")
        assert (result.imported, result.skipped) == (2, 0)
        async with ledger.manager() as manager:
            for artifact_id, path in ((named, secret_file), (gone, tmp_path / "missing.bin")):
                out = await manager.find_by_id(artifact_id)
                assert out is not None
                assert out.data["content"] == path
                assert isinstance(out.data["content"], Path)
        assert (await ledger.verify()).ok
