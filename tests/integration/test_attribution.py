"""Who and why: explicit and ambient attribution land in the log and on the artifact rows."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

import artifact_ledger
from artifact_ledger import ArtifactIn, ArtifactManager, InvalidAttributionError, Ledger, attribution
from ledger_support import SECRET


async def event_rows(
    manager: ArtifactManager, artifact_id: ULID
) -> list[tuple[str, str | None, str | None, str | None]]:
    rows = await manager.repo.session.execute(
        text("SELECT type, actor, reason, correlation_id FROM ledger_events WHERE artifact_id = :id ORDER BY position"),
        {"id": str(artifact_id)},
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows.all()]


async def test_explicit_actor_and_reason(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"v": 1}), actor="alice", reason="first draft")
    await manager.save(ArtifactIn(id=out.id, data={"v": 2}), actor="bob", reason="fix typo")
    parent = await manager.save(ArtifactIn(data={}), actor="carol")
    await manager.move(out.id, parent.id, actor="dave", reason="reorganise")
    await manager.delete_by_id(out.id, actor="erin", reason="obsolete")
    await manager.restore(out.id, actor="frank", reason="still needed")
    assert await event_rows(manager, out.id) == [
        ("artifact.created", "alice", "first draft", None),
        ("artifact.updated", "bob", "fix typo", None),
        ("artifact.moved", "dave", "reorganise", None),
        ("artifact.deleted", "erin", "obsolete", None),
        ("artifact.restored", "frank", "still needed", None),
    ]
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert (found.created_by, found.updated_by) == ("alice", "frank")
    history = await manager.history(out.id)
    assert [(v.actor, v.reason) for v in history][:2] == [("alice", "first draft"), ("bob", "fix typo")]


async def test_unattributed_writes_have_no_actor(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={}))
    assert await event_rows(manager, out.id) == [("artifact.created", None, None, None)]
    assert (out.created_by, out.updated_by) == (None, None)


async def test_ambient_context_across_awaits_tasks_and_nesting(manager: ArtifactManager) -> None:
    async def save_later(tag: str) -> ULID:
        await asyncio.sleep(0)
        return (await manager.save(ArtifactIn(data={"tag": tag}))).id

    with Ledger.context(actor="svc", reason="nightly", correlation_id="run-42"):
        await asyncio.sleep(0)
        outer = await save_later("outer")
        with artifact_ledger.attribution(reason="nested"):
            nested = await save_later("nested")
            explicit = (await manager.save(ArtifactIn(data={}), actor="human", reason="manual")).id
        in_task = await asyncio.create_task(save_later("task"))
        after_nested = await save_later("after")
    outside = await save_later("outside")

    assert await event_rows(manager, outer) == [("artifact.created", "svc", "nightly", "run-42")]
    assert await event_rows(manager, nested) == [("artifact.created", "svc", "nested", "run-42")]
    assert await event_rows(manager, explicit) == [("artifact.created", "human", "manual", "run-42")]
    assert await event_rows(manager, in_task) == [("artifact.created", "svc", "nightly", "run-42")]
    assert await event_rows(manager, after_nested) == [("artifact.created", "svc", "nightly", "run-42")]
    assert await event_rows(manager, outside) == [("artifact.created", None, None, None)]
    found = await manager.find_by_id(outer)
    assert found is not None
    assert found.created_by == "svc"
    history = await manager.history(outer)
    assert history[0].correlation_id == "run-42"


async def test_concurrent_contexts_do_not_leak(manager: ArtifactManager) -> None:
    other = ArtifactManager(manager.repo)  # same session, sequential use through one lock below
    lock = asyncio.Lock()

    async def as_actor(actor: str, target: ArtifactManager) -> ULID:
        with artifact_ledger.attribution(actor=actor):
            await asyncio.sleep(0)
            async with lock:
                return (await target.save(ArtifactIn(data={"by": actor}))).id

    first, second = await asyncio.gather(as_actor("a", manager), as_actor("b", other))
    assert (await event_rows(manager, first))[0][1] == "a"
    assert (await event_rows(manager, second))[0][1] == "b"


async def test_context_on_an_opened_ledger(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        with ledger.context(actor="alice", reason="review"):
            async with ledger.manager() as manager:
                out = await manager.save(ArtifactIn(data={"x": 1}))
                await manager.save(ArtifactIn(id=out.id, data={"x": 2}), reason="second look")
            async with ledger.transaction() as manager:
                child = await manager.save(ArtifactIn(parent_id=out.id, data={}))
        events = await ledger.events_since(0)
    assert [(e.actor, e.reason) for e in events] == [
        ("alice", "review"),
        ("alice", "second look"),
        ("alice", "review"),
    ]
    assert events[2].artifact_id == str(child.id)
    assert child.created_by == "alice"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actor": "a" * 256}, "actor is 256 characters long"),
        ({"actor": "bad\x00actor"}, "NUL"),
        ({"reason": "r" * 10_001}, "reason is 10001 characters long"),
        ({"actor": "\ud800"}, "not valid Unicode"),
    ],
)
async def test_attribution_the_log_cannot_record_is_refused_before_writing(
    manager: ArtifactManager, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidAttributionError, match=message):
        await manager.save(ArtifactIn(data={"x": 1}), **kwargs)
    assert await manager.count() == 0
    with pytest.raises(InvalidAttributionError, match="correlation_id is 300"), attribution(correlation_id="c" * 300):
        pass
    await manager.save(ArtifactIn(data={"x": 1}), actor="a" * 255)
    assert await manager.count() == 1
