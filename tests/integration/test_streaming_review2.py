"""Streamed content under a second adversarial review: sources that hang, break or lie, and blob
directories that are not what they should be, on every backend and both blob stores."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, InvalidArtifactDataError, Ledger
from artifact_ledger.content import streams

CHUNK = 1024


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "CHUNK_SIZE", CHUNK)


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` bytes with no two equal chunks."""
    blocks = (hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


async def read_all(manager: Any, artifact_id: Any) -> bytes:
    return b"".join([chunk async for chunk in manager.open_content(artifact_id)])


async def events(ledger: Ledger) -> int:
    async with ledger.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


def stray_files(root: Path | None) -> list[Path]:
    """Files a failed save left in the blob directory (the registry and nothing else may be there)."""
    if root is None or not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file()]


# ---- sources that hang or break ---------------------------------------------------------------------------
async def test_a_fifo_path_is_refused_at_once_not_waited_on(
    blob_ledger: Ledger, blob_root: Path | None, tmp_path: Path
) -> None:
    fifo = tmp_path / "upload.fifo"
    os.mkfifo(fifo)
    try:
        async with blob_ledger.manager() as manager:
            with pytest.raises(InvalidArtifactDataError, match=r"upload\.fifo' cannot be read: .*not a regular file"):
                await asyncio.wait_for(manager.save(ArtifactIn(data={"content": fifo})), 5)
            assert await events(blob_ledger) == 0
            saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(payload(3 * CHUNK))}))
            assert await read_all(manager, saved.id) == payload(3 * CHUNK)
    finally:  # a save blocked in open() is let go by a writer appearing
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
