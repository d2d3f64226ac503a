"""A hostile or careless client: bodies the JSON parser chokes on or reads two ways, paths and
queries that are not UTF-8, a client that leaves half-way through its body. Each gets a 400
problem naming what is wrong, never FastAPI's bare "There was an error parsing the body", a
silent last-one-wins, a text turned into U+FFFD, or a 500; and nothing is written. On SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from http_support import API, assert_problem, create

from artifact_ledger import Ledger
from artifact_ledger.http import create_app

JSON = {"content-type": "application/json"}
MERGE = {"content-type": "application/merge-patch+json"}
ALIASES = "/api/v1/aliases"

# (body, the problem type, a text the detail must hold)
UNREADABLE: list[tuple[bytes, str, str]] = [
    (b'{"data": {"n": ' + b"7" * 1_000_000 + b"}}", "malformed-json", "digits"),
    (b'{"data": {"d": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", "malformed-json", "too deeply"),
    (b'{"data": {"d": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}}", "malformed-json", "too deeply"),
    (b'{"data": {"s": "caf\xe9"}}', "malformed-json", "not UTF-8"),
    (b'{"data": {"a": 1, "a": 2}}', "duplicate-member", "'a' appears twice"),
    (b'{"data": {"x": {"k": 1, "k": 1}}}', "duplicate-member", "'k' appears twice"),
]


def _cases() -> list[Any]:
    cases = [
        pytest.param(method, route, headers, body, kind, text, id=f"{method.lower()}-{i}")
        for method, route, headers in (("POST", "", JSON), ("PUT", "/{id}", JSON), ("PATCH", "/{id}", MERGE))
        for i, (body, kind, text) in enumerate(UNREADABLE)
    ]
    twice = b'{"data": {"a": 1}, "data": {"b": 2}}'
    cases.append(pytest.param("POST", "", JSON, twice, "duplicate-member", "'data'", id="post-data-twice"))
    twice = b'{"tags": ["a"], "tags": null}'
    cases.append(pytest.param("PATCH", "/{id}", MERGE, twice, "duplicate-member", "'tags'", id="patch-tags-twice"))
    return cases


@pytest.mark.parametrize(("method", "route", "headers", "body", "kind", "text"), _cases())
async def test_a_body_the_parser_refuses_is_a_400_naming_why(
    client: httpx.AsyncClient,
    ledger: Ledger,
    method: str,
    route: str,
    headers: dict[str, str],
    body: bytes,
    kind: str,
    text: str,
) -> None:
    made = await create(client, {"a": 0})
    head = await ledger.head()
    response = await client.request(method, API + route.format(id=made["id"]), content=body, headers=headers)
    problem = assert_problem(response, 400)
    assert problem["type"] == f"urn:artifact-ledger:problem:{kind}"
    assert text in problem["detail"]
    assert "error parsing the body" not in problem["detail"]
    assert await ledger.head() == head


async def test_a_where_naming_a_member_twice_is_a_400_not_a_dropped_condition(client: httpx.AsyncClient) -> None:
    await create(client, {"a": 1, "b": 2})
    where = '{"data.a": 1, "data.a": 2}'  # orjson keeps the last: "a == 2" would silently match nothing
    for params in ({"where": where}, {"where": where, "limit": 5}, {"where": where, "page": 1}):
        problem = assert_problem(await client.get(API, params=params), 400)
        assert problem["type"] == "urn:artifact-ledger:problem:invalid-query"
        assert "'data.a' appears twice" in problem["detail"]
    nested = '{"$or": [{"data.a": {"gt": 0, "gt": 5}}]}'
    assert (
        "'gt' appears twice"
        in assert_problem(await client.get(f"{API}/$stats", params={"where": nested}), 400)["detail"]
    )


@pytest.mark.parametrize("encoded", ["%FF", "prod%FF", "%ED%A0%80", "%C3"])
async def test_an_alias_name_that_is_not_utf8_is_a_400_not_a_replacement_character(
    client: httpx.AsyncClient, ledger: Ledger, encoded: str
) -> None:
    made = await create(client, {"a": 0})
    head = await ledger.head()
    problem = assert_problem(await client.put(f"{ALIASES}/{encoded}", json={"artifact_id": made["id"]}), 400)
    assert problem["type"] == "urn:artifact-ledger:problem:bad-encoding"
    assert "path is not UTF-8" in problem["detail"]
    assert await ledger.head() == head
    assert assert_problem(await client.get(f"{ALIASES}/{encoded}"), 400)["type"].endswith("bad-encoding")
    assert (await client.get(ALIASES)).json()["total"] == 0
    # The same name sent as UTF-8 is an ordinary alias.
    assert (await client.put(f"{ALIASES}/producci%C3%B3n", json={"artifact_id": made["id"]})).status_code == 200


async def test_a_query_that_is_not_utf8_is_a_400(client: httpx.AsyncClient) -> None:
    await create(client, {"s": "\ufffd"})
    for url in (
        f"{API}?where=%7B%22data.s%22%3A%22%FF%22%7D",  # {"data.s": "\xff"}: would match the U+FFFD above
        f"{API}/$audit?actor=%E9",
        f"{API}?where=%7B%7D&order_by=data.%C3",
    ):
        problem = assert_problem(await client.get(url), 400)
        assert problem["type"] == "urn:artifact-ledger:problem:bad-encoding", url
        assert "query is not UTF-8" in problem["detail"]


async def _send_then_leave(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], part: bytes
) -> list[Any]:
    """Call ``app`` as a server would for a client that sends ``part`` of its body and disconnects."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    messages = iter([{"type": "http.request", "body": part, "more_body": True}])
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("route", ["content", "json", "patch"])
async def test_a_client_leaving_half_way_through_its_body_writes_nothing_and_is_no_server_error(
    ledger: Ledger, caplog: pytest.LogCaptureFixture, route: str
) -> None:
    app = create_app(ledger, console=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with client:
        made = await create(client, {"a": 0})
    head = await ledger.head()
    method, path, media, part = {
        "content": ("PUT", f"{API}/{made['id']}/$content", b"application/octet-stream", b"x" * 5000),
        "json": ("PUT", f"{API}/{made['id']}", b"application/json", b'{"data": {"a": '),
        "patch": ("PATCH", f"{API}/{made['id']}", b"application/merge-patch+json", b'{"data": {"a": '),
    }[route]
    headers = [(b"content-type", media), (b"content-length", b"100000")]
    with caplog.at_level(logging.INFO, logger="artifact_ledger.http"):
        sent = await _send_then_leave(app, method, path, headers, part)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert b"client-disconnected" in body
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert await ledger.head() == head


@pytest.mark.parametrize(
    ("method", "route", "headers"),
    [("POST", "", JSON), ("PUT", "/{id}", JSON), ("PATCH", "/{id}", MERGE)],
    ids=["post", "put", "patch"],
)
async def test_a_body_of_more_json_values_than_the_budget_is_a_413_before_parsing(
    make_client: Any, ledger: Ledger, method: str, route: str, headers: dict[str, str]
) -> None:
    """A small body of many tiny values costs far more memory parsed than its bytes: the server
    counts the values from the bytes and refuses past ``max_json_values``, writing nothing."""
    client = await make_client(max_json_values=1_000)
    made = await create(client, {"a": 0})
    head = await ledger.head()
    over = b'{"data": {"items": [' + b",".join([b'{"a":1}'] * 500) + b"]}}"  # 1,003 values
    response = await client.request(method, API + route.format(id=made["id"]), content=over, headers=headers)
    problem = assert_problem(response, 413)
    assert problem["type"] == "urn:artifact-ledger:problem:too-many-values"
    assert "more than 1,000 JSON values" in problem["detail"]
    assert "--max-json-values" in problem["detail"]
    assert await ledger.head() == head
    # Commas and brackets inside strings are not values: a long text is one.
    text = {"data": {"csv": "1,2,[3],{4}," * 2_000, "items": [{"a": 1}] * 400}}
    response = await client.request(method, API + route.format(id=made["id"]), json=text, headers=headers)
    assert response.status_code in (200, 201), response.text
    assert response.json()["data"]["csv"] == text["data"]["csv"]


async def test_the_value_budget_is_an_option_of_the_app_checked_at_creation(ledger: Ledger) -> None:
    from artifact_ledger.cli import serve
    from artifact_ledger.errors import InvalidArgumentError
    from artifact_ledger.http.strictjson import DEFAULT_MAX_JSON_VALUES

    assert serve.DEFAULT_MAX_JSON_VALUES == DEFAULT_MAX_JSON_VALUES  # the CLI's copy (no server import to parse)
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(InvalidArgumentError, match="max_json_values must be a positive number of values"):
            create_app(ledger, max_json_values=bad)  # type: ignore[arg-type]
    assert serve.value_budget("250_000") == 250_000
    for bad in ("0", "-5", "1e6", "١٠", "x", str(10**9 + 1)):
        with pytest.raises(Exception, match="not a number of values"):
            serve.value_budget(bad)
