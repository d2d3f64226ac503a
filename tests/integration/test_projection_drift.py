"""Projection rows are caches: an edited one must never become an event.

Each case edits the projection tables directly (what someone with write access to the
database, but not the ledger, can do), then makes an ordinary write that rests on the edited
row. The write is refused with ProjectionDriftError naming the artifact and the remedy,
nothing is appended, and after ``ledger.rebuild()`` the same write goes through. A write that
does not read the edited column goes through and records what the log says.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from artifact_ledger import (
    ArtifactHasChildrenError,
    ArtifactIn,
    ArtifactManager,
    InvalidMoveError,
    Ledger,
    ProjectionDriftError,
)
from ledger_support import SECRET, event_count, sql


@dataclass
class Tree:
    """R (root) > A (2 versions) > G;  R > B;  R > D (deleted);  C (another root)."""

    r: str
    a: str
    g: str
    b: str
    d: str
    c: str


async def build(manager: ArtifactManager) -> Tree:
    r = await manager.save(ArtifactIn(data={"name": "run"}))
    a = await manager.save(ArtifactIn(parent_id=r.id, data={"name": "prediction", "score": 1}, tags=["t"]))
    await manager.save(ArtifactIn(id=a.id, data={"name": "prediction", "score": 2, "content": b"weights"}))
    g = await manager.save(ArtifactIn(parent_id=a.id, data={"name": "evaluation"}))
    b = await manager.save(ArtifactIn(parent_id=r.id, data={"name": "other"}))
    d = await manager.save(ArtifactIn(parent_id=r.id, data={"name": "gone"}))
    await manager.delete_by_id(d.id)
    c = await manager.save(ArtifactIn(data={"name": "elsewhere"}))
    return Tree(str(r.id), str(a.id), str(g.id), str(b.id), str(d.id), str(c.id))


Tamper = Callable[[AsyncEngine, Tree], Awaitable[None]]
Write = Callable[[ArtifactManager, Tree], Awaitable[object]]


async def lower_version(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "UPDATE ledger_artifacts SET version = 1 WHERE id = :i", i=t.a)


async def raise_version(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "UPDATE ledger_artifacts SET version = 7 WHERE id = :i", i=t.a)


async def phantom_parent(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "UPDATE ledger_artifacts SET parent_id = :p WHERE id = :i", p=str(ULID()), i=t.a)


async def other_parent(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "UPDATE ledger_artifacts SET parent_id = :p WHERE id = :i", p=t.c, i=t.a)


async def edit_data(engine: AsyncEngine, t: Tree) -> None:
    await sql(
        engine, "UPDATE ledger_artifacts SET data = :d WHERE id = :i", d='{"name":"prediction","score":99}', i=t.a
    )


async def edit_tags(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "UPDATE ledger_artifacts SET tags = :tags WHERE id = :i", tags='["approved"]', i=t.a)


async def edit_content(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "UPDATE ledger_artifacts SET content_hash = :h WHERE id = :i", h="0" * 64, i=t.a)


async def remove_row(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "DELETE FROM ledger_artifacts WHERE id = :i", i=t.a)


async def resurrect_deleted(engine: AsyncEngine, t: Tree) -> None:
    await sql(
        engine,
        "INSERT INTO ledger_artifacts (id, parent_id, level, version, data, tags, created_at, updated_at) "
        "SELECT :d, parent_id, level, 1, '{}', '[]', created_at, updated_at FROM ledger_artifacts WHERE id = :r",
        d=t.d,
        r=t.b,
    )
    await sql(engine, "UPDATE ledger_artifacts SET level = 1, version = 2 WHERE id = :d", d=t.d)


async def plant_phantom_row(engine: AsyncEngine, t: Tree) -> None:
    await sql(
        engine,
        "INSERT INTO ledger_artifacts (id, parent_id, level, version, data, tags, created_at, updated_at) "
        "SELECT :p, NULL, 0, 1, '{}', '[]', created_at, updated_at FROM ledger_artifacts WHERE id = :r",
        p=PHANTOM,
        r=t.r,
    )


async def drop_closure_path(engine: AsyncEngine, t: Tree) -> None:
    # R is no longer recorded as an ancestor of G: a closure-only check would let R move under G.
    await sql(engine, "DELETE FROM ledger_artifact_closure WHERE ancestor_id = :r AND descendant_id = :g", r=t.r, g=t.g)


async def plant_closure_path(engine: AsyncEngine, t: Tree) -> None:
    await sql(
        engine,
        "INSERT INTO ledger_artifact_closure (ancestor_id, descendant_id, depth) VALUES (:b, :g, 1)",
        b=t.b,
        g=t.g,
    )


async def edit_subtree_version(engine: AsyncEngine, t: Tree) -> None:
    await sql(engine, "UPDATE ledger_artifacts SET version = 5 WHERE id = :g", g=t.g)


PHANTOM = str(ULID())

CASES: list[tuple[str, Tamper, Write, str]] = [
    ("lowered version, update", lower_version, lambda m, t: m.save(ArtifactIn(id=t.a, data={"x": 1})), "a"),
    ("raised version, update", raise_version, lambda m, t: m.save(ArtifactIn(id=t.a, data={"x": 1})), "a"),
    ("lowered version, move", lower_version, lambda m, t: m.move(t.a, t.c), "a"),
    ("lowered version, delete", lower_version, lambda m, t: m.delete_by_id(t.a, cascade=True), "a"),
    ("phantom parent, retag", phantom_parent, lambda m, t: m.save(ArtifactIn(id=t.a, tags=["new"])), "a"),
    ("phantom parent, move", phantom_parent, lambda m, t: m.move(t.a, t.b), "a"),
    ("other parent, move back", other_parent, lambda m, t: m.move(t.a, t.r), "a"),
    ("other parent, update keeping it", other_parent, lambda m, t: m.save(ArtifactIn(id=t.a, data={"x": 1})), "a"),
    ("other parent, revert", other_parent, lambda m, t: m.revert(t.a, to_version=1), "a"),
    ("edited data, retag", edit_data, lambda m, t: m.save(ArtifactIn(id=t.a, tags=["new"])), "a"),
    (
        "edited data, same save",
        edit_data,
        lambda m, t: m.save(ArtifactIn(id=t.a, data={"name": "prediction", "score": 99})),
        "a",
    ),
    ("edited tags, update", edit_tags, lambda m, t: m.save(ArtifactIn(id=t.a, data={"x": 1})), "a"),
    ("edited content, retag", edit_content, lambda m, t: m.save(ArtifactIn(id=t.a, tags=["new"])), "a"),
    ("edited data, revert", edit_data, lambda m, t: m.revert(t.a, to_version=1), "a"),
    ("removed row, update", remove_row, lambda m, t: m.save(ArtifactIn(id=t.a, data={"x": 1})), "a"),
    ("removed row, child", remove_row, lambda m, t: m.save(ArtifactIn(parent_id=t.a, data={})), "a"),
    ("removed row, move under", remove_row, lambda m, t: m.move(t.c, t.a), "a"),
    ("removed row, move", remove_row, lambda m, t: m.move(t.a, t.c), "a"),
    ("removed row, save_all", remove_row, lambda m, t: m.save_all([ArtifactIn(parent_id=t.a, data={})]), "a"),
    ("deleted row back, child", resurrect_deleted, lambda m, t: m.save(ArtifactIn(parent_id=t.d, data={})), "d"),
    ("phantom row, child", plant_phantom_row, lambda m, t: m.save(ArtifactIn(parent_id=PHANTOM, data={})), "phantom"),
    ("dropped path, cycle", drop_closure_path, lambda m, t: m.move(t.r, t.g), "a"),
    ("planted path, move", plant_closure_path, lambda m, t: m.move(t.c, t.g), "g"),
    ("subtree version, cascade", edit_subtree_version, lambda m, t: m.delete_by_id(t.a, cascade=True), "g"),
]


def named(t: Tree, key: str) -> str:
    return PHANTOM if key == "phantom" else str(getattr(t, key))


@pytest.mark.parametrize(("case", "tamper", "write", "who"), CASES, ids=[c[0] for c in CASES])
async def test_a_write_resting_on_an_edited_projection_is_refused(
    engine: AsyncEngine, manager: ArtifactManager, case: str, tamper: Tamper, write: Write, who: str
) -> None:
    t = await build(manager)
    await tamper(engine, t)
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError) as caught:
        await write(manager, t)
    assert named(t, who) in str(caught.value)
    assert caught.value.artifact_id == named(t, who)
    assert "artifact-ledger rebuild" in str(caught.value)
    assert await event_count(engine) == before  # nothing of the refused write reached the log
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify(blobs=False, projections=False)).ok  # the log itself is whole
        if who != "phantom":
            await ledger.rebuild()
            assert (await ledger.verify()).ok


async def test_the_refusal_rolls_back_the_whole_transaction(engine: AsyncEngine, manager: ArtifactManager) -> None:
    t = await build(manager)
    await lower_version(engine, t)
    before = await event_count(engine)

    async def both() -> None:
        async with manager.transaction():
            await manager.save(ArtifactIn(data={"name": "fine"}))
            await manager.save(ArtifactIn(id=t.a, data={"x": 1}))

    with pytest.raises(ProjectionDriftError):
        await both()
    assert await event_count(engine) == before


async def test_after_a_rebuild_the_same_writes_go_through(engine: AsyncEngine, manager: ArtifactManager) -> None:
    t = await build(manager)
    await drop_closure_path(engine, t)
    await edit_data(engine, t)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
    with pytest.raises(InvalidMoveError):
        await manager.move(t.r, t.g)  # the log knows G is below R
    out = await manager.save(ArtifactIn(id=t.a, tags=["new"]))
    assert out.data == {"name": "prediction", "score": 2, "content": b"weights"}  # the log's data, not the edit
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).ok


async def test_rows_moved_in_the_same_transaction_are_checked_against_the_batch(
    engine: AsyncEngine, manager: ArtifactManager
) -> None:
    """Moves, deletes and restores inside one transaction rest on the batch's own events, not on drift."""
    t = await build(manager)
    async with manager.transaction():
        await manager.move(t.a, t.c)
        await manager.move(t.b, t.g)  # G is now under C, through A
        await manager.save(ArtifactIn(id=t.a, tags=["moved"]))
        await manager.delete_by_id(t.b)
        await manager.restore(t.b)
        await manager.save(ArtifactIn(parent_id=t.b, data={"name": "new leaf"}))
    with pytest.raises(InvalidMoveError):
        await manager.move(t.c, t.b)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).ok


async def drop_subtree_paths(engine: AsyncEngine, t: Tree) -> None:
    # G vanishes from the closure entirely (its own path included): only its row and parent link remain.
    await sql(engine, "DELETE FROM ledger_artifact_closure WHERE descendant_id = :g", g=t.g)


@pytest.mark.parametrize("cascade", [False, True])
async def test_a_delete_never_orphans_a_descendant_the_closure_lost(
    engine: AsyncEngine, manager: ArtifactManager, cascade: bool
) -> None:
    t = await build(manager)
    await drop_subtree_paths(engine, t)
    before = await event_count(engine)
    with pytest.raises(ProjectionDriftError) as caught:
        await manager.delete_by_id(t.a, cascade=cascade)
    assert caught.value.artifact_id == t.g
    assert t.a in str(caught.value)
    assert await event_count(engine) == before
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
    with pytest.raises(ArtifactHasChildrenError):
        await manager.delete_by_id(t.a)
    await manager.delete_by_id(t.a, cascade=True)
    assert await manager.find_by_id(t.g) is None


async def test_rows_a_move_dropped_from_the_cache_are_this_batch_s_own(manager: ArtifactManager) -> None:
    """A move drops its subtree's cached rows; reading them back must not compare the batch's
    own (not yet appended) events with the log."""
    t = await build(manager)
    async with manager.transaction():
        first = await manager.save(ArtifactIn(parent_id=t.c, data={"n": 1}))
        await manager.move(t.c, t.r)
        await manager.save(ArtifactIn(parent_id=first.id, data={"n": 2}))

    async def cycle() -> None:
        async with manager.transaction():
            await manager.move(t.b, t.c)
            await manager.move(t.c, None)
            await manager.move(t.c, t.b)

    with pytest.raises(InvalidMoveError):
        await cycle()


async def event_parents(engine: AsyncEngine, artifact_id: str) -> list[object]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM ledger_events WHERE artifact_id = :i ORDER BY version"), {"i": artifact_id}
        )
        return [json.loads(r[0]).get("parent_id") for r in rows]


async def test_a_write_that_does_not_read_the_edited_column_records_the_log_s_truth(
    engine: AsyncEngine, manager: ArtifactManager
) -> None:
    """Only what a decision reads is compared: a child saved under A reads A's liveness and
    version, not A's parent, so an edited parent_id of A neither blocks it nor reaches the log."""
    t = await build(manager)
    await other_parent(engine, t)
    child = await manager.save(ArtifactIn(parent_id=t.a, data={"name": "child"}))
    assert await event_parents(engine, str(child.id)) == [t.a]
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
        assert not report.ok  # the edit is still there to find ...
        await ledger.rebuild()
        assert (await ledger.verify()).ok  # ... and the log, the child's event included, is whole
    after = await manager.find_by_id(t.a)
    assert after is not None
    assert str(after.parent_id) == t.r


async def test_a_row_loaded_without_its_parent_is_compared_before_a_later_command_moves_it(
    engine: AsyncEngine, manager: ArtifactManager
) -> None:
    """In one transaction A is first loaded as a new child's parent (its parent not compared),
    then moved: the move must still compare A's parent with the log before recording from where."""
    t = await build(manager)
    await other_parent(engine, t)
    before = await event_count(engine)

    async def both() -> None:
        async with manager.transaction():
            await manager.save(ArtifactIn(parent_id=t.a, data={"name": "child"}))
            await manager.move(t.a, t.b)

    with pytest.raises(ProjectionDriftError) as caught:
        await both()
    assert caught.value.artifact_id == t.a
    assert await event_count(engine) == before
