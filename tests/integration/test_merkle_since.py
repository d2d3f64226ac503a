"""``verify(since=...)`` checks the Merkle state the events after the trusted position made: a tampered or
missing ``ledger_merkle_nodes`` row for a subtree completed after it, or a tampered frontier row, is
reported; the tree before it is trusted with the checkpoint, as the events before it are."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, HeadDigest, Ledger, VerifyReport
from ledger_support import SECRET


async def ledger_of(engine: AsyncEngine, sizes: list[int]) -> list[HeadDigest]:
    """Batches of ``sizes`` events; the head after each."""
    heads = []
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        done = 0
        for size in sizes:
            await manager.save_all([ArtifactIn(data={"i": done + i}) for i in range(size)])
            done += size
            heads.append(await ledger.head())
    return heads


async def set_node(engine: AsyncEngine, level: int, idx: int, digest: bytes | None) -> None:
    async with engine.begin() as conn:
        if digest is None:
            await conn.execute(
                text("DELETE FROM ledger_merkle_nodes WHERE level = :l AND idx = :i"), {"l": level, "i": idx}
            )
        else:
            await conn.execute(
                text("UPDATE ledger_merkle_nodes SET hash = :h WHERE level = :l AND idx = :i"),
                {"h": digest, "l": level, "i": idx},
            )


async def verify_since(engine: AsyncEngine, since: HeadDigest, **options: bool) -> VerifyReport:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        return await ledger.verify(since=since, **options)


async def test_an_untouched_tree_verifies_from_any_trusted_position(engine: AsyncEngine) -> None:
    heads = await ledger_of(engine, [20, 20, 30, 1])
    for since in [HeadDigest(0, "0" * 64), *heads]:
        report = await verify_since(engine, since)
        assert report.ok, (since, report)


@pytest.mark.parametrize(
    ("level", "idx", "digest", "position", "words"),
    [
        (4, 2, b"\x07" * 32, 48, "holds another hash than the events give for the subtree of events 33 to 48"),
        (5, 1, None, 64, "has no row for the subtree of events 33 to 64"),
        # Completed after the trusted position, but covering events before it too.
        (6, 0, b"\x09" * 32, 64, "holds another hash than the events give for the subtree of events 1 to 64"),
    ],
)
async def test_a_tampered_or_missing_node_after_since_is_reported(
    engine: AsyncEngine, level: int, idx: int, digest: bytes | None, position: int, words: str
) -> None:
    since, _ = await ledger_of(engine, [20, 50])
    assert (await verify_since(engine, since)).ok
    await set_node(engine, level, idx, digest)
    report = await verify_since(engine, since)
    assert not report.ok
    assert report.reason == "projection_drift"
    assert report.broken_position == position
    problem = report.problem or ""
    assert words in problem
    assert f"(level {level}, index {idx})" in problem
    assert "after the trusted position 20" in problem
    assert report.from_position == 20
    full = await verify_since(engine, HeadDigest(0, "0" * 64))
    assert not full.ok


async def test_a_tampered_frontier_row_is_reported_by_an_incremental_verify(engine: AsyncEngine) -> None:
    since, _ = await ledger_of(engine, [20, 50])
    async with engine.begin() as conn:
        roots = bytes((await conn.execute(text("SELECT roots FROM ledger_merkle_frontier"))).scalar_one())
        edited = roots[:5] + bytes([roots[5] ^ 1]) + roots[6:]
        await conn.execute(text("UPDATE ledger_merkle_frontier SET roots = :r"), {"r": edited})
    report = await verify_since(engine, since)
    assert not report.ok
    assert report.reason == "projection_drift"
    assert "ledger_merkle_frontier row 1 (size 70)" in (report.problem or "")
    assert "grown from the trusted position 20" in (report.problem or "")
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM ledger_merkle_frontier"))
    report = await verify_since(engine, since)
    assert "ledger_merkle_frontier has no row, but the log holds 70 events" in (report.problem or "")


async def test_a_node_of_the_trusted_part_is_left_to_the_full_verify(engine: AsyncEngine) -> None:
    since, _ = await ledger_of(engine, [40, 30])
    # Events 1-16 are below the trusted position 40 and not on its frontier (1-32, 33-40): not read.
    await set_node(engine, 4, 0, b"\x05" * 32)
    assert (await verify_since(engine, since)).ok
    full = await verify_since(engine, HeadDigest(0, "0" * 64))
    assert not full.ok
    assert "subtree of events 1 to 16" in (full.problem or "")
    # A node of the trusted position's frontier is read to grow the tree: what it changes shows.
    await set_node(engine, 4, 0, None)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
    await set_node(engine, 5, 0, b"\x06" * 32)
    report = await verify_since(engine, since)
    assert not report.ok
    assert "subtree of events 1 to 64" in (report.problem or "")


async def test_a_missing_frontier_node_of_the_trusted_position_is_reported(engine: AsyncEngine) -> None:
    since, _ = await ledger_of(engine, [40, 30])
    await set_node(engine, 5, 0, None)
    report = await verify_since(engine, since)
    assert not report.ok
    assert report.broken_position == 40
    assert "no row for the subtree of events 1 to 32" in (report.problem or "")
    assert "before the trusted position 40" in (report.problem or "")
