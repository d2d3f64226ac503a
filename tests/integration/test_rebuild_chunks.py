"""Rebuild in small chunks: the set-based replay of create/update chunks, mixed with chunks the projector replays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from test_rebuild import mixed_history, snapshot

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger
from artifact_ledger.events import CREATED, UPDATED
from artifact_ledger.projections import rebuild as rebuild_module
from artifact_ledger.projections.projector import ProjectionError
from artifact_ledger.store.recorder import Recorder, recorder_for
from ledger_support import SECRET


async def creates_and_updates(manager: ArtifactManager) -> None:
    """Deep chains, blobs, tags, updates in the chunk of their create and chunks later, several per chunk."""
    root = await manager.save(ArtifactIn(data={"type": "root", "n": 0}), actor="alice")
    chain = [root]
    for i in range(6):
        chain.append(await manager.save(ArtifactIn(parent_id=chain[-1].id, data={"type": "node", "i": i})))
    batch = await manager.save_all(
        [ArtifactIn(parent_id=chain[i % 7].id, data={"i": i, "content": bytes([i]) * 40}, tags=["x", str(i)])
         for i in range(11)]
    )  # fmt: skip
    await manager.save(ArtifactIn(id=chain[3].id, parent_id=chain[2].id, data={"type": "node", "v": 2}), actor="bob")
    for item in batch[:4]:
        await manager.save(ArtifactIn(id=item.id, parent_id=item.parent_id, data={"again": True}, tags=["y"]))
    await manager.save(ArtifactIn(id=batch[0].id, parent_id=batch[0].parent_id, data={"third": 3}))
    await manager.save(ArtifactIn(parent_id=batch[5].id, data=None))


@pytest.mark.parametrize("chunk", [1, 3, 7, 5000])
async def test_rebuild_in_chunks_equals_live_tables(
    manager: ArtifactManager, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    await creates_and_updates(manager)
    await mixed_history(manager)
    await creates_and_updates(manager)
    await manager.repo.session.commit()
    live = await snapshot(engine)
    monkeypatch.setattr(rebuild_module, "CHUNK", chunk)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
        assert (await ledger.verify()).ok
    assert await snapshot(engine) == live


def _row(driver: Recorder, position: int, artifact_id: str, type_: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    at = driver.ts(datetime.now(UTC))
    return (position, f"e{position}", artifact_id, 1, type_, 1, orjson.dumps(payload).decode(), at, None)


@pytest.mark.parametrize(
    ("type_", "payload", "problem"),
    [
        (CREATED, {"parent_id": "0" * 26}, "names parent 00000000000000000000000000, which has no live row"),
        (UPDATED, {}, "targets 7ZZZZZZZZZZZZZZZZZZZZZZZZZ, which has no live row"),
    ],
)
async def test_set_based_replay_refuses_what_the_projector_refuses(
    engine: AsyncEngine, type_: str, payload: dict[str, Any], problem: str
) -> None:
    state = {"data": {"a": 1}, "content": None, "tags": [], **payload}
    async with engine.begin() as conn:
        driver = await recorder_for(conn)
        with pytest.raises(ProjectionError, match=problem):
            await rebuild_module._StateChunk(driver).apply([_row(driver, 1, "7" + "Z" * 25, type_, state)])
        await conn.rollback()
