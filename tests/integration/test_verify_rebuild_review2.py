"""Verify and rebuild from a second adversarial review, on every backend: someone with write access to the
database tables (not to the chain: they cannot recompute hashes) edits events and projection rows, and the
operator runs ``rebuild`` as the messages advise."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import event_row, forged_after, insert_row, tampered

from artifact_ledger import ArtifactIn, ChainBrokenError, Ledger
from ledger_support import SECRET

PROJECTIONS = (
    "SELECT * FROM ledger_artifacts ORDER BY id",
    "SELECT * FROM ledger_artifact_closure ORDER BY ancestor_id, descendant_id",
    "SELECT * FROM ledger_artifact_parent_history ORDER BY artifact_id, valid_from",
    "SELECT * FROM ledger_checkpoints ORDER BY projector",
    "SELECT size, roots FROM ledger_merkle_frontier",
)


async def projections(engine: AsyncEngine) -> list[list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return [[tuple(r) for r in (await conn.execute(text(sql))).all()] for sql in PROJECTIONS]


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
