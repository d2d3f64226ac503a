"""Aliases and lineage over HTTP: /api/v1/aliases/..., $aliases, $lineage and $links, on both backends."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from http_support import API, assert_problem, create

from artifact_ledger import Ledger
from artifact_ledger.http import Principal, TokenAuth, artifact_router

ALIASES = "/api/v1/aliases"
AUTH = TokenAuth({"w-token": Principal("alice", "write"), "r-token": Principal("reader", "read")})
WRITE = {"Authorization": "Bearer w-token"}
READ = {"Authorization": "Bearer r-token"}
UNKNOWN = "01J0000000000000000000000H"


def alias_url(name: str, suffix: str = "") -> str:
    return f"{ALIASES}/{urllib.parse.quote(name, safe='')}{suffix}"


async def put_version(client: httpx.AsyncClient, artifact: dict[str, Any], data: Any) -> dict[str, Any]:
    response = await client.put(f"{API}/{artifact['id']}", json={"data": data})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_set_resolve_list_move_and_remove_an_alias(make_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient = await make_client(auth=AUTH)
    model = (await client.post(API, json={"data": {"name": "model", "n": 1}}, headers=WRITE)).json()
    response = await client.put(f"{API}/{model['id']}", json={"data": {"name": "model", "n": 2}}, headers=WRITE)
    assert response.status_code == 200

    name = "model in production"
    response = await client.put(alias_url(name), json={"artifact_id": model["id"], "version": 1}, headers=WRITE)
    assert response.status_code == 200, response.text
    alias = response.json()
    assert (alias["name"], alias["artifact_id"], alias["version"]) == (name, model["id"], 1)
    assert alias["protected"] is False
    assert alias["updated_by"] == "alice"

    resolved = await client.get(alias_url(name), headers=READ)
    assert resolved.status_code == 200
    assert resolved.json()["data"] == {"name": "model", "n": 1}
    assert resolved.headers["ETag"] == '"1"'
    assert resolved.headers["Content-Location"] == f"{API}/{model['id']}/$versions/1"
    set_at = datetime.now(UTC)

    moved = await client.put(
        alias_url(name), json={"artifact_id": model["id"]}, headers={**WRITE, "X-Reason": "v2 is better"}
    )
    assert moved.json()["version"] == 2
    assert (await client.get(alias_url(name), headers=READ)).json()["data"]["n"] == 2
    then = (await client.get(alias_url(name), params={"as_of": set_at.isoformat()}, headers=READ)).json()
    assert then["version"] == 1

    listed = (await client.get(ALIASES, headers=READ)).json()
    assert [a["name"] for a in listed["items"]] == [name]
    assert listed["total"] == 1
    of_model = (await client.get(f"{API}/{model['id']}/$aliases", headers=READ)).json()
    assert [(a["name"], a["version"]) for a in of_model["items"]] == [(name, 2)]

    removed = await client.delete(alias_url(name), headers={**WRITE, "X-Reason": "retired"})
    assert removed.status_code == 204
    assert_problem(await client.get(alias_url(name), headers=READ), 404)
    assert (await client.get(ALIASES, headers=READ)).json()["items"] == []

    history = (await client.get(alias_url(name, "/$history"), headers=READ)).json()["items"]
    assert [(h["type"], h["version"], h["from_version"]) for h in history] == [
        ("alias.set", 1, None),
        ("alias.set", 2, 1),
        ("alias.removed", None, 2),
    ]
    assert [(h["actor"], h["reason"]) for h in history] == [
        ("alice", None),
        ("alice", "v2 is better"),
        ("alice", "retired"),
    ]
    assert (await ledger.verify()).ok


async def test_unicode_and_slash_names_travel_percent_encoded(client: httpx.AsyncClient) -> None:
    model = await create(client, {"name": "model"})
    for name in ("producción", "本番", "team a/production"):
        response = await client.put(alias_url(name), json={"artifact_id": model["id"]})
        assert response.status_code == 200, (name, response.text)
        assert response.json()["name"] == name
        assert (await client.get(alias_url(name))).json()["id"] == model["id"]
        history = (await client.get(alias_url(name, "/$history"))).json()
        assert history["items"][0]["name"] == name
    listed = (await client.get(ALIASES)).json()["items"]
    assert sorted(a["name"] for a in listed) == sorted(["producción", "本番", "team a/production"])
    paged = (await client.get(ALIASES, params={"page": 2, "size": 2})).json()
    assert (paged["total"], paged["pages"], len(paged["items"])) == (3, 2, 1)


async def test_compare_and_set_conflict_is_409_and_records_nothing(client: httpx.AsyncClient, ledger: Ledger) -> None:
    a = await create(client, {"name": "a"})
    b = await create(client, {"name": "b"})
    assert (await client.put(alias_url("staging"), json={"artifact_id": a["id"]})).status_code == 200
    head = await ledger.head()
    stale = await client.put(alias_url("staging"), json={"artifact_id": b["id"], "expected_target": b["id"]})
    body = assert_problem(stale, 409)
    assert body["type"].endswith(":concurrency")
    assert "staging" in body["detail"]
    stale_version = await client.put(
        alias_url("staging"),
        json={"artifact_id": b["id"], "expected_target": {"artifact_id": a["id"], "version": 7}},
    )
    assert_problem(stale_version, 409)
    assert_problem(await client.delete(alias_url("staging"), params={"expected_target": b["id"]}), 409)
    assert await ledger.head() == head
    ok = await client.put(
        alias_url("staging"), json={"artifact_id": b["id"], "expected_target": {"artifact_id": a["id"], "version": 1}}
    )
    assert ok.json()["artifact_id"] == b["id"]
    gone = await client.delete(alias_url("staging"), params={"expected_target": b["id"], "expected_version": 1})
    assert gone.status_code == 204


async def test_a_protected_alias_needs_a_reason(client: httpx.AsyncClient, ledger: Ledger) -> None:
    model = await create(client, {"name": "model"})
    await put_version(client, model, {"name": "model", "n": 2})
    assert (await client.put(alias_url("production"), json={"artifact_id": model["id"], "version": 1})).is_success
    protected = await client.post(alias_url("production", "/$protect"))
    assert protected.status_code == 200
    assert protected.json()["protected"] is True
    head = await ledger.head()
    body = assert_problem(await client.put(alias_url("production"), json={"artifact_id": model["id"]}), 409)
    assert body["type"].endswith(":alias-protected")
    assert "production" in body["detail"]
    assert_problem(await client.delete(alias_url("production")), 409)
    assert_problem(await client.post(alias_url("production", "/$protect"), params={"protected": "false"}), 409)
    assert await ledger.head() == head
    moved = await client.put(alias_url("production"), json={"artifact_id": model["id"], "reason": "v2 passed review"})
    assert moved.json()["version"] == 2
    assert moved.json()["protected"] is True
    lifted = await client.post(
        alias_url("production", "/$protect"), params={"protected": "false"}, headers={"X-Reason": "freeze over"}
    )
    assert lifted.json()["protected"] is False
    history = (await client.get(alias_url("production", "/$history"))).json()["items"]
    assert [h["type"] for h in history] == ["alias.set", "alias.protected", "alias.set", "alias.protected"]
    assert history[2]["reason"] == "v2 passed review"


async def test_unknown_aliases_and_artifacts_are_404(client: httpx.AsyncClient, ledger: Ledger) -> None:
    model = await create(client, {"name": "model"})
    head = await ledger.head()
    for response in (
        await client.get(alias_url("nope")),
        await client.get(alias_url("nope", "/$history")),
        await client.delete(alias_url("nope")),
        await client.post(alias_url("nope", "/$protect")),
        await client.put(alias_url("x"), json={"artifact_id": UNKNOWN}),
        await client.put(alias_url("x"), json={"artifact_id": model["id"], "version": 5}),
        await client.get(f"{API}/{UNKNOWN}/$aliases"),
        await client.get(f"{API}/{UNKNOWN}/$lineage"),
        await client.post(f"{API}/{model['id']}/$links", json={"target_id": UNKNOWN, "kind": "used"}),
    ):
        assert_problem(response, 404)
    assert await ledger.head() == head


async def test_as_of_before_the_alias_existed_is_404(client: httpx.AsyncClient) -> None:
    model = await create(client, {"name": "model"})
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert (await client.put(alias_url("production"), json={"artifact_id": model["id"]})).is_success
    body = assert_problem(await client.get(alias_url("production"), params={"as_of": before.isoformat()}), 404)
    assert "production" in body["detail"]
    assert_problem(await client.get(alias_url("production"), params={"as_of": "yesterday"}), 400)


async def test_names_the_ledger_does_not_accept_are_400_and_record_nothing(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    model = await create(client, {"name": "model"})
    head = await ledger.head()
    bad = ["latest", "$production", " padded", "   ", "a" * 201, "bell\x07", model["id"], ""]
    for name in bad:
        response = await client.put(alias_url(name), json={"artifact_id": model["id"]})
        body = assert_problem(response, 400)
        assert body["type"].endswith(":invalid-alias-name"), (name, body)
        assert_problem(await client.get(alias_url(name)), 400)
    assert_problem(await client.put(alias_url("ok"), json={"artifact_id": "nope"}), 422)
    assert_problem(await client.put(alias_url("ok"), json={"artifact_id": model["id"], "version": 0}), 422)
    assert_problem(await client.put(alias_url("ok"), json={"artifact_id": model["id"], "extra": 1}), 422)
    assert_problem(await client.put(alias_url("ok"), content=b"artifact_id=x"), 415)
    assert_problem(await client.delete(alias_url("ok"), params={"expected_version": 1}), 400)
    assert_problem(await client.delete(alias_url("ok"), params={"expected_target": "nope"}), 400)
    assert await ledger.head() == head


async def test_lineage_links_and_their_formats(client: httpx.AsyncClient, ledger: Ledger) -> None:
    raw = await create(client, {"name": "raw data"})
    dataset = await create(client, {"name": "dataset"})
    model = await create(client, {"name": "model"})
    report = await create(client, {"type": "evaluation"})
    before_links = datetime.now(UTC)
    linked = await client.post(
        f"{API}/{model['id']}/$links",
        json={"target_id": dataset["id"], "kind": "derived_from"},
        headers={"X-Reason": "trained on it"},
    )
    assert linked.status_code == 200, linked.text
    assert linked.json() == {
        "src_id": model["id"],
        "src_version": 1,
        "kind": "derived_from",
        "dst_id": dataset["id"],
        "dst_version": 1,
    }
    await client.post(f"{API}/{dataset['id']}/$links", json={"target_id": raw["id"], "kind": "derived_from"})
    await client.post(f"{API}/{report['id']}/$links", json={"target_id": model["id"], "kind": "evaluated_on"})

    up = (await client.get(f"{API}/{model['id']}/$lineage")).json()
    assert up["root"] == model["id"]
    assert [(n["id"], n["distance"], n["label"]) for n in up["nodes"]] == [
        (model["id"], 0, "model"),
        (dataset["id"], 1, "dataset"),
        (raw["id"], 2, "raw data"),
    ]
    assert len(up["edges"]) == 2
    one_hop = (await client.get(f"{API}/{model['id']}/$lineage", params={"depth": 1})).json()
    assert {n["id"] for n in one_hop["nodes"]} == {model["id"], dataset["id"]}
    down = (await client.get(f"{API}/{dataset['id']}/$lineage", params={"direction": "downstream"})).json()
    assert {n["id"] for n in down["nodes"]} == {dataset["id"], model["id"], report["id"]}
    only_eval = await client.get(
        f"{API}/{dataset['id']}/$lineage", params={"direction": "both", "kind": ["evaluated_on"]}
    )
    assert only_eval.json()["edges"] == []
    both = (await client.get(f"{API}/{model['id']}/$lineage", params={"direction": "both", "depth": 1})).json()
    assert {e["kind"] for e in both["edges"]} == {"derived_from", "evaluated_on"}
    then = (await client.get(f"{API}/{model['id']}/$lineage", params={"as_of": before_links.isoformat()})).json()
    assert then["edges"] == []

    mermaid = await client.get(f"{API}/{model['id']}/$lineage", params={"format": "mermaid"})
    assert mermaid.headers["content-type"].startswith("text/plain")
    assert mermaid.text.startswith("flowchart TB")
    assert "derived_from" in mermaid.text
    prov = (await client.get(f"{API}/{model['id']}/$lineage", params={"format": "prov"})).json()
    assert prov["prefix"] == {"ledger": "urn:artifact-ledger:"}
    assert len(prov["wasDerivedFrom"]) == 2

    unlinked = await client.delete(f"{API}/{model['id']}/$links/derived_from/{dataset['id']}")
    assert unlinked.status_code == 204
    assert_problem(await client.delete(f"{API}/{model['id']}/$links/derived_from/{dataset['id']}"), 404)
    assert (await client.get(f"{API}/{model['id']}/$lineage")).json()["edges"] == []
    audit = (await client.get(f"{API}/$audit", params={"type": "link.added"})).json()["items"]
    assert [e["reason"] for e in audit][:1] == ["trained on it"]
    assert (await ledger.verify()).ok


async def test_self_links_cycles_and_unknown_kinds_are_422_and_record_nothing(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    a = await create(client, {"name": "a"})
    b = await create(client, {"name": "b"})
    c = await create(client, {"name": "c"})
    for src, dst in ((a, b), (b, c)):
        response = await client.post(f"{API}/{src['id']}/$links", json={"target_id": dst["id"], "kind": "derived_from"})
        assert response.status_code == 200
    head = await ledger.head()
    self_link = await client.post(f"{API}/{a['id']}/$links", json={"target_id": a["id"], "kind": "used"})
    assert assert_problem(self_link, 422)["type"].endswith(":invalid-link")
    cycle = assert_problem(
        await client.post(f"{API}/{c['id']}/$links", json={"target_id": a["id"], "kind": "derived_from"}), 422
    )
    assert "cycle" in cycle["detail"]
    for artifact in (a, b, c):
        assert artifact["id"] in cycle["detail"]
    unknown = await client.post(f"{API}/{a['id']}/$links", json={"target_id": c["id"], "kind": "inspired_by"})
    assert "inspired_by" in assert_problem(unknown, 422)["detail"]
    assert_problem(await client.get(f"{API}/{a['id']}/$lineage", params={"kind": "inspired_by"}), 422)
    assert_problem(await client.get(f"{API}/{a['id']}/$lineage", params={"direction": "sideways"}), 422)
    assert_problem(await client.get(f"{API}/{a['id']}/$lineage", params={"format": "svg"}), 422)
    assert_problem(await client.post(f"{API}/{a['id']}/$links", json={"target_id": "x", "kind": "used"}), 422)
    assert_problem(await client.delete(f"{API}/{a['id']}/$links/used/nope"), 400)
    assert_problem(await client.get(f"{API}/nope/$lineage"), 400)
    assert await ledger.head() == head


async def test_a_read_only_server_refuses_alias_and_link_writes_with_405(make_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    writable: httpx.AsyncClient = await make_client()
    a = await create(writable, {"name": "a"})
    b = await create(writable, {"name": "b"})
    assert (await writable.put(alias_url("production"), json={"artifact_id": a["id"]})).is_success
    client: httpx.AsyncClient = await make_client(read_only=True)
    head = await ledger.head()
    for response in (
        await client.put(alias_url("production"), json={"artifact_id": b["id"]}),
        await client.put(alias_url("new"), json={"artifact_id": b["id"]}),
        await client.delete(alias_url("production")),
        await client.post(alias_url("production", "/$protect")),
        await client.post(f"{API}/{a['id']}/$links", json={"target_id": b["id"], "kind": "used"}),
        await client.delete(f"{API}/{a['id']}/$links/used/{b['id']}"),
    ):
        assert assert_problem(response, 405)["type"].endswith(":read-only")
    assert await ledger.head() == head
    assert (await client.get(alias_url("production"))).status_code == 200
    assert (await client.get(f"{API}/{a['id']}/$lineage")).status_code == 200


async def test_a_read_token_cannot_move_an_alias(make_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient = await make_client(auth=AUTH)
    model = (await client.post(API, json={"data": {"name": "model"}}, headers=WRITE)).json()
    assert_problem(await client.put(alias_url("production"), json={"artifact_id": model["id"]}, headers=READ), 403)
    assert_problem(await client.put(alias_url("production"), json={"artifact_id": model["id"]}), 401)
    assert_problem(await client.get(ALIASES), 401)


async def test_the_alias_routes_mount_beside_the_artifact_routes_of_a_host_app(ledger: Ledger) -> None:
    host = FastAPI()
    host.include_router(artifact_router(ledger, prefix="/v2/things"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://host") as client:
        created = (await client.post("/v2/things", json={"data": {"n": 1}})).json()
        response = await client.put("/v2/things/$aliases/production", json={"artifact_id": created["id"]})
        assert response.status_code == 200, response.text
        resolved = await client.get("/v2/things/$aliases/production")
        assert resolved.json()["id"] == created["id"]
        assert resolved.headers["Content-Location"] == f"/v2/things/{created['id']}/$versions/1"
        assert (await client.get("/v2/things/$aliases")).json()["total"] == 1
        assert_problem(await client.get("/v2/things/$aliases/nope"), 404)
        assert (await client.get(f"/v2/things/{created['id']}/$aliases")).json()["total"] == 1


async def test_an_artifacts_alias_and_link_events(client: httpx.AsyncClient) -> None:
    model = await create(client, {"name": "model"})
    dataset = await create(client, {"name": "dataset"})
    other = await create(client, {"name": "other"})
    await client.put(alias_url("production"), json={"artifact_id": model["id"]}, headers={"X-Reason": "ship it"})
    await client.post(f"{API}/{model['id']}/$links", json={"target_id": dataset["id"], "kind": "derived_from"})
    await client.put(alias_url("production"), json={"artifact_id": other["id"]})
    await client.put(alias_url("unrelated"), json={"artifact_id": other["id"]})
    events = (await client.get(f"{API}/{model['id']}/$provenance")).json()
    assert [(e["event_type"], e["reason"]) for e in events["items"]] == [
        ("alias.set", "ship it"),
        ("link.added", None),
        ("alias.set", None),  # production moved away from it
    ]
    assert events["total"] == 3
    of_dataset = (await client.get(f"{API}/{dataset['id']}/$provenance")).json()["items"]
    assert [e["event_type"] for e in of_dataset] == ["link.added"]
    assert (await client.get(f"{API}/{model['id']}/$provenance", params={"size": 1, "page": 3})).json()["items"][0][
        "event_type"
    ] == "alias.set"
    assert_problem(await client.get(f"{API}/{UNKNOWN}/$provenance"), 404)


async def test_the_audit_route_takes_event_type_patterns(make_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient = await make_client(auth=AUTH)
    model = (await client.post(API, json={"data": {"name": "model"}}, headers=WRITE)).json()
    put = await client.put(alias_url("production"), json={"artifact_id": model["id"]}, headers=WRITE)
    assert put.status_code == 200, put.text
    protect = await client.post(alias_url("production", "/$protect"), headers={**WRITE, "X-Reason": "serves"})
    assert protect.status_code == 200, protect.text
    page = (await client.get(f"{API}/$audit", params={"type": "alias.*"}, headers=READ)).json()
    assert [e["event_type"] for e in page["items"]] == ["alias.set", "alias.protected"]
    both = await client.get(f"{API}/$audit", params=[("type", "alias.*"), ("type", "artifact.created")], headers=READ)
    assert [e["event_type"] for e in both.json()["items"]] == ["artifact.created", "alias.set", "alias.protected"]
    assert_problem(await client.get(f"{API}/$audit", params={"type": "nothing.*"}, headers=READ), 400)
