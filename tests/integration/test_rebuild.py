"""Rebuild: replaying the log gives projection tables identical, row for row, to the live ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger
from ledger_support import SECRET

SNAPSHOTS = {
    "ledger_artifacts": "SELECT * FROM ledger_artifacts ORDER BY id",
    "ledger_artifact_closure": "SELECT * FROM ledger_artifact_closure ORDER BY ancestor_id, descendant_id",
    "ledger_artifact_parent_history": "SELECT * FROM ledger_artifact_parent_history ORDER BY artifact_id, valid_from",
    "ledger_checkpoints": "SELECT * FROM ledger_checkpoints ORDER BY projector",
}


async def snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {name: [tuple(r) for r in (await conn.execute(text(sql))).all()] for name, sql in SNAPSHOTS.items()}


async def mixed_history(manager: ArtifactManager) -> None:
    """Creates, updates, moves (deep, to root, via save), deletes, a cascade, restores, reverts, content, batches."""
    a = await manager.save(ArtifactIn(data={"name": "a"}), actor="alice")
    b = await manager.save(ArtifactIn(data={"name": "b", "content": b"blob"}, tags=["t"]))
    a1 = await manager.save(ArtifactIn(parent_id=a.id, data={"name": "a1"}))
    a2 = await manager.save(ArtifactIn(parent_id=a1.id, data={"name": "a2", "content": {"k": [1, 2]}}))
    a3 = await manager.save(ArtifactIn(parent_id=a2.id, data={"name": "a3"}))
    await manager.save(ArtifactIn(id=a1.id, parent_id=a.id, data={"name": "a1", "v": 2}), actor="bob")
    await manager.move(a1.id, b.id, reason="regroup")
    await manager.save(ArtifactIn(id=a2.id, parent_id=None, data={"name": "a2", "v": 3}))  # move to root + update
    await manager.delete_by_id(a3.id)
    await manager.restore(a3.id)
    c_items = [ArtifactIn(parent_id=a.id, data={"name": f"c{i}"}) for i in range(3)]
    cs = await manager.save_all(c_items)
    grand = await manager.save(ArtifactIn(parent_id=cs[0].id, data={"name": "g"}))
    await manager.delete_by_id(cs[0].id, cascade=True)
    await manager.restore(cs[0].id)
    await manager.restore(grand.id)
    await manager.delete_by_id(a.id, cascade=True, actor="carol")
    async with manager.transaction():
        d = await manager.save(ArtifactIn(data={"name": "d"}))
        await manager.move(a2.id, d.id)
        await manager.save(ArtifactIn(parent_id=a3.id, data={"name": "under a3"}))
        await manager.save(ArtifactIn(id=b.id, data={"name": "b", "content": b"blob2"}, tags=["t", "u"]))
    await manager.restore(a.id)
    await manager.move(d.id, a.id)
    await manager.revert(a1.id, to_version=1)  # back under a, with its first data
    await manager.revert(b.id, to_version=1)  # its first content and tags


async def test_rebuild_equals_live_tables(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await mixed_history(manager)
    await manager.repo.session.commit()
    live = await snapshot(engine)
    assert live["ledger_artifacts"]
    assert live["ledger_artifact_closure"]
    async with Ledger.open(engine, secret=SECRET) as ledger:
        last = (await ledger.verify()).head_position
        replayed = await ledger.rebuild()
    assert replayed == last
    rebuilt = await snapshot(engine)
    for table in SNAPSHOTS:
        assert rebuilt[table] == live[table], table
    assert {row[1] for row in rebuilt["ledger_checkpoints"]} == {last}
    assert len(rebuilt["ledger_checkpoints"]) == 2


async def test_rebuild_after_rebuild_and_more_writes(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await mixed_history(manager)
    await manager.repo.session.commit()
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
        async with ledger.manager() as other:
            roots = [o for o in await other.find_all() if o.parent_id is None]
            child = await other.save(ArtifactIn(parent_id=roots[0].id, data={"after": "rebuild"}))
            assert child.level == 1
        live = await snapshot(engine)
        await ledger.rebuild()
        assert await snapshot(engine) == live
