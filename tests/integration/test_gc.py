"""Garbage collection on every backend and both blob stores: what is unreferenced goes, what a live
version references stays, also while writers save content sharing chunks with the garbage."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    BlobStoreError,
    ContentExpiredError,
    InvalidArgumentError,
    Ledger,
    RetentionPolicy,
    create_engine,
)
from artifact_ledger.blob_files import TRASH
from artifact_ledger.gc import GcReport
from artifact_ledger.store.blob_dir import DirectoryBlobs
from artifact_ledger.transfer import export_ledger, import_bundle
from artifact_ledger.verify_bundle import verify_bundle
from artifact_ledger.writer import WriteBatch
from ledger_support import SECRET
from streaming_support import CHUNK, payload

pytestmark = pytest.mark.usefixtures("small_chunks")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def gc(ledger: Ledger, dry_run: bool = True, **kwargs: Any) -> GcReport:
    return await ledger.gc(dry_run=dry_run, **kwargs)


async def plant(ledger: Ledger, data: bytes) -> str:
    """Store ``data`` as a blob no event references, in the ledger's store, under its write lock
    (as a save that failed after writing its chunks, or an import, leaves one)."""
    h = digest(data)

    async def put(batch: WriteBatch) -> None:
        await batch.prefetch([])
        rec = batch.driver
        if not await rec.blobs.has(rec, [h]):
            await rec.blobs.put(rec, [(h, len(data), data)])

    async with ledger.manager() as m:
        await m._commands._write(put)
    return h


async def stored(engine: AsyncEngine, root: Path | None) -> set[str]:
    if root is not None:
        return await asyncio.to_thread(lambda: {p.name for p in root.rglob("*") if p.is_file() and p.name[0] != "."})
    async with engine.connect() as conn:
        return {str(r[0]) for r in await conn.execute(text("SELECT hash FROM ledger_blobs"))}


async def read_all(ledger: Ledger, aid: Any) -> bytes:
    async with ledger.manager() as m:
        return b"".join([chunk async for chunk in m.open_content(aid)])


async def test_gc_reports_then_deletes_unreferenced_blobs_and_keeps_live_ones(
    blob_ledger: Ledger, engine: AsyncEngine, blob_root: Path | None
) -> None:
    data = payload(3 * CHUNK + 5)
    async with blob_ledger.manager() as m:
        whole = await m.save(ArtifactIn(data={"name": "w", "content": b"whole bytes"}))
        streamed = await m.save(ArtifactIn(data={"name": "s", "content": io.BytesIO(data)}))
    live = await stored(engine, blob_root)
    orphan = await plant(blob_ledger, b"nobody references me")
    shared = await plant(blob_ledger, payload(CHUNK, seed=9))  # a chunk nobody's manifest lists
    dry = await gc(blob_ledger)
    assert dry.dry_run
    assert dry.positions == []
    assert dry.blobs == 2
    assert dry.bytes_freed == len(b"nobody references me") + CHUNK
    where = "database" if blob_root is None else str(blob_root)
    assert {s.store: sorted(s.blobs) for s in dry.stores if s.blobs} == {where: sorted([orphan, shared])}
    assert dry.referenced == len(live)
    assert await stored(engine, blob_root) == live | {orphan, shared}  # a dry run changes nothing

    done = await gc(blob_ledger, dry_run=False, reason="nightly")
    assert not done.dry_run
    assert done.blobs == 2
    assert len(done.positions) == 1
    assert await stored(engine, blob_root) == live
    async with blob_ledger.manager() as m:
        entry = (await m.audit(event_type="retention.applied")).entries[-1]
        assert entry.reason == "nightly"
        got = await m.find_by_id(whole.id)
        assert got is not None
        assert got.data["content"] == b"whole bytes"
    assert await read_all(blob_ledger, streamed.id) == data
    assert (await blob_ledger.verify()).ok
    again = await gc(blob_ledger, dry_run=False)
    assert again.blobs == 0
    assert again.positions == []


async def test_gc_refuses_bad_arguments(blob_ledger: Ledger) -> None:
    with pytest.raises(InvalidArgumentError, match="dry_run"):
        await blob_ledger.gc(dry_run="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="progress"):
        await blob_ledger.gc(progress=3)  # type: ignore[arg-type]


async def test_retention_deletes_expired_files_and_gc_the_chunks_of_a_failed_stream(
    blob_ledger: Ledger, engine: AsyncEngine, blob_root: Path | None
) -> None:
    async with blob_ledger.manager() as m:
        first = await m.save(ArtifactIn(data={"name": "m", "content": io.BytesIO(payload(2 * CHUNK, seed=1))}))
        await m.save(ArtifactIn(id=first.id, data={"name": "m", "content": io.BytesIO(payload(2 * CHUNK, seed=2))}))
    before = await stored(engine, blob_root)
    report = await blob_ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert len(report.blobs) == 3  # the expired manifest and its two chunks, in either store
    assert await stored(engine, blob_root) == before - set(report.blobs)
    async with blob_ledger.manager() as m:
        with pytest.raises(ContentExpiredError, match=str(first.id)):
            await m.find_by_id(first.id, version=1)
    assert (await blob_ledger.verify()).ok
    assert (await gc(blob_ledger)).blobs == 0  # retention left nothing for gc


async def test_the_guard_still_refuses_deleting_a_referenced_row(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as m:
            await m.save(ArtifactIn(data={"content": b"kept"}))
        await plant(ledger, b"planted row")
        assert (await gc(ledger, dry_run=False)).blobs == 1  # the planted row: listed by the event, let through
    with pytest.raises((DBAPIError, IntegrityError)):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_blobs WHERE hash = :h"), {"h": digest(b"kept")})


async def test_gc_on_a_blob_directory_that_went_missing_is_a_blob_store_error(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "gone"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        root.rmdir()
        with pytest.raises(BlobStoreError, match=str(root)):
            await ledger.gc()


async def test_files_set_aside_by_an_uncommitted_run_are_put_back_or_removed_by_the_next_gc(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as m:
            kept = await m.save(ArtifactIn(data={"content": b"live content"}))
        path = DirectoryBlobs(root).path(digest(b"live content"))
        path.rename(path.with_name(TRASH + path.name))  # as a run in a rolled-back transaction leaves it
        stray = DirectoryBlobs(root).path(await plant(ledger, b"stray"))
        stray.rename(stray.with_name(TRASH + stray.name))
        await gc(ledger, dry_run=False)
        assert path.exists()
        assert not stray.with_name(TRASH + stray.name).exists()
        async with ledger.manager() as m:
            got = await m.find_by_id(kept.id)
            assert got is not None
            assert got.data["content"] == b"live content"


async def test_a_failed_run_puts_the_files_it_set_aside_back(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifact_ledger import gc as gc_module

    root = tmp_path / "blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        orphan = await plant(ledger, b"orphan")

        def boom(dry_run: bool, referenced: int, found: Any, positions: list[int], *_: Any) -> GcReport:
            raise RuntimeError("the run fails after it set the files aside")

        monkeypatch.setattr(gc_module, "_report", boom)
        with pytest.raises(RuntimeError):
            await gc(ledger, dry_run=False)
        assert DirectoryBlobs(root).path(orphan).exists()  # the rolled-back run deleted nothing
        monkeypatch.undo()
        assert (await gc(ledger)).blobs == 1
        async with ledger.manager() as m:
            assert (await m.audit(event_type="retention.applied")).entries == []


async def test_gc_while_writers_save_content_sharing_chunks_with_garbage(
    backend: str, make_engine: Callable[[], AsyncEngine], blob_root: Path | None, tmp_path: Path
) -> None:
    # Each writer and the collector on an engine of its own, as separate processes would be; one
    # in-memory SQLite connection cannot serve concurrent streamed writers, so that backend runs on a file.
    if backend == "sqlite-memory":
        path = tmp_path / "concurrent.db"

        def make() -> AsyncEngine:
            return create_engine(f"sqlite+aiosqlite:///{path}")
    else:
        make = make_engine
    blobs = None if blob_root is None else f"file://{blob_root}"
    engines = [make() for _ in range(4)]
    base = payload(3 * CHUNK, seed=5)
    chunks = [base[i : i + CHUNK] for i in range(0, len(base), CHUNK)]
    saved: list[tuple[Any, bytes]] = []
    try:
        async with Ledger.open(engines[0], secret=SECRET, blobs=blobs) as collector_ledger:
            for chunk in chunks:
                await plant(collector_ledger, chunk)  # garbage before anyone saves: no version references them

            async def writer(n: int) -> None:
                async with Ledger.open(engines[n], secret=SECRET, blobs=blobs) as ledger:
                    for i in range(4):
                        tail = payload(CHUNK // 2 + n, seed=100 * n + i)
                        await plant(ledger, tail)  # garbage until the save below commits a version listing it
                        await asyncio.sleep(0)
                        async with ledger.manager() as m:
                            content = io.BytesIO(base + tail)
                            out = await m.save(ArtifactIn(data={"name": f"w{n}-{i}", "content": content}))
                        saved.append((out.id, base + tail))

            async def collector() -> None:
                for _ in range(6):
                    await gc(collector_ledger, dry_run=False)
                    await asyncio.sleep(0)

            await asyncio.gather(writer(1), writer(2), writer(3), collector())
            assert len(saved) == 12
            for aid, data in saved:
                assert await read_all(collector_ledger, aid) == data
            report = await collector_ledger.verify()
            assert report.ok, report
            assert (await gc(collector_ledger)).blobs == 0
    finally:
        for engine in engines:
            await engine.dispose()


async def test_audit_of_an_artifact_lists_its_hold_and_release(blob_ledger: Ledger) -> None:
    async with blob_ledger.manager() as m:
        held = await m.save(ArtifactIn(data={"name": "evidence"}))
        other = await m.save(ArtifactIn(data={"name": "other"}))
        await m.hold(held.id, "legal hold", actor="counsel")
        await m.hold(other.id, "another case")
        await m.release(held.id, "case closed", actor="counsel")
        page = await m.audit(artifact_id=held.id)
        assert [e.event_type for e in page.entries] == ["artifact.created", "hold.set", "hold.released"]
        assert [e.reason for e in page.entries[1:]] == ["legal hold", "case closed"]
        holds_only = await m.audit(artifact_id=held.id, event_type="hold.*")
        assert [e.event_type for e in holds_only.entries] == ["hold.set", "hold.released"]
        others = await m.audit(artifact_id=other.id)
        assert [e.event_type for e in others.entries] == ["artifact.created", "hold.set"]


async def test_a_gc_run_exports_imports_and_passes_the_stdlib_verifier(
    blob_ledger: Ledger, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with blob_ledger.manager() as m:
        kept = await m.save(ArtifactIn(data={"name": "kept", "content": io.BytesIO(payload(2 * CHUNK, 3))}))
    await plant(blob_ledger, b"orphan for the bundle")
    assert (await gc(blob_ledger, dry_run=False)).blobs == 1
    bundle = tmp_path / "bundle"
    await export_ledger(engine, bundle)
    report = verify_bundle(bundle)
    assert report.ok, report.problem
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}", secret=SECRET) as copy:
        await import_bundle(copy.engine, bundle)
        assert (await copy.verify()).ok
        assert await read_all(copy, kept.id) == payload(2 * CHUNK, 3)
        async with copy.manager() as m:
            assert [e.event_type for e in (await m.audit(event_type="retention.applied")).entries] == [
                "retention.applied"
            ]


async def gc_payloads_in_log(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM ledger_events WHERE type = 'retention.applied' ORDER BY position")
        )
        return [json.loads(r[0]) for r in rows]


async def test_gc_over_many_pages_and_parts_keeps_every_live_blob_and_deletes_the_rest(
    blob_ledger: Ledger, engine: AsyncEngine, blob_root: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifact_ledger import gc as gc_module

    # Pages of 3 and parts of 4: the merge of the referenced hashes against each store's listing
    # crosses page boundaries on both sides, and a run appends and deletes part by part.
    monkeypatch.setattr(gc_module, "_PAGE", 3)
    monkeypatch.setattr(gc_module, "PART_ITEMS", 4)
    streamed_data = payload(4 * CHUNK + 3, seed=3)
    async with blob_ledger.manager() as m:
        for i in range(7):
            await m.save(ArtifactIn(data={"name": f"w{i}", "content": b"live-%d" % i}))
        streamed = await m.save(ArtifactIn(data={"name": "s", "content": io.BytesIO(streamed_data)}))
    live = await stored(engine, blob_root)
    orphans = [await plant(blob_ledger, b"orphan-%d" % i) for i in range(9)]
    dry = await gc(blob_ledger)
    assert dry.blobs == 9
    assert sorted(h for s in dry.stores for h in s.blobs) == sorted(orphans)
    assert dry.referenced == len(live)  # 7 contents, a manifest and its 5 chunks
    assert dry.bytes_freed == sum(len(b"orphan-%d" % i) for i in range(9))

    seen: list[tuple[str, int, int | None]] = []
    done = await gc(blob_ledger, dry_run=False, progress=lambda *told: seen.append(told))
    assert done.blobs == 9
    assert len(done.positions) == 3
    assert [t for t in seen if t[0] == "delete"] == [
        ("delete", 0, 9),
        ("delete", 4, 9),
        ("delete", 8, 9),
        ("delete", 9, 9),
    ]
    parts = await gc_payloads_in_log(engine)
    assert [(p["part"], p["parts"], len(p["deleted"]), p["expired"]) for p in parts] == [
        (1, 3, 4, []),
        (2, 3, 4, []),
        (3, 3, 1, []),
    ]
    assert sorted(h for p in parts for h, _ in p["deleted"]) == sorted(orphans)
    assert await stored(engine, blob_root) == live
    assert await read_all(blob_ledger, streamed.id) == streamed_data
    assert (await blob_ledger.verify()).ok
    assert (await gc(blob_ledger)).blobs == 0


async def test_gc_treats_content_only_an_expired_version_references_as_garbage(
    blob_ledger: Ledger, engine: AsyncEngine, blob_root: Path | None
) -> None:
    async with blob_ledger.manager() as m:
        first = await m.save(ArtifactIn(data={"name": "x", "content": b"old bytes"}))
        await m.save(ArtifactIn(id=first.id, data={"name": "x", "content": b"new bytes"}))
        await m.save(ArtifactIn(data={"name": "y", "content": b"kept by another"}))
    expired = await blob_ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert expired.blobs == [digest(b"old bytes")]
    # The same bytes come back without a version (an import, a save that failed): the only version
    # naming them was expired, so they are garbage, while a live version's content is not.
    again = await plant(blob_ledger, b"old bytes")
    report = await gc(blob_ledger)
    assert [h for s in report.stores for h in s.blobs] == [again]
    await gc(blob_ledger, dry_run=False)
    assert digest(b"new bytes") in await stored(engine, blob_root)
    assert digest(b"kept by another") in await stored(engine, blob_root)
    assert again not in await stored(engine, blob_root)
    assert (await blob_ledger.verify()).ok


async def test_gc_without_listing_counts_and_deletes_the_same_blobs(
    blob_ledger: Ledger, engine: AsyncEngine, blob_root: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifact_ledger import gc as gc_module

    monkeypatch.setattr(gc_module, "_PAGE", 2)
    monkeypatch.setattr(gc_module, "PART_ITEMS", 3)
    async with blob_ledger.manager() as m:
        for i in range(3):
            await m.save(ArtifactIn(data={"name": f"w{i}", "content": b"kept-%d" % i}))
    live = await stored(engine, blob_root)
    orphans = sorted([await plant(blob_ledger, b"unlisted-%d" % i) for i in range(7)])
    size = sum(len(b"unlisted-%d" % i) for i in range(7))
    listed = await gc(blob_ledger)
    dry = await gc(blob_ledger, list_blobs=False)
    assert (dry.blobs, dry.bytes_freed, dry.referenced) == (7, size, listed.referenced)
    where = "database" if blob_root is None else str(blob_root)
    assert {s.store: (s.count, s.blobs) for s in dry.stores if s.count} == {where: (7, [])}
    assert {s.store: s.count for s in listed.stores} == {s.store: len(s.blobs) for s in listed.stores}

    done = await gc(blob_ledger, dry_run=False, list_blobs=False)
    assert (done.blobs, done.bytes_freed, len(done.positions)) == (7, size, 3)
    assert sorted(h for p in await gc_payloads_in_log(engine) for h, _ in p["deleted"]) == orphans
    assert await stored(engine, blob_root) == live
    assert (await blob_ledger.verify()).ok
    with pytest.raises(InvalidArgumentError, match="list_blobs"):
        await gc(blob_ledger, list_blobs="no")


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def _dead_writer_files(root: Path) -> dict[str, list[Path]]:
    """What a process killed between staging chunks and linking them leaves (two a day old, one
    young, a probe a day old), and look-alikes the writers never make (another name; a staged name
    in the wrong directory), a day old."""
    store = DirectoryBlobs(root)
    stale = [Path(p) for p in (store.stage_chunk(digest(b), b) for b in (b"dead one", b"dead two")) if p]
    young = [Path(p) for p in [store.stage_chunk(digest(b"running"), b"running")] if p]
    probe = root / ".probe.ab12_xyz"
    probe.write_bytes(b"")
    other = store.path(digest(b"dead one")).with_name(".notes.txt")
    other.write_text("mine")
    misplaced = store.path(digest(b"dead one")).parent / f".{digest(b'running')[:8]}.abcdefgh"
    misplaced.write_bytes(b"x")
    for path in [*stale, probe, other, misplaced]:
        _age(path, 2)
    return {"stale": [*stale, probe], "young": young, "others": [other, misplaced]}


def _there(paths: list[Path]) -> list[bool]:
    return [p.exists() for p in paths]


async def test_gc_removes_temporary_files_a_dead_writer_left_and_nothing_else(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        data = payload(3 * CHUNK + 1, seed=4)
        async with ledger.manager() as m:
            kept = await m.save(ArtifactIn(data={"content": io.BytesIO(data)}))
        files = _dead_writer_files(root)
        assert [len(v) for v in files.values()] == [3, 1, 2]

        dry = await gc(ledger)
        (directory,) = [s for s in dry.stores if s.store == str(root)]
        assert (directory.temporaries, directory.temporary_bytes) == (3, len(b"dead one") + len(b"dead two"))
        assert dry.bytes_freed == directory.temporary_bytes
        assert _there(files["stale"] + files["young"]) == [True] * 4  # a dry run changes nothing

        done = await gc(ledger, dry_run=False)
        assert sum(s.temporaries for s in done.stores) == 3
        assert done.blobs == 0
        assert _there(files["stale"]) == [False] * 3
        assert _there(files["young"] + files["others"]) == [True] * 3
        assert await read_all(ledger, kept.id) == data
        assert (await ledger.verify()).ok

        everything = await gc(ledger, dry_run=False, temporaries_older_than=timedelta(0))
        assert sum(s.temporaries for s in everything.stores) == 1
        assert _there(files["young"] + files["others"]) == [False, True, True]


async def test_gc_refuses_a_bad_temporary_age(blob_ledger: Ledger) -> None:
    for bad in (timedelta(seconds=-1), 3600):
        with pytest.raises(InvalidArgumentError, match="temporaries_older_than"):
            await blob_ledger.gc(temporaries_older_than=bad)  # type: ignore[arg-type]


async def test_temporary_files_are_counted_for_the_directory_store_only(
    blob_ledger: Ledger, blob_root: Path | None
) -> None:
    if blob_root is not None:
        async with blob_ledger.manager() as m:
            await m.save(ArtifactIn(data={"content": b"makes the directory"}))
        assert DirectoryBlobs(blob_root).stage_chunk(digest(b"left"), b"left") is not None
    report = await gc(blob_ledger, temporaries_older_than=timedelta(0))
    counted = {s.store: s.temporaries for s in report.stores}
    assert counted == ({"database": 0} if blob_root is None else {"database": 0, str(blob_root): 1})


async def test_a_save_whose_staged_chunks_are_removed_before_its_link_fails_whole(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``gc(temporaries_older_than=timedelta(0))`` under a running streamed save: the save fails
    naming the staged file, appends nothing, links nothing; the same save then succeeds."""
    root = tmp_path / "blobs"
    data = payload(3 * CHUNK + 1, seed=11)
    original = DirectoryBlobs.settle_staged

    async def removed_first(self: DirectoryBlobs, staged: Any) -> None:
        await asyncio.to_thread(lambda: [os.unlink(temporary) for _, temporary in staged])
        await original(self, staged)

    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as m:
            kept = await m.save(ArtifactIn(data={"name": "before"}))
        before = await stored(engine, root)
        with monkeypatch.context() as patched:
            patched.setattr(DirectoryBlobs, "settle_staged", removed_first)
            async with ledger.manager() as m:
                with pytest.raises(BlobStoreError, match=r"staged file .* was removed before the save could link it"):
                    await m.save(ArtifactIn(data={"name": "streamed", "content": io.BytesIO(data)}))
        assert await stored(engine, root) == before
        async with ledger.manager() as m:
            assert [a.id for a in await m.find_all()] == [kept.id]
        assert (await ledger.verify()).ok
        async with ledger.manager() as m:
            again = await m.save(ArtifactIn(data={"name": "streamed", "content": io.BytesIO(data)}))
        assert await read_all(ledger, again.id) == data
