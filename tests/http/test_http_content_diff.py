"""GET /{id}/$diff carries the content diff: a unified text diff with word spans, as JSON."""

from __future__ import annotations

import httpx
from http_support import API

from artifact_ledger import ArtifactIn, Ledger


async def test_diff_route_returns_the_text_content_diff(client: httpx.AsyncClient, ledger: Ledger) -> None:
    async with ledger.manager() as manager:
        art = await manager.save(ArtifactIn(data={"title": "memo", "content": "dear team\nwe ship monday\n"}))
        await manager.save(ArtifactIn(id=art.id, data={"title": "memo", "content": "dear team\nwe ship friday\n"}))
    body = (await client.get(f"{API}/{art.id}/$diff", params={"from": 1, "to": 2})).json()
    content = body["content_diff"]
    assert (content["kind"], content["lines_added"], content["lines_removed"], content["truncated"]) == (
        "text",
        1,
        1,
        False,
    )
    added = [line for line in content["hunks"][0]["lines"] if line["op"] == "add"]
    assert added[0]["spans"] == [{"text": "we ship ", "changed": False}, {"text": "friday", "changed": True}]
    assert body["data"] == []
