"""Bad input on every route: a specific 4xx as problem+json, never a 500, and the log unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from http_support import API, create

from artifact_ledger import Ledger

UNKNOWN = "01J0000000000000000000000H"
BAD_IDS = [
    "nope",
    "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
    "01J000000000000000000000",
    "01J0000000000000000000000HH",
    "%00",
    "ü" * 26,
]
BAD_TIMES = ["yesterday", "2026-13-01", "0001-01-01T00:00:00+05:00", "9999-99-99", "\x00", "2026-01-01T" + "9" * 400]

Request = tuple[str, str, dict[str, Any]]


def bad_requests(live: str, child: str) -> list[tuple[Request, set[int]]]:
    """(method, url, options) and the statuses each may answer."""
    out: list[tuple[Request, set[int]]] = []
    for bad in BAD_IDS:
        for method, route, options in [
            ("GET", "", {}),
            ("PUT", "", {"json": {"data": {}}}),
            ("DELETE", "", {}),
            ("GET", "/$tree", {}),
            ("GET", "/$expand", {}),
            ("GET", "/$metadata", {}),
            ("GET", "/$download", {}),
            ("GET", "/$history", {}),
            ("GET", "/$versions/1", {}),
            ("GET", "/$diff?from=1", {}),
            ("POST", "/$move", {"json": {"parent_id": None}}),
            ("POST", "/$revert", {"json": {"to_version": 1}}),
            ("POST", "/$restore", {}),
        ]:
            out.append(((method, f"{API}/{bad}{route}", options), {400, 404}))
    for route in ("", "/$tree", "/$expand", "/$history", "/$download", "/$versions/1"):
        out.append((("GET", f"{API}/{UNKNOWN}{route}", {}), {404}))
    for time in BAD_TIMES:
        out.append((("GET", f"{API}/{live}", {"params": {"as_of": time}}), {400}))
        out.append((("GET", f"{API}/{live}/$tree", {"params": {"as_of": time}}), {400}))
        out.append((("GET", API, {"params": {"as_of": time}}), {400}))
        out.append((("GET", f"{API}/$audit", {"params": {"since": time}}), {400}))
    json_headers = {"content-type": "application/json"}
    out += [
        (("POST", API, {"content": b"{not json", "headers": json_headers}), {400}),
        (("POST", API, {"content": b"", "headers": json_headers}), {400, 422}),
        (("POST", API, {"content": b"data=1", "headers": {"content-type": "text/plain"}}), {415}),
        (("POST", API, {"data": {"data": "1"}}), {415}),
        (("POST", API, {"content": b'{"data": 1}'}), {415}),
        (("PUT", f"{API}/{live}", {"content": b'{"data": 1}', "headers": {"content-type": "text/csv"}}), {415}),
        (("POST", f"{API}/{live}/$move", {"content": b"{}", "headers": {"content-type": "text/plain"}}), {415}),
        (("POST", API, {"json": []}), {422}),
        (("POST", API, {"json": "data"}), {422}),
        (("POST", API, {"json": {"data": {"a": "\x00"}}}), {422}),
        (("POST", API, {"json": {"data": {}, "tags": "x"}}), {422}),
        (("POST", API, {"json": {"data": {}, "tags": ["t" * 300]}}), {422}),
        (("POST", API, {"json": {"data": {}, "tags": ["\x00"]}}), {422}),
        (("POST", API, {"json": {"data": {}, "id": "nope"}}), {422}),
        (("POST", API, {"json": {"data": {}, "parent_id": 12}}), {422}),
        (("POST", API, {"json": {"data": {}, "parent_id": UNKNOWN}}), {404}),
        (("POST", API, {"json": {"data": {"n": 2**70}}}), {422}),
        (("POST", API, {"json": {"data": {"type": "x" * 300}}}), {422}),
        (("POST", API, {"json": {"data": {"type": "ml_prediction", "metadata": {}}}}), {422}),
        (("POST", API, {"json": {"data": {}}, "headers": {"X-Reason": "r" * 20_000}}), {400}),
        (("POST", API, {"json": {"data": {"deep": _deep(300)}}}), {422}),
        (("PUT", f"{API}/{live}", {"json": {"data": {}, "parent_id": live}}), {409}),
        (("PUT", f"{API}/{live}", {"json": {"tags": []}}), {422}),
        (("DELETE", f"{API}/{live}", {"params": {"cascade": "maybe"}}), {422}),
        (("DELETE", f"{API}/{live}", {}), {409}),
        (("POST", f"{API}/{live}/$move", {"json": {"parent_id": child}}), {409}),
        (("POST", f"{API}/{live}/$move", {"json": {"parent_id": live}}), {409}),
        (("POST", f"{API}/{live}/$move", {"json": {"parent_id": "bad"}}), {422}),
        (("POST", f"{API}/{live}/$move", {"content": b"[", "headers": json_headers}), {400}),
        (("POST", f"{API}/{live}/$revert", {"json": {"to_version": "one"}}), {422}),
        (("POST", f"{API}/{live}/$revert", {"json": {"to_version": 2**40}}), {422}),
        (("POST", f"{API}/{live}/$revert", {"json": {"to_version": 5}}), {404}),
        (("GET", f"{API}/{live}/$versions/0", {}), {422}),
        (("GET", f"{API}/{live}/$versions/x", {}), {422}),
        (("GET", f"{API}/{live}/$versions/99999999999", {}), {422}),
        (("GET", f"{API}/{live}/$diff", {"params": {"from": "a"}}), {422}),
        (("GET", f"{API}/{live}/$history", {"params": {"page": -1}}), {422}),
        (("GET", API, {"params": {"page": "x", "size": 2}}), {422}),
        (("GET", f"{API}/$audit", {"params": {"type": "nope"}}), {400}),
        (("GET", f"{API}/$audit", {"params": {"artifact": "nope"}}), {400}),
        (("GET", f"{API}/$audit", {"params": {"subtree": "nope"}}), {400}),
        (("GET", f"{API}/$audit", {"params": {"actor": "\x00"}}), {200, 400}),
        (("GET", f"{API}/$audit", {"params": {"limit": 0}}), {422}),
        (("GET", f"{API}/$audit", {"params": {"after": 2**64}}), {422}),
        (("GET", f"{API}/$events", {"params": {"limit": 100_000}}), {422}),
        (("GET", f"{API}/$events", {"headers": {"Accept": "text/event-stream", "Last-Event-ID": "x"}}), {400}),
        (("PATCH", API, {}), {405}),
        (("GET", "/nothing/here", {}), {404}),
        (("PUT", f"{API}/{live}", {"json": {"data": {}}, "headers": {"If-Match": "garbage"}}), {400}),
    ]
    return out


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


async def test_bad_input_gets_a_specific_problem_and_changes_nothing(client: httpx.AsyncClient, ledger: Ledger) -> None:
    root = await create(client, {"n": 0})
    child = await create(client, {"n": 1}, parent_id=root["id"])
    head = await ledger.head()
    failures = []
    for (method, url, options), allowed in bad_requests(root["id"], child["id"]):
        response = await client.request(method, url, **options)
        problem = response.headers.get("content-type") == "application/problem+json" or response.status_code == 200
        if response.status_code not in allowed or not problem:
            failures.append((method, url, str(options)[:80], response.status_code, response.text[:200]))
    assert failures == [], "\n".join(map(str, failures))
    assert await ledger.head() == head
    assert (await ledger.verify()).ok


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "bearer\x7f", "Token x", "Bearer " + "x" * 5000])
async def test_bad_authorization_headers_are_401(make_client, header: str) -> None:  # type: ignore[no-untyped-def]
    from artifact_ledger.http import Principal, TokenAuth

    client: httpx.AsyncClient = await make_client(auth=TokenAuth({"t": Principal("alice", "write")}))
    response = await client.get(API, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
