"""Content saved as a stream over HTTP: described in JSON reads, sent by ``$download`` a chunk at a time
(each chunk checked before it is sent), from the database or a blob directory."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from http_support import API, assert_problem
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, RetentionPolicy, UntrustedContentError
from streaming_support import CHUNK, payload

pytestmark = pytest.mark.usefixtures("small_chunks")


async def test_streamed_content_downloads_chunk_by_chunk_from_either_store(
    blob_client: httpx.AsyncClient, blob_ledger: Ledger
) -> None:
    data = payload(5 * CHUNK + 123)
    async with blob_ledger.manager() as manager:
        out = await manager.save(
            ArtifactIn(data={"name": "weights", "content": io.BytesIO(data), "content_type": "application/zip"})
        )
    async with blob_client.stream("GET", f"{API}/{out.id}/$download") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-length"] == str(len(data))
        assert f'filename="artifact_{out.id}.zip"' in response.headers["content-disposition"]
        pieces = [piece async for piece in response.aiter_raw()]
    assert b"".join(pieces) == data
    described = await blob_client.get(f"{API}/{out.id}")
    assert described.json()["data"]["name"] == "weights"


async def test_a_chunk_that_fails_its_hash_aborts_the_download(
    blob_client: httpx.AsyncClient, blob_ledger: Ledger, engine: AsyncEngine, blob_root: Path | None
) -> None:
    data = payload(4 * CHUNK)
    async with blob_ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"name": "weights", "content": io.BytesIO(data)}))
    third = out.data["content"].chunks[2][0]
    if blob_root is None:
        async with engine.begin() as conn:  # an attacker with the database's owner rights: guards off
            if conn.dialect.name == "sqlite":
                await conn.execute(text("DROP TRIGGER IF EXISTS ledger_blobs_no_update"))
            else:
                await conn.execute(text("ALTER TABLE ledger_blobs DISABLE TRIGGER USER"))
            await conn.execute(
                text("UPDATE ledger_blobs SET data = :d WHERE hash = :h"), {"d": b"x" * CHUNK, "h": third}
            )
    else:
        path = blob_root / third[:2] / third[2:4] / third
        path.chmod(0o644)
        path.write_bytes(b"x" * CHUNK)
    received: list[bytes] = []

    async def download() -> None:
        async with blob_client.stream("GET", f"{API}/{out.id}/$download") as response:
            assert response.status_code == 200  # the first chunks were good: they went out
            received.extend([piece async for piece in response.aiter_raw()])

    with pytest.raises(Exception) as caught:  # noqa: PT011  # the server aborts the response; what the client sees varies
        await download()
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(
        isinstance(e, UntrustedContentError) and ("chunk 2 of content" in str(e) or third in str(e)) for e in chain
    ), chain
    received_bytes = b"".join(received)
    assert data.startswith(received_bytes)
    assert len(received_bytes) < len(data)  # cut short: never the wrong bytes, never the whole length


async def test_after_retention_and_gc_the_kept_version_still_downloads(
    blob_client: httpx.AsyncClient, blob_ledger: Ledger
) -> None:
    async with blob_ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"name": "w", "content": io.BytesIO(payload(2 * CHUNK, 1))}))
        await manager.save(ArtifactIn(id=out.id, data={"name": "w", "content": io.BytesIO(payload(2 * CHUNK, 2))}))
    await blob_ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    await blob_ledger.gc(dry_run=False)
    latest = await blob_client.get(f"{API}/{out.id}/$download")
    assert latest.status_code == 200
    assert latest.content == payload(2 * CHUNK, 2)
    assert_problem(await blob_client.get(f"{API}/01ARZ3NDEKTSV4RRFFQ69G5FAV/$download"), 404)
