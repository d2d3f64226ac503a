"""Writes on an artifact whose current content a retention run expired (every backend): a move goes
through and replies without content; a patch, revert or restore that would name the deleted bytes
again is refused, naming the command, and writes nothing; the ledger still verifies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ContentExpiredError, Ledger, RetentionPolicy
from ledger_support import SECRET, HourlyClock


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET, clock=HourlyClock()) as opened:
        yield opened


async def expired_artifact(ledger: Ledger) -> tuple[str, str]:
    """An artifact (under one root) whose only version's content expired, and another root."""
    async with ledger.manager() as m:
        root = await m.save(ArtifactIn(data={"name": "root"}))
        other = await m.save(ArtifactIn(data={"name": "other"}))
        a = await m.save(ArtifactIn(parent_id=root.id, data={"name": "model", "content": b"weights" * 50}))
    report = await ledger.apply_retention(RetentionPolicy(keep_newer_than=timedelta(0)), dry_run=False)
    assert [(str(e.artifact_id), e.version) for e in report.expired] == [(str(a.id), 1)]
    return str(a.id), str(other.id)


async def event_count(ledger: Ledger) -> int:
    async with ledger.manager() as m:
        return len((await m.audit(limit=1000)).entries)


async def test_a_move_goes_through_and_replies_without_the_expired_content(ledger: Ledger) -> None:
    aid, other = await expired_artifact(ledger)
    async with ledger.manager() as m:
        moved = await m.move(aid, other, reason="reorganised")
        assert (moved.version, str(moved.parent_id), moved.data) == (2, other, {"name": "model"})
        with pytest.raises(ContentExpiredError, match=f"artifact {aid} version 1 expired"):
            await m.find_by_id(aid)
        found = await m.find_by_id(aid, include_content=False)
        assert found is not None
        assert (found.version, str(found.parent_id)) == (2, other)
    report = await ledger.verify()
    assert report.ok, report.problem


@pytest.mark.parametrize("command", ["patch", "revert", "restore"])
async def test_writes_naming_the_expired_content_again_are_refused_and_write_nothing(
    ledger: Ledger, command: str
) -> None:
    aid, _ = await expired_artifact(ledger)
    if command == "restore":
        async with ledger.manager() as m:
            await m.delete_by_id(aid)
    elif command == "revert":
        async with ledger.manager() as m:
            await m.patch(aid, data={"content": None, "note": "content dropped"})
    before = await event_count(ledger)
    async with ledger.manager() as m:
        calls = {
            "patch": lambda: m.patch(aid, data={"status": "archived"}),
            "revert": lambda: m.revert(aid, to_version=1),
            "restore": lambda: m.restore(aid),
        }
        with pytest.raises(ContentExpiredError, match=f"cannot {command} artifact {aid}: its new version would name"):
            await calls[command]()
    assert await event_count(ledger) == before
    report = await ledger.verify()
    assert report.ok, report.problem


async def test_a_patch_that_drops_the_expired_content_goes_through(ledger: Ledger) -> None:
    aid, _ = await expired_artifact(ledger)
    async with ledger.manager() as m:
        out = await m.patch(aid, data={"content": None, "status": "archived"})
        assert (out.version, out.data) == (2, {"name": "model", "status": "archived"})
        found = await m.find_by_id(aid)
        assert found is not None
        assert "content" not in found.data
    report = await ledger.verify()
    assert report.ok, report.problem
