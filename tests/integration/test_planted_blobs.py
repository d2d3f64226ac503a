"""A blob row planted under the hash of content saved later must not stand in for it."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, CorruptBlobError, Ledger
from artifact_ledger.content import encode_content
from ledger_support import SECRET

CONTENT = b"the real model weights"


def digest_of(content: object, manager: ArtifactManager) -> tuple[str, int]:
    encoded = encode_content(content, None, manager.repo.keyring)
    return encoded.hash, encoded.size


async def plant(engine: AsyncEngine, digest: str, data: bytes, size: int | None = None) -> None:
    """What someone with write access to ledger_blobs (not the ledger) does."""
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO ledger_blobs (hash, size, data) VALUES (:h, :s, :d)"),
            {"h": digest, "s": len(data) if size is None else size, "d": data},
        )


async def counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        events = (await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one()
        artifacts = (await conn.execute(text("SELECT count(*) FROM ledger_artifacts"))).scalar_one()
    return int(events), int(artifacts)


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_a_planted_blob_row_refuses_the_save_and_loses_nothing(
    engine: AsyncEngine, manager: ArtifactManager, in_transaction: bool
) -> None:
    keep = await manager.save(ArtifactIn(data={"name": "before", "content": b"kept"}))
    digest, size = digest_of(CONTENT, manager)
    await plant(engine, digest, b"planted bytes of the same size!", size)
    before = await counts(engine)

    async def attempt() -> None:
        if in_transaction:
            async with manager.transaction():
                await manager.save(ArtifactIn(data={"name": "other"}))
                await manager.save(ArtifactIn(data={"name": "model", "content": CONTENT}))
        else:
            await manager.save(ArtifactIn(data={"name": "model", "content": CONTENT}))

    with pytest.raises(CorruptBlobError) as caught:
        await attempt()
    assert digest in str(caught.value)
    assert "verify" in str(caught.value)
    assert await counts(engine) == before  # nothing of the refused command (or its transaction) was written
    out = await manager.find_by_id(keep.id)
    assert out is not None
    assert out.data["content"] == b"kept"
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify(projections=False)
    assert not report.ok  # the planted row is still there for verify to report
    assert digest in str(report)


async def test_save_all_checks_its_blobs_too(engine: AsyncEngine, manager: ArtifactManager) -> None:
    digest, size = digest_of(CONTENT, manager)
    await plant(engine, digest, b"x" * size)
    before = await counts(engine)
    with pytest.raises(CorruptBlobError):
        await manager.save_all([ArtifactIn(data={"n": 1}), ArtifactIn(data={"n": 2, "content": CONTENT})])
    assert await counts(engine) == before


async def test_a_planted_row_of_another_size_is_refused(engine: AsyncEngine, manager: ArtifactManager) -> None:
    digest, _ = digest_of(CONTENT, manager)
    await plant(engine, digest, b"short")
    with pytest.raises(CorruptBlobError, match=digest):
        await manager.save(ArtifactIn(data={"content": CONTENT}))


async def test_a_correct_row_is_deduplicated_and_reads_back(engine: AsyncEngine, manager: ArtifactManager) -> None:
    first = await manager.save(ArtifactIn(data={"name": "a", "content": CONTENT}))
    second = await manager.save(ArtifactIn(data={"name": "b", "content": CONTENT}))
    async with manager.transaction():
        third = await manager.save(ArtifactIn(data={"name": "c", "content": CONTENT}))
        fourth = await manager.save(ArtifactIn(data={"name": "d", "content": CONTENT}))
    digest, _ = digest_of(CONTENT, manager)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT data FROM ledger_blobs WHERE hash = :h"), {"h": digest})).all()
    assert len(rows) == 1
    assert hashlib.sha256(bytes(rows[0][0])).hexdigest() == digest
    for out in (first, second, third, fourth):
        found = await manager.find_by_id(out.id)
        assert found is not None
        assert found.data["content"] == CONTENT
