"""``$download?version=N``: the content of that version, held whole or streamed (every backend); it was
ignored, and the current content sent under a 200."""

from __future__ import annotations

import io

import httpx
from http_support import API, assert_problem

from artifact_ledger import ArtifactIn, Ledger


async def test_a_download_of_a_version_sends_that_version_s_content(client: httpx.AsyncClient, ledger: Ledger) -> None:
    async with ledger.manager() as manager:
        a = await manager.save(ArtifactIn(data={"content": b"first", "content_type": "text/plain"}))
        await manager.save(ArtifactIn(id=a.id, data={"content": b"second", "content_type": "text/plain"}))
        streamed = await manager.save(ArtifactIn(id=a.id, data={"content": io.BytesIO(b"third" * 1000)}))
        await manager.delete_by_id(a.id)
        await manager.restore(a.id)
    assert streamed.version == 3
    for version, body in ((1, b"first"), (2, b"second"), (3, b"third" * 1000), (5, b"third" * 1000)):
        response = await client.get(f"{API}/{a.id}/$download", params={"version": str(version)})
        assert response.status_code == 200, (version, response.text)
        assert response.content == body, version
        assert response.headers["etag"] == f'"{version}"'
    current = await client.get(f"{API}/{a.id}/$download")
    assert (current.content, current.headers["etag"]) == (b"third" * 1000, '"5"')
    body = assert_problem(await client.get(f"{API}/{a.id}/$download", params={"version": "4"}), 404)
    assert body["detail"] == f"version 4 of artifact {a.id} is its deletion, which has no content"
    body = assert_problem(await client.get(f"{API}/{a.id}/$download", params={"version": "6"}), 404)
    assert "6" in body["detail"]
