"""Content saved as a stream over HTTP: described in JSON reads, refused by ``$download`` with a 406 naming it."""

from __future__ import annotations

import io

import httpx
from http_support import API, assert_problem

from artifact_ledger import ArtifactIn, Ledger


async def test_streamed_content_is_described_and_its_download_refused(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    async with ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"name": "weights", "content": io.BytesIO(b"w" * 5000)}))
    body = assert_problem(await client.get(f"{API}/{out.id}/$download"), 406)
    assert "saved as a stream (5,000 bytes" in body["detail"]
    assert "ArtifactManager.open_content" in body["detail"]
    response = await client.get(f"{API}/{out.id}")
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "weights"
