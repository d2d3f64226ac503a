"""History, revert and the audit trail, from an adversarial review (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, ArtifactManager, InvalidArgumentError


async def event_count(manager: ArtifactManager) -> int:
    return int((await manager.repo.session.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def test_a_repeated_revert_to_a_version_whose_content_was_redacted_appends_nothing(
    manager: ArtifactManager,
) -> None:
    """The reverted version has no content (erased content is never brought back); the same revert
    again is the current state, as for any revert: it appended an identical version every time."""
    a = await manager.save(ArtifactIn(data={"name": "a", "email": "e@x", "content": b"secret"}))
    await manager.save(ArtifactIn(id=a.id, data={"name": "b"}))
    await manager.redact(a.id, version=1, fields=["email"], reason="erasure request")
    await manager.redact(a.id, version=1, reason="erasure request")
    reverted = await manager.revert(a.id, to_version=1)
    assert (reverted.version, reverted.data) == (3, {"name": "a"})
    count = await event_count(manager)
    for to_version in (1, 1, 3):  # a client retrying, and the current version itself
        again = await manager.revert(a.id, to_version=to_version)
        assert (again.version, again.data) == (3, {"name": "a"})
    assert await event_count(manager) == count
    assert [v.event_type for v in await manager.history(a.id)][-1] == "artifact.reverted"
    assert len(await manager.history(a.id)) == 3


async def test_a_reversed_audit_window_is_refused_naming_both_ends(manager: ArtifactManager) -> None:
    """``since`` after ``until`` matches nothing by construction: an operator who swapped them read
    an empty trail as "nothing happened"; now it is InvalidArgumentError naming both instants."""
    await manager.save(ArtifactIn(data={"n": 1}))
    since = datetime(2030, 1, 1, tzinfo=UTC)
    until = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidArgumentError, match=r"since 2030-01-01T00:00:00\+00:00 is after until 2020-01-01"):
        await manager.audit(since=since, until=until)
    # compared as instants, not as written: 02:00 at +02:00 is the same instant as 00:00 UTC
    same = datetime(2020, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert (await manager.audit(since=same, until=until)).entries == []
    everything = await manager.audit(since=datetime(2000, 1, 1, tzinfo=UTC), until=since)
    assert len(everything.entries) == 1


async def test_an_audit_filter_of_too_many_actors_is_bad_input(manager: ArtifactManager) -> None:
    """Each actor is a bound parameter: 40,000 of them were a database error on PostgreSQL (32,767
    at most; SQLite failed past 32,766), reported as LedgerUnavailableError. Repeats count once."""
    await manager.save(ArtifactIn(data={"n": 1}), actor="ann")
    many = [f"user-{i}" for i in range(40_000)]
    with pytest.raises(
        InvalidArgumentError, match="actor holds 40,000 distinct values; one filter takes at most 10,000"
    ):
        await manager.audit(actor=many)
    assert (await manager.audit(actor=[*many[:9_999], "ann"])).entries[0].actor == "ann"
    assert len((await manager.audit(actor=["ann"] * 40_000)).entries) == 1


async def test_writes_that_reply_with_an_artifact_whose_content_was_erased_succeed(manager: ArtifactManager) -> None:
    """A write whose reply is an artifact with redacted content read the erased reference's empty
    hash as a blob: MissingBlobError, and the write rolled back (a move of it, a patch that changes
    nothing, a revert to its current state). The reply now has no content, as a read without
    content; a revert to the current state appends nothing."""
    parent = await manager.save(ArtifactIn(data={"name": "parent"}))
    a = await manager.save(ArtifactIn(data={"name": "a", "content": b"secret"}))
    await manager.redact(a.id, reason="erasure request")
    count = await event_count(manager)
    same = await manager.revert(a.id, to_version=1)
    assert (same.version, same.data) == (1, {"name": "a"})
    unchanged = await manager.patch(a.id, {"name": "a"})
    assert (unchanged.version, unchanged.data) == (1, {"name": "a"})
    assert await event_count(manager) == count
    moved = await manager.move(a.id, parent.id)
    assert (moved.version, moved.parent_id, moved.data) == (2, parent.id, {"name": "a"})
    assert (await manager.revert(a.id, to_version=1)).version == 3  # the parent differs: a real revert
    assert await event_count(manager) == count + 2
