"""An artifact's provenance (``GET /{id}/$provenance``, ``provenance_history_paginated``) a page at a
time in the database: every page equals the slice of the whole list (``provenance_history``), and a
page reads only its own events; on both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from http_support import API, assert_pages_are_slices, assert_problem, count_event_reads

from artifact_ledger import ArtifactIn, ArtifactNotFoundError, InvalidArgumentError, Ledger


async def plant(ledger: Ledger) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """Three artifacts with aliases set on them, moved between them, protected and removed, and links
    from and to each, one removed; their ids and each one's whole provenance as JSON."""
    async with ledger.manager() as m:
        a, b, c = await m.save_all([ArtifactIn(data={"n": n}) for n in range(3)])
        await m.set_alias("prod", a.id)
        await m.set_alias("staging", b.id)
        await m.link(a.id, b.id, "derived_from")
        await m.set_alias("prod", b.id, reason="promote")  # away from a
        await m.link(c.id, a.id, "used")
        await m.protect_alias("prod", reason="freeze")
        await m.set_alias("prod", a.id, reason="roll back")
        await m.save(ArtifactIn(id=a.id, data={"n": 10}))
        await m.set_alias("a-v2", a.id)
        await m.unlink(a.id, b.id, "derived_from")
        await m.link(a.id, b.id, "derived_from")
        await m.set_alias(f"about {a.id}", c.id)  # a name holding a's id: no event naming a
        await m.remove_alias("staging")
        await m.remove_alias("prod", reason="retire")
        await m.set_alias("staging", a.id, reason="again")
        ids = [str(x.id) for x in (a, b, c)]
        whole = {aid: [e.model_dump(mode="json") for e in await m.provenance_history(aid)] for aid in ids}
    assert [len(whole[aid]) for aid in ids] == [9, 7, 2]
    return ids, whole


async def test_pages_are_the_slices_of_the_whole_list(client: httpx.AsyncClient, ledger: Ledger) -> None:
    ids, whole = await plant(ledger)
    for aid in ids:
        every = whole[aid]
        url = f"{API}/{aid}/$provenance"
        await assert_pages_are_slices(client, url, every, (1, 2, 3, 5, 10, 11, 12))
        async with ledger.manager() as m:
            for size in (1, 4):
                for page in range(1, -(-len(every) // size) + 2):
                    items, total = await m.provenance_history_paginated(aid, page, size)
                    dumped = [e.model_dump(mode="json") for e in items]
                    assert (dumped, total) == (every[(page - 1) * size : page * size], len(every))


async def test_a_page_reads_only_its_own_events(
    client: httpx.AsyncClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, whole = await plant(ledger)
    read = count_event_reads(monkeypatch)
    response = await client.get(f"{API}/{ids[0]}/$provenance", params={"page": 3, "size": 2})
    assert response.json()["items"] == whole[ids[0]][4:6]
    assert read == [e["position"] for e in whole[ids[0]][4:6]]  # not every alias and link event


async def test_unknown_ids_and_bad_pages_are_refused(client: httpx.AsyncClient, ledger: Ledger) -> None:
    ids, _ = await plant(ledger)
    assert_problem(await client.get(f"{API}/01J0000000000000000000000H/$provenance", params={"page": 2}), 404)
    for params in ({"page": 0}, {"size": 0}, {"size": 1001}):
        assert (await client.get(f"{API}/{ids[0]}/$provenance", params=params)).status_code == 422
    async with ledger.manager() as m:
        stream = str((await m.audit(event_type="alias.set")).entries[0].artifact_id)
        for bad in ("01J0000000000000000000000H", stream):  # no events; an alias's own stream
            with pytest.raises(ArtifactNotFoundError, match=bad):
                await m.provenance_history_paginated(bad, 1, 10)
            with pytest.raises(ArtifactNotFoundError, match=bad):
                await m.provenance_history(bad)
        for page, size in ((0, 1), (1, 0), (True, 1)):
            with pytest.raises(InvalidArgumentError):
                await m.provenance_history_paginated(ids[0], page, size)


async def test_the_newest_page_is_the_last_slice_and_refuses_what_a_page_refuses(ledger: Ledger) -> None:
    ids, whole = await plant(ledger)
    async with ledger.manager() as m:
        for aid in ids:
            every = whole[aid]
            for size in (1, 2, 4, 9, 10):
                items, total, page = await m.provenance_history_newest(aid, size)
                assert page == max(1, -(-len(every) // size))
                assert total == len(every)
                assert [e.model_dump(mode="json") for e in items] == every[(page - 1) * size : page * size]
        with pytest.raises(ArtifactNotFoundError, match="01J0000000000000000000000H"):
            await m.provenance_history_newest("01J0000000000000000000000H", 10)
        for size in (0, True, -1):
            with pytest.raises(InvalidArgumentError):
                await m.provenance_history_newest(ids[0], size)
