"""The per-namespace prefix: /ns/{name}/... serves namespace ``name`` with the same routes and
options; an unknown namespace is 404 and creates nothing; a bad name is 400."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from http_support import API, SECRET, assert_problem
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http import Principal, TokenAuth, create_app
from artifact_ledger.namespaces import postgres_schema
from ledger_support import drop_namespace_schemas

A = "/ns/team-a" + API
NAMES = ("team-a", "nope")


def _where(engine: AsyncEngine) -> list[str]:
    """How the library's messages name the database: its URL (password masked) and, on SQLite, its file."""
    shown = [engine.url.render_as_string(hide_password=True)]
    if engine.dialect.name == "sqlite" and engine.url.database:
        shown.append(os.path.abspath(engine.url.database))
    return shown


async def _schemas(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return {row[0] for row in await conn.execute(text("SELECT nspname FROM pg_namespace"))}


@pytest.fixture
async def base(backend: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test's engine with namespace team-a made; on PostgreSQL its schema is dropped afterwards."""
    async with Ledger.open(engine, secret=SECRET, namespace="team-a"):
        pass
    yield engine
    if backend == "postgresql":
        await drop_namespace_schemas(engine, NAMES)


@pytest.fixture
async def served(base: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(base, secret=SECRET) as ledger:
        yield ledger


@pytest.fixture
async def make(served: Ledger) -> AsyncIterator[Any]:
    apps: list[tuple[FastAPI, httpx.AsyncClient]] = []

    async def make(**options: Any) -> httpx.AsyncClient:
        app = create_app(served, poll_interval=0.05, **options)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        apps.append((app, client))
        return client

    yield make
    for app, client in apps:
        await client.aclose()
        await app.state.namespace_apps.aclose()


async def test_each_prefix_reads_and_writes_its_own_namespace(make: Any, served: Ledger, base: AsyncEngine) -> None:
    client = await make()
    created = await client.post(A, json={"data": {"team": "a"}})
    assert created.status_code == 201, created.text
    mine = created.json()["id"]
    assert (await client.get(f"{A}/{mine}")).json()["data"] == {"team": "a"}
    # Neither the unprefixed API nor /ns/default sees it: that is the default namespace.
    assert_problem(await client.get(f"{API}/{mine}"), 404)
    assert_problem(await client.get(f"/ns/default{API}/{mine}"), 404)
    theirs = (await client.post(f"/ns/default{API}", json={"data": {"team": "default"}})).json()["id"]
    assert (await client.get(f"{API}/{theirs}")).status_code == 200
    assert_problem(await client.get(f"{A}/{theirs}"), 404)
    # The library agrees: the write under the prefix went to team-a's ledger only.
    async with Ledger.open(base, secret=SECRET, namespace="team-a", create=False) as a, a.manager() as manager:
        assert await manager.count() == 1
        assert await manager.find_by_id(ULID.from_str(mine)) is not None
    async with served.manager() as manager:
        assert await manager.count() == 1
        assert await manager.find_by_id(ULID.from_str(theirs)) is not None
    # Verify and audit under the prefix see the namespace's own log.
    report = (await client.get(f"{A}/$verify")).json()
    assert (report["ok"], report["events_checked"]) == (True, 1)
    audit = (await client.get(f"{A}/$audit")).json()["items"]
    assert [e["artifact_id"] for e in audit] == [mine]


async def test_the_namespaces_are_listed(make: Any) -> None:
    client = await make()
    response = await client.get("/ns")
    assert response.status_code == 200, response.text
    assert response.json() == {"namespaces": ["default", "team-a"]}


async def test_an_unknown_namespace_is_404_and_creates_nothing(
    make: Any, served: Ledger, base: AsyncEngine, backend: str, tmp_path: Path
) -> None:
    client = await make()
    for response in (
        await client.get(f"/ns/nope{API}"),
        await client.post(f"/ns/nope{API}", json={"data": {"x": 1}}),
    ):
        body = assert_problem(response, 404)
        assert "'nope'" in body["detail"]
        assert body["namespace"] == "nope"
        for where in _where(base):  # the library's message names the database; the response does not
            assert where not in response.text
    assert await served.namespaces() == ["default", "team-a"]
    if backend == "postgresql":
        async with base.connect() as conn:
            current = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        assert postgres_schema(current, "nope") not in await _schemas(base)  # other tests make schemas too
    else:
        database = Path(str(base.url.database))
        assert not (database.with_name(database.name + ".namespaces") / "nope.db").exists()


async def test_a_bad_name_is_400_naming_the_rule(make: Any) -> None:
    client = await make()
    body = assert_problem(await client.get(f"/ns/Team_A{API}"), 400)
    assert "'Team_A'" in body["detail"]
    assert "a-z0-9" in body["detail"]
    assert_problem(await client.get("/ns/team-a"), 404)  # the namespace's root has no route
    assert_problem(await client.get("/ns/team-a/"), 404)  # nor a console (its links are absolute)
    assert (await client.get("/")).status_code == 200  # the served ledger's console


async def test_the_options_apply_under_the_prefix(make: Any) -> None:
    auth = TokenAuth({"r": Principal("reader", "read"), "w": Principal("writer", "write")})
    client = await make(auth=auth)
    assert_problem(await client.get(A), 401)
    assert_problem(await client.get("/ns"), 401)
    reader, writer = {"Authorization": "Bearer r"}, {"Authorization": "Bearer w"}
    assert_problem(await client.post(A, json={"data": {}}, headers=reader), 403)
    created = await client.post(A, json={"data": {"n": 1}}, headers=writer)
    assert created.status_code == 201, created.text
    assert (await client.get(f"{A}/{created.json()['id']}", headers=reader)).status_code == 200
    read_only = await make(read_only=True)
    assert_problem(await read_only.post(A, json={"data": {}}), 405)


async def test_with_tokens_a_namespace_is_looked_up_only_after_authentication(make: Any, base: AsyncEngine) -> None:
    auth = TokenAuth({"r": Principal("reader", "read"), "w": Principal("writer", "write")})
    client = await make(auth=auth)
    reader, writer = {"Authorization": "Bearer r"}, {"Authorization": "Bearer w"}
    # No token or an unknown one: 401 whatever the name (unknown, existing, malformed, no route).
    for path in (f"/ns/nope{API}", A, f"/ns/Team_A{API}", "/ns/nope"):
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            for response in (
                await client.get(path, headers=headers),
                await client.post(path, json={"data": {}}, headers=headers),
            ):
                body = assert_problem(response, 401)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert "namespace" not in body
    # A read token writing: 403 before the name is looked up.
    assert_problem(await client.post(f"/ns/nope{API}", json={"data": {}}, headers=reader), 403)
    # Authenticated callers learn the namespace is unknown, and nothing of where the database is.
    for response in (
        await client.get(f"/ns/nope{API}", headers=reader),
        await client.post(f"/ns/nope{API}", json={"data": {}}, headers=writer),
    ):
        body = assert_problem(response, 404)
        assert body["namespace"] == "nope"
        for where in _where(base):
            assert where not in response.text
    read_only = await make(auth=auth, read_only=True)
    assert_problem(await read_only.post(f"/ns/nope{API}", json={"data": {}}, headers=writer), 405)


async def test_a_ledger_opened_on_a_namespace_serves_the_others_too(base: AsyncEngine) -> None:
    async with Ledger.open(base, secret=SECRET, namespace="team-a") as a:
        async with a.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"n": 1}))
        app = create_app(a)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get(f"{API}/{saved.id}")).status_code == 200
            assert (await client.get(f"{A}/{saved.id}")).status_code == 200
            assert_problem(await client.get(f"/ns/default{API}/{saved.id}"), 404)
        await app.state.namespace_apps.aclose()
