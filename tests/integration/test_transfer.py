"""Export/import: bundles move a ledger between backends by replay, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, DataFrame
from artifact_ledger.bundle import load_bundle
from artifact_ledger.errors import InvalidBundleError
from artifact_ledger.ledger import Ledger
from artifact_ledger.store.tables import events
from artifact_ledger.transfer import ImportConflictError, export_ledger, import_bundle
from ledger_support import HIERARCHY, SECRET, pg_engine


async def build(ledger: Ledger) -> list[str]:
    """A small ledger with content blobs, updates, a move, a delete and a restore."""
    async with ledger.manager(HIERARCHY) as manager:
        with ledger.context(actor="alice", reason="train"):
            root = await manager.save(ArtifactIn(data={"type": "run", "content": b"\x00model-bytes"}))
            a = await manager.save(ArtifactIn(parent_id=root.id, data={"n": 1, "content": {"rows": [1, 2]}}))
            b = await manager.save(
                ArtifactIn(parent_id=root.id, data={"content": DataFrame(columns=["x"], data=[[1.5]])})
            )
        with ledger.context(actor="bob", reason="fix"):
            await manager.save(ArtifactIn(id=a.id, parent_id=root.id, data={"n": 2, "content": {"rows": [1, 2]}}))
            await manager.move(b.id, a.id)
            await manager.delete_by_id(b.id)
            await manager.restore(b.id)
    return [str(root.id), str(a.id), str(b.id)]


async def snapshot(ledger: Ledger) -> list[dict[str, object]]:
    async with ledger.manager(HIERARCHY) as manager:
        return [o.model_dump(mode="json") for o in await manager.find_all()]


def files(directory: Path) -> dict[str, bytes]:
    """Every file of a bundle, byte for byte (the manifest included: exports are deterministic)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


async def event_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


async def test_round_trip_through_every_backend_is_byte_identical(
    engine: AsyncEngine, tmp_path: Path, make_engine: Callable[[], AsyncEngine]
) -> None:
    source_url = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    async with Ledger.open(source_url, secret=SECRET) as source:
        await build(source)
        first = await export_ledger(source.engine, tmp_path / "one")
        expected = await snapshot(source)
    async with Ledger.open(engine, secret=SECRET) as target:
        result = await import_bundle(target.engine, tmp_path / "one")
        assert (result.events_imported, result.events_skipped) == (first.event_count, 0)
        assert result.blobs_imported == first.blob_count == 3
        report = await target.verify()
        assert report.ok, report.problem
        assert report.head_hash == first.head_hash
        assert await snapshot(target) == expected  # projections, levels and decoded content
        second = await export_ledger(target.engine, tmp_path / "two")
    assert second.events_sha256 == first.events_sha256
    assert files(tmp_path / "one") == files(tmp_path / "two")


async def test_sqlite_to_postgresql_to_bundle(tmp_path: Path, pg_schema: str) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        await build(source)
        await export_ledger(source.engine, tmp_path / "one")
    pg = pg_engine(pg_schema)
    try:
        async with Ledger.open(pg, secret=SECRET) as target:
            await import_bundle(target.engine, tmp_path / "one")
            await export_ledger(target.engine, tmp_path / "two")
    finally:
        await pg.dispose()
    assert files(tmp_path / "one") == files(tmp_path / "two")


async def test_import_twice_changes_nothing_and_progress_counts(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        await build(source)
        manifest = await export_ledger(source.engine, tmp_path / "b")
    seen: list[int] = []
    async with Ledger.open(engine, secret=SECRET) as target:
        await import_bundle(target.engine, tmp_path / "b", progress=seen.append)
        before = await snapshot(target)
        again = await import_bundle(target.engine, tmp_path / "b")
        assert (again.events_imported, again.events_skipped, again.blobs_imported) == (0, manifest.event_count, 0)
        assert await snapshot(target) == before
        assert await event_count(target.engine) == manifest.event_count
        assert (await target.verify()).ok
    assert seen[-1] == manifest.event_count


async def test_incremental_bundle_continues_the_log(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        ids = await build(source)
        head = await source.head()
        await export_ledger(source.engine, tmp_path / "full")
        async with source.manager(HIERARCHY) as manager, source.context(actor="carol"):
            await manager.save(ArtifactIn(parent_id=ids[0], data={"late": True}))
        from artifact_ledger.bundle import write_bundle

        await write_bundle(source.engine, tmp_path / "more", since=head)
        expected = await snapshot(source)
    async with Ledger.open(engine, secret=SECRET) as target:
        with pytest.raises(ImportConflictError, match="incremental"):
            await import_bundle(target.engine, tmp_path / "more")
        await import_bundle(target.engine, tmp_path / "full")
        result = await import_bundle(target.engine, tmp_path / "more")
        assert result.events_imported == 1
        assert await snapshot(target) == expected
        assert (await target.verify()).ok


async def test_import_into_a_different_history_writes_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        await build(source)
        await export_ledger(source.engine, tmp_path / "b")
    async with Ledger.open(engine, secret=SECRET) as target:
        async with target.manager() as manager:
            await manager.save(ArtifactIn(data={"mine": True}))
        before = await snapshot(target)
        with pytest.raises(ImportConflictError, match="different history"):
            await import_bundle(target.engine, tmp_path / "b")
        assert await snapshot(target) == before
        assert await event_count(target.engine) == 1


async def test_a_later_bundle_carries_its_erasure_to_events_held_here(engine: AsyncEngine, tmp_path: Path) -> None:
    """A redaction made on the source after an earlier import erases events the target holds: the
    next import erases them here too, as a whole import into an empty ledger would have them
    (``test_import_erasures.py`` has the details: blobs, both stores, what stays refused)."""
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        ids = await build(source)
        await export_ledger(source.engine, tmp_path / "first")
        async with source.manager(HIERARCHY) as manager:
            await manager.redact(ids[1], fields=["n"], reason="erasure request")
        await export_ledger(source.engine, tmp_path / "second")
        expected = await snapshot(source)
    async with Ledger.open(engine, secret=SECRET) as target:
        await import_bundle(target.engine, tmp_path / "first")
        held = await event_count(target.engine)
        result = await import_bundle(target.engine, tmp_path / "second")
        assert (result.events_imported, result.events_skipped) == (1, held)
        assert await snapshot(target) == expected
        assert (await target.verify()).ok
        await export_ledger(target.engine, tmp_path / "back")
    assert files(tmp_path / "back") == files(tmp_path / "second")


async def test_a_bundle_recorded_in_the_future_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    """One event dated later than now would date every later write of the ledger then (the log's time
    never goes backwards): a bundle's event past this machine's clock, beyond a skew, is refused."""
    from datetime import UTC, datetime

    from artifact_ledger import ArtifactManager, ArtifactRepository, FixedClock
    from artifact_ledger.errors import BundleRuleError

    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        async with source.sessions() as session:
            manager = ArtifactManager(
                ArtifactRepository(session, secret=SECRET, clock=FixedClock(datetime(2999, 1, 1, tzinfo=UTC)))
            )
            await manager.save(ArtifactIn(data={"from": "the future"}))
        await export_ledger(source.engine, tmp_path / "ahead")
    async with Ledger.open(engine, secret=SECRET) as target:
        with pytest.raises(BundleRuleError, match="recorded-in-the-future") as refused:
            await import_bundle(target.engine, tmp_path / "ahead")
        assert refused.value.rule == "recorded-in-the-future"
        assert await event_count(target.engine) == 0


def _tamper(bundle: Path, how: str) -> None:
    if how == "truncated":
        data = (bundle / "events.jsonl").read_bytes()
        (bundle / "events.jsonl").write_bytes(data[: len(data) - 40])
    elif how == "newer-format":
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["format_version"] = 2
        (bundle / "manifest.json").write_text(json.dumps(manifest))
    elif how == "broken-chain":
        lines = (bundle / "events.jsonl").read_bytes().splitlines(keepends=True)
        lines[2] = lines[2].replace(b'"actor":"alice"', b'"actor":"mallory"')
        (bundle / "events.jsonl").write_bytes(b"".join(lines))
    else:
        (bundle / "manifest.json").unlink()


@pytest.mark.parametrize("how", ["truncated", "newer-format", "broken-chain", "no-manifest"])
async def test_bad_bundles_are_refused_and_write_nothing(how: str, tmp_path: Path, pg_schema: str) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        await build(source)
        await export_ledger(source.engine, tmp_path / "b")
    _tamper(tmp_path / "b", how)
    for target_engine in (pg_engine(pg_schema), None):
        url = target_engine or f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
        async with Ledger.open(url, secret=SECRET) as target:
            with pytest.raises(InvalidBundleError) as info:
                await import_bundle(target.engine, tmp_path / "b")
            assert "\n" not in str(info.value)
            assert await event_count(target.engine) == 0
        if target_engine is not None:
            await target_engine.dispose()


async def test_a_bundle_changed_after_verification_is_caught(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", secret=SECRET) as source:
        await build(source)
        await export_ledger(source.engine, tmp_path / "b")
    bundle = load_bundle(tmp_path / "b")
    _tamper(tmp_path / "b", "broken-chain")  # after load_bundle verified it
    async with Ledger.open(engine, secret=SECRET) as target:
        with pytest.raises(InvalidBundleError, match="changed while it was imported"):
            await import_bundle(target.engine, bundle)
        assert await event_count(target.engine) == 0
