"""The list route's filter: ``where`` (JSON), ``order_by``, keyset ``limit``/``after``, and ``as_of``
read through ``manager.find`` on SQLite and PostgreSQL; bad filters are 400 problems."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from http_support import API, assert_problem, create

from artifact_ledger import Ledger


async def _seed(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    root = await create(client, {"metadata": {"exp": "x", "acc": 0.5}}, tags=["run"])
    out = [root]
    for i, (exp, acc) in enumerate([("x", 0.95), ("y", 0.91), ("x", 0.7), ("x", 0.99)]):
        out.append(await create(client, {"metadata": {"exp": exp, "acc": acc, "i": i}}, parent_id=root["id"]))
    return out


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for a in items]


async def test_where_filters_the_array_the_keyset_page_and_the_chapkit_page(client: httpx.AsyncClient) -> None:
    made = await _seed(client)
    where = json.dumps({"data.metadata.exp": "x", "data.metadata.acc": {"gt": 0.9}})
    wanted = sorted(a["id"] for a in made if a["data"]["metadata"]["exp"] == "x" and a["data"]["metadata"]["acc"] > 0.9)
    everything = (await client.get(API, params={"where": where})).json()
    assert _ids(everything) == wanted
    assert all("content" not in a["data"] for a in everything)
    page = (await client.get(API, params={"where": where, "page": 1, "size": 1})).json()
    assert page == {"items": everything[:1], "total": 2, "page": 1, "size": 1, "pages": 2}
    second = (await client.get(API, params={"where": where, "page": 2, "size": 1})).json()
    assert _ids(second["items"]) == wanted[1:]
    keyset = (await client.get(API, params={"where": where, "limit": 1})).json()
    assert set(keyset) == {"items", "next_cursor"}
    assert _ids(keyset["items"]) == wanted[:1]
    rest = (await client.get(API, params={"where": where, "limit": 1, "after": keyset["next_cursor"]})).json()
    assert _ids(rest["items"]) == wanted[1:]
    assert rest["next_cursor"] is None
    level = (await client.get(API, params={"where": json.dumps({"level": 0, "tags": "run"})})).json()
    assert _ids(level) == [made[0]["id"]]
    either = {"$or": [{"data.metadata.exp": "y"}, {"data.metadata.acc": {"lt": 0.6}}]}
    assert set(_ids((await client.get(API, params={"where": json.dumps(either)})).json())) == {
        made[0]["id"],
        made[2]["id"],
    }


async def test_order_by_a_data_path_descending_pages_by_cursor(client: httpx.AsyncClient) -> None:
    made = await _seed(client)
    by_acc = [a["id"] for a in sorted(made, key=lambda a: -a["data"]["metadata"]["acc"])]
    assert _ids((await client.get(API, params={"order_by": "-data.metadata.acc"})).json()) == by_acc
    seen: list[str] = []
    after = None
    for _ in range(10):
        params: dict[str, Any] = {"order_by": "-data.metadata.acc", "limit": 2}
        if after is not None:
            params["after"] = after
        page = (await client.get(API, params=params)).json()
        seen += _ids(page["items"])
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == by_acc
    chapkit = (await client.get(API, params={"order_by": "-data.metadata.acc", "page": 2, "size": 2})).json()
    assert _ids(chapkit["items"]) == by_acc[2:4]
    assert chapkit["total"] == 5


async def test_as_of_filters_the_past_without_replaying_the_log(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await _seed(client)
    before = datetime.now(UTC).isoformat()
    target = made[2]  # exp y, acc 0.91
    patched = await client.patch(
        f"{API}/{target['id']}",
        content=json.dumps({"data": {"metadata": {"exp": "x"}}}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert (await client.delete(f"{API}/{made[4]['id']}")).status_code == 204
    where = json.dumps({"data.metadata.exp": "x"})
    now = _ids((await client.get(API, params={"where": where})).json())
    then = _ids((await client.get(API, params={"where": where, "as_of": before})).json())
    assert target["id"] in now
    assert target["id"] not in then
    assert made[4]["id"] in then
    assert made[4]["id"] not in now
    page = (await client.get(API, params={"where": where, "as_of": before, "page": 1, "size": 2})).json()
    assert page["total"] == len(then) == 4
    assert _ids(page["items"]) == then[:2]
    keyset = (await client.get(API, params={"where": where, "as_of": before, "limit": 3})).json()
    assert _ids(keyset["items"]) == then[:3]
    tail = await client.get(API, params={"where": where, "as_of": before, "limit": 3, "after": keyset["next_cursor"]})
    assert _ids(tail.json()["items"]) == then[3:]
    # The cursor belongs to its question: another as_of is a 400, not a silently different page.
    assert_problem(await client.get(API, params={"where": where, "limit": 3, "after": keyset["next_cursor"]}), 400)


BAD_WHERE = [
    "{not json",
    "[]",
    '"x"',
    "1",
    '{"data.a": {"between": [1, 2]}}',  # unknown operator
    '{"level": {"gt": "high"}}',  # wrong value type
    '{"nope": 1}',  # unknown field
    '{"data.a\'; DROP TABLE artifacts; --": 1}',  # a path outside the grammar
    '{"data.a": {"in": 5}}',
    '{"$or": {}}',
    "[" * 5000 + "]" * 5000,
    '{"data.a": "' + "x" * 30_000 + '"}',
]


async def test_bad_where_order_cursor_and_paging_are_400_and_change_nothing(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    await _seed(client)
    head = await ledger.head()
    for where in BAD_WHERE:
        body = assert_problem(await client.get(API, params={"where": where}), 400)
        assert body["type"].endswith(":invalid-query"), body
    for params in [
        {"order_by": "-"},
        {"order_by": "data.a'b"},
        {"order_by": "colour"},
        {"after": "forged"},
        {"after": "A" * 300},
        {"limit": 2, "page": 1},
        {"after": "x", "size": 3},
    ]:
        assert_problem(await client.get(API, params=params), 400)
    for params in [{"limit": 0}, {"limit": 1001}, {"limit": "x"}]:
        assert_problem(await client.get(API, params=params), 422)
    assert_problem(await client.get(API, params={"as_of": "yesterday", "where": "{}"}), 400)
    assert await ledger.head() == head


async def test_stats_counts_with_where_and_as_of(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await _seed(client)
    before = datetime.now(UTC).isoformat()
    assert (await client.delete(f"{API}/{made[4]['id']}")).status_code == 204
    x = json.dumps({"data.metadata.exp": "x"})
    assert (await client.get(f"{API}/$stats")).json() == {"total": 4}
    assert (await client.get(f"{API}/$stats", params={"as_of": before})).json() == {"total": 5}
    assert (await client.get(f"{API}/$stats", params={"where": x})).json() == {"total": 3}
    assert (await client.get(f"{API}/$stats", params={"where": x, "as_of": before})).json() == {"total": 4}
    listed = (await client.get(API, params={"where": x, "as_of": before})).json()
    assert len(listed) == 4
    assert (await client.get(f"{API}/$stats", params={"as_of": "2000-01-01T00:00:00Z"})).json() == {"total": 0}
    head = await ledger.head()
    for params in [{"as_of": "yesterday"}, {"where": "{not json"}, {"where": '{"nope": 1}'}, {"where": "[]"}]:
        assert_problem(await client.get(f"{API}/$stats", params=params), 400)
    assert await ledger.head() == head
