"""``Ledger.verify`` and ``Ledger.head``: the report, incremental checks, recorded heads, and what only they catch."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import HISTORY_EVENTS, event_row, history, set_columns, tampered

from artifact_ledger import ArtifactIn, ArtifactManager, ChainBrokenError, HeadDigest, Ledger
from artifact_ledger.integrity import REASONS
from artifact_ledger.store.recorder import reading
from ledger_support import SECRET, chained_hash, delete_openings_after, lower_checkpoints

GENESIS = "0" * 64


async def test_report_of_an_intact_ledger(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    seen: list[int] = []
    async with Ledger.open(engine, secret=SECRET) as ledger:
        head = await ledger.head()
        report = await ledger.verify(progress=seen.append)
    assert report.ok
    assert (report.events_checked, report.blobs_checked, report.artifacts_checked) == (HISTORY_EVENTS, 2, 3)
    assert (report.broken_position, report.reason, report.problem, report.from_position) == (None, None, None, 0)
    assert report.head == head == (HISTORY_EVENTS, report.head_hash)
    assert seen == [HISTORY_EVENTS]
    async with engine.connect() as conn:
        assert bytes((await event_row(conn, HISTORY_EVENTS))["hash"]).hex() == head.hash


async def test_head_of_an_empty_ledger_and_digest_text(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        head = await ledger.head()
        report = await ledger.verify()
    assert head == HeadDigest(0, GENESIS)
    assert report.ok
    assert (report.events_checked, report.blobs_checked, report.artifacts_checked) == (0, 0, 0)
    position, digest = head  # a (position, hash) pair
    assert (position, digest) == (0, GENESIS)
    assert str(head) == f"0:{GENESIS}"
    assert HeadDigest.parse(str(head)) == head


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("42", "expected POSITION:HASH"),
        ("x:" + "a" * 64, "expected POSITION:HASH"),
        ("3:" + "g" * 64, "64 hex digits"),
        ("3:abc", "64 hex digits"),
        ((-1, "a" * 64), "integer >= 0"),
        ((True, "a" * 64), "integer >= 0"),
        ((0, "a" * 64), "genesis hash"),
        ((1, b"short"), "64 hex digits"),
        ([1, "a" * 64], "a (position, hash) pair"),
    ],
)
def test_head_digest_parse_refuses_what_is_not_one(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=r"head digest|genesis") as err:
        HeadDigest.parse(value)  # type: ignore[arg-type]  # deliberately wrong
    assert fragment in str(err.value)


def test_head_digest_parse_accepts_bytes_and_upper_case() -> None:
    assert HeadDigest.parse((5, bytes(range(32)))) == HeadDigest(5, bytes(range(32)).hex())
    assert HeadDigest.parse("5:" + "AB" * 32) == HeadDigest(5, "ab" * 32)


async def test_incremental_verify_from_a_checkpoint(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        checkpoint = await ledger.head()
        async with ledger.manager() as other:
            await other.save(ArtifactIn(data={"content": b"new blob"}))
            await other.save(ArtifactIn(data={"n": 2}))
        report = await ledger.verify(since=checkpoint)
        assert report.ok
        assert (report.from_position, report.events_checked, report.blobs_checked) == (HISTORY_EVENTS, 2, 1)
        assert report.artifacts_checked == 0  # projections are a full check: opt in with projections=True
        assert report.head == await ledger.head()
        assert (await ledger.verify(since=str(checkpoint), projections=True)).artifacts_checked == 5
        wrong = HeadDigest(checkpoint.position, "ab" * 32)
        broken = await ledger.verify(since=wrong)
        assert (broken.ok, broken.broken_position, broken.reason) == (False, HISTORY_EVENTS, "modified")
        assert "rewritten" in str(broken.problem)
        beyond = await ledger.verify(since=(HISTORY_EVENTS + 10, "ab" * 32))
        assert (beyond.broken_position, beyond.reason) == (HISTORY_EVENTS + 10, "deleted")
        assert (await ledger.verify(since=(0, GENESIS))).events_checked == HISTORY_EVENTS + 2


async def test_a_change_before_the_checkpoint_needs_a_full_check(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        checkpoint = await ledger.head()
        async with tampered(engine) as conn:
            await set_columns(conn, 2, {"actor": "mallory"})
        assert (await ledger.verify(since=checkpoint)).ok  # documented: incremental trusts the prefix
        report = await ledger.verify(trusted_head=checkpoint)
    assert (report.ok, report.broken_position, report.reason) == (False, 2, "modified")


async def rewrite_chain_from(engine: AsyncEngine, position: int, changes: dict[str, object]) -> None:
    """What a DBA who knows the (unkeyed) recipe can do: change an event and recompute every later hash."""
    async with tampered(engine) as conn:
        await set_columns(conn, position, changes)
        prev = bytes((await event_row(conn, position - 1))["hash"]) if position > 1 else bytes(32)
        for at in range(position, HISTORY_EVENTS + 1):
            row = await event_row(conn, at)
            salt = (  # chain format 2: the attacker reads the event's salt from the database too
                await conn.execute(text("SELECT salt FROM ledger_openings WHERE position = :p"), {"p": at})
            ).scalar()
            digest = chained_hash(prev, row, salt)
            await set_columns(conn, at, {"prev_hash": prev, "hash": digest})
            prev = digest


async def test_only_a_recorded_head_catches_a_recomputed_chain(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        recorded = await ledger.head()
        await rewrite_chain_from(engine, 2, {"actor": "mallory"})
        drifted = await ledger.verify()  # the projections still say who created the artifact
        assert (drifted.reason, drifted.broken_position) == ("projection_drift", 4)
        assert "column created_by" in str(drifted.problem)
        await ledger.rebuild()  # so the attacker replays them too
        assert (await ledger.verify()).ok  # the documented limit: the chain is not keyed
        report = await ledger.verify(trusted_head=recorded)
    assert (report.ok, report.broken_position, report.reason) == (False, HISTORY_EVENTS, "modified")
    assert "rewritten" in str(report.problem)


async def test_a_truncated_tail_is_caught_by_the_checkpoints_or_the_recorded_head(
    manager: ArtifactManager, engine: AsyncEngine
) -> None:
    await history(manager)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        recorded = await ledger.head()
        async with tampered(engine) as conn:
            await conn.execute(text("DELETE FROM ledger_events WHERE position > 6"))
        report = await ledger.verify()
        assert (report.broken_position, report.reason) == (7, "deleted")
        assert "projections were built from 8 events" in str(report.problem)
        assert report.head == (6, report.head_hash)
        marks = "SELECT projector, position FROM ledger_checkpoints ORDER BY projector"
        async with engine.connect() as conn:
            before = (await conn.execute(text(marks))).all()
        with pytest.raises(ChainBrokenError, match="tampered \\(deleted: the projections were built from 8 events"):
            await ledger.rebuild()  # a rebuild will not reset the checkpoints that show the deletion
        async with tampered(engine) as conn:
            assert (await conn.execute(text(marks))).all() == before  # nothing rebuilt
            await lower_checkpoints(conn, 6)  # the attacker moves them back by hand
        report = await ledger.verify()  # but the openings of the deleted events are still there
        assert (report.broken_position, report.reason) == (7, "deleted")
        assert "ledger_openings holds the openings of events up to position 8" in str(report.problem)
        with pytest.raises(ChainBrokenError, match="ledger_openings holds the openings"):
            await ledger.rebuild()
        async with tampered(engine) as conn:
            await delete_openings_after(conn, 6)  # ... unless the attacker deletes them too
        await ledger.rebuild()  # and replays the projections from the shortened log
        assert (await ledger.verify()).ok
        report = await ledger.verify(trusted_head=recorded)
    assert (report.broken_position, report.reason) == (7, "deleted")
    assert "before the trusted head at position 8" in str(report.problem)


async def test_reasons_are_the_documented_set(manager: ArtifactManager, engine: AsyncEngine) -> None:
    assert REASONS == (
        "modified",
        "deleted",
        "reordered",
        "inserted",
        "blob_corrupted",
        "blob_missing",
        "projection_drift",
    )


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])  # in-memory SQLite has one shared connection
async def test_verify_reads_one_snapshot(make_engine: Callable[[], AsyncEngine], manager: ArtifactManager) -> None:
    await history(manager)
    reader_engine, writer_engine = make_engine(), make_engine()
    async with reader_engine.connect() as conn, reading(conn) as driver:
        before = await driver.fetch(driver.sql.event_count)
        async with Ledger.open(writer_engine, secret=SECRET) as ledger, ledger.manager() as writer:
            await writer.save(ArtifactIn(data={"late": True}))
        assert await driver.fetch(driver.sql.event_count) == before
        assert {tuple(row) for row in await driver.fetch(driver.sql.checkpoint_rows)} == {
            ("artifacts", HISTORY_EVENTS),
            ("closure", HISTORY_EVENTS),
        }
    async with Ledger.open(reader_engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).events_checked == HISTORY_EVENTS + 1


TRIGGER_STATEMENTS = [
    *(
        f"UPDATE ledger_events SET {column} = {column} WHERE position = 2"
        for column in ("payload", "prev_hash", "hash")
    ),
    "UPDATE ledger_events SET position = position + 100",
    "DELETE FROM ledger_events WHERE position = 8",
    "DELETE FROM ledger_events",
    "UPDATE ledger_blobs SET data = data",
    "DELETE FROM ledger_blobs",
]


async def refused_by_the_database(engine: AsyncEngine, sql: str) -> str:
    """Run ``sql`` in its own transaction; it must fail, and nothing may change."""
    async with engine.connect() as conn:
        before = (await conn.execute(text("SELECT count(*), max(position) FROM ledger_events"))).one()
    with pytest.raises(DBAPIError) as refused:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*), max(position) FROM ledger_events"))).one() == before
    return str(refused.value)


@pytest.mark.parametrize("sql", TRIGGER_STATEMENTS)
async def test_triggers_refuse_updates_and_deletes(manager: ArtifactManager, engine: AsyncEngine, sql: str) -> None:
    await history(manager)
    table = "ledger_blobs" if "blobs" in sql else "ledger_events"
    message = await refused_by_the_database(engine, sql)
    assert f"artifact-ledger: {table} is append-only; events and blobs are never updated or deleted" in message
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).ok


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has no TRUNCATE
@pytest.mark.parametrize("table", ["ledger_events", "ledger_blobs"])
async def test_truncate_is_refused(manager: ArtifactManager, engine: AsyncEngine, table: str) -> None:
    await history(manager)
    assert f"{table} is append-only" in await refused_by_the_database(engine, f"TRUNCATE {table} CASCADE")
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).ok
