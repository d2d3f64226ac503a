"""``$download`` and the console's download under a second adversarial review, on every backend and
both blob stores: content saved as a stream, of no bytes, asked for with ``Range`` or ``HEAD``."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from http_support import API

from artifact_ledger import ArtifactIn, Ledger
from streaming_support import CHUNK

pytestmark = pytest.mark.usefixtures("small_chunks")


def payload(size: int) -> bytes:
    return b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(size // 32 + 1))[:size]


async def test_the_console_points_at_the_download_that_streams_instead_of_saying_there_is_none(
    blob_client: httpx.AsyncClient, blob_ledger: Ledger
) -> None:
    data = payload(3 * CHUNK + 5)
    async with blob_ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
    page = await blob_client.get(f"/artifacts/{saved.id}/download")
    assert page.status_code == 406
    assert "does not stream it yet" not in page.text
    assert f"/api/v1/artifacts/{saved.id}/$download" in page.text
    streamed = await blob_client.get(f"{API}/{saved.id}/$download")  # where it points: the bytes
    assert streamed.status_code == 200
    assert streamed.content == data


async def test_no_bytes_a_range_and_head_are_answered_whole_and_consistently(
    blob_client: httpx.AsyncClient, blob_ledger: Ledger
) -> None:
    data = payload(2 * CHUNK + 1)
    async with blob_ledger.manager() as manager:
        streamed = await manager.save(ArtifactIn(data={"content": io.BytesIO(data)}))
        empty = await manager.save(ArtifactIn(data={"content": io.BytesIO(b"")}))
    for artifact, body in ((streamed, data), (empty, b"")):
        whole = await blob_client.get(f"{API}/{artifact.id}/$download")
        assert whole.status_code == 200
        assert whole.content == body
        assert whole.headers["content-length"] == str(len(body))
        ranged = await blob_client.get(f"{API}/{artifact.id}/$download", headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 200  # ranges are not served: the whole body, never a wrong slice
        assert ranged.content == body
        head = await blob_client.head(f"{API}/{artifact.id}/$download")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(body))
