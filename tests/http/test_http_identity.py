"""Identity and safety: bearer tokens, the actor from the token, X-Reason, read-only, the body limit,
and the router mounted into a host app (and the console hook)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from http_support import API, assert_problem, create

from artifact_ledger import InvalidArgumentError, Ledger
from artifact_ledger.http import Principal, TokenAuth, artifact_router, create_app

AUTH = TokenAuth({"w-token": Principal("alice", "write"), "r-token": Principal("reader", "read")})
WRITE = {"Authorization": "Bearer w-token"}
READ = {"Authorization": "Bearer r-token"}


async def test_tokens_decide_who_reads_and_writes(make_client) -> None:  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient = await make_client(auth=AUTH)
    body = assert_problem(await client.get(API), 401)
    assert "Bearer" in body["detail"]
    response = await client.get(API, headers={"Authorization": "Bearer nope"})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(await client.get(API, headers={"Authorization": "Basic dzp4"}), 401)
    assert (await client.get(API, headers=READ)).status_code == 200
    refused = assert_problem(await client.post(API, json={"data": {}}, headers=READ), 403)
    assert "reader" in refused["detail"]
    assert (await client.get(API, headers=READ)).json() == []
    assert_problem(await client.post(API, json={"data": {}}), 401)


async def test_the_actor_comes_from_the_token_and_the_reason_from_x_reason(make_client) -> None:  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient = await make_client(auth=AUTH)
    response = await client.post(
        API,
        json={"data": {"n": 1}, "actor": "mallory", "created_by": "mallory", "updated_by": "mallory"},
        headers={**WRITE, "X-Reason": "first draft"},
    )
    assert response.status_code == 201
    out = response.json()
    assert out["created_by"] == "alice"
    assert out["updated_by"] == "alice"
    history = (await client.get(f"{API}/{out['id']}/$history", headers=READ)).json()["items"]
    assert (history[0]["actor"], history[0]["reason"]) == ("alice", "first draft")


async def test_read_only_refuses_every_write_with_405(make_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    writable: httpx.AsyncClient = await make_client()
    art = await create(writable, {"n": 1})
    client: httpx.AsyncClient = await make_client(read_only=True)
    url = f"{API}/{art['id']}"
    for response in (
        await client.post(API, json={"data": {}}),
        await client.put(url, json={"data": {}}),
        await client.delete(url),
        await client.post(f"{url}/$move", json={"parent_id": None}),
        await client.post(f"{url}/$revert", json={"to_version": 1}),
        await client.post(f"{url}/$restore"),
    ):
        assert_problem(response, 405)
        assert response.headers["Allow"] == "GET"
    assert (await client.get(url)).json()["version"] == 1
    assert (await ledger.head()).position == 1


async def test_a_body_over_the_limit_is_413_and_writes_nothing(make_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient = await make_client(max_body=1000)
    big = {"data": {"blob": "x" * 2000}}
    assert_problem(await client.post(API, json=big), 413)

    async def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted as it arrives
        payload = json.dumps(big).encode()
        for i in range(0, len(payload), 300):
            yield payload[i : i + 300]

    response = await client.post(API, content=chunks(), headers={"content-type": "application/json"})
    assert_problem(response, 413)
    assert (await client.post(API, json={"data": {"small": True}})).status_code == 201
    assert (await ledger.head()).position == 1


def test_token_files_are_checked_without_showing_a_token(tmp_path: Path) -> None:
    good = tmp_path / "tokens.json"
    good.write_text(json.dumps({"s3cret-one": {"actor": "alice", "role": "write"}, "s3cret-two": {"actor": "bob"}}))
    auth = TokenAuth.from_file(good)
    assert auth.authenticate("s3cret-one") == Principal("alice", "write")
    assert auth.authenticate("s3cret-two") == Principal("bob", "read")
    assert auth.authenticate("s3cret-on") is None
    assert auth.authenticate("") is None
    assert "s3cret" not in repr(auth)
    for content in (
        "not json",
        "[]",
        "{}",
        json.dumps({"s3cret": {"actor": "", "role": "write"}}),
        json.dumps({"s3cret": {"actor": "a", "role": "admin"}}),
        json.dumps({"s3cret": {"actor": "a", "extra": 1}}),
        json.dumps({"s3cret x": {"actor": "a"}}),
        json.dumps({"s3cret": "alice"}),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(InvalidArgumentError) as caught:
            TokenAuth.from_file(bad)
        assert "s3cret" not in str(caught.value)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        TokenAuth.from_file(tmp_path / "missing.json")


async def test_the_router_mounts_into_a_host_app(ledger: Ledger) -> None:
    host = FastAPI()

    @host.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    host.include_router(artifact_router(ledger, prefix="/v2/things"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://host") as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        created = await client.post("/v2/things", json={"data": {"n": 1}})
        assert created.status_code == 201
        assert created.headers["Location"].endswith(f"/v2/things/{created.json()['id']}")
        # Errors are problem+json without any handler of the host's.
        assert_problem(await client.get("/v2/things/not-an-id"), 400)
        assert_problem(await client.get("/v2/things/01J0000000000000000000000G"), 404)
        assert_problem(await client.post("/v2/things", json={}), 422)


async def test_create_app_includes_the_console_router_when_the_package_has_one(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = types.ModuleType("artifact_ledger.http.console")
    seen = []

    def console_router(service):  # type: ignore[no-untyped-def]
        seen.append(service)
        router = APIRouter()

        @router.get("/")
        async def index() -> dict[str, str]:
            return {"console": "here"}

        return router

    console.console_router = console_router  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "artifact_ledger.http.console", console)
    app = create_app(ledger)
    assert seen
    assert seen[0].ledger is ledger
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/")).json() == {"console": "here"}
    plain = create_app(ledger, console=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url="http://t") as client:
        assert_problem(await client.get("/"), 404)


async def test_create_app_opens_a_url_at_startup(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"
    app = create_app(url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        await create(client, {"n": 1})
        assert len((await client.get(API)).json()) == 1
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert_problem(await client.get(API + "?page=1"), 503)
