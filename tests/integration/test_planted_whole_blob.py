"""A huge file or row planted under the hash of whole (not streamed) content is refused before it is
read into memory, on every backend and both blob stores.

``find_by_id`` and ``open_content`` read the blob of whole content at once and hashed it after: a
48 MiB file (or ``ledger_blobs`` row) put under the hash of a few kilobytes of content was read
whole before it was found wrong. The log lists the blob's size; a read now takes at most that size
and a byte of a file, and fetches a row only when ``length(data)`` is that size, and refuses with
:class:`CorruptBlobError` naming the hash and the size.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import tampered

from artifact_ledger import ArtifactIn, CorruptBlobError, Ledger
from streaming_support import peak_of, read_all

LARGE = 48 * 1024 * 1024


async def plant(engine: AsyncEngine, root: Path | None, digest: str) -> None:
    """Put ``LARGE`` bytes under ``digest``: a sparse file in the directory, or the row's data."""
    if root is not None:
        path = root / digest[:2] / digest[2:4] / digest
        path.chmod(0o644)
        with path.open("wb") as handle:
            handle.truncate(LARGE)
        return
    fill = "zeroblob(:n)" if engine.dialect.name == "sqlite" else "convert_to(repeat('A', :n), 'UTF8')"
    async with tampered(engine) as conn:  # the append-only triggers off, as a DBA could
        await conn.execute(text(f"UPDATE ledger_blobs SET data = {fill} WHERE hash = :h"), {"n": LARGE, "h": digest})


async def test_a_huge_blob_planted_under_whole_content_is_refused_unread(
    blob_ledger: Ledger, blob_root: Path | None
) -> None:
    data = bytes(range(256)) * 16
    async with blob_ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"name": "weights", "content": data}))
        await manager.save(ArtifactIn(id=saved.id, data={"name": "weights v2", "content": data}))
        async with blob_ledger.engine.connect() as conn:
            digest, size = (await conn.execute(text("SELECT content_hash, content_size FROM ledger_artifacts"))).one()
        assert (await manager.find_by_id(saved.id)) is not None
        await plant(blob_ledger.engine, blob_root, digest)
        reads = {
            "find_by_id": manager.find_by_id(saved.id),
            "find_by_id(version=1)": manager.find_by_id(saved.id, version=1),
            "open_content": read_all(manager, saved.id),
        }
        for what, read in reads.items():
            refused, peak = await peak_of(read)
            assert isinstance(refused, CorruptBlobError), (what, refused)
            assert digest in str(refused), (what, refused)
            assert str(size) in str(refused), (what, refused)
            assert peak < LARGE // 8, (what, peak)  # the listed size and a byte, never the whole
