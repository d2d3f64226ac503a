"""An alias's history (``GET /api/v1/aliases/{name}/$history``, ``alias_history_paginated``) a page at
a time in the database: every page equals the slice of the whole history, and a page reads only its
own events; on both backends."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import pytest
from http_support import assert_pages_are_slices, assert_problem, count_event_reads

from artifact_ledger import AliasNotFoundError, ArtifactIn, InvalidArgumentError, Ledger

ALIASES = "/api/v1/aliases"


def history_url(name: str) -> str:
    return f"{ALIASES}/{urllib.parse.quote(name, safe='')}/$history"


async def plant(ledger: Ledger, name: str) -> list[dict[str, Any]]:
    """An alias set, moved, protected, unprotected, removed and set again (another alias changed in
    between); its whole history as JSON."""
    async with ledger.manager() as m:
        one, two = await m.save_all([ArtifactIn(data={"n": 1}), ArtifactIn(data={"n": 2})])
        await m.set_alias(name, one.id, actor="alice")
        await m.set_alias("other", one.id)
        for n in range(6):
            await m.set_alias(name, two.id if n % 2 == 0 else one.id, actor="bob", reason=f"move {n}")
            await m.set_alias("other", two.id if n % 2 == 0 else one.id)
        await m.protect_alias(name, reason="freeze")
        await m.save(ArtifactIn(id=one.id, data={"n": 3}))
        await m.set_alias(name, one.id, reason="v2 now")
        await m.protect_alias(name, protected=False, reason="thaw")
        await m.remove_alias(name)
        await m.set_alias(name, two.id, version=1)
        whole = [c.model_dump(mode="json") for c in await m.alias_history(name)]
    assert len(whole) == 12
    assert {c["type"] for c in whole} == {"alias.set", "alias.protected", "alias.removed"}
    return whole


async def test_pages_are_the_slices_of_the_whole_history(client: httpx.AsyncClient, ledger: Ledger) -> None:
    for name in ("prod/model", "ä 1"):
        whole = await plant(ledger, name)
        url = history_url(name)
        await assert_pages_are_slices(client, url, whole, (1, 2, 5, 11, 12, 13, 100))
        async with ledger.manager() as m:
            for size in (1, 4, 12):
                for page in range(1, -(-len(whole) // size) + 2):
                    items, total = await m.alias_history_paginated(name, page, size)
                    assert ([c.model_dump(mode="json") for c in items], total) == (
                        whole[(page - 1) * size : page * size],
                        len(whole),
                    )


async def test_a_page_reads_only_its_own_events(
    client: httpx.AsyncClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = await plant(ledger, "prod")
    read = count_event_reads(monkeypatch)
    response = await client.get(history_url("prod"), params={"page": 3, "size": 2})
    assert response.json()["items"] == whole[4:6]
    assert read == [c["position"] for c in whole[4:6]]  # not all 12 of the stream, to slice two out


async def test_bad_pages_and_unknown_aliases_are_refused(client: httpx.AsyncClient, ledger: Ledger) -> None:
    await plant(ledger, "prod")
    for params in ({"page": 0}, {"size": 0}, {"size": 1001}, {"page": "x"}):
        assert (await client.get(history_url("prod"), params=params)).status_code == 422
    assert_problem(await client.get(history_url("nope"), params={"page": 2}), 404)
    async with ledger.manager() as m:
        with pytest.raises(AliasNotFoundError, match="'nope'"):
            await m.alias_history_paginated("nope", 1, 10)
        for page, size in ((0, 1), (1, 0), (True, 1), (1, "2")):
            with pytest.raises(InvalidArgumentError):
                await m.alias_history_paginated("prod", page, size)  # type: ignore[arg-type]


async def refusal(call: Any) -> type[BaseException]:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is what is compared
        await call
    return caught.type


async def test_the_newest_page_is_the_last_slice_and_refuses_what_a_page_refuses(ledger: Ledger) -> None:
    whole = await plant(ledger, "prod")
    async with ledger.manager() as m:
        await m.set_alias("fresh", (await m.save(ArtifactIn(data={"n": 0}))).id)
        one = [c.model_dump(mode="json") for c in await m.alias_history("fresh")]
        for name, every in (("prod", whole), ("fresh", one)):
            for size in (1, 2, 4, 5, 11, 12, 13, 100):
                items, total, page = await m.alias_history_newest(name, size)
                assert page == max(1, -(-len(every) // size))
                assert total == len(every)
                assert [c.model_dump(mode="json") for c in items] == every[(page - 1) * size : page * size]
                assert items[-1].model_dump(mode="json") == every[-1]  # the newest change ends it
        with pytest.raises(AliasNotFoundError, match="'nope'"):
            await m.alias_history_newest("nope", 10)
        for size in (0, True, -1, "2", 10**12):
            with pytest.raises(InvalidArgumentError):
                await m.alias_history_newest("prod", size)  # type: ignore[arg-type]
        for name in ("$bad", "", " x", 7):  # refused as a page refuses them, by the same error
            paged = await refusal(m.alias_history_paginated(name, 1, 10))  # type: ignore[arg-type]
            assert await refusal(m.alias_history_newest(name, 10)) is paged, name  # type: ignore[arg-type]
            assert issubclass(paged, InvalidArgumentError)
