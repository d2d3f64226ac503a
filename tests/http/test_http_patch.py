"""``PATCH /{id}`` (RFC 7396 merge patch), ``PUT /{id}/$content`` (raw bytes read in chunks under the
content limit) and the body limits of every route, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from http_support import API, assert_problem, create

from artifact_ledger import Ledger

MERGE = {"content-type": "application/merge-patch+json"}


def _patch(client: httpx.AsyncClient, artifact_id: str, body: Any, **headers: str) -> Any:
    return client.patch(f"{API}/{artifact_id}", content=json.dumps(body), headers={**MERGE, **headers})


async def test_merge_patch_changes_only_what_it_names_and_keeps_the_content(client: httpx.AsyncClient) -> None:
    data = {"metadata": {"status": "draft", "lr": 0.1}, "content": {"weights": [1, 2]}}
    made = await create(client, data, tags=["a"])
    response = await _patch(client, made["id"], {"data": {"metadata": {"status": "published", "lr": None}}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {"metadata": {"status": "published"}, "content": {"weights": [1, 2]}}
    assert body["tags"] == ["a"]
    assert body["version"] == 2
    assert response.headers["ETag"] == '"2"'
    tagged = (await _patch(client, made["id"], {"tags": ["b", "c"]})).json()
    assert tagged["tags"] == ["b", "c"]
    assert tagged["version"] == 3
    cleared = (await _patch(client, made["id"], {"tags": None})).json()
    assert cleared["tags"] == []
    assert cleared["version"] == 4
    history = (await client.get(f"{API}/{made['id']}/$history")).json()
    assert history["total"] == 4


async def test_a_no_op_patch_appends_nothing(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await create(client, {"metadata": {"status": "draft"}})
    head = await ledger.head()
    for body in [{}, {"data": {}}, {"data": {"metadata": {"status": "draft"}}}, {"data": {"gone": None}}]:
        response = await _patch(client, made["id"], body)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1
        assert response.headers["ETag"] == '"1"'
    assert await ledger.head() == head


async def test_if_match_makes_a_patch_conditional(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await create(client, {"n": 1})
    ok = await _patch(client, made["id"], {"data": {"n": 2}}, **{"If-Match": '"1"'})
    assert ok.status_code == 200
    head = await ledger.head()
    stale = assert_problem(await _patch(client, made["id"], {"data": {"n": 3}}, **{"If-Match": '"1"'}), 412)
    assert stale["expected"] == 1
    assert stale["actual"] == 2
    assert await ledger.head() == head
    assert (await client.get(f"{API}/{made['id']}")).json()["data"] == {"n": 2}


async def test_bad_patches_get_their_status_and_change_nothing(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await create(client, {"n": 1})
    live = made["id"]
    assert (await client.delete(f"{API}/{(await create(client, {'x': 1}))['id']}")).status_code == 204
    head = await ledger.head()
    url = f"{API}/{live}"
    wrong_type = await client.patch(url, json={"data": {"n": 2}})  # application/json: not a merge patch
    assert_problem(wrong_type, 415)
    assert wrong_type.headers["Accept-Patch"] == "application/merge-patch+json"
    assert_problem(await client.patch(url, content=b"{}", headers={"content-type": "application/json-patch+json"}), 415)
    assert_problem(await client.patch(url, content=b"{}"), 415)
    assert_problem(await client.patch(url, content=b"{nope", headers=MERGE), 400)
    for body, status in [
        ([{"op": "add"}], 422),
        ("x", 422),
        ({"data": None}, 422),
        ({"data": [1]}, 422),
        ({"tags": "x"}, 422),
        ({"parent_id": None}, 422),
        ({"version": 9}, 422),
        ({"data": {"a": "\x00"}}, 422),
        ({"data": {"n": 2**70}}, 422),
        ({"tags": ["\x00"]}, 422),
    ]:
        assert_problem(await _patch(client, live, body), status)
    assert_problem(await _patch(client, "nope", {}), 400)
    assert_problem(await _patch(client, "01J0000000000000000000000H", {}), 404)
    assert_problem(await _patch(client, live, {}, **{"If-Match": "garbage"}), 400)
    assert await ledger.head() == head


async def test_content_upload_round_trips_bytes_and_keeps_the_data(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await create(client, {"metadata": {"kind": "report"}})
    payload = bytes(range(256)) * 1000
    response = await client.put(f"{API}/{made['id']}/$content", content=payload, headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert response.json()["data"]["metadata"] == {"kind": "report"}
    download = await client.get(f"{API}/{made['id']}/$download")
    assert download.content == payload
    assert download.headers["content-type"] == "image/png"
    head = await ledger.head()
    again = await client.put(f"{API}/{made['id']}/$content", content=payload, headers={"content-type": "image/png"})
    assert again.json()["version"] == 2  # the same content: nothing appended
    assert await ledger.head() == head

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for i in range(4):
            yield bytes([i]) * 10_000

    streamed = await client.put(f"{API}/{made['id']}/$content", content=chunks())
    assert streamed.status_code == 200, streamed.text
    download = await client.get(f"{API}/{made['id']}/$download")
    assert download.content == b"".join(bytes([i]) * 10_000 for i in range(4))
    assert download.headers["content-type"] == "application/octet-stream"
    assert (await ledger.verify()).ok


async def test_bodies_over_the_limits_are_413_before_the_route_reads_them(make_client: Any, ledger: Ledger) -> None:
    client: httpx.AsyncClient = await make_client(max_body=2_000, max_content=50_000)
    made = await create(client, {"n": 1})
    head = await ledger.head()
    url = f"{API}/{made['id']}"

    async def endless(size: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:
            sent += 1000
            yield b"x" * 1000

    big_json = json.dumps({"data": {"x": "y" * 5000}})
    for response in [
        await client.post(API, content=big_json, headers={"content-type": "application/json"}),
        await client.put(url, content=big_json, headers={"content-type": "application/json"}),
        await client.patch(url, content=big_json, headers=MERGE),
        await client.post(f"{url}/$move", content=big_json, headers={"content-type": "application/json"}),
        await client.put(f"{url}/$content", content=b"z" * 50_001),
        await client.put(f"{url}/$content", content=endless(80_000)),
        await client.post(API, content=endless(5_000), headers={"content-type": "application/json"}),
    ]:
        body = assert_problem(response, 413)
        assert body["type"].endswith(":body-too-large")
    # Under its own limit an upload may be larger than max_body.
    fits = await client.put(f"{url}/$content", content=b"z" * 50_000)
    assert fits.status_code == 200, fits.text
    assert (await ledger.head())[0] == head[0] + 1


async def test_content_upload_bad_input(make_client: Any, ledger: Ledger) -> None:
    client: httpx.AsyncClient = await make_client()
    made = await create(client, {"n": 1})
    head = await ledger.head()
    url = f"{API}/{made['id']}/$content"
    assert_problem(await client.put(url, content=b"x", headers={"content-type": "not a type"}), 400)
    assert_problem(await client.put(url, content=b"x", headers={"content-type": "text/plain\x7f"}), 400)
    assert_problem(await client.put(url, content=b"x", headers={"If-Match": '"7"'}), 412)
    assert_problem(await client.put(f"{API}/nope/$content", content=b"x"), 400)
    assert_problem(await client.put(f"{API}/01J0000000000000000000000H/$content", content=b"x"), 404)
    assert_problem(await client.put(url, content=b"x", headers={"content-length": "x"}), 400)
    read_only: httpx.AsyncClient = await make_client(read_only=True)
    assert_problem(await read_only.put(url, content=b"x"), 405)
    assert_problem(await read_only.patch(f"{API}/{made['id']}", content=b"{}", headers=MERGE), 405)
    assert await ledger.head() == head
