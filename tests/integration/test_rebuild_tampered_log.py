"""Rebuild refuses every log that ``verify`` reports as tampered, not only one whose chain is broken.

A rebuild used to check the chain alone. A log whose chain holds can still be one ``verify`` flags: an
event chained correctly onto the end by someone with the database credentials (plain INSERTs: the chain
is not keyed) lies past the projections' checkpoints; events dropped from the end leave the checkpoints,
or their openings, past the log; a row can sit outside positions 1..n. A rebuild replayed such a log and
reset the checkpoints to its end, so the next ``verify`` said OK: the evidence was gone. Now each is
refused (``ChainBrokenError``; ``artifact-ledger rebuild`` exits 1) and nothing changes; drift, which a
rebuild is for, is still repaired.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from test_integrity_support import as_time, event_row, insert_row, tampered
from test_verify_rebuild_review2 import PROJECTIONS, rechain_from, rows_of

from artifact_ledger import ArtifactIn, ChainBrokenError, Ledger, RetentionPolicy
from artifact_ledger.cli import main
from ledger_support import SECRET, chained_hash, delete_openings_after, lower_checkpoints

EVIDENCE = (
    *PROJECTIONS,
    "SELECT position, hash FROM ledger_events ORDER BY position",
    "SELECT position FROM ledger_openings ORDER BY position",
)


async def snapshot(engine: AsyncEngine) -> list[list[tuple[Any, ...]]]:
    return await rows_of(engine, EVIDENCE)


async def five_events(ledger: Ledger) -> str:
    async with ledger.manager() as manager:
        root = await manager.save(ArtifactIn(data={"name": "root"}))
        child = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "child"}))
        await manager.save(ArtifactIn(id=root.id, data={"name": "root", "v": 2}))
        await manager.save(ArtifactIn(id=child.id, parent_id=root.id, data={"name": "child", "v": 2}))
        await manager.save(ArtifactIn(data={"name": "other"}))
    return str(root.id)


async def append_forged(conn: AsyncConnection, root: str) -> None:
    """With the application's credentials only (plain INSERTs, the guards on): an update of ``root`` that no
    writer made, sealed and chained onto the head as artifact-ledger would seal it (the chain is not keyed;
    under chain format 2 with an event salt of the forger's own, stored as its opening)."""
    head = (await conn.execute(text("SELECT max(position) FROM ledger_events"))).scalar_one()
    previous = await event_row(conn, head)
    version = (
        await conn.execute(text("SELECT max(version) FROM ledger_events WHERE artifact_id = :a"), {"a": root})
    ).scalar_one()
    fields = {
        "position": head + 1,
        "event_id": "01J00000000000000000000000",
        "artifact_id": root,
        "version": version + 1,
        "type": "artifact.updated",
        "schema_version": previous["schema_version"],
        "recorded_at": as_time(previous["recorded_at"]),
        "actor": "mallory",
        "reason": None,
        "correlation_id": None,
        "causation_id": None,
    }
    payload = '{"content":null,"data":{"name":"root","forged":true},"tags":[]}'
    sealed = await conn.execute(text("SELECT count(*) FROM ledger_openings WHERE position = :p"), {"p": head})
    prev = bytes(previous["hash"])
    salt = os.urandom(32) if sealed.scalar_one() else None
    digest = chained_hash(prev, {**fields, "payload": payload}, salt)
    if salt is not None:
        await conn.execute(
            text("INSERT INTO ledger_openings (position, salt) VALUES (:p, :s)"), {"p": head + 1, "s": salt}
        )
    row = {**fields, "recorded_at": previous["recorded_at"], "payload": payload, "prev_hash": prev, "hash": digest}
    await insert_row(conn, row)


async def forged_after_the_checkpoints(engine: AsyncEngine, root: str) -> None:
    async with engine.begin() as conn:
        await append_forged(conn, root)


async def dropped_from_the_end(engine: AsyncEngine, root: str) -> None:
    async with tampered(engine) as conn:  # the guards off: a DBA
        await conn.execute(text("DELETE FROM ledger_events WHERE position > 3"))
        await delete_openings_after(conn, 3)


async def dropped_but_openings_kept(engine: AsyncEngine, root: str) -> None:
    async with tampered(engine) as conn:
        await conn.execute(text("DELETE FROM ledger_events WHERE position > 3"))
        await lower_checkpoints(conn, 3)


async def row_outside_the_positions(engine: AsyncEngine, root: str) -> None:
    async with engine.begin() as conn:  # a plain INSERT: a copy of event 1, of another stream, below position 1
        copy = {"position": -1, "event_id": "01J00000000000000000000001", "artifact_id": "01J00000000000000000000002"}
        await insert_row(conn, {**(await event_row(conn, 1)), **copy})


async def a_forged_retention_run(engine: AsyncEngine, root: str) -> None:
    """A DBA rewrites a retention run's policy to one that keeps what the run deleted, and recomputes the chain
    from it (every hash holds, the checkpoints are at the end): only the run against its policy shows it."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(id=root, data={"name": "root", "content": b"three"}))
            await manager.save(ArtifactIn(id=root, data={"name": "root", "content": b"four"}))
        await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"name": "after the run"}))
    await rechain_from(engine, 8, '"keep_last":1', '"keep_last":9')


Tamper = Callable[[AsyncEngine, str], Awaitable[None]]
CASES: dict[str, tuple[Tamper, str, int | None, str]] = {
    # what was done, verify's reason and position, a fragment of its problem
    "forged-after-the-checkpoints": (forged_after_the_checkpoints, "inserted", 6, "were not appended by"),
    "dropped-from-the-end": (dropped_from_the_end, "deleted", 4, "the projections were built from 5 events"),
    "dropped-openings-kept": (dropped_but_openings_kept, "deleted", 4, "ledger_openings holds the openings"),
    "row-outside-the-positions": (row_outside_the_positions, "inserted", None, "outside the log's positions"),
    "a-forged-retention-run": (a_forged_retention_run, "modified", 8, "retention"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_rebuild_refuses_a_log_verify_reports_as_tampered_and_changes_nothing(
    engine: AsyncEngine, case: str
) -> None:
    tamper, reason, position, fragment = CASES[case]
    async with Ledger.open(engine, secret=SECRET) as ledger:
        root = await five_events(ledger)
        await tamper(engine, root)
        found = await ledger.verify()
        assert (found.ok, found.reason, found.broken_position) == (False, reason, position), found.problem
        assert fragment in str(found.problem)
        assert (await ledger.verify(blobs=False, projections=False)).reason == reason  # a check of the log itself
        before = await snapshot(engine)
        with pytest.raises(ChainBrokenError, match=f"verify reports the log as tampered \\({reason}: ") as caught:
            await ledger.rebuild()
        assert caught.value.position == position
        assert fragment in str(caught.value)
        assert "nothing was rebuilt" in str(caught.value)
        assert await snapshot(engine) == before  # nothing cleared, replayed or reset
        again = await ledger.verify()  # the evidence is still there
        assert (again.ok, again.reason, again.broken_position, again.problem) == (
            False,
            reason,
            position,
            found.problem,
        )


async def test_rebuild_still_repairs_drift_and_a_clean_log(engine: AsyncEngine) -> None:
    """Edited projection rows and a missing checkpoint row are drift: the rebuild repairs them as before."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        root = await five_events(ledger)
        assert await ledger.rebuild() == 5  # a clean log
        assert (await ledger.verify()).ok
        async with engine.begin() as conn:
            await conn.execute(
                text('UPDATE ledger_artifacts SET data = \'{"name":"evil"}\' WHERE id = :r'), {"r": root}
            )
            await conn.execute(text("DELETE FROM ledger_checkpoints WHERE projector = 'closure'"))
        assert (await ledger.verify()).reason == "projection_drift"
        assert await ledger.rebuild() == 5
        assert (await ledger.verify()).ok
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_checkpoints"))
        assert (await ledger.verify()).reason == "projection_drift"
        assert await ledger.rebuild() == 5
        assert (await ledger.verify()).ok
        async with ledger.manager() as manager:
            assert (await manager.find_by_id(root)).data == {"name": "root", "v": 2}


@pytest.mark.parametrize("backend", ["sqlite-file", "sqlite-memory"])  # PostgreSQL's column takes no text
async def test_a_forged_event_past_the_checkpoints_is_refused_whichever_mark_is_unreadable(
    engine: AsyncEngine,
) -> None:
    """A checkpoint row that holds no position (drift) is not allowed to hide the one that shows the forgery:
    verify names the forgery, and rebuild refuses it."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        root = await five_events(ledger)
        await forged_after_the_checkpoints(engine, root)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE ledger_checkpoints SET position = 'x' WHERE projector = 'artifacts'"))
        found = await ledger.verify()
        assert (found.reason, found.broken_position) == ("inserted", 6), found.problem
        with pytest.raises(ChainBrokenError, match="tampered \\(inserted: "):
            await ledger.rebuild()


async def test_the_rebuild_command_exits_1_on_a_tampered_log(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with Ledger.open(url, create=True, secret=SECRET) as ledger:
        root = await five_events(ledger)
        await forged_after_the_checkpoints(ledger.engine, root)
        before = await snapshot(ledger.engine)
    code = await asyncio.to_thread(main, ["--db", url, "rebuild"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "verify reports the log as tampered (inserted: " in err
    assert len(err.strip().splitlines()) == 1, err
    async with Ledger.open(url, secret=SECRET) as ledger:
        assert await snapshot(ledger.engine) == before
        assert (await ledger.verify()).reason == "inserted"
