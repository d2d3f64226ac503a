"""The ledger's routes for one artifact: history, versions, diff, move, revert, restore, as_of, ETag."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from http_support import API, assert_problem, create


async def _instant() -> str:
    """An instant strictly between two writes (the clock has microseconds; wait a little around it)."""
    await asyncio.sleep(0.01)
    now = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    return now


async def test_history_versions_and_diff(client: httpx.AsyncClient) -> None:
    art = await create(client, {"n": 1, "keep": True})
    for n in (2, 3):
        assert (await client.put(f"{API}/{art['id']}", json={"data": {"n": n, "keep": True}})).status_code == 200
    history = (await client.get(f"{API}/{art['id']}/$history")).json()
    assert history["total"] == 3
    assert history["pages"] == 1
    assert [v["version"] for v in history["items"]] == [1, 2, 3]
    assert [v["event_type"] for v in history["items"]] == ["artifact.created", "artifact.updated", "artifact.updated"]
    second_page = (await client.get(f"{API}/{art['id']}/$history", params={"page": 2, "size": 2})).json()
    assert [v["version"] for v in second_page["items"]] == [3]
    assert second_page["pages"] == 2
    v2 = await client.get(f"{API}/{art['id']}/$versions/2")
    assert v2.status_code == 200
    assert v2.json()["data"] == {"n": 2, "keep": True}
    assert v2.headers["ETag"] == '"2"'
    body = assert_problem(await client.get(f"{API}/{art['id']}/$versions/9"), 404)
    assert "latest 3" in body["detail"]
    diff = (await client.get(f"{API}/{art['id']}/$diff", params={"from": 1})).json()
    assert (diff["from_version"], diff["to_version"]) == (1, 3)
    assert diff["data"] == [{"op": "replace", "path": "/n", "old": 1, "value": 3}]
    diff12 = (await client.get(f"{API}/{art['id']}/$diff", params={"from": 1, "to": 2})).json()
    assert diff12["data"][0]["value"] == 2
    assert_problem(await client.get(f"{API}/{art['id']}/$diff"), 422)
    assert_problem(await client.get(f"{API}/{art['id']}/$diff", params={"from": 1, "to": 7}), 404)


async def test_move_revert_restore(client: httpx.AsyncClient) -> None:
    a = await create(client, {"name": "a"})
    b = await create(client, {"name": "b"})
    child = await create(client, {"name": "child"}, parent_id=a["id"])
    moved = await client.post(f"{API}/{child['id']}/$move", json={"parent_id": b["id"]})
    assert moved.status_code == 200
    assert moved.json()["parent_id"] == b["id"]
    assert moved.headers["ETag"] == '"2"'
    cycle = assert_problem(await client.post(f"{API}/{b['id']}/$move", json={"parent_id": child["id"]}), 409)
    assert child["id"] in cycle["detail"]
    assert_problem(
        await client.post(f"{API}/{child['id']}/$move", json={"parent_id": "01J0000000000000000000000E"}), 404
    )
    assert_problem(await client.post(f"{API}/{child['id']}/$move", json={}), 422)
    to_root = (await client.post(f"{API}/{child['id']}/$move", json={"parent_id": None})).json()
    assert to_root["parent_id"] is None
    assert to_root["level"] == 0

    reverted = (await client.post(f"{API}/{child['id']}/$revert", json={"to_version": 1})).json()
    assert reverted["parent_id"] == a["id"]
    assert reverted["version"] == 4
    history = (await client.get(f"{API}/{child['id']}/$history")).json()["items"]
    assert history[-1]["event_type"] == "artifact.reverted"
    assert history[-1]["reverted_to"] == 1
    assert_problem(await client.post(f"{API}/{child['id']}/$revert", json={"to_version": 0}), 422)

    assert (await client.delete(f"{API}/{child['id']}")).status_code == 204
    gone = assert_problem(await client.post(f"{API}/{child['id']}/$move", json={"parent_id": None}), 409)
    assert gone["type"].endswith(":artifact-deleted")  # as for the other writes: restore it first
    restored = await client.post(f"{API}/{child['id']}/$restore")
    assert restored.status_code == 200
    assert restored.json()["data"] == {"name": "child"}
    assert (await client.get(f"{API}/{child['id']}")).status_code == 200
    assert_problem(await client.post(f"{API}/01J0000000000000000000000F/$restore"), 404)


async def test_as_of_reads_the_past_moves_included(client: httpx.AsyncClient) -> None:
    root = await create(client, {"name": "root"})
    other = await create(client, {"name": "other"})
    child = await create(client, {"name": "child", "v": 1}, parent_id=root["id"])
    before = await _instant()
    await client.put(f"{API}/{child['id']}", json={"data": {"name": "child", "v": 2}})
    await client.post(f"{API}/{child['id']}/$move", json={"parent_id": other["id"]})
    extra = await create(client, {"name": "late"})

    old = await client.get(f"{API}/{child['id']}", params={"as_of": before})
    assert old.json()["data"]["v"] == 1
    assert old.json()["parent_id"] == root["id"]
    assert old.headers["ETag"] == '"1"'
    assert (await client.get(f"{API}/{child['id']}")).json()["data"]["v"] == 2
    old_tree = (await client.get(f"{API}/{root['id']}/$tree", params={"as_of": before})).json()
    assert [c["id"] for c in old_tree["children"]] == [child["id"]]
    assert (await client.get(f"{API}/{root['id']}/$tree")).json()["children"] == []
    old_list = (await client.get(API, params={"as_of": before})).json()
    assert [a["id"] for a in old_list] == sorted([root["id"], other["id"], child["id"]])
    page = (await client.get(API, params={"as_of": before, "page": 1, "size": 2})).json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    assert extra["id"] in [a["id"] for a in (await client.get(API)).json()]
    long_ago = "2001-01-01T00:00:00Z"
    assert (await client.get(API, params={"as_of": long_ago})).json() == []
    assert_problem(await client.get(f"{API}/{child['id']}", params={"as_of": long_ago}), 404)
    assert_problem(await client.get(f"{API}/{root['id']}/$tree", params={"as_of": long_ago}), 404)
    naive = before.replace("+00:00", "")
    assert (await client.get(f"{API}/{child['id']}", params={"as_of": naive})).json()["data"]["v"] == 1


async def test_deleted_artifacts_leave_the_as_of_list_when_deleted(client: httpx.AsyncClient) -> None:
    gone = await create(client, {"name": "gone"})
    alive = await create(client, {"name": "alive"})
    while_both = await _instant()
    await client.delete(f"{API}/{gone['id']}")
    after_delete = await _instant()
    assert {a["id"] for a in (await client.get(API, params={"as_of": while_both})).json()} == {gone["id"], alive["id"]}
    assert [a["id"] for a in (await client.get(API, params={"as_of": after_delete})).json()] == [alive["id"]]


async def test_etag_if_match_and_if_none_match(client: httpx.AsyncClient) -> None:
    art = await create(client, {"n": 1})
    url = f"{API}/{art['id']}"
    got = await client.get(url)
    assert got.headers["ETag"] == '"1"'
    assert (await client.get(url, headers={"If-None-Match": '"1"'})).status_code == 304
    assert (await client.get(url, headers={"If-None-Match": '"7"'})).status_code == 200
    ok = await client.put(url, json={"data": {"n": 2}}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.headers["ETag"] == '"2"'
    stale = assert_problem(await client.put(url, json={"data": {"n": 3}}, headers={"If-Match": '"1"'}), 412)
    assert (stale["expected"], stale["actual"]) == (1, 2)
    assert_problem(await client.post(f"{url}/$move", json={"parent_id": None}, headers={"If-Match": '"1"'}), 412)
    assert_problem(await client.post(f"{url}/$revert", json={"to_version": 1}, headers={"If-Match": '"1"'}), 412)
    assert_problem(await client.delete(url, headers={"If-Match": '"1"'}), 412)
    assert (await client.get(url)).json()["data"] == {"n": 2}
    assert (await client.put(url, json={"data": {"n": 3}}, headers={"If-Match": "*"})).status_code == 200
    for bad in ('"abc"', "W/", '"0"', '"1", "2"'):
        assert_problem(await client.put(url, json={"data": {"n": 4}}, headers={"If-Match": bad}), 400)
    assert (await client.delete(url, headers={"If-Match": '"3"'})).status_code == 204


async def test_a_version_or_lineage_read_of_an_alias_stream_says_what_it_is(client: httpx.AsyncClient) -> None:
    """The audit trail shows an alias's stream id as an entry's artifact_id; read back as an artifact's
    version it was a 404 saying that version was the artifact's deletion."""
    art = await create(client, {"n": 1})
    assert (await client.put("/api/v1/aliases/prod", json={"artifact_id": art["id"]})).status_code in (200, 201)
    audit = (await client.get(f"{API}/$audit", params={"type": "alias.set"})).json()
    (stream,) = {item["artifact_id"] for item in audit["items"]}
    body = assert_problem(await client.get(f"{API}/{stream}/$versions/1"), 404)
    assert "is the stream of an alias" in body["detail"], body
    assert "deletion" not in body["detail"]
    lineage = assert_problem(await client.get(f"{API}/{stream}/$lineage"), 404)  # was a 200 with an empty graph
    assert "is the stream of an alias" in lineage["detail"], lineage
