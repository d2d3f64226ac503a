"""Streamed content under a second adversarial review: sources that hang, break or lie, and blob
directories that are not what they should be, on every backend and both blob stores."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    BlobStoreError,
    CorruptBlobError,
    InvalidArtifactDataError,
    Ledger,
    StreamedContent,
)
from ledger_support import SECRET
from streaming_support import CHUNK, events, payload, peak_of, read_all, stray_files

pytestmark = pytest.mark.usefixtures("small_chunks")


# ---- sources that hang or break ---------------------------------------------------------------------------
async def test_a_fifo_path_is_refused_at_once_not_waited_on(
    blob_ledger: Ledger, blob_root: Path | None, tmp_path: Path
) -> None:
    fifo = tmp_path / "upload.fifo"
    os.mkfifo(fifo)
    try:
        async with blob_ledger.manager() as manager:
            with pytest.raises(InvalidArtifactDataError, match=r"upload\.fifo' cannot be read: .*not a regular file"):
                await asyncio.wait_for(manager.save(ArtifactIn(data={"content": fifo})), 30)  # a wait is forever
            assert await events(blob_ledger) == 0
            saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(payload(3 * CHUNK))}))
            assert await read_all(manager, saved.id) == payload(3 * CHUNK)
    finally:  # a save blocked in open() is let go by a writer appearing
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


class Failing(io.RawIOBase):
    """A pipe-like binary file that breaks after ``good`` bytes (a network mount going away)."""

    def __init__(self, good: int) -> None:
        self._data = io.BytesIO(payload(good))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self._data.read(min(len(buffer), 300))
        if not piece:
            raise OSError(5, "Input/output error")
        buffer[: len(piece)] = piece
        return len(piece)


class Greedy(io.BytesIO):
    """A seekable file whose read(size) returns more than it was asked for."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(-1 if size is None or size < 0 else size * 2)


class NoSize:
    """Has a read() that takes no size."""

    def read(self) -> bytes:
        return b"abc"


class NoTell(io.BytesIO):
    """Says it can seek, then cannot tell where it is (a socket wrapped too eagerly)."""

    def tell(self) -> int:
        raise OSError(29, "Illegal seek")


async def test_a_file_object_that_breaks_is_invalid_data_and_writes_nothing(
    blob_ledger: Ledger, blob_root: Path | None, tmp_path: Path
) -> None:
    closed = (tmp_path / "closed.bin").open("wb+")
    closed.close()

    async def released() -> Any:
        view = memoryview(b"abc")
        view.release()
        yield view

    broken: list[tuple[Any, str]] = [
        (closed, r"file object cannot be read: .*closed file"),
        (Failing(2 * CHUNK + 100), r"file object cannot be read after \d+ bytes of a chunk: OSError: .*Input/output"),
        (Greedy(payload(3 * CHUNK)), r"returned 2048 bytes when asked for at most 1024"),
        (NoSize(), r"file object cannot be read after 0 bytes of a chunk: TypeError"),
        (released(), r"yielded a memoryview after 0 bytes that cannot be read as bytes"),
        (Path("/proc/self/mem"), r"content file '/proc/self/mem' cannot be read after 0 bytes of a chunk: OSError"),
    ]
    async with blob_ledger.manager() as manager:
        for source, message in broken:
            with pytest.raises(InvalidArtifactDataError, match=message):
                await manager.save(ArtifactIn(data={"content": source}))
        assert await events(blob_ledger) == 0
        assert stray_files(blob_root) == []
        saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(payload(3 * CHUNK))}))
        assert await read_all(manager, saved.id) == payload(3 * CHUNK)


async def test_a_file_that_cannot_tell_and_a_view_that_is_not_contiguous_are_read_as_their_bytes(
    blob_ledger: Ledger,
) -> None:
    data = payload(3 * CHUNK + 7)

    async def strided() -> AsyncIterator[memoryview]:
        yield memoryview(data + data)[::2]  # every other byte

    async with blob_ledger.manager() as manager:
        untold = await manager.save(ArtifactIn(data={"content": NoTell(data)}))
        assert await read_all(manager, untold.id) == data
        viewed = await manager.save(ArtifactIn(data={"content": strided()}))
        assert await read_all(manager, viewed.id) == (data + data)[::2]


# ---- a StreamedContent built by the caller ------------------------------------------------------------------
async def test_a_streamed_content_that_cannot_be_true_is_refused_naming_what_is_wrong(blob_ledger: Ledger) -> None:
    data = payload(3 * CHUNK)
    async with blob_ledger.manager() as manager:
        real = (await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))).data["content"]
        single = (await manager.save(ArtifactIn(data={"content": io.BytesIO(data[:100])}))).data["content"]
        assert isinstance(real, StreamedContent)
        assert isinstance(single, StreamedContent)
        before = await events(blob_ledger)
        first, size = real.chunks[0]
        forged = [
            (StreamedContent(real.sha256, 5, real.chunks), r"chunks add up to 3072 bytes, not 5"),
            (StreamedContent("../../etc/passwd", real.size, real.chunks), r"sha256 is not 64 lowercase hex"),
            (StreamedContent(real.sha256, real.size, ((first.upper(), size), *real.chunks[1:])), r"chunk 0's sha256"),
            (StreamedContent(real.sha256, 0, ((first, 0),)), r"chunk 0's size 0 is not a positive"),
            (StreamedContent(real.sha256, True, ()), r"size is not a whole number"),  # type: ignore[arg-type]
            (StreamedContent("0" * 64, 0, ()), r"no chunk, so its sha256 is e3b0c442"),
            (StreamedContent("0" * 64, single.size, single.chunks), rf"one chunk is {single.sha256}"),
            (StreamedContent(real.sha256, real.size, "nope"), r"chunks are a str"),  # type: ignore[arg-type]
        ]
        for content, message in forged:
            with pytest.raises(InvalidArtifactDataError, match=r"artifact \w{26}: streamed content .*" + message):
                await manager.save(ArtifactIn(data={"content": content}))
        assert await events(blob_ledger) == before
        again = await manager.save(ArtifactIn(data={"content": real, "name": "again"}))
        assert await read_all(manager, again.id) == data


# ---- a blob directory that is not what it should be -----------------------------------------------------------
async def test_a_fan_out_directory_that_is_a_symbolic_link_is_neither_written_nor_read_through(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    root, elsewhere = tmp_path / "blobs", tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = b"bytes saved whole"
    digest = hashlib.sha256(planted).hexdigest()
    (root / digest[:2]).mkdir(parents=True)
    (root / digest[:2] / digest[2:4]).symlink_to(elsewhere)  # planted before the save
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            with pytest.raises(CorruptBlobError, match=rf"blob {digest}: its fan-out directory .* symbolic link"):
                await manager.save(ArtifactIn(data={"content": planted}))
            chunked = payload(3 * CHUNK)
            chunk = hashlib.sha256(chunked[:CHUNK]).hexdigest()
            (root / chunk[:2]).symlink_to(elsewhere)  # the first level this time
            with pytest.raises(CorruptBlobError, match=rf"blob {chunk}: its fan-out directory .* symbolic link"):
                await manager.save(ArtifactIn(data={"content": io.BytesIO(chunked)}))
            assert await events(ledger) == 0
            assert list(elsewhere.rglob("*")) == []
            (root / chunk[:2]).unlink()
            saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(chunked)}))
            assert await read_all(manager, saved.id) == chunked
            planted_link = await ledger.verify()  # a link nothing references is found by the full walk
            assert planted_link.reason == "blob_corrupted"
            assert f"{digest[:2]}/{digest[2:4]} in the blob directory is a symbolic link" in str(planted_link.problem)
            (root / digest[:2] / digest[2:4]).unlink()
            assert (await ledger.verify()).ok
            # a fan-out directory of stored chunks moved elsewhere and linked back: not read through
            moved = tmp_path / "moved"
            fan_out = root / chunk[:2] / chunk[2:4]
            fan_out.rename(moved)
            fan_out.symlink_to(moved)
            with pytest.raises(CorruptBlobError, match=rf"blob {chunk}: its fan-out directory .* symbolic link"):
                await read_all(manager, saved.id)
        report = await ledger.verify()
        assert not report.ok
        assert report.reason == "blob_corrupted"
        assert "symbolic link" in str(report.problem)


class BytesPath(os.PathLike):  # type: ignore[type-arg]
    """A path-like object whose __fspath__ gives bytes (pathlib takes only text)."""

    def __fspath__(self) -> bytes:
        return b"/etc/hostname"


async def test_a_path_that_is_not_one_is_invalid_data_and_a_long_one_is_cut_in_the_message(
    blob_ledger: Ledger, blob_root: Path | None, tmp_path: Path
) -> None:
    async with blob_ledger.manager() as manager:
        with pytest.raises(InvalidArtifactDataError, match=r"content file '.*a\\x00b' cannot be read: embedded null"):
            await manager.save(ArtifactIn(data={"content": tmp_path / "a\x00b"}))
        with pytest.raises(InvalidArtifactDataError, match=r"content path .*BytesPath.* is not a path Path\(\) takes"):
            await manager.save(ArtifactIn(data={"content": BytesPath()}))
        with pytest.raises(InvalidArtifactDataError, match=r"cannot be read: File name too long") as long:
            await manager.save(ArtifactIn(data={"content": tmp_path / ("a" * 5000)}))
        assert len(str(long.value)) < 500
        assert await events(blob_ledger) == 0
        assert stray_files(blob_root) == []


def plant_large(root: Path, digest: str, size: int) -> Path:
    """A sparse file of ``size`` bytes at blob ``digest``'s path (a careless copy, or a planted one)."""
    path = root / digest[:2] / digest[2:4] / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


async def test_a_large_file_planted_in_the_directory_is_checked_in_bounded_memory(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    large = 48 * 1024 * 1024
    root = tmp_path / "blobs"
    content = payload(3 * CHUNK)
    taken = hashlib.sha256(content[CHUNK : 2 * CHUNK]).hexdigest()  # the name of the second chunk
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"content": b"something first"}))
            plant_large(root, taken, large)
            refused, peak = await peak_of(_raises(manager.save(ArtifactIn(data={"content": io.BytesIO(content)}))))
            assert isinstance(refused, CorruptBlobError)
            assert taken in str(refused)
            assert peak < large // 4
            assert await events(ledger) == 1
            (root / taken[:2] / taken[2:4] / taken).unlink()
            saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(content)}))
            assert await read_all(manager, saved.id) == content
        stray = plant_large(root, "ab" * 32, large)
        report, peak = await peak_of(ledger.verify())
        assert report.reason == "blob_corrupted"
        assert str(stray) in str(report.problem)
        assert peak < large // 4


async def _raises(run: Any) -> BaseException:
    try:
        await run
    except Exception as exc:  # the error is the result
        return exc
    raise AssertionError("did not raise")


class _Listing(list[os.DirEntry[str]]):
    """What os.scandir returns, usable as it is: iterated, or as a context manager."""

    def __enter__(self) -> _Listing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


async def test_gc_walking_the_directory_passes_by_a_file_removed_after_it_was_listed(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            kept = await manager.save(ArtifactIn(data={"content": b"referenced"}))
            gone = await manager.save(ArtifactIn(data={"content": b"erased while gc lists"}))
            victim = hashlib.sha256(b"erased while gc lists").hexdigest()
            await manager.delete_by_id(gone.id)
        real = os.scandir

        def racing(path: Any) -> _Listing:  # a retention run commits right after the listing
            listed = _Listing(real(path))
            for entry in listed:
                if entry.name == victim:
                    os.unlink(entry.path)
            return listed

        monkeypatch.setattr(os, "scandir", racing)
        plan = await ledger.gc(dry_run=True)
        monkeypatch.setattr(os, "scandir", real)
        assert victim not in directory_blobs(plan, root)
        async with ledger.manager() as manager:
            found = await manager.find_by_id(kept.id)
            assert found is not None
            assert found.data["content"] == b"referenced"


def directory_blobs(report: Any, root: Path) -> list[str]:
    return next(s.blobs for s in report.stores if s.store == str(root))


async def test_a_blob_directory_named_by_a_path_of_bytes_is_a_blob_store_error(engine: AsyncEngine) -> None:
    with pytest.raises(BlobStoreError, match=r"blobs= takes a path of text, not BytesPath giving bytes"):
        async with Ledger.open(engine, secret=SECRET, blobs=BytesPath()):  # type: ignore[arg-type]
            pass
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"content": b"still opens"}))
        assert saved.version == 1


async def test_a_directory_on_a_filesystem_without_hard_links_is_refused_when_opened(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: Any, **kwargs: Any) -> None:  # exFAT, some FUSE and SMB mounts
        raise OSError(errno.EPERM, "Operation not permitted")

    root = tmp_path / "blobs"
    monkeypatch.setattr(os, "link", no_links)
    with pytest.raises(BlobStoreError, match=rf"blob directory {root} cannot .*hard link.*Operation not permitted"):
        async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}"):
            pass
    assert [p.name for p in root.iterdir()] == []  # the probes removed
    monkeypatch.undo()
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger, ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(payload(2 * CHUNK))}))
        assert await read_all(manager, saved.id) == payload(2 * CHUNK)


class SyncNext:
    """Claims to be an async iterator, but its __anext__ returns the bytes, not an awaitable."""

    def __init__(self) -> None:
        self.left = 2

    def __aiter__(self) -> SyncNext:
        return self

    def __anext__(self) -> bytes:
        self.left -= 1
        if self.left < 0:
            raise StopAsyncIteration
        return b"piece"


class NoNext:
    """Has __aiter__, which returns something that is not an async iterator."""

    def __aiter__(self) -> list[bytes]:
        return [b"piece"]


async def test_an_object_that_is_not_an_async_iterator_after_all_is_invalid_data(
    blob_ledger: Ledger, blob_root: Path | None
) -> None:
    async def raising() -> AsyncIterator[bytes]:
        yield b"x" * 10
        raise TypeError("the iterator's own error goes through as it is")

    async with blob_ledger.manager() as manager:
        with pytest.raises(InvalidArtifactDataError, match=r"__anext__ returned a bytes, not an awaitable"):
            await manager.save(ArtifactIn(data={"content": SyncNext()}))
        with pytest.raises(InvalidArtifactDataError, match=r"__aiter__ returned a list, not an async iterator"):
            await manager.save(ArtifactIn(data={"content": NoNext()}))
        with pytest.raises(TypeError, match=r"the iterator's own error"):
            await manager.save(ArtifactIn(data={"content": raising()}))
        assert await events(blob_ledger) == 0
        assert stray_files(blob_root) == []
