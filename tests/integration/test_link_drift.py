"""Lineage links on the write path rest on the log, never on an edited ``ledger_links`` row.

``ledger_links`` is a cache anyone with the application's database credentials can edit. Each case
records A derived_from B and B derived_from C, edits the cache by SQL (a row deleted, planted,
closed, reopened, its ``valid_from`` moved, a whole path removed), then makes a link write whose
decision the edit would change. The write is refused with ``ProjectionDriftError`` naming the
artifact whose links differ from the log, nothing is appended, and after a rebuild the log decides:
C derived_from A closes a cycle (refused), A derived_from C does not (recorded).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    InvalidLinkError,
    Ledger,
    ProjectionDriftError,
    create_engine,
    migrate,
)
from artifact_ledger.store.log_indexes import LOG_INDEXES
from ledger_support import SECRET, event_count, sql

DF = "derived_from"


@dataclass
class Chain:
    """A derived_from B derived_from C; A derived_from D once, removed since."""

    a: str
    b: str
    c: str
    d: str


async def build(manager: ArtifactManager) -> Chain:
    a, b, c, d = [await manager.save(ArtifactIn(data={"name": n})) for n in "abcd"]
    await manager.link(a.id, b.id, DF)
    await manager.link(b.id, c.id, DF)
    await manager.link(a.id, d.id, DF)
    assert await manager.unlink(a.id, d.id, DF) is True  # a closed row from A
    return Chain(str(a.id), str(b.id), str(c.id), str(d.id))


def _row(src: str, dst: str) -> str:
    return f"src_id = '{src}' AND dst_id = '{dst}'"


Tamper = Callable[[AsyncEngine, Chain], Awaitable[None]]


async def delete_bc(engine: AsyncEngine, t: Chain) -> None:
    await sql(engine, f"DELETE FROM ledger_links WHERE {_row(t.b, t.c)}")


async def delete_ab(engine: AsyncEngine, t: Chain) -> None:
    await sql(engine, f"DELETE FROM ledger_links WHERE {_row(t.a, t.b)}")


async def delete_path(engine: AsyncEngine, t: Chain) -> None:
    await sql(engine, "DELETE FROM ledger_links")


async def close_bc(engine: AsyncEngine, t: Chain) -> None:
    await sql(engine, f"UPDATE ledger_links SET valid_to = valid_from + 1 WHERE {_row(t.b, t.c)}")


async def move_valid_from_bc(engine: AsyncEngine, t: Chain) -> None:
    await sql(engine, f"UPDATE ledger_links SET valid_from = valid_from + 1000 WHERE {_row(t.b, t.c)}")


async def reopen_ad(engine: AsyncEngine, t: Chain) -> None:
    await sql(engine, f"UPDATE ledger_links SET valid_to = NULL WHERE {_row(t.a, t.d)}")


async def plant_ca(engine: AsyncEngine, t: Chain) -> None:
    """A planted C derived_from A: a cycle the log does not hold."""
    await sql(
        engine,
        "INSERT INTO ledger_links (stream_id, valid_from, valid_to, kind, src_id, src_version, dst_id, dst_version) "
        "VALUES (:s, 1, NULL, 'derived_from', :c, 1, :a, 1)",
        s=str(ULID()),
        c=t.c,
        a=t.a,
    )


async def repoint_bc_to_d(engine: AsyncEngine, t: Chain) -> None:
    await sql(engine, f"UPDATE ledger_links SET dst_id = :d WHERE {_row(t.b, t.c)}", d=t.d)


ON_THE_PATH: dict[str, Tamper] = {
    "delete-B->C": delete_bc,
    "delete-A->B": delete_ab,
    "delete-whole-path": delete_path,
    "close-B->C": close_bc,
    "repoint-B->C": repoint_bc_to_d,
    "move-valid_from-B->C": move_valid_from_bc,
    "reopen-A->D": reopen_ad,
}


@pytest.mark.parametrize("tamper", ON_THE_PATH.values(), ids=ON_THE_PATH.keys())
async def test_a_cycle_write_resting_on_an_edited_cache_is_never_recorded(
    engine: AsyncEngine, manager: ArtifactManager, tamper: Tamper
) -> None:
    t = await build(manager)
    await tamper(engine, t)
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError, match="ledger_links") as caught:
        await manager.link(t.c, t.a, DF)
    assert {t.a, t.b, t.c} & set(str(caught.value).replace(",", " ").replace(":", " ").split())
    assert "rebuild" in str(caught.value)
    assert await event_count(engine) == before
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
    with pytest.raises(InvalidLinkError, match="cycle"):
        await manager.link(t.c, t.a, DF)
    assert await event_count(engine) == before


async def test_a_planted_row_does_not_make_a_cycle_the_log_does_not_hold(
    engine: AsyncEngine, manager: ArtifactManager
) -> None:
    """A derived_from C closes no cycle in the log: a planted C derived_from A must not refuse it as one."""
    t = await build(manager)
    await plant_ca(engine, t)
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError, match="ledger_links"):
        await manager.link(t.a, t.c, DF)
    assert await event_count(engine) == before
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
    await manager.link(t.a, t.c, DF)
    assert await event_count(engine) == before + 1


async def test_unlink_and_relink_of_a_link_whose_row_was_deleted_are_refused(
    engine: AsyncEngine, manager: ArtifactManager
) -> None:
    """Without its row, unlink took the held link for absent (False, nothing recorded) and link
    opened a second stream for it."""
    t = await build(manager)
    await delete_bc(engine, t)
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError, match=t.b):
        await manager.unlink(t.b, t.c, DF)
    with pytest.raises(ProjectionDriftError, match=t.b):
        await manager.link(t.b, t.c, DF)
    assert await event_count(engine) == before
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
    assert await manager.unlink(t.b, t.c, DF) is True
    await manager.link(t.b, t.c, DF)
    async with engine.connect() as conn:
        streams = (
            await conn.execute(text(f"SELECT DISTINCT stream_id FROM ledger_links WHERE {_row(t.b, t.c)}"))
        ).all()
    assert len(streams) == 1


async def test_other_kinds_and_unrelated_links_still_go_through(engine: AsyncEngine, manager: ArtifactManager) -> None:
    """The check reads only the links of the artifacts the write walks: a damaged row elsewhere does
    not stop a write that does not rest on it."""
    t = await build(manager)
    await delete_ab(engine, t)
    await move_valid_from_bc(engine, t)
    await manager.link(t.d, t.c, DF)  # reads D's links and C's: A's and B's are off the path
    await manager.link(t.c, t.d, "used")
    assert await manager.unlink(t.c, t.d, "used") is True
    with pytest.raises(ProjectionDriftError, match=t.a):
        await manager.link(t.d, t.a, DF)  # walks A, whose row is gone


def _index_names(conn: Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute(text(_INDEXES[conn.dialect.name]))}


_INDEXES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ledger_events'",
    "postgresql": "SELECT indexname FROM pg_indexes WHERE tablename = 'ledger_events'",
}


async def test_the_log_s_indexes_come_with_revision_0008_and_go_with_it(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine, "0007")
        async with engine.connect() as conn:
            assert not set(LOG_INDEXES) & await conn.run_sync(_index_names)
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert set(LOG_INDEXES) <= await conn.run_sync(_index_names)
        await migrate.downgrade(engine, "0007")
        async with engine.connect() as conn:
            assert not set(LOG_INDEXES) & await conn.run_sync(_index_names)
    finally:
        await engine.dispose()


async def test_create_all_makes_the_log_s_indexes(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert set(LOG_INDEXES) <= await conn.run_sync(_index_names)


async def test_tables_made_by_an_older_create_all_get_the_indexes_when_adopted(engine: AsyncEngine) -> None:
    """``create_all`` before revision 0008 made no such index; stamping those tables at the head adds it."""
    async with engine.begin() as conn:
        for name in LOG_INDEXES:
            await conn.execute(text(f"DROP INDEX {name}"))
    async with Ledger.open(engine, secret=SECRET, create=True):
        pass
    async with engine.connect() as conn:
        assert set(LOG_INDEXES) <= await conn.run_sync(_index_names)
