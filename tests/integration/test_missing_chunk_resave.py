"""A directory store whose chunk file went missing (every backend): the same bytes saved again write
the missing chunk again, so both versions read; the manifest alone no longer counts as stored."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger
from ledger_support import SECRET
from streaming_support import CHUNK

pytestmark = pytest.mark.usefixtures("small_chunks")


@pytest.fixture
async def ledger(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET, blobs=f"file://{tmp_path / 'blobs'}") as opened:
        yield opened


def payload(size: int) -> bytes:
    blocks = (hashlib.sha256(f"chunk:{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


async def read(ledger: Ledger, aid: str, version: int) -> bytes:
    async with ledger.manager() as m:
        return b"".join([piece async for piece in m.open_content(aid, version=version)])


@pytest.mark.parametrize("source", ["file object", "path"])
async def test_saving_the_same_bytes_again_writes_a_chunk_file_that_went_missing(
    ledger: Ledger, tmp_path: Path, source: str
) -> None:
    data = payload(3 * CHUNK + 7)
    path = tmp_path / "weights.bin"
    path.write_bytes(data)

    def content() -> object:
        return io.BytesIO(data) if source == "file object" else path

    async with ledger.manager() as m:
        first = await m.save(ArtifactIn(data={"name": "weights", "content": content()}))
    middle = hashlib.sha256(data[CHUNK : 2 * CHUNK]).hexdigest()
    chunk_file = tmp_path / "blobs" / middle[:2] / middle[2:4] / middle
    assert chunk_file.is_file()
    chunk_file.unlink()  # damage: one chunk file gone
    async with ledger.manager() as m:
        again = await m.save(ArtifactIn(id=first.id, data={"name": "weights", "v": 2, "content": content()}))
    assert again.version == 2
    assert chunk_file.is_file()  # written again from the bytes given
    assert await read(ledger, str(first.id), 2) == data
    assert await read(ledger, str(first.id), 1) == data  # the damaged version reads again too
    report = await ledger.verify()
    assert report.ok, report.problem
