"""audit(...): filters in any combination, keyset pages by position, attribution on every entry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactRepository, FixedClock, Ledger, attribution
from artifact_ledger.schemas import AuditEntry
from ledger_support import HIERARCHY, SECRET

START = datetime(2026, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START, step=timedelta(0))


@pytest.fixture
def timed(session: AsyncSession, clock: FixedClock) -> ArtifactManager:
    return ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock), hierarchy=HIERARCHY)


class Story:
    """A small history: two projects, documents edited by several people, a move out, a delete."""

    def __init__(self) -> None:
        self.ids: dict[str, ULID] = {}

    async def tell(self, m: ArtifactManager, clock: FixedClock) -> None:
        with attribution(actor="ann", reason="set up", correlation_id="setup-1"):
            self.ids["p1"] = (await m.save(ArtifactIn(data={"name": "p1"}))).id  # position 1
            self.ids["p2"] = (await m.save(ArtifactIn(data={"name": "p2"}))).id  # 2
            self.ids["doc"] = (await m.save(ArtifactIn(parent_id=self.ids["p1"], data={"v": 1}))).id  # 3
            self.ids["note"] = (await m.save(ArtifactIn(parent_id=self.ids["doc"], data={"n": 1}))).id  # 4
        clock.advance(HOUR)
        doc, note = self.ids["doc"], self.ids["note"]
        await m.save(ArtifactIn(id=doc, parent_id=self.ids["p1"], data={"v": 2}), actor="bob", reason="typo")  # 5
        await m.save(ArtifactIn(id=note, parent_id=doc, data={"n": 2}), actor="cy")  # 6
        clock.advance(HOUR)
        await m.move(doc, self.ids["p2"], actor="bob", reason="wrong project")  # 7 (doc and note leave p1)
        await m.save(ArtifactIn(id=note, parent_id=doc, data={"n": 3}), actor="cy")  # 8 (note is under p2 now)
        clock.advance(HOUR)
        await m.delete_by_id(doc, cascade=True, actor="ann", reason="obsolete")  # 9 note, 10 doc
        await m.revert(self.ids["p1"], to_version=1)  # nothing: p1 never changed


async def positions(m: ArtifactManager, **filters: object) -> list[int]:
    page = await m.audit(limit=1000, **filters)  # type: ignore[arg-type]
    assert page.next_after is None
    return [e.position for e in page.entries]


async def test_filters(timed: ArtifactManager, clock: FixedClock) -> None:
    story = Story()
    await story.tell(timed, clock)
    ids = story.ids
    assert await positions(timed) == list(range(1, 11))
    assert await positions(timed, artifact_id=ids["doc"]) == [3, 5, 7, 10]
    assert await positions(timed, actor="cy") == [6, 8]
    assert await positions(timed, actor=["bob", "cy"]) == [5, 6, 7, 8]
    assert await positions(timed, event_type="artifact.deleted") == [9, 10]
    assert await positions(timed, event_type=["artifact.moved", "artifact.deleted"]) == [7, 9, 10]
    assert await positions(timed, since=START + HOUR) == [5, 6, 7, 8, 9, 10]
    assert await positions(timed, since=START + HOUR, until=START + 2 * HOUR) == [5, 6]  # until is exclusive
    assert await positions(timed, until=START + timedelta(minutes=1)) == [1, 2, 3, 4]
    assert await positions(timed, actor="bob", artifact_id=ids["doc"], event_type="artifact.moved") == [7]
    assert await positions(timed, actor="bob", artifact_id=ids["note"]) == []
    # Subtree: events of artifacts that were in the subtree when they happened.
    assert await positions(timed, subtree_of=ids["p1"]) == [1, 3, 4, 5, 6, 7]  # the move out included
    assert await positions(timed, subtree_of=ids["p2"]) == [2, 7, 8, 9, 10]  # the move in included
    assert await positions(timed, subtree_of=ids["p2"], actor="cy") == [8]
    assert await positions(timed, subtree_of=ids["doc"]) == [3, 4, 5, 6, 7, 8, 9, 10]


async def test_entries_carry_attribution(timed: ArtifactManager, clock: FixedClock) -> None:
    story = Story()
    await story.tell(timed, clock)
    entries = (await timed.audit(artifact_id=story.ids["doc"])).entries
    assert all(isinstance(e, AuditEntry) for e in entries)
    created, updated, moved, deleted = entries
    assert (created.actor, created.reason, created.correlation_id, created.event_type, created.version) == (
        "ann",
        "set up",
        "setup-1",
        "artifact.created",
        1,
    )
    assert created.details == {"parent_id": str(story.ids["p1"]), "content": None, "tags": []}
    assert (updated.actor, updated.reason, updated.recorded_at) == ("bob", "typo", START + HOUR)
    assert moved.details == {"from_parent_id": str(story.ids["p1"]), "to_parent_id": str(story.ids["p2"])}
    assert (deleted.actor, deleted.reason, deleted.details) == (
        "ann",
        "obsolete",
        {"cascade_root": str(story.ids["doc"])},
    )
    assert all(e.artifact_id == story.ids["doc"] and len(e.event_id) == 26 for e in entries)
    assert [e.recorded_at.utcoffset() for e in entries] == [timedelta(0)] * 4


async def test_keyset_pages(timed: ArtifactManager, clock: FixedClock) -> None:
    story = Story()
    await story.tell(timed, clock)
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        page = await timed.audit(after=after, limit=3)
        seen.extend(e.position for e in page.entries)
        pages += 1
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == list(range(1, 11))
    assert pages == 4
    filtered = await timed.audit(actor=["bob", "cy"], limit=2)
    assert [e.position for e in filtered.entries] == [5, 6]
    assert filtered.next_after == 6
    rest = await timed.audit(actor=["bob", "cy"], limit=2, after=6)
    assert ([e.position for e in rest.entries], rest.next_after) == ([7, 8], None)
    await timed.save(ArtifactIn(data={"late": True}), actor="cy")  # a page boundary is stable under appends
    more = await timed.audit(actor=["bob", "cy"], limit=2, after=8)
    assert [e.position for e in more.entries] == [11]


async def test_bad_filters(timed: ArtifactManager) -> None:
    with pytest.raises(ValueError, match="limit"):
        await timed.audit(limit=0)
    with pytest.raises(ValueError, match="after"):
        await timed.audit(after=-1)
    with pytest.raises(ValueError, match=r"unknown event type 'artifact\.renamed'"):
        await timed.audit(event_type="artifact.renamed")
    with pytest.raises(ValueError, match="naive"):
        await timed.audit(since=datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="actor"):
        await timed.audit(actor=[1])  # type: ignore[list-item]
    assert (await timed.audit(artifact_id=ULID())).entries == []


async def test_ambient_context_applies_across_awaits_and_tasks(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            root = await manager.save(ArtifactIn(data={"name": "root"}))

            async def worker(n: int) -> None:
                await asyncio.sleep(0)
                await manager.save(ArtifactIn(parent_id=root.id, data={"n": n}))

            with ledger.context(actor="pipeline", reason="nightly", correlation_id="run-77"):
                await asyncio.sleep(0)
                for n in range(3):  # a task copies the context; one at a time, as they share a session
                    await asyncio.create_task(worker(n))
                await manager.save(ArtifactIn(id=root.id, data={"name": "root", "done": True}), reason="finish")
        async with ledger.manager() as manager:
            entries = (await manager.audit(subtree_of=root.id, after=1)).entries
            assert len(entries) == 4
            assert {(e.actor, e.correlation_id) for e in entries} == {("pipeline", "run-77")}
            assert [e.reason for e in entries] == ["nightly"] * 3 + ["finish"]
            first = (await manager.audit(limit=1)).entries[0]
            assert (first.actor, first.correlation_id) == (None, None)
