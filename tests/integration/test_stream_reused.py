"""One file object or iterator given as the content of two items of one ``save_all`` (every backend):
it is read once, so the second item was saved empty; now refused, nothing written."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, InvalidArtifactDataError, Ledger
from ledger_support import SECRET


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


async def chunks() -> AsyncIterator[bytes]:
    yield b"abc"
    yield b"def"


async def test_one_reader_for_two_items_is_refused_and_one_path_is_read_twice(ledger: Ledger, tmp_path: Path) -> None:
    handle = io.BytesIO(b"weights" * 100)
    iterator = chunks()
    async with ledger.manager() as m:
        for reader in (handle, iterator):
            items = [ArtifactIn(data={"n": 1, "content": reader}), ArtifactIn(data={"n": 2, "content": reader})]
            with pytest.raises(InvalidArtifactDataError, match=f"items 0 and 1 give the same {type(reader).__name__}"):
                await m.save_all(items)
        assert await m.find_all() == []
        path = tmp_path / "weights.bin"
        path.write_bytes(b"weights" * 100)
        saved = await m.save_all([ArtifactIn(data={"n": i, "content": path}) for i in range(2)])
        for out in saved:
            found = await m.find_by_id(out.id)
            assert found is not None
            content = found.data["content"]
            read = b"".join([piece async for piece in m.open_content(out.id)])
            assert read == b"weights" * 100, content
