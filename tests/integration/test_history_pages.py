"""Deep pages of an artifact's history fold only the page and the few earlier events its first
state is made of (``history_pages``), and every page equals the same slice of the whole history
(the fold of every event), content included, on every backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import event_row, insert_row, tampered
from ulid import ULID

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    Ledger,
    RetentionPolicy,
    UnavailableContent,
    queries,
)
from artifact_ledger import history as hist
from artifact_ledger.decide import evolve
from ledger_support import SECRET


async def every_kind(ledger: Ledger) -> str:
    """An artifact whose stream has every event type of an artifact, with aliases, links, holds,
    redactions (content and a field) and expired content around it; returns its id."""
    async with ledger.manager() as m:
        root = await m.save(ArtifactIn(data={"name": "root"}))
        other = await m.save(ArtifactIn(data={"name": "other"}))
        a = await m.save(ArtifactIn(parent_id=root.id, data={"name": "a", "email": "e@x", "content": b"c1"}))
        aid = a.id
        saved = {"name": "a", "email": "f@x", "content": b"c2"}
        await m.save(ArtifactIn(id=aid, parent_id=root.id, data=saved, tags=["t1"]))  # v2
        await m.patch(aid, data={"status": "draft"}, tags=["t1", "t2"])  # v3
        await m.set_alias("a-in-production", aid, version=3)
        await m.move(aid, other.id)  # v4
        await m.save(ArtifactIn(id=aid, parent_id=other.id, data={"name": "a", "n": 5, "content": b"c3"}))  # v5
        await m.link(aid, root.id, "derived_from")
        await m.remove_alias("a-in-production")
        await m.delete_by_id(aid)  # v6
        await m.restore(aid)  # v7
        await m.revert(aid, to_version=2)  # v8: back under root
        await m.move(aid, other.id)  # v9
        await m.delete_by_id(other.id, cascade=True)  # v10: a cascade's deletion
        await m.restore(other.id)
        await m.restore(aid)  # v11
        for n in range(12, 18):  # v12..v17
            data = {"name": "a", "email": f"{n}@x", "content": b"c%d" % n}
            await m.save(ArtifactIn(id=aid, parent_id=other.id, data=data, tags=[f"t{n}"]))
        await m.revert(aid, to_version=5)  # v18: content c3 again
        await m.patch(aid, data={"status": "final"})  # v19
        await m.redact(aid, version=2, reason="erase v2's content")
        await m.redact(aid, fields=["email"], reason="erasure request")
        await m.revert(aid, to_version=2)  # v20: built from erased content, so no content
        await m.patch(aid, data={"status": "again"})  # v21
        await m.move(aid, other.id)  # v22
        await m.set_alias("a-in-production", aid, reason="moved on")
        await m.hold(aid, reason="audit")
        await m.release(aid, reason="audit over")
        await m.delete_by_id(aid, cascade=True)  # v23 (removes the alias): its data is v21's
    await ledger.apply_retention(RetentionPolicy(keep_last=3), dry_run=False, reason="space")
    return str(aid)


def dumped(versions: list[Any]) -> list[dict[str, Any]]:
    return [v.model_dump() for v in versions]


async def old_page(manager: ArtifactManager, aid: str, page: int, size: int) -> tuple[list[Any], int]:
    """A page as it was read before ``history_pages``: every event up to the page's last, folded."""
    async with manager.repo.core_reads() as db:
        events = await queries.stream(db, aid, limit=page * size)
        total = await queries.stream_length(db, aid)
        erased = await queries.stream_erasures(db, aid) if events else {}
    if not events:
        raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
    return [v for v, _ in hist.fold_versions(events, erased, skip=(page - 1) * size)], total


async def outcome(read: Any) -> Any:
    """What a read returns (dumped), or the type and message of what it raises."""
    try:
        items, total = await read
    except Exception as error:  # any error: the same error
        return type(error).__name__, str(error)
    return dumped(items), total


async def plant_damage(
    manager: ArtifactManager, engine: AsyncEngine, aid: str, planted: Sequence[tuple[int, str] | tuple[int, str, str]]
) -> None:
    """Rows planted with plain SQL past the end of the log, in order, each ``(version, kind)`` or ``(version,
    kind, artifact id)`` (``aid`` when not given): a copy of ``aid``'s first event (``created``), of its 30th,
    an update (``updated``), that update as a deletion (``deleted``) or under a type the fold does not know
    (``mystery``)."""
    async with manager.repo.core_reads() as db:
        stream = await queries.stream(db, aid)
    async with tampered(engine) as conn:
        created, updated = await event_row(conn, stream[0].position), await event_row(conn, stream[29].position)
        rows = {
            "created": created,
            "updated": updated,
            "deleted": {**updated, "type": "artifact.deleted", "payload": '{"cascade_root":null}'},
            "mystery": {**updated, "type": "artifact.mystery"},
        }
        top = max(e.position for e in stream) + 100
        for n, (version, kind, *into) in enumerate(planted, start=1):
            row = {**rows[kind], "position": top + n, "event_id": str(ULID()), "version": version}
            if into:
                row["artifact_id"] = into[0]
            await insert_row(conn, row)


async def test_every_page_equals_the_fold_of_the_whole_stream(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        aid = await every_kind(ledger)
        async with ledger.manager() as m:
            whole = await m.history(aid)  # the fold of every event of the stream
            with_content = await m.history(aid, include_content=True)
            types = {v.event_type for v in whole}
            assert len(whole) == 23
            assert types == {
                "artifact.created",
                "artifact.updated",
                "artifact.moved",
                "artifact.deleted",
                "artifact.restored",
                "artifact.reverted",
            }
            assert any(v.redacted for v in whole)
            assert any(v.deleted for v in whole)
            shown = [v.data.get("content") for v in with_content if isinstance(v.data, dict)]
            assert any(isinstance(c, bytes) for c in shown)  # kept, erased and expired content
            assert {c.reason for c in shown if isinstance(c, UnavailableContent)} == {"redacted", "expired"}
            for size in (1, 2, 3, 4, 5, 7, 10, 22, 23, 24):
                pages = -(-len(whole) // size)
                for page in range(1, pages + 2):  # and one past the end
                    expected = slice((page - 1) * size, page * size)
                    items, total = await m.history_paginated(aid, page, size)
                    assert total == len(whole)
                    assert dumped(items) == dumped(whole[expected]), (size, page)
                    assert (dumped(items), total) == await outcome(old_page(m, aid, page, size))
                    items, total = await m.history_paginated(aid, page, size, include_content=True)
                    assert dumped(items) == dumped(with_content[expected]), (size, page)


async def test_a_deep_page_folds_only_a_few_events_before_it(
    manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await manager.save(ArtifactIn(data={"n": 0}))
    other = await manager.save(ArtifactIn(data={"other": True}))
    await manager.move(a.id, other.id)
    for n in range(1, 200):
        await manager.save(ArtifactIn(id=a.id, parent_id=other.id, data={"n": n}))
    folded: list[int] = []

    def counting(state: Any, event: Any) -> Any:
        folded.append(event.version)
        return evolve(state, event)

    monkeypatch.setattr(hist, "evolve", counting)
    items, total = await manager.history_paginated(a.id, 20, 10)
    assert (total, [v.version for v in items]) == (201, list(range(191, 201)))
    assert [v.data for v in items] == [{"n": n} for n in range(189, 199)]
    assert all(v.parent_id == other.id for v in items)
    # the create (id, creation), the move (parent), version 190 (data, and the last before the page)
    assert folded == [1, 2, 190, *range(191, 201)]


async def test_an_alias_stream_id_is_refused_on_every_page(manager: ArtifactManager) -> None:
    a = await manager.save(ArtifactIn(data={"n": 0}))
    b = await manager.save(ArtifactIn(data={"n": 1}))
    await manager.set_alias("x", a.id)
    await manager.protect_alias("x", reason="pinned")  # an event of another type than the first's
    await manager.set_alias("x", b.id, reason="moved on")
    stream_id = str((await manager.audit(event_type="alias.set")).entries[0].artifact_id)
    with pytest.raises(ArtifactNotFoundError) as whole:
        await manager.history(stream_id)
    for page in (1, 2, 3, 4):
        with pytest.raises(ArtifactNotFoundError) as paged:
            await manager.history_paginated(stream_id, page, 1)
        assert str(paged.value) == str(whole.value)
        assert stream_id in str(paged.value)


async def test_a_damaged_stream_pages_as_the_whole_fold_did(manager: ArtifactManager, engine: AsyncEngine) -> None:
    """Versions that are not 1 to n (a gap), a second create, an update of a deleted artifact, an event
    type the fold does not know, and a stream whose first event is no create, planted with plain SQL:
    every page reads, or fails, exactly as the fold of every event up to the page's last did."""
    a = await manager.save(ArtifactIn(data={"n": 0}, tags=["first"]))
    other = await manager.save(ArtifactIn(data={"other": True}))
    for n in range(1, 30):
        await manager.save(ArtifactIn(id=a.id, data={"n": n}))
    await manager.move(a.id, other.id)  # v31
    aid = str(a.id)
    stray = str(ULID())  # a stream of its own whose first event is an update
    planted = [(35, "created"), (36, "deleted"), (37, "updated"), (40, "updated"), (41, "mystery"), (42, "updated")]
    await plant_damage(manager, engine, aid, [*planted, (1, "updated", stray), (2, "created", stray)])
    assert (await outcome(manager.history(aid)))[0] == "ValueError"  # the unknown type: the whole fold fails
    for size in (1, 2, 3, 5, 8, 31, 32, 33, 34, 35, 37, 40):
        for page in range(1, -(-37 // size) + 2):
            assert await outcome(manager.history_paginated(aid, page, size)) == await outcome(
                old_page(manager, aid, page, size)
            ), (size, page)
    read = [await manager.history_paginated(aid, page, 1) for page in (32, 33, 34)]  # from the second create
    items, total = [v for page, _ in read for v in page], read[0][1]
    assert [(v.version, v.parent_id, v.tags, v.deleted) for v in items] == [
        (35, None, ["first"], False),
        (36, None, ["first"], True),
        (37, None, ["first"], True),  # an update keeps the deletion
    ]
    assert total == 37
    items, _ = await manager.history_paginated(aid, 35, 1)
    assert (items[0].version, items[0].deleted) == (40, True)
    for page in (1, 2, 3):
        failed = await outcome(manager.history_paginated(stray, page, 1))
        assert failed == await outcome(old_page(manager, stray, page, 1))
        assert failed[0] == "ValueError"
        assert "no prior state" in failed[1]
