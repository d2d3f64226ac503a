"""The hash chain and the database's own guarantees: dense positions, unique versions, append-only tables."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactRepository, ConcurrencyError, Ledger, chain_v2
from artifact_ledger.chain import envelope_bytes
from ledger_support import SECRET


async def some_history(manager: ArtifactManager) -> int:
    root = await manager.save(ArtifactIn(data={"content": b"abc"}), actor="a", reason="r")
    kids = await manager.save_all([ArtifactIn(parent_id=root.id, data={"i": i}) for i in range(3)])
    await manager.save(ArtifactIn(id=kids[0].id, parent_id=root.id, data={"i": 10}))
    await manager.move(kids[1].id, kids[2].id)
    await manager.delete_by_id(kids[2].id, cascade=True)
    return 1 + 3 + 1 + 1 + 2


async def test_positions_and_hash_links(manager: ArtifactManager, engine: AsyncEngine) -> None:
    n = await some_history(manager)
    await manager.repo.session.commit()
    async with Ledger.open(engine, secret=SECRET) as ledger:
        events = await ledger.events_since(0)
        assert [e.position for e in events] == list(range(1, n + 1))
        assert events[0].prev_hash == bytes(32)
        for before, after in itertools.pairwise(events):
            assert after.prev_hash == before.hash
        assert len({e.hash for e in events}) == n
        first = events[0]
        envelope = envelope_bytes(
            position=first.position,
            event_id=first.event_id,
            artifact_id=first.artifact_id,
            version=first.version,
            type=first.type,
            schema_version=first.schema_version,
            recorded_at=first.recorded_at,
            actor=first.actor,
            reason=first.reason,
            correlation_id=first.correlation_id,
            causation_id=first.causation_id,
        )
        async with engine.connect() as conn:
            payload, salt = (
                await conn.execute(
                    text(
                        "SELECT e.payload, o.salt FROM ledger_events e JOIN ledger_openings o "
                        "ON o.position = e.position WHERE e.position = 1"
                    )
                )
            ).one()
        # A new ledger seals chain format 2: the hash covers the salted commitment of the payload's leaves.
        commitment = chain_v2.commitment(payload, chain_v2.Opening(bytes(salt)))
        assert hashlib.sha256(bytes(32) + envelope + b"\n\x00" + commitment).digest() == first.hash
        report = await ledger.verify()
        assert report.ok
        assert report.events_checked == n
        assert report.broken_position is None
        assert report.head_position == n
        assert report.head_hash == events[-1].hash.hex()
        assert [e.position for e in await ledger.events_since(n - 2)] == [n - 1, n]
        assert [e.position for e in await ledger.events_since(0, limit=2)] == [1, 2]


async def test_empty_log_verifies(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
    assert report.ok
    assert report.events_checked == 0
    assert report.head_hash == bytes(32).hex()


async def test_unique_stream_version_constraint(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        uniques = await conn.run_sync(lambda c: inspect(c).get_unique_constraints("ledger_events"))
        primary = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("ledger_events"))
    assert ["artifact_id", "version"] in [u["column_names"] for u in uniques]
    assert primary["constrained_columns"] == ["position"]


@pytest.mark.parametrize("table", ["ledger_events", "ledger_blobs"])
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET size = size + 1", "DELETE FROM {table}"],
    ids=["update", "delete"],
)
async def test_append_only_triggers(manager: ArtifactManager, engine: AsyncEngine, table: str, statement: str) -> None:
    await some_history(manager)
    await manager.repo.session.commit()
    sql = statement.format(table=table)
    if table == "ledger_events":
        sql = sql.replace("size = size + 1", "actor = 'mallory'")
    async with engine.connect() as conn:
        before = [tuple(r) for r in (await conn.execute(text(f"SELECT * FROM {table}"))).all()]
        await conn.rollback()
    assert before
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    async with engine.connect() as conn:
        after = [tuple(r) for r in (await conn.execute(text(f"SELECT * FROM {table}"))).all()]
    assert after == before
    async with Ledger.open(engine, secret=SECRET) as ledger:
        assert (await ledger.verify()).ok


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])  # in-memory SQLite has one shared connection
async def test_writers_queue_on_the_ledger_lock(make_engine: Callable[[], AsyncEngine]) -> None:
    first, second = (async_sessionmaker(make_engine(), expire_on_commit=False)() for _ in range(2))
    async with first as s1, second as s2:
        m1, m2 = (ArtifactManager(ArtifactRepository(s, secret=SECRET)) for s in (s1, s2))
        async with m1.transaction():
            early = await m1.save(ArtifactIn(data={"who": "first"}))
            assert await m1.count() == 1  # flushed: the first writer holds the lock
            waiting = asyncio.create_task(m2.save(ArtifactIn(data={"who": "second"})))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # the second writer waits for the first to commit
            late = await m1.save(ArtifactIn(data={"who": "first, again"}))
        second_out = await waiting
        async with Ledger.open(make_engine(), secret=SECRET) as ledger:
            events = await ledger.events_since(0)
            assert [(e.position, e.artifact_id) for e in events] == [
                (1, str(early.id)),
                (2, str(late.id)),
                (3, str(second_out.id)),
            ]
            assert (await ledger.verify()).ok


async def test_stale_expected_version_from_another_session(make_engine: Callable[[], AsyncEngine]) -> None:
    sessions = async_sessionmaker(make_engine(), expire_on_commit=False)
    async with sessions() as s1, sessions() as s2:
        m1, m2 = (ArtifactManager(ArtifactRepository(s, secret=SECRET)) for s in (s1, s2))
        out = await m1.save(ArtifactIn(data={"v": 1}))
        seen = await m2.find_by_id(out.id)
        assert seen is not None
        await m1.save(ArtifactIn(id=out.id, data={"v": 2}), expected_version=seen.version)
        with pytest.raises(ConcurrencyError) as err:
            await m2.save(ArtifactIn(id=out.id, data={"v": 3}), expected_version=seen.version)
        assert (err.value.expected, err.value.actual) == (1, 2)
        assert str(out.id) in str(err.value)
        current = await m2.find_by_id(out.id)
        assert current is not None
        assert current.data == {"v": 2}
