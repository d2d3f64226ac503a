"""HEAD on every GET route: the GET's status and headers, no body, streams not followed, nothing
written. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from http_support import API, assert_problem, create

from artifact_ledger import Ledger
from artifact_ledger.http import Principal, TokenAuth

COMPARED = ("content-type", "content-length", "etag", "location", "allow", "content-disposition")


async def _head_like_get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    got = await client.get(path)
    head = await asyncio.wait_for(client.head(path), 30)
    assert head.status_code == got.status_code, path
    assert head.content == b"", path
    for name in COMPARED:
        assert head.headers.get(name) == got.headers.get(name), (path, name)
    return head


async def test_every_kind_of_get_route_answers_head_with_its_headers(client: httpx.AsyncClient, ledger: Ledger) -> None:
    root = await create(client, {"name": "root"})
    child = await create(client, {"name": "child", "content": "hello " * 1_000}, parent_id=root["id"])
    await client.put("/api/v1/aliases/best", json={"artifact_id": child["id"]})
    head_before = await ledger.head()
    paths = [
        API,
        f"{API}?page=1&size=1",
        f"{API}/{child['id']}",
        f"{API}/{child['id']}/$history",
        f"{API}/{child['id']}/$versions/1",
        f"{API}/{child['id']}/$download",
        f"{API}/{root['id']}/$tree",
        f"{API}/$audit",
        f"{API}/$verify",
        "/api/v1/aliases/best",
        "/openapi.json",
    ]
    for path in paths:
        head = await _head_like_get(client, path)
        assert head.status_code == 200, path
    download = f"{API}/{child['id']}/$download"
    assert (await _head_like_get(client, download)).headers["content-length"] == str(
        len((await client.get(download)).content)
    )
    missing = await _head_like_get(client, f"{API}/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert missing.status_code == 404
    assert await ledger.head() == head_before


async def test_head_of_the_event_stream_ends_after_the_headers(client: httpx.AsyncClient) -> None:
    """The feed never ends by itself: a HEAD must not follow it (the request would hang)."""
    await create(client, {"a": 1})
    response = await asyncio.wait_for(client.head(f"{API}/$events", headers={"accept": "text/event-stream"}), 30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b""


@pytest.mark.parametrize("route", ["/{id}/$move", "/{id}/$redact"])
async def test_head_of_a_route_without_get_is_405_and_writes_nothing(
    client: httpx.AsyncClient, ledger: Ledger, route: str
) -> None:
    made = await create(client, {"a": 1})
    before = await ledger.head()
    response = await client.head(API + route.format(id=made["id"]))
    assert response.status_code == 405
    assert response.content == b""
    assert await ledger.head() == before


async def test_head_needs_the_same_token_as_get(make_client: Any) -> None:
    auth = TokenAuth({"w": Principal("alice", "write"), "r": Principal("bob", "read")})
    client: httpx.AsyncClient = await make_client(auth=auth)
    writer = {"authorization": "Bearer w"}
    response = await client.post(API, json={"data": {"a": 1}}, headers=writer)
    assert response.status_code == 201
    made = response.json()
    path = f"{API}/{made['id']}"
    assert (await client.head(path)).status_code == 401
    assert (await client.get(path)).status_code == 401
    assert (await client.head(path, headers={"authorization": "Bearer r"})).status_code == 200
    assert_problem(await client.get(path, headers={"authorization": "Bearer nope"}), 401)
    assert (await client.head(path, headers={"authorization": "Bearer nope"})).status_code == 401
