"""Whole numbers in paths, queries and headers, from an adversarial review (SQLite and PostgreSQL).

pydantic's lax mode read ``$versions/1_0`` as version 10 and ``1.0``, ``+1``, `` 1`` and ``١`` (an
Arabic-Indic one) as 1; ``If-Match: "²"`` and ``Last-Event-ID: ²`` passed ``str.isdigit`` and failed
in ``int()`` (a 500). Every integer parameter is now plain ASCII digits within its range, else a
problem naming the parameter and the value, and nothing is written.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.routing import APIRoute
from http_support import API, assert_problem, create

from artifact_ledger import Ledger
from artifact_ledger.http import create_app
from artifact_ledger.http.integers import Whole

ALIASES = "/api/v1/aliases"
SSE = {"Accept": "text/event-stream"}

# Forms pydantic's lax int took (or a range it would only refuse without naming the value).
LENIENT = ["1_0", "1.0", "+1", " 1", "1 ", "1e0", "true", "0x1", "١", "１", "²", "", "-1", "-0"]
LENIENT += [str(10**30), "9" * 5000]


def integer_parameters(alias: str, live: str, other: str) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path with {} where the value goes or no {} for a query, the query with {} in a value)."""
    return [
        ("GET", f"{API}/{live}/$versions/{{}}", {}),
        ("GET", f"{API}/{live}/$download", {"version": "{}"}),
        ("GET", f"{API}/{live}/$history", {"page": "{}"}),
        ("GET", f"{API}/{live}/$history", {"size": "{}"}),
        ("GET", f"{API}/{live}/$diff", {"from": "{}"}),
        ("GET", f"{API}/{live}/$diff", {"from": "1", "to": "{}"}),
        ("GET", API, {"page": "{}"}),
        ("GET", API, {"size": "{}"}),
        ("GET", API, {"limit": "{}"}),
        ("GET", f"{API}/$audit", {"after": "{}"}),
        ("GET", f"{API}/$audit", {"limit": "{}"}),
        ("GET", f"{API}/$events", {"after": "{}"}),
        ("GET", f"{API}/$events", {"limit": "{}"}),
        ("GET", ALIASES, {"page": "{}"}),
        ("GET", ALIASES, {"size": "{}"}),
        ("GET", f"{ALIASES}/{alias}/$history", {"page": "{}"}),
        ("GET", f"{ALIASES}/{alias}/$history", {"size": "{}"}),
        ("GET", f"{API}/{live}/$aliases", {"page": "{}"}),
        ("GET", f"{API}/{live}/$aliases", {"size": "{}"}),
        ("GET", f"{API}/{live}/$provenance", {"page": "{}"}),
        ("GET", f"{API}/{live}/$provenance", {"size": "{}"}),
        ("GET", f"{API}/{live}/$lineage", {"depth": "{}"}),
        ("DELETE", f"{ALIASES}/{alias}", {"expected_target": live, "expected_version": "{}"}),
        ("DELETE", f"{API}/{live}/$links/derived_from/{other}", {"version": "{}"}),
        ("DELETE", f"{API}/{live}/$links/derived_from/{other}", {"target_version": "{}"}),
    ]


async def _ask(client: httpx.AsyncClient, method: str, path: str, query: dict[str, str], value: str) -> httpx.Response:
    if "{}" in path:
        path = path.replace("{}", value.replace("%", "%25").replace(" ", "%20").replace("+", "%2B"))
    params = {name: value if text == "{}" else text for name, text in query.items()}
    return await client.request(method, path, params=params)


async def _log_size(ledger: Ledger) -> int:
    return len(await ledger.events_since(0, limit=1000))


async def test_every_integer_parameter_is_strict(ledger: Ledger, client: httpx.AsyncClient) -> None:
    live = (await create(client, {"n": 1}))["id"]
    assert (await client.put(f"{API}/{live}", json={"data": {"n": 2}})).status_code == 200
    assert (await client.put(f"{ALIASES}/prod", json={"artifact_id": live})).status_code in {200, 201}
    other = (await create(client, {"n": 3}))["id"]
    before = await _log_size(ledger)
    for method, path, query in integer_parameters("prod", live, other):
        name = next((n for n, t in query.items() if t == "{}"), "version")
        for value in LENIENT:
            if value == "" and "{}" in path:
                continue  # an empty path segment is another route
            body = assert_problem(await _ask(client, method, path, query, value), 422)
            assert body["type"].endswith(":validation-failed"), body
            assert f".{name}: must be a whole number from " in body["detail"], (method, path, query, value, body)
            assert repr(value[:40] + "..." if len(value) > 40 else value) in body["detail"], body
        good = await _ask(client, method, path, query, "1")  # a 200, or the 404/409 of a link or alias version
        assert good.status_code not in {400, 422}, (method, path, query, good.text)
    assert await _log_size(ledger) == before
    assert (await client.get(f"{API}/{live}/$versions/01")).json()["version"] == 1  # plain digits: 01 is 1


async def test_integer_headers_are_strict(ledger: Ledger, client: httpx.AsyncClient) -> None:
    live = (await create(client, {"n": 1}))["id"]
    before = await _log_size(ledger)
    for value in ["²", "¹", "1_0", "1.0", "+1", "-1", "1e0", str(10**30)]:
        for etag in (f'"{value}"', value, '"0"'):
            response = await client.put(
                f"{API}/{live}", json={"data": {"n": 2}}, headers={"If-Match": etag.encode("latin-1")}
            )
            body = assert_problem(response, 400)
            assert body["type"].endswith(":bad-if-match"), body
        response = await client.get(f"{API}/$events", headers={**SSE, "Last-Event-ID": value.encode("latin-1")})
        body = assert_problem(response, 400)
        assert body["type"].endswith(":bad-position"), body
        assert "Last-Event-ID must be a whole number from 0 to" in body["detail"], body
    assert await _log_size(ledger) == before
    assert (await client.put(f"{API}/{live}", json={"data": {"n": 2}}, headers={"If-Match": '"1"'})).status_code == 200


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
            yield from _routes(route.original_router.routes)


def _mentions(annotation: object, wanted: type) -> bool:
    return annotation is wanted or any(_mentions(arg, wanted) for arg in typing.get_args(annotation))


def _whole(annotation: object, metadata: list[Any]) -> bool:
    return any(isinstance(m, Whole) for m in metadata) or any(
        isinstance(arg, Whole) or _whole(arg, []) for arg in typing.get_args(annotation)
    )


async def test_no_integer_parameter_is_read_laxly(ledger: Ledger) -> None:
    """The guard on routes added later: every int path, query or header parameter is a ``Whole``."""
    app = create_app(ledger)
    seen = []
    for route in _routes(app.routes):
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            pending.extend(dependant.dependencies)
            for field in [*dependant.path_params, *dependant.query_params, *dependant.header_params]:
                info = field.field_info
                if _mentions(info.annotation, int):
                    seen.append((route.path, field.alias))
                    assert _whole(info.annotation, info.metadata), (route.path, field.alias, info.annotation)
    assert len(seen) >= 25, seen  # every one of them is in integer_parameters above
