"""``delete_by_id`` of an id that is an alias's or a link's stream: refused as every other command
refuses it, while an id nothing was recorded under (or an artifact already deleted) stays a no-op."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactNotFoundError


async def _event_count(manager: ArtifactManager) -> int:
    found = await manager.repo.session.execute(text("SELECT count(*) FROM ledger_events"))
    return int(found.scalar_one())


async def _stream_ids(manager: ArtifactManager) -> dict[str, str]:
    """An alias's and a link's stream ids, as the audit trail shows them (event type -> stream id)."""
    a = await manager.save(ArtifactIn(data={"name": "a"}))
    b = await manager.save(ArtifactIn(data={"name": "b"}))
    await manager.link(a.id, b.id, "used")
    await manager.set_alias("prod", a.id)
    page = await manager.audit(event_type=["link.*", "alias.*"])
    return {e.event_type: str(e.artifact_id) for e in page.entries}


@pytest.mark.parametrize(("event_type", "kind"), [("alias.set", "an alias"), ("link.added", "a lineage link")])
async def test_deleting_an_alias_or_link_stream_id_is_not_found(
    manager: ArtifactManager, event_type: str, kind: str
) -> None:
    sid = (await _stream_ids(manager))[event_type]
    before = await _event_count(manager)
    for cascade in (False, True):
        with pytest.raises(ArtifactNotFoundError, match=f"{sid} is the stream of {kind}") as info:
            await manager.delete_by_id(sid, cascade=cascade)
        assert info.value.artifact_id == sid  # type: ignore[attr-defined]
    assert await _event_count(manager) == before
    assert await manager.resolve_alias("prod") is not None  # the alias is untouched


async def test_deleting_a_stream_id_in_a_transaction_is_not_found(manager: ArtifactManager) -> None:
    sid = (await _stream_ids(manager))["alias.set"]
    with pytest.raises(ArtifactNotFoundError, match="is the stream of an alias"):
        async with manager.transaction() as tx:
            await tx.delete_by_id(sid)


async def test_deleting_unknown_or_deleted_ids_stays_a_no_op(manager: ArtifactManager) -> None:
    gone = await manager.save(ArtifactIn(data={"name": "gone"}))
    await manager.delete_by_id(gone.id)
    before = await _event_count(manager)
    assert await manager.delete_by_id(ULID()) is None  # chapkit: an unknown id is a no-op
    assert await manager.delete_by_id(gone.id) is None  # and so is one already deleted
    async with manager.transaction() as tx:
        await tx.delete_by_id(ULID())
        await tx.delete_by_id(gone.id)
    assert await _event_count(manager) == before


async def test_a_live_artifact_still_deletes_alone_and_in_a_transaction(manager: ArtifactManager) -> None:
    one = await manager.save(ArtifactIn(data={"name": "one"}))
    await manager.delete_by_id(one.id)
    assert await manager.find_by_id(one.id) is None
    async with manager.transaction() as tx:
        two = await tx.save(ArtifactIn(data={"name": "two"}))
        await tx.delete_by_id(two.id)
        await tx.delete_by_id(two.id)  # deleted earlier in the same transaction: a no-op
    assert await manager.find_by_id(two.id) is None
    assert [v.event_type for v in await manager.history(two.id)][-1] == "artifact.deleted"
