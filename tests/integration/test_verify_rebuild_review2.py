"""Verify and rebuild from a second adversarial review, on every backend: someone with write access to the
database tables (not to the chain: they cannot recompute hashes) edits events and projection rows, and the
operator runs ``rebuild`` as the messages advise."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import event_row, forged_after, insert_row, tampered

from artifact_ledger import ArtifactIn, ChainBrokenError, Ledger, ProjectionDriftError
from artifact_ledger.projections.crosscheck import check_subtree
from ledger_support import SECRET, recompute_chain_from, sql

PROJECTIONS = (
    "SELECT * FROM ledger_artifacts ORDER BY id",
    "SELECT * FROM ledger_artifact_closure ORDER BY ancestor_id, descendant_id",
    "SELECT * FROM ledger_artifact_parent_history ORDER BY artifact_id, valid_from",
    "SELECT * FROM ledger_checkpoints ORDER BY projector",
    "SELECT size, roots FROM ledger_merkle_frontier",
)


async def rows_of(engine: AsyncEngine, queries: tuple[str, ...]) -> list[list[tuple[Any, ...]]]:
    """The rows each of ``queries`` reads, as tuples."""
    async with engine.connect() as conn:
        return [[tuple(r) for r in (await conn.execute(text(query))).all()] for query in queries]


async def projections(engine: AsyncEngine) -> list[list[tuple[Any, ...]]]:
    return await rows_of(engine, PROJECTIONS)


async def store_number(engine: AsyncEngine, statement: str, value: str, rounded: str, **params: object) -> bool:
    """Run ``statement`` with ``value``, a number of another type (text such as ``'x'``, or a fraction), in
    place of ``{value}``: SQLite stores it as given. PostgreSQL's typed columns refuse text ('invalid input
    syntax': False, nothing stored) and round a fraction, so ``rounded``, another number, is stored there."""
    if engine.dialect.name == "postgresql":
        if value.startswith("'"):
            with pytest.raises(Exception, match="invalid input syntax"):
                await sql(engine, statement.format(value=value), **params)
            return False
        value = rounded  # the column rounds a fraction: another number
    await sql(engine, statement.format(value=value), **params)
    return True


async def two_versions(ledger: Ledger) -> str:
    async with ledger.manager() as manager:
        root = await manager.save(ArtifactIn(data={"name": "root"}))
        await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child"}))
        await manager.save(ArtifactIn(id=root.id, data={"name": "root", "v": 2}))
    return str(root.id)


@pytest.mark.parametrize("forgery", ["edited-payload", "appended-unchained"])
async def test_rebuild_refuses_a_log_whose_chain_is_broken_and_changes_nothing(
    engine: AsyncEngine, forgery: str
) -> None:
    """Rebuild replayed a forged event into the projections (reads then served it; the Merkle frontier was
    recomputed over it, so writes chained onto it), and wiped the checkpoints that showed it was never
    appended by artifact-ledger. A log that does not verify is no source to rebuild from."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        root = await two_versions(ledger)
        async with tampered(engine) as conn:
            if forgery == "edited-payload":
                payload = (await event_row(conn, 3))["payload"]
                assert '"v":2' in payload
                await conn.execute(
                    text("UPDATE ledger_events SET payload = :p WHERE position = 3"),
                    {"p": payload.replace('"v":2', '"v":666')},
                )
                position = 3
            else:
                await insert_row(conn, {**forged_after(await event_row(conn, 3), root), "version": 3})
                position = 4
        broken = await ledger.verify()
        assert (broken.ok, broken.broken_position) == (False, position)
        before = await projections(engine)
        with pytest.raises(ChainBrokenError, match=f"event {position} .*nothing was rebuilt") as caught:
            await ledger.rebuild()
        assert caught.value.position == position
        assert "artifact-ledger verify" in str(caught.value)
        assert await projections(engine) == before  # nothing cleared, nothing replayed
        again = await ledger.verify()
        assert (again.ok, again.broken_position, again.reason, again.problem) == (
            False,
            position,
            broken.reason,
            broken.problem,
        )  # the evidence verify found is still there
        async with ledger.manager() as manager:
            assert (await manager.find_by_id(root)).data == {"name": "root", "v": 2}


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("version", "'x'", "version 'x'"),
        ("version", "1.5", "version 1.5"),
        ("content_size", "'big'", "content_size"),
        ("content_size", "2.5", "content_size"),
    ],
    ids=["version-text", "version-fraction", "size-text", "size-fraction"],
)
async def test_a_projected_number_of_another_type_is_drift_for_a_write(
    engine: AsyncEngine, column: str, value: str, shown: str
) -> None:
    """SQLite keeps whatever an UPDATE stores: text in an integer column made the write's check fail with a
    bare ValueError, and a fraction passed it (int(1.5) == 1). PostgreSQL's typed columns refuse both."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"name": "a", "content": b"xx"}))
        statement = f"UPDATE ledger_artifacts SET {column} = {{value}} WHERE id = :id"
        rounded = "2" if column == "version" else "3"
        if not await store_number(engine, statement, value, rounded, id=str(saved.id)):
            return
        with pytest.raises(ProjectionDriftError, match=f"artifact {saved.id} .*{column}") as caught:
            async with ledger.manager() as manager:
                await manager.save(ArtifactIn(id=saved.id, data={"name": "a", "v": 2}))
        assert caught.value.artifact_id == str(saved.id)
        if engine.dialect.name == "sqlite":
            assert shown in str(caught.value) or column == "content_size"
        report = await ledger.verify()
        assert (report.ok, report.reason, report.artifact_id) == (False, "projection_drift", str(saved.id))
        await ledger.rebuild()
        assert (await ledger.verify()).ok
        async with ledger.manager() as manager:
            assert (await manager.save(ArtifactIn(id=saved.id, data={"name": "a", "v": 2}))).version == 2


async def streams_of_every_kind(ledger: Ledger) -> dict[str, str]:
    """An artifact with a child, and an alias, a link and a hold: streams of the log that are no artifact's."""
    async with ledger.manager() as manager:
        root = await manager.save(ArtifactIn(data={"name": "root"}))
        child = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child"}))
        await manager.set_alias("prod", child.id)
        await manager.link(child.id, root.id, "derived_from")
        await manager.hold(root.id, "audit")
    async with ledger.engine.connect() as conn:
        alias = (await conn.execute(text("SELECT stream_id FROM ledger_aliases"))).scalar_one()
        link = (await conn.execute(text("SELECT stream_id FROM ledger_links"))).scalar_one()
        hold = (await conn.execute(text("SELECT stream_id FROM ledger_holds"))).scalar_one()
    return {"root": str(root.id), "alias": alias, "link": link, "hold": hold}


@pytest.mark.parametrize("stream", ["alias", "link", "hold"])
async def test_a_projection_row_under_the_id_of_a_stream_that_is_no_artifact_is_drift(
    engine: AsyncEngine, stream: str
) -> None:
    """A ledger_artifacts row whose id is an alias's, a link's or a hold's stream has events, so the search
    for rows without events missed it, and verify said OK while every listing showed a phantom artifact.
    A parent-history row of such an id was reported only as a count, naming no row."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        ids = await streams_of_every_kind(ledger)
        phantom = ids[stream]
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO ledger_artifacts SELECT :phantom, NULL, 0, 1, type, data, NULL, NULL, NULL, NULL, "
                    "tags, created_at, updated_at, created_by, updated_by FROM ledger_artifacts WHERE id = :root"
                ),
                {"phantom": phantom, "root": ids["root"]},
            )
        report = await ledger.verify()
        assert (report.ok, report.reason, report.artifact_id) == (False, "projection_drift", phantom)
        assert f"ledger_artifacts has a row for {phantom!r}" in str(report.problem)
        assert "no artifact" in str(report.problem)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_artifacts WHERE id = :p"), {"p": phantom})
            await conn.execute(
                text("INSERT INTO ledger_artifact_parent_history VALUES (:p, 1, NULL, NULL)"), {"p": phantom}
            )
        report = await ledger.verify()
        assert (report.ok, report.reason, report.artifact_id) == (False, "projection_drift", phantom)
        assert f"ledger_artifact_parent_history has a row for {phantom!r}" in str(report.problem)
        await ledger.rebuild()
        assert (await ledger.verify()).ok
        async with engine.connect() as conn:
            for table, column in (("ledger_artifacts", "id"), ("ledger_artifact_parent_history", "artifact_id")):
                sql = f"SELECT count(*) FROM {table} WHERE {column} = :p"
                assert (await conn.execute(text(sql), {"p": phantom})).scalar_one() == 0


async def test_a_closure_path_that_adds_an_outsider_to_a_subtree_cannot_make_a_delete_take_it(
    engine: AsyncEngine,
) -> None:
    """One planted ledger_artifact_closure row (root -> an unrelated artifact) made delete(root, cascade=True)
    delete that artifact too, in the log, and verify said OK afterwards: the write checked that the closure
    lost no child of the subtree, not that every member it listed belongs there."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            root = await manager.save(ArtifactIn(data={"name": "root"}))
            child = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child"}))
            outsider = await manager.save(ArtifactIn(data={"name": "outsider"}))
            head = (await ledger.head()).position
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO ledger_artifact_closure VALUES (:a, :d, 1)"),
                {"a": str(root.id), "d": str(outsider.id)},
            )
        with pytest.raises(ProjectionDriftError, match=f"artifact {outsider.id} .*subtree of {root.id}") as caught:
            async with ledger.manager() as manager:
                await manager.delete_by_id(root.id, cascade=True)
        assert caught.value.artifact_id == str(outsider.id)
        assert (await ledger.head()).position == head  # nothing written
        report = await ledger.verify()
        assert (report.ok, report.reason, report.artifact_id) == (False, "projection_drift", str(outsider.id))
        await ledger.rebuild()
        async with ledger.manager() as manager:
            await manager.delete_by_id(root.id, cascade=True)
            assert await manager.exists_by_id(outsider.id)
            assert not await manager.exists_by_id(child.id)
        assert (await ledger.verify()).ok


def test_a_subtree_member_whose_log_parent_lies_outside_it_is_drift() -> None:
    """Given the members' parents by the log, a member hung under an outsider is refused even when a
    planted open parent link makes it look like a child of the subtree."""
    check_subtree(
        "R",
        {"A": "R", "B": "A"},
        ["A", "B"],
    )
    with pytest.raises(ProjectionDriftError, match=r"artifact X .*subtree of R.*parent Y"):
        check_subtree("R", {"A": "R", "X": "Y"}, ["A", "X"])
    with pytest.raises(ProjectionDriftError, match=r"artifact X .*subtree of R"):
        check_subtree("R", {"A", "X"}, ["A"])


@pytest.mark.parametrize("value", ["'x'", "1.5"], ids=["text", "fraction"])
async def test_a_closure_depth_of_another_type_is_drift_for_a_move(engine: AsyncEngine, value: str) -> None:
    """A move reads the new parent's ancestry by the closure: on SQLite a depth left as text failed the move
    with a bare ValueError, and a fraction was rounded into a valid path."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            root = await manager.save(ArtifactIn(data={"name": "root"}))
            child = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child"}))
            other = await manager.save(ArtifactIn(data={"name": "other"}))
        statement = "UPDATE ledger_artifact_closure SET depth = {value} WHERE descendant_id = :c AND depth = 1"
        if not await store_number(engine, statement, value, "2", c=str(child.id)):
            return
        head = (await ledger.head()).position
        with pytest.raises(ProjectionDriftError, match=f"artifact {child.id} .*ledger_artifact_closure"):
            async with ledger.manager() as manager:
                await manager.move(other.id, child.id)
        assert (await ledger.head()).position == head
        assert not (await ledger.verify()).ok
        await ledger.rebuild()
        async with ledger.manager() as manager:
            assert (await manager.move(other.id, child.id)).parent_id == child.id
        assert (await ledger.verify()).ok


async def rechain_from(engine: AsyncEngine, position: int, old: str, new: str) -> None:
    """The database's owner: edit one payload and recompute its hash and every later one (the chain is not
    keyed; a format-2 event is recomputed with the salt stored in ledger_openings)."""
    async with tampered(engine) as conn:
        await recompute_chain_from(conn, position, old, new)


@pytest.mark.parametrize(
    ("old", "new"), [('"data":', '"dada":'), ('"tags":[]', '"tags":7')], ids=["no-data", "tags-not-a-list"]
)
async def test_a_rechained_event_no_writer_makes_is_refused_by_rebuild_naming_it(
    engine: AsyncEngine, old: str, new: str
) -> None:
    """An event whose chain was recomputed but whose payload no writer of ours makes (verify: 'inserted') made
    rebuild fail with a bare KeyError or TypeError, naming nothing."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await two_versions(ledger)
        await rechain_from(engine, 3, old, new)
        report = await ledger.verify()
        assert (report.ok, report.broken_position, report.reason) == (False, 3, "inserted")
        before = await projections(engine)
        with pytest.raises(ChainBrokenError, match=r"event 3: .*nothing was rebuilt") as caught:
            await ledger.rebuild()
        assert caught.value.position == 3
        assert await projections(engine) == before


async def test_a_planted_closure_row_and_open_parent_link_cannot_make_a_delete_take_an_outsider(
    engine: AsyncEngine,
) -> None:
    """The closure row and an open parent link (root -> outsider) together made the outsider look like a
    child of the subtree; the delete now holds each member to its parent by the log."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            root = await manager.save(ArtifactIn(data={"name": "root"}))
            await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child"}))
            outsider = await manager.save(ArtifactIn(data={"name": "outsider"}))
            head = (await ledger.head()).position
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO ledger_artifact_closure VALUES (:a, :d, 1)"),
                {"a": str(root.id), "d": str(outsider.id)},
            )
            await conn.execute(
                text(
                    "UPDATE ledger_artifact_parent_history SET parent_id = :a "
                    "WHERE artifact_id = :d AND valid_to IS NULL"
                ),
                {"a": str(root.id), "d": str(outsider.id)},
            )
        with pytest.raises(ProjectionDriftError, match=f"artifact {outsider.id} .*the log puts it under") as caught:
            async with ledger.manager() as manager:
                await manager.delete_by_id(root.id, cascade=True)
        assert caught.value.artifact_id == str(outsider.id)
        assert (await ledger.head()).position == head  # nothing written
        async with ledger.manager() as manager:
            assert await manager.exists_by_id(outsider.id)
