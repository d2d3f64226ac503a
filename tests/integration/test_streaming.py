"""Content saved and read as a stream, on every backend: paths, file objects, async iterators."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from test_integrity_support import tampered

from artifact_ledger import (
    ArtifactDeletedError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ContentNotFoundError,
    CorruptBlobError,
    InvalidArtifactDataError,
    StreamedContent,
    UntrustedContentError,
    VersionNotFoundError,
)
from artifact_ledger.content import streams
from artifact_ledger.content.streams import StreamChangedError
from streaming_support import CHUNK, payload, read_all

pytestmark = pytest.mark.usefixtures("small_chunks")


async def pieces(data: bytes, step: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), step):
        yield data[start : start + step]


async def counts(session: AsyncSession) -> tuple[int, int]:
    events = (await session.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one()
    blobs = (await session.execute(text("SELECT count(*) FROM ledger_blobs"))).scalar_one()
    return int(events), int(blobs)


class Unseekable(io.RawIOBase):
    """A pipe-like binary file: reads in small pieces, cannot seek."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self._data.read(min(len(buffer), 100))
        buffer[: len(piece)] = piece
        return len(piece)


# ---- saving ---------------------------------------------------------------------------------------------


async def test_a_path_is_saved_in_chunks_and_read_back(
    manager: ArtifactManager, session: AsyncSession, tmp_path: Path
) -> None:
    data = payload(5 * CHUNK + 17)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    out = await manager.save(ArtifactIn(data={"name": "model", "content": path}))
    expected = StreamedContent(
        hashlib.sha256(data).hexdigest(),
        len(data),
        tuple(
            (hashlib.sha256(data[i : i + CHUNK]).hexdigest(), len(data[i : i + CHUNK]))
            for i in range(0, len(data), CHUNK)
        ),
    )
    assert out.data == {"name": "model", "content": expected}
    found = await manager.find_by_id(out.id)
    assert found is not None
    assert found.data["content"] == expected  # reads give the stream's hash and size, never the bytes
    row = (await session.execute(text("SELECT content_codec, content_type, content_hash FROM ledger_artifacts"))).one()
    assert tuple(row) == ("chunks", "application/octet-stream", hashlib.sha256(expected.manifest()).hexdigest())
    assert await counts(session) == (1, 6 + 1)  # six chunk rows and the manifest
    assert await read_all(manager, out.id) == data
    sizes = [len(chunk) async for chunk in manager.open_content(out.id)]
    assert sizes == [CHUNK] * 5 + [17]


@pytest.mark.parametrize("how", ["bytesio", "unseekable", "iterator-small", "iterator-large", "open-file"])
async def test_every_source_of_the_same_bytes_gives_the_same_content(
    manager: ArtifactManager, session: AsyncSession, tmp_path: Path, how: str
) -> None:
    data = payload(3 * CHUNK + 5, seed=1)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    first = await manager.save(ArtifactIn(data={"content": path}))
    source: Any = {
        "bytesio": io.BytesIO(data),
        "unseekable": Unseekable(data),
        "iterator-small": pieces(data, 7),
        "iterator-large": pieces(data, 5 * CHUNK),
    }.get(how)
    if how == "open-file":
        with path.open("rb") as handle:
            again = await manager.save(ArtifactIn(id=first.id, data={"content": handle}))
    else:
        again = await manager.save(ArtifactIn(id=first.id, data={"content": source}))
    assert again.version == first.version  # same bytes, same manifest: nothing appended
    assert await counts(session) == (1, 4 + 1)
    other = await manager.save(ArtifactIn(data={"content": pieces(data, 3)}, tags=["copy"]))
    assert other.data["content"] == first.data["content"]
    assert await counts(session) == (2, 4 + 1)  # the second artifact shares every blob
    assert await read_all(manager, other.id) == data


async def test_a_file_object_is_read_from_its_position(manager: ArtifactManager) -> None:
    handle = io.BytesIO(b"header:" + payload(CHUNK + 1))
    handle.seek(7)
    out = await manager.save(ArtifactIn(data={"content": handle}))
    assert await read_all(manager, out.id) == payload(CHUNK + 1)


async def test_empty_and_repeated_chunks(manager: ArtifactManager, session: AsyncSession) -> None:
    empty = await manager.save(ArtifactIn(data={"content": pieces(b"", 1)}))
    assert empty.data["content"].size == 0
    assert await read_all(manager, empty.id) == b""
    zeros = await manager.save(ArtifactIn(data={"content": io.BytesIO(bytes(4 * CHUNK))}))
    assert len(zeros.data["content"].chunks) == 4
    assert await counts(session) == (2, 2 + 1)  # two manifests and one chunk row for four equal chunks
    assert await read_all(manager, zeros.id) == bytes(4 * CHUNK)


async def test_a_declared_content_type_is_recorded(manager: ArtifactManager, session: AsyncSession) -> None:
    out = await manager.save(ArtifactIn(data={"content": io.BytesIO(b"a,b\n"), "content_type": "text/csv"}))
    versions = await manager.history(out.id)
    assert versions[-1].content_type == "text/csv"
    assert await read_all(manager, out.id) == b"a,b\n"


async def test_saving_the_read_back_content_again_keeps_it(manager: ArtifactManager, session: AsyncSession) -> None:
    out = await manager.save(ArtifactIn(data={"v": 1, "content": io.BytesIO(payload(2 * CHUNK))}))
    found = await manager.find_by_id(out.id)
    assert found is not None
    again = await manager.save(ArtifactIn(id=out.id, data={**found.data, "v": 2}))
    assert again.version == 2
    assert again.data["content"] == out.data["content"]
    assert await counts(session) == (2, 2 + 1)
    assert await read_all(manager, out.id, version=1) == await read_all(manager, out.id) == payload(2 * CHUNK)


async def test_streamed_content_from_elsewhere_is_refused(manager: ArtifactManager, session: AsyncSession) -> None:
    foreign = StreamedContent(hashlib.sha256(b"x").hexdigest(), 1, ((hashlib.sha256(b"x").hexdigest(), 1),))
    with pytest.raises(InvalidArtifactDataError, match=r"is not stored in this ledger \(1 of its 1 chunks"):
        await manager.save(ArtifactIn(data={"content": foreign}))
    assert await counts(session) == (0, 0)


# ---- what is never written ------------------------------------------------------------------------------


async def test_an_iterator_that_fails_part_way_writes_nothing(manager: ArtifactManager, session: AsyncSession) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield payload(3 * CHUNK)
        raise ConnectionResetError("upload cut")

    with pytest.raises(ConnectionResetError, match="upload cut"):
        await manager.save(ArtifactIn(data={"content": broken()}))
    assert await counts(session) == (0, 0)
    async with manager.transaction():  # inside a transaction too: the failed save leaves nothing behind
        await manager.save(ArtifactIn(data={"name": "kept"}))
        with pytest.raises(ConnectionResetError):
            await manager.save(ArtifactIn(data={"content": broken()}))
    assert await counts(session) == (1, 0)


async def test_an_iterator_of_text_or_a_text_file_is_refused(
    manager: ArtifactManager, session: AsyncSession, tmp_path: Path
) -> None:
    async def texts() -> AsyncIterator[Any]:
        yield b"ok"
        yield "not bytes"

    with pytest.raises(InvalidArtifactDataError, match=r"yielded a str after 2 bytes"):
        await manager.save(ArtifactIn(data={"content": texts()}))
    (tmp_path / "t.txt").write_text("hello")
    with (tmp_path / "t.txt").open() as handle, pytest.raises(InvalidArtifactDataError, match=r"binary mode"):
        await manager.save(ArtifactIn(data={"content": handle}))
    with pytest.raises(InvalidArtifactDataError, match=r"missing.bin' cannot be read"):
        await manager.save(ArtifactIn(data={"content": tmp_path / "missing.bin"}))
    with pytest.raises(InvalidArtifactDataError, match=r"cannot be read"):
        await manager.save(ArtifactIn(data={"content": tmp_path}))
    assert await counts(session) == (0, 0)


class Shifting(io.BytesIO):
    """A seekable file whose bytes change after the first read (a file rewritten during the save)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.rewinds = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        self.rewinds += 1
        if self.rewinds > 0 and offset == 0:
            view = self.getbuffer()
            view[CHUNK + 3] ^= 0xFF
            del view
        return super().seek(offset, whence)


async def test_a_source_that_changes_between_its_two_reads_writes_nothing(
    manager: ArtifactManager, session: AsyncSession
) -> None:
    with pytest.raises(StreamChangedError, match=r"chunk 1 now hashes differently. Nothing was saved"):
        await manager.save(ArtifactIn(data={"content": Shifting(payload(3 * CHUNK))}))
    assert await counts(session) == (0, 0)


async def test_a_planted_chunk_row_is_refused(
    manager: ArtifactManager, session: AsyncSession, engine: AsyncEngine
) -> None:
    data = payload(2 * CHUNK)
    second = data[CHUNK:]
    async with tampered(engine) as conn:
        await conn.execute(
            text("INSERT INTO ledger_blobs (hash, size, data) VALUES (:h, :s, :d)"),
            {"h": hashlib.sha256(second).hexdigest(), "s": len(second), "d": b"planted" + bytes(len(second) - 7)},
        )
    with pytest.raises(CorruptBlobError, match=r"already holds a row for chunk .* Nothing was saved"):
        await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
    assert await counts(session) == (0, 1)


# ---- reading --------------------------------------------------------------------------------------------


async def test_a_corrupted_chunk_is_never_yielded(
    manager: ArtifactManager, session: AsyncSession, engine: AsyncEngine
) -> None:
    data = payload(3 * CHUNK)
    out = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
    middle = hashlib.sha256(data[CHUNK : 2 * CHUNK]).hexdigest()
    async with tampered(engine) as conn:
        await conn.execute(text("UPDATE ledger_blobs SET data = :d WHERE hash = :h"), {"d": bytes(CHUNK), "h": middle})
    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in manager.open_content(out.id):
            got.append(chunk)

    with pytest.raises(UntrustedContentError, match=rf"chunk 1 of content {out.data['content'].sha256} is corrupted"):
        await consume()
    assert got == [data[:CHUNK]]  # the verified chunk before it, and nothing of the bad one


async def test_a_missing_chunk_is_reported(manager: ArtifactManager, engine: AsyncEngine) -> None:
    data = payload(2 * CHUNK)
    out = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
    async with tampered(engine) as conn:
        await conn.execute(
            text("DELETE FROM ledger_blobs WHERE hash = :h"), {"h": hashlib.sha256(data[CHUNK:]).hexdigest()}
        )
    with pytest.raises(UntrustedContentError, match=r"is missing from ledger_blobs"):
        await read_all(manager, out.id)


async def test_open_content_of_other_codecs_gives_their_stored_bytes(manager: ArtifactManager) -> None:
    raw = await manager.save(ArtifactIn(data={"content": b"\x00\x01" * 10}))
    assert await read_all(manager, raw.id) == b"\x00\x01" * 10
    doc = await manager.save(ArtifactIn(data={"content": {"b": 1, "a": [True]}}))
    assert await read_all(manager, doc.id) == b'{"a":[true],"b":1}'


async def test_open_content_errors_name_the_id_and_version(manager: ArtifactManager) -> None:
    bare = await manager.save(ArtifactIn(data={"name": "no content"}))
    with pytest.raises(ContentNotFoundError, match=rf"artifact {bare.id} version 1 has no content"):
        await read_all(manager, bare.id)
    with pytest.raises(VersionNotFoundError, match=rf"artifact {bare.id} has no version 5; its latest is 1"):
        await read_all(manager, bare.id, version=5)
    gone = await manager.save(ArtifactIn(data={"content": io.BytesIO(b"old")}))
    await manager.delete_by_id(gone.id)
    with pytest.raises(ArtifactDeletedError, match=rf"artifact {gone.id} is deleted \(version 2\)"):
        await read_all(manager, gone.id)
    with pytest.raises(ContentNotFoundError, match=rf"artifact {gone.id} version 2 is its deletion"):
        await read_all(manager, gone.id, version=2)
    assert await read_all(manager, gone.id, version=1) == b"old"
    with pytest.raises(ArtifactNotFoundError, match=r"not found"):
        await read_all(manager, "01J00000000000000000000000")


# ---- memory ---------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_300_mb_is_saved_and_read_back_in_bounded_memory(
    manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "CHUNK_SIZE", 4 * 1024 * 1024)
    block = os.urandom(1024 * 1024)
    total = 300

    async def generated() -> AsyncIterator[bytes]:
        for index in range(total):
            yield index.to_bytes(8, "big") + block[8:]

    expected = hashlib.sha256()
    for index in range(total):
        expected.update(index.to_bytes(8, "big") + block[8:])
    tracemalloc.start()
    try:
        out = await manager.save(ArtifactIn(data={"content": generated()}))
        _, saved_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest, size = hashlib.sha256(), 0
        async for chunk in manager.open_content(out.id):
            digest.update(chunk)
            size += len(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total * 1024 * 1024
    assert digest.hexdigest() == expected.hexdigest() == out.data["content"].sha256
    assert saved_peak < 100 * 1024 * 1024, saved_peak
    assert read_peak < 100 * 1024 * 1024, read_peak


# ---- export -------------------------------------------------------------------------------------------


async def test_export_carries_streamed_content(manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path) -> None:
    from artifact_ledger import verify_bundle
    from artifact_ledger.bundle import write_bundle

    await manager.save(ArtifactIn(data={"content": b"whole"}))
    await manager.save(ArtifactIn(data={"content": io.BytesIO(payload(2 * CHUNK))}))
    written = await write_bundle(engine, tmp_path / "after")
    assert written.blob_count == 1 + 1 + 2  # the whole content, the manifest, two chunks
    assert verify_bundle.verify_bundle(tmp_path / "after").ok


async def test_postgresql_stores_chunks_with_lz4_and_puts_the_setting_back_for_the_rest(
    manager: ArtifactManager, session: AsyncSession, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "CHUNK_SIZE", 64 * 1024)
    data = b"compressible bytes " * 20_000  # 380,000 bytes: six chunks, each one TOAST compresses
    whole = b"whole content, compressible too " * 2_000
    streamed, plain = await manager.save_all(
        [ArtifactIn(data={"name": "s", "content": io.BytesIO(data)}), ArtifactIn(data={"name": "w", "content": whole})]
    )
    assert await read_all(manager, streamed.id) == data
    got = await manager.find_by_id(plain.id)
    assert got is not None
    assert got.data["content"] == whole
    if backend != "postgresql":
        return
    chunks = {hashlib.sha256(data[i : i + 64 * 1024]).hexdigest() for i in range(0, len(data), 64 * 1024)}
    rows = await session.execute(text("SELECT hash, pg_column_compression(data) FROM ledger_blobs"))
    methods = {str(h): m for h, m in rows}
    assert {methods[h] for h in chunks} == {"lz4"}
    # the same transaction's other blobs: TOAST as the server is set (pglz here), not LZ4
    assert {m for h, m in methods.items() if h not in chunks} <= {"pglz", None}
    assert "pglz" in methods.values()
    setting = (await session.execute(text("SHOW default_toast_compression"))).scalar_one()
    assert setting == "pglz"


async def test_postgresql_stores_a_large_whole_blob_with_lz4_and_puts_the_setting_back(
    manager: ArtifactManager, session: AsyncSession, backend: str
) -> None:
    large = b"a whole content of more than a megabyte, compressible " * 20_000  # 1.1 MB
    small = b"a small content, compressible too " * 200  # 6.8 kB, in a save of its own
    notes = "notes that TOAST compresses as the server is set " * 200  # 10 kB in the row and the event
    big = await manager.save(ArtifactIn(data={"name": "big", "notes": notes, "content": large}))
    little = await manager.save(ArtifactIn(data={"name": "little", "content": small}))
    for saved, content in ((big, large), (little, small)):
        got = await manager.find_by_id(saved.id)
        assert got is not None
        assert got.data["content"] == content
        assert got.data["name"] == saved.data["name"]
    if backend != "postgresql":
        return
    rows = await session.execute(text("SELECT size, pg_column_compression(data) FROM ledger_blobs"))
    assert {int(size): method for size, method in rows} == {len(large): "lz4", len(small): "pglz"}
    # written after the blob in the same transaction: the server's setting again
    row = await session.execute(
        text("SELECT pg_column_compression(data) FROM ledger_artifacts WHERE id = :id"), {"id": str(big.id)}
    )
    assert row.scalar_one() == "pglz"
    setting = (await session.execute(text("SHOW default_toast_compression"))).scalar_one()
    assert setting == "pglz"
