"""Streamed content and blob stores under a third review, on every backend and both blob stores: a
cancelled save stops reading, a planted chunk file is not read whole, verify reports a blob file it
cannot read, and a StreamedContent a caller built is held to the bytes its chunks hold."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, CorruptBlobError, InvalidArtifactDataError, Ledger, StreamedContent
from artifact_ledger.cli import main
from ledger_support import SECRET
from streaming_support import CHUNK, events, payload, peak_of, read_all, stray_files, track_first_pass

pytestmark = pytest.mark.usefixtures("small_chunks")


# ---- a cancelled save ------------------------------------------------------------------------------------
class Held(io.BytesIO):
    """A seekable file that counts its reads; read number ``hold`` waits for ``release`` (a slow mount)."""

    def __init__(self, data: bytes, hold: int) -> None:
        super().__init__(data)
        self.reads = 0
        self.hold = hold
        self.held = threading.Event()
        self.release = threading.Event()

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads == self.hold:
            self.held.set()
            self.release.wait(60)
        return super().read(size)


async def test_a_cancelled_save_returns_at_once_and_its_thread_stops_at_the_next_chunk(
    blob_ledger: Ledger, blob_root: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(200 * CHUNK)
    source = Held(data, hold=5)
    ended = track_first_pass(monkeypatch)
    async with blob_ledger.manager() as manager:
        saving = asyncio.ensure_future(manager.save(ArtifactIn(data={"content": source})))
        assert await asyncio.to_thread(source.held.wait, 30)  # four chunks read, the fifth read hangs
        saving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await saving
        assert not ended.is_set()  # the save did not wait for the hung read
        source.release.set()
        assert await asyncio.to_thread(ended.wait, 60)
        assert source.reads == 5  # the chunk in hand when cancelled, and not one more
        assert source.tell() == 5 * CHUNK
        assert await events(blob_ledger) == 0
        assert stray_files(blob_root) == []  # what it staged is removed
        source.seek(0)
        saved = await manager.save(ArtifactIn(data={"content": source}))
        assert await read_all(manager, saved.id) == data


# ---- a chunk file far larger than its chunk ---------------------------------------------------------------
def blob_path(root: Path, digest: str) -> Path:
    return root / digest[:2] / digest[2:4] / digest


def plant_oversized(path: Path, size: int) -> None:
    """Replace a blob file by a sparse file of ``size`` bytes (a careless copy, or a planted one)."""
    path.chmod(0o644)
    with path.open("wb") as handle:
        handle.truncate(size)


async def test_an_oversized_chunk_file_is_refused_after_reading_its_chunk_and_a_byte(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    large = 48 * 1024 * 1024
    root = tmp_path / "blobs"
    data = payload(3 * CHUNK)
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}") as ledger:
        async with ledger.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
            digest, size = saved.data["content"].chunks[1]
            plant_oversized(blob_path(root, digest), large)
            refused, peak = await peak_of(read_all(manager, saved.id))
            assert isinstance(refused, CorruptBlobError), refused
            assert digest in str(refused)
            assert peak < large // 8, peak  # the chunk and a byte, never the whole file
            assert f"more than the {size} bytes" in str(refused)
        report, peak = await peak_of(ledger.verify())
        assert report.reason == "blob_corrupted", report
        assert report.blob_hash == digest, report
        assert peak < large // 4, peak  # a full verify's walk of the directory hashes a file a piece at a time
        assert f"more than the {size} bytes" in str(report.problem)


# ---- a blob file verify cannot read ------------------------------------------------------------------------
def make_unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put a socket where blob file ``path`` was: opening it fails (ENXIO) whoever runs the test, root
    included, as a file without read permission or on a failing disk does (bound from its own
    directory: a socket's path is limited to about a hundred bytes)."""
    path.chmod(0o644)
    path.unlink()
    with monkeypatch.context() as here:
        here.chdir(path.parent)
        with socket.socket(socket.AF_UNIX) as bound:
            bound.bind(path.name)
    assert not os.access(path, os.F_OK) or not path.is_file()


async def test_verify_reports_a_blob_file_it_cannot_read_and_checks_the_rest(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "blobs"
    blobs = f"file://{root}"
    data = payload(3 * CHUNK)
    async with Ledger.open(url, blobs=blobs) as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"content": b"first, left alone"}))
            streamed = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
            late = await manager.save(ArtifactIn(data={"content": b"third, made unreadable"}))
        positions = {e.artifact_id: e.position for e in await ledger.events_since(0)}
        unreadable = hashlib.sha256(b"third, made unreadable").hexdigest()
        make_unreadable(blob_path(root, unreadable), monkeypatch)
        gone, _ = streamed.data["content"].chunks[1]
        blob_path(root, gone).chmod(0o644)
        blob_path(root, gone).unlink()
        report = await ledger.verify()  # the earlier finding: the pass went on past the unreadable file
        assert report.reason == "blob_missing", report
        assert report.blob_hash == gone, report
        assert report.broken_position == positions[str(streamed.id)], report
        async with ledger.manager() as manager:  # the same bytes saved again write the chunk back
            await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
        report = await ledger.verify()
    assert report.reason == "blob_corrupted", report
    assert report.blob_hash == unreadable, report
    assert report.artifact_id == str(late.id), report
    assert report.broken_position == positions[str(late.id)], report
    problem = str(report.problem)
    assert unreadable in problem, problem
    assert str(blob_path(root, unreadable)) in problem, problem
    assert "cannot be read" in problem, problem
    assert f"artifact {late.id} version 1" in problem, problem
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["--db", url, "--blobs", blobs, "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN (blob_corrupted)" in out, out
    assert str(late.id) in out.replace("\n", ""), out


# ---- a StreamedContent a caller built ------------------------------------------------------------------------
async def test_a_built_streamed_content_is_held_to_the_bytes_of_its_chunks(
    blob_ledger: Ledger, blob_root: Path | None
) -> None:
    data = payload(2 * CHUNK + 100)
    async with blob_ledger.manager() as manager:
        real = (await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))).data["content"]
        assert isinstance(real, StreamedContent)
        (h0, s0), (h1, s1), (h2, s2) = real.chunks
        before = await events(blob_ledger)
        forged = [  # each can be true by its shape alone (sizes add up, 64 hex digits): only the bytes tell
            (
                StreamedContent(real.sha256, real.size, ((h0, 1000), (h1, s1 + 24), (h2, s2))),
                rf"chunk 0 \({h0}\) holds {s0} bytes, not the 1000",
            ),
            (
                StreamedContent(real.sha256, real.size, ((h0, s0), (h2, s1), (h1, s2))),
                rf"chunk 1 \({h2}\) holds {s2} bytes, not the {s1}",
            ),
            (
                StreamedContent(real.sha256, real.size, ((h1, s1), (h0, s0), (h2, s2))),
                rf"its chunks hash to \w{{64}}, not {real.sha256}",
            ),
            (StreamedContent("ab" * 32, real.size, real.chunks), rf"its chunks hash to {real.sha256}, not {'ab' * 32}"),
        ]
        for content, message in forged:
            with pytest.raises(InvalidArtifactDataError, match=r"streamed content .*" + message):
                await manager.save(ArtifactIn(data={"content": content}))
        assert await events(blob_ledger) == before
        # A manifest that is true, made of chunks the ledger holds, is taken as it is: nothing copied.
        swapped = data[CHUNK : 2 * CHUNK] + data[:CHUNK] + data[2 * CHUNK :]
        files = len(stray_files(blob_root))
        built = StreamedContent(hashlib.sha256(swapped).hexdigest(), real.size, ((h1, s1), (h0, s0), (h2, s2)))
        saved = await manager.save(ArtifactIn(data={"content": built}))
        assert await read_all(manager, saved.id) == swapped
        assert len(stray_files(blob_root)) == files + (0 if blob_root is None else 1)  # its manifest alone
        assert (await blob_ledger.verify()).ok
