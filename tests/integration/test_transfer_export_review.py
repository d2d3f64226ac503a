"""Export as an operator meets it: large blobs, a full disk, a cancelled task, writers running.

An export holds a bounded number of blob bytes in memory however large the ledger's content is,
leaves no half-written bundle behind when it fails or is cancelled (from Python as from the CLI),
and writes a bundle of one snapshot while other connections keep saving.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn
from artifact_ledger import bundle as bundle_module
from artifact_ledger.bundle import load_bundle
from artifact_ledger.errors import InvalidArgumentError
from artifact_ledger.ledger import Ledger
from artifact_ledger.transfer import export_ledger, import_bundle
from ledger_support import SECRET

BLOB_SIZE = 2 << 20
BLOBS = 30


async def _large_blobs(ledger: Ledger) -> None:
    async with ledger.manager() as m:
        for index in range(BLOBS):
            await m.save(ArtifactIn(data={"n": index, "content": os.urandom(BLOB_SIZE)}))


async def test_export_holds_a_bounded_amount_of_blob_bytes_in_memory(blob_ledger: Ledger, tmp_path: Path) -> None:
    await _large_blobs(blob_ledger)
    tracemalloc.start()
    try:
        manifest = await export_ledger(blob_ledger.engine, tmp_path / "bundle")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert manifest.blob_count == BLOBS
    assert manifest.blob_bytes == BLOBS * BLOB_SIZE
    # 60 MiB of content; the export reads it in batches of about 8 MiB, never all at once.
    assert peak < BLOBS * BLOB_SIZE // 2, f"peak {peak} bytes"
    load_bundle(tmp_path / "bundle")


async def _small_ledger(ledger: Ledger) -> None:
    async with ledger.manager() as m:
        for index in range(3):
            await m.save(ArtifactIn(data={"n": index, "content": f"bytes {index}".encode()}))


def _disk_full_on_second_blob(monkeypatch: pytest.MonkeyPatch) -> None:
    original = bundle_module._write_blob
    calls: list[int] = []

    def write_blob(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(*args)

    monkeypatch.setattr(bundle_module, "_write_blob", write_blob)


async def test_an_export_that_fails_removes_the_directory_it_made(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await _small_ledger(ledger)
        _disk_full_on_second_blob(monkeypatch)
        target = tmp_path / "bundle"
        with pytest.raises(OSError, match=f"cannot write the bundle at {target}: No space left") as raised:
            await export_ledger(ledger.engine, target)
        assert raised.value.errno == errno.ENOSPC  # the bundle's disk, not "the database connection failed"
        assert not target.exists()


async def test_an_export_that_fails_empties_the_directory_it_was_given(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await _small_ledger(ledger)
        _disk_full_on_second_blob(monkeypatch)
        target = tmp_path / "empty"
        target.mkdir()
        with pytest.raises(OSError, match="No space left"):
            await export_ledger(ledger.engine, target)
        assert target.is_dir()
        assert list(target.iterdir()) == []
        monkeypatch.undo()
        manifest = await export_ledger(ledger.engine, target)  # the same command runs again
        assert manifest.event_count == 3


async def test_an_export_with_an_unknown_since_leaves_no_directory(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await _small_ledger(ledger)
        target = tmp_path / "incremental"
        with pytest.raises(ValueError, match="no event 2"):
            await bundle_module.write_bundle(ledger.engine, target, since=f"2:{'0' * 64}")
        assert not target.exists()


async def test_a_cancelled_export_leaves_nothing_behind(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    async def stuck(*args: Any) -> None:
        started.set()
        await asyncio.Event().wait()  # until cancelled

    async with Ledger.open(engine, secret=SECRET) as ledger:
        await _small_ledger(ledger)
        monkeypatch.setattr(bundle_module, "_write_blobs", stuck)
        target = tmp_path / "bundle"
        task = asyncio.create_task(export_ledger(ledger.engine, target))
        await started.wait()
        assert (target / "events.jsonl").exists()  # the export had begun writing
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not target.exists()


async def test_an_export_while_others_save_is_one_snapshot(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves that commit while the export runs (between its events and its blobs) are not in the
    bundle, whose events are a prefix of the log; the bundle verifies and imports."""
    async with Ledger.open(url, secret=SECRET) as ledger, Ledger.open(url, secret=SECRET, create=False) as other:
        await _small_ledger(ledger)
        original = bundle_module._write_blobs

        async def write_blobs(*args: Any) -> Any:
            async with other.manager() as m:  # another connection commits meanwhile
                for index in range(5):
                    await m.save(ArtifactIn(data={"late": index, "content": f"late {index}".encode()}))
            return await original(*args)

        monkeypatch.setattr(bundle_module, "_write_blobs", write_blobs)
        manifest = await export_ledger(ledger.engine, tmp_path / "bundle")
        assert (manifest.head_position, manifest.blob_count) == (3, 3)
        assert (await ledger.head()).position == 8
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}", secret=SECRET) as copy:
        result = await import_bundle(copy.engine, tmp_path / "bundle")
        assert (result.events_imported, result.head_hash) == (3, manifest.head_hash)
        again = await import_bundle(copy.engine, tmp_path / "bundle")
        assert (again.events_imported, again.events_skipped) == (0, 3)
        assert (await copy.verify()).ok


@pytest.mark.parametrize("given", ["new", "empty"])
async def test_a_failed_export_removes_only_its_own_files(
    given: str, engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file another program put into the export's directory while it ran (the directory was a
    blob store given by mistake, a colleague copied something there) survives the clean-up."""
    target = tmp_path / "bundle"
    if given == "empty":
        target.mkdir()

    async def foreign_then_stop(*args: Any) -> None:
        (target / "ab").mkdir()
        (target / "ab" / "theirs").write_bytes(b"not the export's")
        (target / "notes.txt").write_text("mine")
        raise RuntimeError("the export stops here")

    async with Ledger.open(engine, secret=SECRET) as ledger:
        await _small_ledger(ledger)
        monkeypatch.setattr(bundle_module, "_write_blobs", foreign_then_stop)
        with pytest.raises(RuntimeError, match="stops here"):
            await export_ledger(ledger.engine, target)
    assert sorted(p.name for p in target.iterdir()) == ["ab", "notes.txt"]
    assert (target / "ab" / "theirs").read_bytes() == b"not the export's"


# ---- durability, batched blob writes, where a bundle may go ---------------------------------------


def _bundle_files(bundle: Path) -> set[str]:
    return {p.name for p in (bundle / "blobs").rglob("*") if p.is_file()}


async def test_every_blob_file_is_flushed_to_disk_before_the_manifest_is_written(
    blob_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut after the export reported success cannot leave a manifest over empty blob files:
    one flush of the bundle's filesystem comes after the last blob file and before manifest.json."""
    await _small_ledger(blob_ledger)
    target = tmp_path / "bundle"
    seen: list[tuple[set[str], bool]] = []
    original = bundle_module._sync_filesystem

    def spy(directory: Path) -> None:
        seen.append((_bundle_files(directory), (directory / "manifest.json").exists()))
        original(directory)

    monkeypatch.setattr(bundle_module, "_sync_filesystem", spy)
    manifest = await export_ledger(blob_ledger.engine, target)
    assert manifest.blob_count == 3
    assert seen == [(_bundle_files(target), False)]  # once, with every blob file, before the manifest
    load_bundle(target)


async def test_many_small_blobs_are_written_in_few_worker_thread_hops(
    blob_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob file written is not one hop to a worker thread of its own: 250 blobs take a handful."""
    async with blob_ledger.manager() as m:
        await m.save_all([ArtifactIn(data={"n": i, "content": f"small {i}".encode()}) for i in range(250)])
    hops: list[str] = []
    original = asyncio.to_thread

    async def counting(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(function, "__name__", repr(function)))
        return await original(function, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    manifest = await export_ledger(blob_ledger.engine, tmp_path / "bundle")
    monkeypatch.undo()
    assert manifest.blob_count == 250
    # One hop per page and per batch of blob files written, not one per file. (A blob directory
    # still reads each file in a hop of its own, inside the store: those reads are not counted.)
    writes = [name for name in hops if name != "_read_unverified"]
    assert len(writes) < 25, writes
    load_bundle(tmp_path / "bundle")


@pytest.mark.parametrize("where", ["inside", "itself", "nested", "through-a-link"])
async def test_an_export_into_the_ledgers_own_blob_directory_is_refused(
    where: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The bundle's files would sit among the store's and pass for strays: refused, nothing written."""
    root = tmp_path / "store"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        await _small_ledger(ledger)
        before = sorted(str(p) for p in root.rglob("*"))
        (tmp_path / "link").symlink_to(root)
        target = {
            "inside": root / "bundle",
            "itself": root,
            "nested": next(p for p in root.iterdir() if p.name != ".ledgers") / "bundle",
            "through-a-link": tmp_path / "link" / "bundle",
        }[where]
        with pytest.raises(InvalidArgumentError, match="inside the ledger's blob directory") as raised:
            await export_ledger(ledger.engine, target)
        assert str(target) in str(raised.value)
        assert str(root) in str(raised.value)
        assert sorted(str(p) for p in root.rglob("*")) == before  # nothing written there
        assert (await ledger.verify()).ok
        beside = await export_ledger(ledger.engine, tmp_path / "bundle")  # next to the store: fine
        assert beside.blob_count == 3


async def test_an_export_whose_parent_directory_is_missing_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    """``export a/b/c`` with no ``a/`` makes no tree of directories (a mistyped mount point would
    put the backup on the wrong disk): refused, naming the missing parent, nothing made."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await _small_ledger(ledger)
        target = tmp_path / "a" / "b" / "c"
        with pytest.raises(InvalidArgumentError, match=f"parent directory {tmp_path / 'a' / 'b'} does not exist"):
            await export_ledger(ledger.engine, target)
        assert not (tmp_path / "a").exists()
        (tmp_path / "a" / "b").mkdir(parents=True)
        assert (await export_ledger(ledger.engine, target)).event_count == 3
