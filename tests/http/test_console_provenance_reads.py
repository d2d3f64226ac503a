"""The console's artifact page reads the artifact's provenance (its alias and link events) once a
view, on both backends.

It opens on the newest page of that list. It read page 1 to learn how many events there are and
then read the last page: the whole list ran twice through the database, about a quarter of a
page view at 10,000 events. The newest page and its count are now one statement.
"""

from __future__ import annotations

import re
from html import unescape

import httpx

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http.console.paging import PAGE
from statement_log import statements_seen

MOVES = 2 * PAGE + 7  # three pages, the newest holding 7


def provenance_reads(seen: list[str]) -> list[str]:
    """The statements that read an artifact's alias and link events (``store/provenance_pages.py``)."""
    return [s for s in seen if s.lstrip().startswith("WITH named AS")]


async def build(ledger: Ledger) -> tuple[str, str]:
    """Alias ``busy`` moved ``MOVES`` times between A and B (each move names A): A's and B's ids."""
    async with ledger.transaction() as m:
        a, b = await m.save_all([ArtifactIn(data={"name": "model-a"}), ArtifactIn(data={"name": "model-b"})])
        for n in range(MOVES):
            await m.set_alias("busy", (a, b)[n % 2].id, actor=f"user-{n}")
    return str(a.id), str(b.id)


def shown(html: str) -> tuple[list[str], str]:
    """The actors of the provenance list's entries, and its count line."""
    listed = html.split('id="provenance"', 1)[1].split("</ol>", 1)[0]
    count = re.search(r'id="provenance-count">([^<]*)<', html)
    return re.findall(r"by (user-\d+)", unescape(listed)), count.group(1) if count else ""


async def test_the_newest_provenance_page_reads_the_list_once(ledger: Ledger, client: httpx.AsyncClient) -> None:
    a, _ = await build(ledger)
    assert (await client.get(f"/artifacts/{a}")).status_code == 200  # warm: the first view syncs
    with statements_seen(ledger.engine.sync_engine) as seen:
        response = await client.get(f"/artifacts/{a}")
    assert response.status_code == 200, response.text
    assert len(provenance_reads(seen)) == 1, provenance_reads(seen)  # was 2: page 1 for the count, then page 3
    actors, count = shown(response.text)
    assert actors == [f"user-{n}" for n in range(2 * PAGE, MOVES)]
    assert count == f"{MOVES} alias and link events; {2 * PAGE + 1} to {MOVES} shown."
    assert "Page 3 of 3" in response.text

    # Another page is one statement too, and the same entries the whole list holds there.
    with statements_seen(ledger.engine.sync_engine) as seen:
        response = await client.get(f"/artifacts/{a}", params={"provenance": "2"})
    assert len(provenance_reads(seen)) == 1
    actors, count = shown(response.text)
    assert actors == [f"user-{n}" for n in range(PAGE, 2 * PAGE)]
    assert count == f"{MOVES} alias and link events; {PAGE + 1} to {2 * PAGE} shown."


async def test_short_and_empty_provenance_lists_on_the_newest_page(ledger: Ledger, client: httpx.AsyncClient) -> None:
    async with ledger.transaction() as m:
        a, b, lone = await m.save_all([ArtifactIn(data={"name": n}) for n in ("a", "b", "lone")])
        await m.set_alias("prod", a.id, actor="user-0")
        await m.link(b.id, a.id, "used", actor="user-1")
    response = await client.get(f"/artifacts/{a.id}")
    assert response.status_code == 200, response.text
    assert 'id="provenance"' in response.text
    assert 'id="provenance-count"' not in response.text  # one page: no count line, no pager
    with statements_seen(ledger.engine.sync_engine) as seen:
        response = await client.get(f"/artifacts/{lone.id}")
    assert response.status_code == 200, response.text
    assert 'id="provenance"' not in response.text  # nothing to list
    assert len(provenance_reads(seen)) == 1
