"""One blob, several references: the whole content of one version can be a chunk of another's
streamed content (the same bytes have one hash, one row or file), and a payload can hold a hash as
a data value. Redaction and retention delete a blob only when nothing refers to it any more — on
both backends and both blob stores."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger, RetentionPolicy
from ledger_support import SECRET

SHARED = b"the bytes two artifacts hold " * 20  # under one chunk: the stream's only chunk is these bytes


pytestmark = pytest.mark.usefixtures("small_chunks")


@pytest.fixture(params=["database", "directory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    return None if request.param == "database" else f"file://{tmp_path}/blobs"


async def streamed(m: ArtifactManager, aid: Any) -> bytes:
    return b"".join([chunk async for chunk in m.open_content(aid)])


async def _pair(m: ArtifactManager) -> tuple[Any, Any]:
    whole = await m.save(ArtifactIn(data={"name": "whole", "content": SHARED}))
    stream = await m.save(ArtifactIn(data={"name": "stream", "content": io.BytesIO(SHARED)}))
    assert stream.data["content"].chunks[0][0] == hashlib.sha256(SHARED).hexdigest()
    return whole, stream


async def test_redacting_the_stream_keeps_the_whole_content(engine: AsyncEngine, blobs: str | None) -> None:
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger, ledger.manager() as m:
        whole, stream = await _pair(m)
        done = await m.redact(stream.id, reason="erase the stream")
        assert hashlib.sha256(SHARED).hexdigest() not in done.blobs_deleted  # the chunk is the other's content
        assert len(done.blobs_deleted) == 1  # the stream's manifest
        found = await m.find_by_id(whole.id)
        assert found is not None
        assert found.data["content"] == SHARED
        assert (await ledger.verify()).ok


async def test_redacting_the_whole_content_keeps_the_stream(engine: AsyncEngine, blobs: str | None) -> None:
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger, ledger.manager() as m:
        whole, stream = await _pair(m)
        done = await m.redact(whole.id, reason="erase the bytes")
        assert done.blobs_deleted == []  # the stream still lists them as its chunk
        assert await streamed(m, stream.id) == SHARED
        assert (await ledger.verify()).ok


async def test_retention_keeps_a_chunk_of_a_kept_stream(engine: AsyncEngine, blobs: str | None) -> None:
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger, ledger.manager() as m:
        whole = await m.save(ArtifactIn(data={"name": "whole", "content": SHARED}))
        await m.save(ArtifactIn(id=whole.id, data={"name": "whole", "v": 2}))  # version 1's content expires
        stream = await m.save(ArtifactIn(data={"name": "stream", "content": io.BytesIO(SHARED)}))
        report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
        assert [(e.artifact_id, e.version) for e in report.expired] == [(str(whole.id), 1)]
        assert report.blobs == []
        assert await streamed(m, stream.id) == SHARED
        assert (await ledger.verify()).ok


async def test_a_stream_can_be_redacted_after_another_expired(engine: AsyncEngine, blobs: str | None) -> None:
    """Redaction reads the manifests other events name to keep their chunks; an expired one is gone."""
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger, ledger.manager() as m:
        old = await m.save(ArtifactIn(data={"name": "old", "content": io.BytesIO(b"a" * 3000)}))
        await m.save(ArtifactIn(id=old.id, data={"name": "old", "v": 2}))
        report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
        assert len(report.expired) == 1
        other = await m.save(ArtifactIn(data={"name": "other", "content": io.BytesIO(b"b" * 3000)}))
        done = await m.redact(other.id, reason="erase")
        assert len(done.blobs_deleted) == 3  # its manifest and its two distinct chunks (1,024 and 952 bytes)
        assert (await ledger.verify()).ok


async def test_a_hash_written_as_data_is_no_reference(engine: AsyncEngine, blobs: str | None) -> None:
    """A checksum field that holds the content's hash does not keep the erased bytes stored."""
    digest = hashlib.sha256(SHARED).hexdigest()
    async with Ledger.open(engine, secret=SECRET, blobs=blobs) as ledger, ledger.manager() as m:
        one = await m.save(ArtifactIn(data={"sha256": digest, "content": SHARED}))
        await m.save(ArtifactIn(data={"note": f"a copy of {digest}"}))
        done = await m.redact(one.id, reason="erase")
        assert done.blobs_deleted == [digest]
        assert (await ledger.gc(dry_run=True)).blobs == 0  # nothing left for gc: erased at once
        assert (await ledger.verify()).ok
