"""Blob stores on every backend: the database (default) and a content-addressed directory.

Round trips (whole and streamed content, export and import between the stores), an attacker's
moves (a chunk file replaced or removed, a file planted under the hash of content saved later,
a stray file, paths that climb out of the store) and a careless operator's (a directory that is
a file, missing, unwritable, shared by two ledgers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import tampered

from artifact_ledger import (
    ArtifactIn,
    BlobStoreError,
    ConcurrencyError,
    CorruptBlobError,
    Ledger,
    MissingBlobError,
    UntrustedContentError,
    create_engine,
)
from artifact_ledger import verify_bundle as spec
from artifact_ledger.bundle import write_bundle
from artifact_ledger.store.blob_dir import DirectoryBlobs, parse_blob_url
from artifact_ledger.transfer import import_bundle
from ledger_support import SECRET
from streaming_support import CHUNK, payload, read_all, track_first_pass

pytestmark = pytest.mark.usefixtures("small_chunks")


@pytest.fixture(params=["database", "directory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The ``blobs=`` of the ledger under test: None (the database) or a directory."""
    return None if request.param == "database" else f"file://{tmp_path}/blobs"


def blob_file(root: Path, digest: str) -> Path:
    return root / digest[:2] / digest[2:4] / digest


def count_files(root: Path) -> int:
    return len([p for p in root.rglob("*") if p.is_file()])


def overwrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def exists(path: Path) -> bool:
    return path.exists()


def remove(path: Path) -> None:
    path.unlink()


def plant(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def blob_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_blobs"))).scalar_one())


async def event_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def save_streamed(engine: AsyncEngine, blobs: str | None, data: bytes) -> tuple[str, str, list[str]]:
    """Save ``data`` as a stream; (artifact id, manifest hash, chunk hashes)."""
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger, ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"name": "weights", "content": io.BytesIO(data)}))
        content = out.data["content"]
        manifest = hashlib.sha256(content.manifest()).hexdigest()
        return str(out.id), manifest, [h for h, _ in content.chunks]


# ---- round trips --------------------------------------------------------------------------------------


async def test_whole_and_streamed_content_round_trip_in_either_store(
    engine: AsyncEngine, blobs: str | None, tmp_path: Path
) -> None:
    data = payload(3 * CHUNK + 17)
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger:
        async with ledger.manager() as manager:
            whole = await manager.save(ArtifactIn(data={"content": {"weights": [1, 2, 3]}}))
            streamed = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
            again = await manager.find_by_id(whole.id)
            assert again is not None
            assert again.data["content"] == {"weights": [1, 2, 3]}
            assert await read_all(manager, streamed.id) == data
        report = await ledger.verify()
        assert report.ok, report
    rows = await blob_rows(engine)
    if blobs is None:
        assert rows == 1 + 1 + 4  # the whole content, the manifest, four chunks
        return
    assert rows == 0  # a directory store keeps nothing in the database
    files = sorted(p for p in (tmp_path / "blobs").rglob("*") if p.is_file())
    assert len(files) == 6
    for path in files:
        assert path == blob_file(tmp_path / "blobs", path.name)  # fan-out ab/cd/abcd…
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o444  # written once, read-only


class CountingFile(io.BytesIO):
    """A seekable binary file object that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


async def test_a_directory_store_reads_a_file_once_and_leaves_no_temporary_file(
    engine: AsyncEngine, blobs: str | None, tmp_path: Path
) -> None:
    # A directory store takes the chunks on the first pass and the transaction links them; the
    # database store reads the file again inside the transaction.
    data = payload(5 * CHUNK + 100, seed=4)
    source = CountingFile(data)
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger:
        async with ledger.manager() as manager:
            out = await manager.save(ArtifactIn(data={"name": "weights", "content": source}))
            assert await read_all(manager, out.id) == data
        report = await ledger.verify()
        assert report.ok, report
    assert source.bytes_read == (len(data) if blobs is not None else 2 * len(data))
    if blobs is not None:
        root = tmp_path / "blobs"
        names = sorted(p.name for p in root.rglob("*") if p.is_file())
        assert len(names) == 1 + 6  # the manifest and six chunks, nothing else
        assert not [n for n in names if n.startswith(".")]
        for path in root.rglob("*"):
            if path.is_file():
                assert stat.S_IMODE(path.stat().st_mode) == 0o444


async def test_a_refused_save_of_a_staged_file_leaves_no_file_in_the_directory(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    url = f"file://{tmp_path}/blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger, ledger.manager() as manager:
        first = await manager.save(ArtifactIn(data={"name": "weights"}))
        before = count_files(tmp_path / "blobs")
        with pytest.raises(ConcurrencyError):  # refused by the rules, after the file was read and staged
            await manager.save(
                ArtifactIn(id=first.id, data={"name": "weights", "content": io.BytesIO(payload(3 * CHUNK, seed=5))}),
                expected_version=7,
            )
        assert count_files(tmp_path / "blobs") == before == 0
        again = await manager.find_by_id(first.id)
        assert again is not None
        assert again.version == 1


class HeldFile(io.BytesIO):
    """A seekable file whose second read waits until ``release`` is set (a slow disk, a network mount)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0
        self.waiting = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads == 2:
            self.waiting.set()
            self.release.wait(10)
        data = super().read(size)
        if not data:
            self.finished.set()
        return data


async def test_a_save_cancelled_during_the_first_pass_leaves_no_temporary_file(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"file://{tmp_path}/blobs"
    source = HeldFile(payload(4 * CHUNK, seed=8))
    ended = track_first_pass(monkeypatch)  # set when the first pass's thread has ended, cleaned up and all
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger, ledger.manager() as manager:
        saving = asyncio.ensure_future(manager.save(ArtifactIn(data={"content": source})))
        assert await asyncio.to_thread(source.waiting.wait, 10)  # the first chunk is staged, the pass goes on
        saving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await saving  # at once: the save does not wait for the read that is held
        source.release.set()  # the thread gets its chunk, sees the cancel and stops there
        # Up to 90 s: its writes are fsynced, and on a machine busy with other work (a whole suite
        # writing beside it) the staging threads took over 20 s to get through them.
        assert await asyncio.to_thread(ended.wait, 90)
        assert not source.finished.is_set()  # the caller's file was not read on to its end
        assert source.reads == 2
        assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
        assert await manager.find_all() == []


async def test_a_chunk_deleted_between_the_first_pass_and_the_transaction_is_read_again(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first pass finds a chunk stored already and stages nothing for it; a gc removes it
    # before the save's transaction: the save reads the file again and stores it.
    from artifact_ledger import command_input

    url = f"file://{tmp_path}/blobs"
    shared = payload(CHUNK, seed=6)
    _, _, [chunk] = await save_streamed(engine, url, shared)
    original = command_input.prepare_stream

    async def then_delete(value: Any, **kwargs: Any) -> Any:
        prepared = await original(value, **kwargs)
        remove(blob_file(tmp_path / "blobs", chunk))
        return prepared

    monkeypatch.setattr(command_input, "prepare_stream", then_delete)
    data = shared + payload(CHUNK, seed=7)
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger:
        async with ledger.manager() as manager:
            out = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
            assert await read_all(manager, out.id) == data
        assert (await ledger.verify()).ok
    assert exists(blob_file(tmp_path / "blobs", chunk))
    assert not [p for p in (tmp_path / "blobs").rglob(".*") if p.is_file()]


async def test_saving_the_same_bytes_again_writes_no_new_file(engine: AsyncEngine, tmp_path: Path) -> None:
    url = f"file://{tmp_path}/blobs"
    data = payload(2 * CHUNK)
    await save_streamed(engine, url, data)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "blobs").rglob("*") if p.is_file()}
    await save_streamed(engine, url, data)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "blobs").rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("backend_side", ["source", "target"])
@pytest.mark.parametrize(
    ("source", "target"), [("database", "directory"), ("directory", "database"), ("directory", "directory")]
)
async def test_export_and_import_carry_streamed_content_between_stores(
    engine: AsyncEngine, tmp_path: Path, source: str, target: str, backend_side: str
) -> None:
    source_blobs = None if source == "database" else f"file://{tmp_path}/source-blobs"
    target_blobs = None if target == "database" else f"file://{tmp_path}/target-blobs"
    other = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    first, second = (engine, other) if backend_side == "source" else (other, engine)
    data = payload(5 * CHUNK + 3, seed=1)
    try:
        async with Ledger.open(first, secret=SECRET, blobs=source_blobs) as ledger:
            async with ledger.manager() as manager:
                whole = await manager.save(ArtifactIn(data={"content": b"small and whole"}))
                streamed = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
            await write_bundle(first, tmp_path / "bundle")
        report = spec.verify_bundle(tmp_path / "bundle")
        assert report.ok, report
        assert report.blobs_checked == 1 + 1 + 6  # the whole content, the manifest, six chunks
        async with Ledger.open(second, secret=SECRET, blobs=target_blobs) as ledger:
            result = await import_bundle(second, tmp_path / "bundle")
            assert result.blobs_imported == 8
            async with ledger.manager() as manager:
                assert await read_all(manager, streamed.id) == data
                got = await manager.find_by_id(whole.id)
                assert got is not None
                assert got.data["content"] == b"small and whole"
            verified = await ledger.verify()
            assert verified.ok, verified
        assert (await blob_rows(second)) == (8 if target_blobs is None else 0)
        if target_blobs is not None:
            assert count_files(tmp_path / "target-blobs") == 8
    finally:
        await other.dispose()


async def test_a_ledger_whose_blobs_were_in_the_database_keeps_reading_them_from_a_directory_store(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    old_id, _, _ = await save_streamed(engine, None, payload(2 * CHUNK, seed=2))
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{tmp_path}/blobs") as ledger:
        async with ledger.manager() as manager:
            assert await read_all(manager, old_id) == payload(2 * CHUNK, seed=2)
            await manager.save(ArtifactIn(data={"content": b"new bytes go to files"}))
        assert (await ledger.verify()).ok
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 1


# ---- an attacker ---------------------------------------------------------------------------------------


async def test_a_replaced_chunk_file_is_refused_naming_its_hash_and_path(engine: AsyncEngine, tmp_path: Path) -> None:
    url = f"file://{tmp_path}/blobs"
    artifact_id, _, chunks = await save_streamed(engine, url, payload(3 * CHUNK))
    victim = blob_file(tmp_path / "blobs", chunks[1])
    victim.chmod(0o644)
    victim.write_bytes(b"x" * CHUNK)
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger:
        async with ledger.manager() as manager:
            with pytest.raises(CorruptBlobError) as caught:
                await read_all(manager, artifact_id)
            assert chunks[1] in str(caught.value)
            assert str(victim) in str(caught.value)
        report = await ledger.verify()
    assert not report.ok
    assert report.reason == "blob_corrupted"
    assert chunks[1] in str(report.problem)


async def test_a_reader_gets_the_chunks_before_a_replaced_one_and_never_its_bytes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # A directory store reads the next chunk on a thread while the caller handles the current one.
    url = f"file://{tmp_path}/blobs"
    data = payload(4 * CHUNK, seed=3)
    artifact_id, _, chunks = await save_streamed(engine, url, data)
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger, ledger.manager() as manager:
        got: list[bytes] = []
        async for chunk in manager.open_content(artifact_id):  # a reader that stops after one chunk
            got.append(chunk)
            break
        assert got == [data[:CHUNK]]
        overwrite(blob_file(tmp_path / "blobs", chunks[2]), b"y" * CHUNK)
        got = []

        async def read_into_got() -> None:
            async for chunk in manager.open_content(artifact_id):
                got.append(chunk)

        with pytest.raises(CorruptBlobError) as caught:
            await read_into_got()
        assert got == [data[:CHUNK], data[CHUNK : 2 * CHUNK]]
        assert chunks[2] in str(caught.value)


async def test_a_directory_store_reads_two_chunks_ahead_and_none_once_the_reader_stops(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two chunks are read (and hashed) on threads while a slow caller handles the current one: no
    # more (memory stays at three chunks), and when the reader stops, no read is left running.
    url = f"file://{tmp_path}/blobs"
    data = payload(6 * CHUNK, seed=5)
    artifact_id, _, _ = await save_streamed(engine, url, data)
    lock = threading.Lock()
    running = most = calls = 0
    overlapped = threading.Event()
    original = DirectoryBlobs.read_outside

    def counted(self: DirectoryBlobs, digest: str, size: int | None = None) -> bytes | None:
        nonlocal running, most, calls
        with lock:
            running += 1
            calls += 1
            first = calls == 1
            most = max(most, running)
            if running >= 2:
                overlapped.set()
        try:
            if first:  # the second read ahead starts while the first runs, however late a loaded
                overlapped.wait(10)  # machine starts its thread (not within a fixed 0.02 s)
            time.sleep(0.02)
            return original(self, digest, size)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(DirectoryBlobs, "read_outside", counted)
    got: list[bytes] = []
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger, ledger.manager() as manager:
        async with contextlib.aclosing(manager.open_content(artifact_id)) as chunks:
            async for chunk in chunks:
                await asyncio.sleep(0.1)  # a slow caller: every read ahead has time to start
                got.append(chunk)
                if len(got) == 3:
                    break
        assert running == 0
    assert most == 2
    assert got == [data[i * CHUNK : (i + 1) * CHUNK] for i in range(3)]


async def test_a_manifest_pointing_at_a_missing_chunk_is_a_missing_blob(
    engine: AsyncEngine, blobs: str | None, tmp_path: Path
) -> None:
    artifact_id, _, chunks = await save_streamed(engine, blobs, payload(3 * CHUNK))
    if blobs is None:
        async with tampered(engine) as conn:
            await conn.execute(text("DELETE FROM ledger_blobs WHERE hash = :h"), {"h": chunks[2]})
    else:
        blob_file(tmp_path / "blobs", chunks[2]).unlink()
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger:
        async with ledger.manager() as manager:
            with pytest.raises(MissingBlobError) as caught:
                await read_all(manager, artifact_id)
        assert caught.value.blob_hash == chunks[2]
        assert not isinstance(caught.value, FileNotFoundError)
        report = await ledger.verify()
    assert not report.ok, report
    assert report.reason == "blob_missing", report
    assert chunks[2] in str(report.problem)
    assert "chunk 2" in str(report.problem)


async def test_a_file_planted_under_the_hash_of_content_saved_later_refuses_the_save(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    url = f"file://{tmp_path}/blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger, ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"content": b"kept"}))
        digest = hashlib.sha256(b"the real model weights").hexdigest()
        planted = blob_file(tmp_path / "blobs", digest)
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_bytes(b"planted bytes")
        before = await event_count(engine)
        with pytest.raises(CorruptBlobError) as caught:
            await manager.save(ArtifactIn(data={"content": b"the real model weights"}))
        assert digest in str(caught.value)
        assert str(planted) in str(caught.value)
        assert await event_count(engine) == before  # nothing of the refused save was written
        assert planted.read_bytes() == b"planted bytes"  # never rewritten: verify reports it


async def test_a_planted_stray_file_is_reported_by_a_full_verify(engine: AsyncEngine, tmp_path: Path) -> None:
    url = f"file://{tmp_path}/blobs"
    await save_streamed(engine, url, payload(CHUNK))
    fake = "ab" * 32
    blob_file(tmp_path / "blobs", fake).parent.mkdir(parents=True, exist_ok=True)
    blob_file(tmp_path / "blobs", fake).write_bytes(b"not what ab... hashes to")
    (tmp_path / "blobs" / "notes.txt").write_text("left here by someone")
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger:
        report = await ledger.verify()
    assert not report.ok, report
    assert report.reason == "blob_corrupted", report
    assert fake in str(report.problem) or "notes.txt" in str(report.problem)


@pytest.mark.parametrize(
    "url",
    [
        "file:///x/../../etc",
        "file:///srv/./blobs",
        "file://evil.example.com/blobs",
        "file:blobs",
        "https://example.com/blobs",
        "file:///srv/blobs?mode=rw",
        "relative/blobs",
    ],
)
async def test_a_blob_url_that_is_not_a_plain_absolute_directory_is_refused(engine: AsyncEngine, url: str) -> None:
    with pytest.raises(BlobStoreError) as caught:
        async with Ledger.open(engine, secret=SECRET, blobs=url):
            pass
    assert url in str(caught.value)
    assert not exists(Path("/etc/blobs"))


@pytest.mark.parametrize("name", ["../../etc/passwd", "AB" * 32, "ab" * 31, "", "ab" * 32 + "/x"])
def test_a_hash_that_is_no_sha256_never_becomes_a_path(tmp_path: Path, name: str) -> None:
    store = DirectoryBlobs(parse_blob_url(f"file://{tmp_path}"))
    with pytest.raises(UntrustedContentError, match="is not a blob hash"):
        store.path(name)


async def test_the_bundle_verifier_follows_chunk_manifests(
    engine: AsyncEngine, blobs: str | None, tmp_path: Path
) -> None:
    _, manifest, chunks = await save_streamed(engine, blobs, payload(4 * CHUNK))
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger:  # export reads the ledger's store
        await write_bundle(ledger.engine, tmp_path / "bundle")
    assert spec.verify_bundle(tmp_path / "bundle").ok
    chunk = Path(spec.blob_path(str(tmp_path / "bundle"), chunks[3]))
    overwrite(chunk, b"y" * CHUNK)
    report = spec.verify_bundle(tmp_path / "bundle")
    assert not report.ok
    assert report.reason == "blob_corrupted"
    assert chunks[3] in str(report.problem)
    remove(chunk)
    report = spec.verify_bundle(tmp_path / "bundle")
    assert not report.ok
    assert report.reason == "blob_missing"
    assert "chunk 3" in str(report.problem)
    assert manifest in str(report.problem)


def test_a_chunk_manifest_listing_a_path_is_malformed() -> None:
    good = {"format": spec.CHUNKS_FORMAT, "chunks": [["ab" * 32, 5]], "sha256": "cd" * 32, "size": 5}
    assert spec.parse_chunk_manifest(spec.json.dumps(good).encode())["size"] == 5
    for chunk in (["../../etc/passwd", 5], ["ab" * 32, 0], ["ab" * 32, 1 << 40], "ab"):
        bad = {**good, "chunks": [chunk]}
        with pytest.raises(spec.BundleFormatError):
            spec.parse_chunk_manifest(spec.json.dumps(bad).encode())


# ---- a careless operator -------------------------------------------------------------------------------


async def test_a_missing_blob_directory_is_created_with_its_parents(engine: AsyncEngine, tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet" / "there"
    await save_streamed(engine, f"file://{root}", payload(CHUNK))
    assert root.is_dir()
    assert any(root.rglob("*"))


async def test_create_false_creates_no_blob_directory(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(engine, secret=SECRET):
        pass  # the ledger exists; only its blob directory does not
    with pytest.raises(BlobStoreError, match="does not exist"):
        async with Ledger.open(engine, secret=SECRET, create=False, blobs=f"file://{tmp_path}/absent"):
            pass
    assert not (tmp_path / "absent").exists()


async def test_a_blob_directory_that_is_a_file_or_under_one_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file")
    for url in (f"file://{tmp_path}/plain", f"file://{tmp_path}/plain/blobs"):
        with pytest.raises(BlobStoreError) as caught:
            async with Ledger.open(engine, secret=SECRET, blobs=url):
                pass
        assert str(tmp_path / "plain") in str(caught.value)


async def test_a_blob_directory_that_cannot_be_written_refuses_the_save_and_commits_nothing(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"file://{tmp_path}/blobs"
    async with Ledger.open(engine, secret=SECRET, blobs=url) as ledger, ledger.manager() as manager:
        before = await event_count(engine)

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(os, "link", refuse)  # a read-only mount or wrong owner, as seen by a writer
        with pytest.raises(BlobStoreError, match="Permission denied") as caught:
            await manager.save(ArtifactIn(data={"content": io.BytesIO(payload(2 * CHUNK))}))
        assert str(tmp_path / "blobs") in str(caught.value)
        with pytest.raises(BlobStoreError):
            await manager.save(ArtifactIn(data={"content": b"whole"}))
        assert await event_count(engine) == before
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]  # no temporary file left either


async def test_a_read_only_blob_directory_is_refused_on_open(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "blobs"
    root.mkdir()
    root.chmod(0o555)
    if os.geteuid() == 0:  # root writes through a read-only mode: make the probe meet what a user would

        def refuse(*args: Any, **kwargs: Any) -> tuple[int, str]:
            raise PermissionError(13, "Permission denied", str(root))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        with pytest.raises(BlobStoreError, match=str(root)):
            async with Ledger.open(engine, secret=SECRET, blobs=f"file://{root}"):
                pass
    finally:
        root.chmod(0o755)


async def test_two_ledgers_share_one_blob_directory(engine: AsyncEngine, tmp_path: Path) -> None:
    url = f"file://{tmp_path}/shared"
    data = payload(3 * CHUNK, seed=7)
    other = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        one, _, _ = await save_streamed(engine, url, data)
        two, _, _ = await save_streamed(other, url, data + b"!")  # shares its first chunks with one
        for each, artifact_id, expected in ((engine, one, data), (other, two, data + b"!")):
            async with Ledger.open(each, secret=SECRET, blobs=url) as ledger:
                async with ledger.manager() as manager:
                    assert await read_all(manager, artifact_id) == expected
                assert (await ledger.verify()).ok
    finally:
        await other.dispose()


def test_the_sync_api_takes_a_blob_store(tmp_path: Path) -> None:
    from artifact_ledger import sync

    url = f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"
    with (
        sync.Ledger.open(url, secret=SECRET, blobs=f"file://{tmp_path}/blobs") as ledger,
        ledger.manager() as manager,
    ):
        out = manager.save(ArtifactIn(data={"content": b"sync bytes"}))
        assert b"".join(manager.open_content(out.id)) == b"sync bytes"
    assert count_files(tmp_path / "blobs") == 1
