"""The blob directory under review: a directory shared by ledgers, and files that are not what a
blob's path should hold (a directory, a FIFO, a symbolic link, a blob directory that became a
file), on every backend."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    CorruptBlobError,
    InvalidArgumentError,
    Ledger,
    MissingBlobError,
    RetentionPolicy,
    create_engine,
)
from artifact_ledger.gc import StoreReclaim
from artifact_ledger.transfer import export_ledger, import_bundle
from artifact_ledger.verify_bundle import verify_bundle
from ledger_support import SECRET
from streaming_support import CHUNK, read_all

REGISTRY = ".ledgers"  # where a blob directory records the ledgers that use it


pytestmark = pytest.mark.usefixtures("small_chunks")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_file(root: Path, hash_: str) -> Path:
    return root / hash_[:2] / hash_[2:4] / hash_


def directory_of(report: Any, root: Path) -> StoreReclaim:
    return next(s for s in report.stores if s.store == str(root))


@pytest.fixture
async def other(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A second ledger's engine (its own SQLite file) to share the blob directory with."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


# ---- a shared directory ---------------------------------------------------------------------------------
async def test_each_ledger_registers_in_the_directory_and_verify_gc_and_export_pass_its_file_by(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(b"x" * (3 * CHUNK))}))
        registry = root / REGISTRY / str(ledger.ledger_id)
        assert registry.is_dir()
        assert list(registry.iterdir()) == []
        assert (await ledger.verify()).ok  # a full verify hashes every file and passes the registry by
        report = await ledger.gc()
        assert report.blobs == 0, report
        assert report.kept == 0, report
        assert directory_of(report, root).shared_with == []
        await export_ledger(ledger.engine, tmp_path / "bundle")
    assert verify_bundle(tmp_path / "bundle").ok
    target = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}")
    try:
        async with Ledger.open(target, secret=SECRET, blobs=f"file://{tmp_path / 'copy'}") as copy:
            await import_bundle(copy.engine, tmp_path / "bundle")
            async with copy.manager() as manager:
                assert await read_all(manager, saved.id) == b"x" * (3 * CHUNK)
            assert (await copy.verify()).ok
    finally:
        await target.dispose()


async def test_gc_keeps_the_files_of_a_directory_another_ledger_registered(
    engine: AsyncEngine, other: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    url = f"file://{root}"
    async with (
        Ledger.open(engine, secret=SECRET, blobs=url) as one,
        Ledger.open(other, secret=SECRET, blobs=url) as two,
    ):
        async with one.manager() as manager:
            await manager.save(ArtifactIn(data={"content": b"ledger one"}))
        async with two.manager() as manager:
            theirs = await manager.save(ArtifactIn(data={"content": io.BytesIO(b"ledger two " * CHUNK)}))
        dry = await one.gc()
        real = await one.gc(dry_run=False, reason="cleanup of ledger one")
        for report in (dry, real):
            shared = directory_of(report, root)
            assert shared.count == 0, report
            assert shared.blobs == [], report
            assert shared.bytes == 0, report
            assert shared.kept >= 2, report
            assert shared.kept_bytes >= len(b"ledger two " * CHUNK), report
            assert shared.shared_with == [two.ledger_id]
            assert report.kept == shared.kept, report
            assert report.blobs == 0, report
        assert real.kept == dry.kept
        assert real.bytes_kept == dry.bytes_kept
        assert real.positions == []  # no event says a kept file was deleted
        async with two.manager() as manager:
            assert await read_all(manager, theirs.id) == b"ledger two " * CHUNK
        assert (await two.verify()).ok
        assert (await one.verify()).ok

        # Ledger two is gone: removing its registry file makes the directory ledger one's alone again.
        (root / REGISTRY / str(two.ledger_id)).rmdir()
        alone = await one.gc(dry_run=False)
        assert directory_of(alone, root).count == dry.kept, alone
        assert alone.kept == 0, alone
        assert not blob_file(root, digest(b"ledger two " * CHUNK)).exists()


async def test_a_redaction_keeps_a_file_another_ledger_registered_and_does_not_report_it_deleted(
    engine: AsyncEngine, other: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    url = f"file://{root}"
    shared = b"shared by both ledgers"
    async with (
        Ledger.open(engine, secret=SECRET, blobs=url) as one,
        Ledger.open(other, secret=SECRET, blobs=url) as two,
    ):
        async with two.manager() as manager:
            theirs = await manager.save(ArtifactIn(data={"content": shared}))
        async with one.manager() as manager:
            mine = await manager.save(ArtifactIn(data={"content": shared}))
            redaction = await manager.redact(mine.id, reason="erasure in ledger one")
        assert redaction.blobs_deleted == []  # the file is still there: not reported as deleted
        assert blob_file(root, digest(shared)).exists()
        async with two.manager() as manager:
            assert (await manager.find_by_id(theirs.id)).data["content"] == shared
        assert (await two.verify()).ok


async def test_retention_keeps_files_another_ledger_registered_and_reports_only_what_went(
    engine: AsyncEngine, other: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    url = f"file://{root}"
    old = b"the first version, also in ledger two"
    async with (
        Ledger.open(engine, secret=SECRET, blobs=url) as one,
        Ledger.open(other, secret=SECRET, blobs=url) as two,
    ):
        async with two.manager() as manager:
            theirs = await manager.save(ArtifactIn(data={"content": old}))
        async with one.manager() as manager:
            first = await manager.save(ArtifactIn(data={"content": old}))
            await manager.save(ArtifactIn(id=first.id, data={"content": b"the second version"}))
        plan = await one.apply_retention(RetentionPolicy(keep_last=1), dry_run=True)
        assert (plan.blobs, plan.bytes_freed) == ([], 0)  # a dry run says what the run will do
        report = await one.apply_retention(RetentionPolicy(keep_last=1), dry_run=False, reason="keep the last")
        assert [e.version for e in report.expired] == [1], report
        assert report.blobs == [], report
        assert report.bytes_freed == 0, report
        assert blob_file(root, digest(old)).exists()
        events = await one.events_since(0)
        applied = [e for e in events if e.type == "retention.applied"]
        assert applied[-1].payload["deleted"] == []  # the log names no kept file as deleted
        async with two.manager() as manager:
            assert (await manager.find_by_id(theirs.id)).data["content"] == old
        assert (await two.verify()).ok
        assert (await one.verify()).ok


# ---- what is at a blob's path ----------------------------------------------------------------------------
async def test_a_directory_at_a_blob_path_is_a_corrupt_blob_and_verify_reports_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    data = b"replaced by a directory"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"content": data}))
        path = blob_file(root, digest(data))
        path.chmod(0o644)
        path.unlink()
        path.mkdir()
        async with ledger.manager() as manager:
            with pytest.raises(CorruptBlobError) as caught:
                await manager.find_by_id(saved.id)
        assert digest(data) in str(caught.value)
        assert str(path) in str(caught.value)
        report = await ledger.verify()
    assert not report.ok, report
    assert report.reason == "blob_corrupted", report
    assert str(path) in str(report.problem)


async def test_a_fifo_at_a_blob_path_is_refused_without_waiting_on_it(engine: AsyncEngine, tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    data = b"replaced by a fifo"
    path = blob_file(root, digest(data))
    try:
        async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
            async with ledger.manager() as manager:
                saved = await manager.save(ArtifactIn(data={"content": data}))
            path.chmod(0o644)
            path.unlink()
            os.mkfifo(path)
            async with ledger.manager() as manager:
                for read in (manager.find_by_id(saved.id), read_all(manager, saved.id)):
                    with pytest.raises(CorruptBlobError) as caught:
                        await asyncio.wait_for(read, 10)
                    assert digest(data) in str(caught.value)
                    assert str(path) in str(caught.value)
            report = await asyncio.wait_for(ledger.verify(), 10)
        assert not report.ok, report
        assert report.reason == "blob_corrupted", report
    finally:  # a read stuck on the FIFO (before the fix) is let go, so the run can end
        for _ in range(3):
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def test_export_refuses_a_symlinked_blob_without_reading_what_it_points_at(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    data = b"to be swapped for a link"
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private bytes outside the blob directory")
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"content": data}))
        path = blob_file(root, digest(data))
        path.chmod(0o644)
        path.unlink()
        path.symlink_to(secret)
        with pytest.raises(CorruptBlobError) as caught:
            await export_ledger(ledger.engine, tmp_path / "bundle")
    assert digest(data) in str(caught.value)
    assert str(path) in str(caught.value)
    copied = [p for p in (tmp_path / "bundle").rglob("*") if p.is_file() and secret.read_bytes() in p.read_bytes()]
    assert copied == []


async def test_verify_reports_a_blob_directory_replaced_by_a_file(engine: AsyncEngine, tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"content": b"before"}))
        shutil.rmtree(root)
        root.write_bytes(b"not a directory")
        report = await ledger.verify()
    assert not report.ok, report
    assert report.reason == "blob_corrupted", report
    assert str(root) in str(report.problem)


async def test_a_missing_chunk_file_is_named_by_its_path_not_only_the_table(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    data = bytes(range(256)) * (3 * CHUNK // 256)
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
            chunk = saved.data["content"].chunks[1][0]
        blob_file(root, chunk).unlink()
        async with ledger.manager() as manager:
            with pytest.raises(MissingBlobError) as caught:
                await read_all(manager, saved.id)
    assert caught.value.blob_hash == chunk
    assert str(blob_file(root, chunk)) in str(caught.value), caught.value


# ---- retention arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize("too_long", [timedelta.max, timedelta(days=999_999_999)])
async def test_a_keep_newer_than_too_long_for_a_cutoff_is_an_invalid_argument(
    engine: AsyncEngine, too_long: timedelta
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        RetentionPolicy(keep_newer_than=too_long)
    assert repr(too_long) in str(caught.value)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"content": b"kept"}))
        longest = RetentionPolicy(keep_newer_than=timedelta(days=365_000))  # the longest allowed runs
        for dry_run in (True, False):
            report = await ledger.apply_retention(longest, dry_run=dry_run, reason="keep everything")
            assert report.expired == [], report
            assert report.blobs == [], report
