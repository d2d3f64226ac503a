"""A read of one old version (``diff``, ``open_content(version=)``) folds only the few events that
version's state is made of (``history_pages.read_one``), and answers exactly what the fold of the
whole stream up to it answered, for every version of a stream with every event type, on every
backend; a log damaged by hand reads, or fails, as before."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from test_history_pages import every_kind, plant_damage

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactNotFoundError, Ledger, history_pages, queries, temporal
from artifact_ledger import history as hist
from artifact_ledger import reads as reading
from artifact_ledger.decide import evolve
from artifact_ledger.diffs import content_diff
from artifact_ledger.errors import ArtifactDeletedError, ContentNotFoundError, VersionNotFoundError
from artifact_ledger.events import REDACTED_CODEC
from ledger_support import SECRET


async def old_diff(m: ArtifactManager, aid: str, v1: int, v2: int | None, content: bool) -> Any:
    """``diff`` as it was read before ``read_one``: the fold of every event up to the later version."""
    async with m.repo.core_reads() as db:
        latest = await hist.check_stream(db, aid, v1)
        to_version = latest if v2 is None else v2
        await hist.check_stream(db, aid, to_version)
        folded = hist.fold_versions(await queries.stream_upto(db, aid, max(v1, to_version)))
        (a_version, a_state), (b_version, b_state) = folded[v1 - 1], folded[to_version - 1]
        levels = [await temporal.level_at(db, aid, v.position) for v in (a_version, b_version)]
    result = hist.diff_states(aid, (v1, to_version), (a_state, b_state), (levels[0], levels[1]))
    if content and result.content is not None:
        result.content_diff = await content_diff(m.repo, a_state.content, b_state.content)
    return result


async def old_content_ref(m: ArtifactManager, aid: str, version: int | None) -> Any:
    """The content reference of ``version`` from the fold of every event up to it (of every event:
    None). ``open_content`` read the whole stream before ``read_one``, so an event after the version
    the log does not know failed it; it reads as ``diff`` and history pages do now."""
    async with m.repo.core_reads() as db:
        whole = await queries.stream(db, aid)
        folded = hist.fold_versions(whole if version is None else whole[:version])
    if not folded:
        raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
    if version is None:
        state = folded[-1][1]
        if state.deleted:
            raise ArtifactDeletedError(
                f"artifact {aid} is deleted (version {state.version}); pass version= to read the content "
                "of a version before that",
                artifact_id=aid,
            )
    else:
        if version > len(whole):
            raise VersionNotFoundError(
                f"artifact {aid} has no version {version}; its latest is {len(whole)}", artifact_id=aid
            )
        state = folded[version - 1][1]
    ref = None if state.deleted else state.content
    if ref is not None and ref.codec == REDACTED_CODEC:
        raise reading.redacted(aid, state.version)
    if ref is None:
        what = "is its deletion" if state.deleted else "has no content"
        raise ContentNotFoundError(f"artifact {aid} version {state.version} {what}", artifact_id=aid)
    return ref


async def new_content_ref(m: ArtifactManager, aid: str, version: int | None) -> Any:
    async with m.repo.core_reads() as db:
        read = await history_pages.read_one(db, aid, version)
    return reading._content_of(aid, read, version)


async def outcome(read: Any) -> Any:
    """What a read returns (dumped when a model), or the type and message of what it raises."""
    try:
        value = await read
    except Exception as error:  # any error: the same error
        return type(error).__name__, str(error)
    return value.model_dump() if hasattr(value, "model_dump") else value


async def content(m: ArtifactManager, aid: str, version: int | None) -> bytes:
    return b"".join([chunk async for chunk in m.open_content(aid, version=version)])


async def test_every_version_reads_as_the_fold_of_the_whole_stream(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        aid = await every_kind(ledger)
        async with ledger.manager() as m:
            whole = await m.history(aid, include_content=True)
            assert len(whole) == 23
            versions: list[int | None] = [*range(0, 26), None]
            for v1 in versions[:-1]:
                assert v1 is not None
                for v2 in versions:
                    got = await outcome(m.diff(aid, v1, v2))
                    assert got == await outcome(old_diff(m, aid, v1, v2, True)), (v1, v2)
                    assert await outcome(m.diff(aid, v1, v2, content=False)) == await outcome(
                        old_diff(m, aid, v1, v2, False)
                    ), (v1, v2)
            kinds = set()
            for v in versions[1:]:
                expected = await outcome(old_content_ref(m, aid, v))
                assert await outcome(new_content_ref(m, aid, v)) == expected, v
                got = await outcome(content(m, aid, v))
                if isinstance(expected, tuple):
                    assert got == expected, v
                elif v is not None:  # a reference: the bytes it holds, or its expiry's error as before
                    shown = whole[v - 1].data["content"]
                    assert got == shown if isinstance(shown, bytes) else got[0] == "ContentExpiredError", (v, got)
                kinds.add(got[0] if isinstance(got, tuple) else "bytes")
            assert kinds >= {"bytes", "RedactedError", "VersionNotFoundError", "ContentNotFoundError"}, kinds


async def test_an_old_version_folds_only_a_few_events(
    manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await manager.save(ArtifactIn(data={"n": 0, "content": b"v0"}))
    other = await manager.save(ArtifactIn(data={"other": True}))
    await manager.move(a.id, other.id)
    for n in range(1, 200):
        await manager.save(ArtifactIn(id=a.id, parent_id=other.id, data={"n": n, "content": b"v%d" % n}))
    folded: list[int] = []

    def counting(state: Any, event: Any) -> Any:
        folded.append(event.version)
        return evolve(state, event)

    monkeypatch.setattr(hist, "evolve", counting)
    result = await manager.diff(a.id, 150, 190)
    assert [op.model_dump() for op in result.data] == [{"op": "replace", "path": "/n", "old": 148, "value": 188}]
    assert sorted(folded) == [1, 1, 2, 2, 149, 150, 189, 190]  # each: the create, the move, the one before, its own
    folded.clear()
    assert await content(manager, a.id, 120) == b"v118"
    assert await content(manager, a.id, None) == b"v199"
    assert folded == [1, 2, 119, 120, 1, 2, 200, 201]


async def test_a_damaged_stream_reads_one_version_as_the_whole_fold_did(
    manager: ArtifactManager, engine: AsyncEngine
) -> None:
    """A second create, an update of a deleted artifact and an event type the fold does not know,
    planted with plain SQL: a diff up to each version fails as the fold of every event up to it did."""
    a = await manager.save(ArtifactIn(data={"n": 0, "content": b"v0"}, tags=["first"]))
    for n in range(1, 30):
        await manager.save(ArtifactIn(id=a.id, data={"n": n, "content": b"v%d" % n}))
    aid = str(a.id)
    await plant_damage(
        manager, engine, aid, [(31, "created"), (32, "deleted"), (33, "updated"), (34, "mystery"), (35, "updated")]
    )
    for v1 in (1, 5, 30, 31, 32, 33, 34, 35, 36):
        for v2 in (1, 30, 31, 32, 33, 34, 35, None):
            assert await outcome(manager.diff(aid, v1, v2, content=False)) == await outcome(
                old_diff(manager, aid, v1, v2, False)
            ), (v1, v2)
    assert (await outcome(manager.diff(aid, 1, 35)))[0] == "ValueError"  # the unknown type
    assert (await outcome(manager.diff(aid, 32, 33, content=False)))["deleted"] is None  # deleted at 32 and 33
    for v in (None, 1, 30, 31, 32, 33, 34, 35, 36):
        assert await outcome(new_content_ref(manager, aid, v)) == await outcome(old_content_ref(manager, aid, v))
    assert (await outcome(content(manager, aid, None)))[0] == "ValueError"  # the unknown type, as before
    assert await content(manager, aid, 30) == b"v29"
