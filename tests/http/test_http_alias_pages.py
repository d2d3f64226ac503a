"""The alias listings (``GET /api/v1/aliases``, ``GET /{id}/$aliases``) a page at a time in the
database: chapkit's pages equal the slices of the whole list, keyset pages (``limit``/``after``)
walk it, and a page builds only its own aliases; on both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from http_support import API, assert_pages_are_slices, assert_problem

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger import provenance_reads as reads

ALIASES = "/api/v1/aliases"
NAMES = ["b", "a", "A", "Z/1", "z 2", "ä", "a-1", "a.1", "m", "prod", "staging", "x/$history", "ñ", "0", "9"]


async def plant(ledger: Ledger) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """Aliases on two artifacts, two of them removed since; the first artifact's id, every alias
    as the whole list reads it, and the first artifact's."""
    async with ledger.manager() as m:
        one, two = await m.save_all([ArtifactIn(data={"n": 1}), ArtifactIn(data={"n": 2})])
        for n, name in enumerate(NAMES):
            await m.set_alias(name, one.id if n % 3 else two.id)
        await m.remove_alias("m")
        await m.remove_alias("0")
        every = [a.model_dump(mode="json") for a in await m.aliases()]
        mine = [a.model_dump(mode="json") for a in await m.aliases(one.id)]
    assert len(every) == len(NAMES) - 2
    assert 0 < len(mine) < len(every)
    return str(one.id), every, mine


async def test_pages_are_the_slices_of_the_whole_list(client: httpx.AsyncClient, ledger: Ledger) -> None:
    aid, every, mine = await plant(ledger)
    for url, whole in ((ALIASES, every), (f"{API}/{aid}/$aliases", mine)):
        await assert_pages_are_slices(client, url, whole, (1, 2, 4, 9, len(whole), 100))
        only_size = (await client.get(url, params={"size": 3})).json()
        assert (only_size["page"], only_size["items"]) == (1, whole[:3])


async def test_keyset_pages_walk_the_whole_list(client: httpx.AsyncClient, ledger: Ledger) -> None:
    aid, every, mine = await plant(ledger)
    for url, whole in ((ALIASES, every), (f"{API}/{aid}/$aliases", mine)):
        for limit in (1, 2, 5, len(whole) - 1, len(whole), 50):
            walked: list[dict[str, Any]] = []
            params: dict[str, Any] = {"limit": limit}
            while True:
                response = await client.get(url, params=params)
                assert response.status_code == 200, response.text
                body = response.json()
                assert set(body) == {"items", "next_cursor"}
                assert 0 < len(body["items"]) <= limit
                walked.extend(body["items"])
                if body["next_cursor"] is None:
                    break
                assert body["next_cursor"] == body["items"][-1]["name"]
                params = {"limit": limit, "after": body["next_cursor"]}
            assert walked == whole
        last = whole[-1]["name"]
        assert (await client.get(url, params={"after": last})).json() == {"items": [], "next_cursor": None}
        assert (await client.get(url, params={"after": whole[0]["name"]})).json()["items"] == whole[1:]


async def test_mixed_paging_and_unknown_artifacts_are_refused(client: httpx.AsyncClient, ledger: Ledger) -> None:
    aid, _, _ = await plant(ledger)
    for url in (ALIASES, f"{API}/{aid}/$aliases"):
        for params in ({"page": 1, "limit": 2}, {"size": 2, "after": "a"}):
            body = assert_problem(await client.get(url, params=params), 400)
            assert body["type"].endswith("mixed-paging")
        for params in ({"limit": 0}, {"page": 0}, {"size": 1001}):
            assert (await client.get(url, params=params)).status_code == 422
    assert_problem(await client.get(f"{API}/01J0000000000000000000000H/$aliases", params={"limit": 2}), 404)


async def test_a_page_builds_only_its_own_aliases(
    client: httpx.AsyncClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    aid, every, _ = await plant(ledger)
    built: list[str] = []
    model = reads._alias_model

    def counting(row: Any, rec: Any) -> Any:
        built.append(row[0])
        return model(row, rec)

    monkeypatch.setattr(reads, "_alias_model", counting)
    response = await client.get(ALIASES, params={"page": 3, "size": 2})
    assert [a["name"] for a in response.json()["items"]] == [a["name"] for a in every[4:6]]
    assert built == [a["name"] for a in every[4:6]]  # not every alias, to slice two out of them
    built.clear()
    response = await client.get(f"{API}/{aid}/$aliases", params={"limit": 2})
    assert len(response.json()["items"]) == 2
    assert len(built) == 3  # the page and one more, to know another page follows
