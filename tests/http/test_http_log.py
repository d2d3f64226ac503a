"""Routes over the whole log: $audit, $verify, $events (JSON pages)."""

from __future__ import annotations

import httpx
from http_support import API, assert_problem, create
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger.http import Principal, TokenAuth


async def test_audit_filters_and_keyset_pages(make_client) -> None:  # type: ignore[no-untyped-def]
    auth = TokenAuth({"a-token": Principal("alice", "write"), "b-token": Principal("bob", "write")})
    client: httpx.AsyncClient = await make_client(auth=auth)
    alice = {"Authorization": "Bearer a-token"}
    bob = {"Authorization": "Bearer b-token", "X-Reason": "tidy up"}
    root = (await client.post(API, json={"data": {"n": 0}}, headers=alice)).json()
    for n in range(1, 4):
        await client.put(f"{API}/{root['id']}", json={"data": {"n": n}}, headers=bob)
    await client.post(f"{API}/{root['id']}/$move", json={"parent_id": None}, headers=bob)  # no-op: nothing
    everything = (await client.get(f"{API}/$audit", headers=alice)).json()
    assert [e["position"] for e in everything["items"]] == [1, 2, 3, 4]
    assert everything["next_after"] is None
    by_bob = (await client.get(f"{API}/$audit", params={"actor": "bob"}, headers=alice)).json()["items"]
    assert {e["actor"] for e in by_bob} == {"bob"}
    assert {e["reason"] for e in by_bob} == {"tidy up"}
    assert len(by_bob) == 3
    created = (await client.get(f"{API}/$audit", params={"type": "artifact.created"}, headers=alice)).json()
    assert [e["event_type"] for e in created["items"]] == ["artifact.created"]
    first = (await client.get(f"{API}/$audit", params={"limit": 3}, headers=alice)).json()
    assert [e["position"] for e in first["items"]] == [1, 2, 3]
    assert first["next_after"] == 3
    rest = (await client.get(f"{API}/$audit", params={"after": 3}, headers=alice)).json()
    assert [e["position"] for e in rest["items"]] == [4]
    since = everything["items"][2]["recorded_at"]
    recent = (await client.get(f"{API}/$audit", params={"since": since}, headers=alice)).json()["items"]
    assert [e["position"] for e in recent] == [3, 4]
    older = (await client.get(f"{API}/$audit", params={"until": since}, headers=alice)).json()["items"]
    assert [e["position"] for e in older] == [1, 2]
    of_root = (await client.get(f"{API}/$audit", params={"artifact": root["id"]}, headers=alice)).json()["items"]
    assert len(of_root) == 4
    assert_problem(await client.get(f"{API}/$audit", params={"type": "artifact.nope"}, headers=alice), 400)


async def test_verify_reports_ok_then_the_damage(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    art = await create(client, {"n": 1})
    report = (await client.get(f"{API}/$verify")).json()
    assert report["ok"] is True
    assert report["events_checked"] == 1
    assert report["head_position"] == 1
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE ledger_artifacts SET version = 7 WHERE id = :i"), {"i": art["id"]})
    broken = (await client.get(f"{API}/$verify")).json()
    assert broken["ok"] is False
    assert broken["reason"] == "projection_drift"
    assert broken["artifact_id"] == art["id"]


async def test_events_pages(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, {"n": n}))["id"] for n in range(5)]
    page = (await client.get(f"{API}/$events", params={"limit": 2})).json()
    assert [e["position"] for e in page["items"]] == [1, 2]
    assert page["next_after"] == 2
    event = page["items"][0]
    assert event["artifact_id"] == ids[0]
    assert event["type"] == "artifact.created"
    assert event["version"] == 1
    assert event["prev_hash"] == "0" * 64
    assert len(event["hash"]) == 64
    assert page["items"][1]["prev_hash"] == event["hash"]
    rest = (await client.get(f"{API}/$events", params={"after": 2, "limit": 10})).json()
    assert [e["position"] for e in rest["items"]] == [3, 4, 5]
    assert rest["next_after"] is None
    assert (await client.get(f"{API}/$events", params={"after": 99})).json() == {"items": [], "next_after": None}
    assert_problem(await client.get(f"{API}/$events", params={"after": -1}), 422)


async def test_schema_and_stats_like_chapkit(client: httpx.AsyncClient) -> None:
    await create(client, {"n": 1})
    await create(client, {"n": 2})
    assert (await client.get(f"{API}/$stats")).json() == {"total": 2}
    schema = (await client.get(f"{API}/$schema")).json()
    assert {"id", "data", "version"} <= set(schema["properties"])
