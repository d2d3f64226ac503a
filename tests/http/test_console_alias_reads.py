"""The console's alias page reads the alias's change list once a view of its newest page, on both
backends.

It opens on the newest page. It read page 1 to learn how many changes there are, then the last
page, and (on a page other than the last) the newest change once more, for where the alias stands
now: up to three passes over the alias's stream. The newest page and its count are now one
statement (``alias_history_newest``); another page is its own statement and one that reads the
count and the newest change from the stream's end, never walking the stream to it.
"""

from __future__ import annotations

import re
from html import unescape

import httpx

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http.console.paging import PAGE
from statement_log import statements_seen

MOVES = 2 * PAGE + 7  # three pages, the newest holding 7


def change_reads(seen: list[str]) -> list[str]:
    """The statements that read an alias's changes (``store/alias_pages.py``: its stream's alias events)."""
    return [s for s in seen if "ledger_events" in s and "'alias.protected'" in s]


async def build(ledger: Ledger) -> tuple[str, str]:
    """Alias ``busy`` moved ``MOVES`` times between A and B, the last move to B: A's and B's ids."""
    async with ledger.transaction() as m:
        a, b = await m.save_all([ArtifactIn(data={"name": "model-a"}), ArtifactIn(data={"name": "model-b"})])
        for n in range(MOVES):
            await m.set_alias("busy", (b, a)[n % 2].id, actor=f"user-{n}")
    return str(a.id), str(b.id)


def shown(html: str) -> tuple[list[str], str, str]:
    """The actors of the history's entries, its count line, and the "Points at" line."""
    listed = html.split('id="alias-history"', 1)[1].split("</ol>", 1)[0]
    count = re.search(r'id="alias-history-count">([^<]*)<', html)
    points = re.search(r"<p>Points at (.*?)</p>", html, re.S)
    return (
        re.findall(r"by (user-\d+)", unescape(listed)),
        count.group(1) if count else "",
        points.group(1) if points else "",
    )


async def test_the_newest_alias_page_reads_the_changes_once(ledger: Ledger, client: httpx.AsyncClient) -> None:
    _, b = await build(ledger)
    assert (await client.get("/aliases/busy")).status_code == 200  # warm: the first view syncs
    with statements_seen(ledger.engine.sync_engine) as seen:
        response = await client.get("/aliases/busy")
    assert response.status_code == 200, response.text
    assert len(change_reads(seen)) == 1, change_reads(seen)  # was 2: page 1 for the count, then page 3
    actors, count, points = shown(response.text)
    assert actors == [f"user-{n}" for n in range(2 * PAGE, MOVES)]
    assert count == f"{MOVES} changes; {2 * PAGE + 1} to {MOVES} shown."
    assert "Page 3 of 3" in response.text
    assert "model-b" in points
    assert b in points

    # Another page: its own statement, and the newest change (where the alias stands) read from the
    # stream's end with the count, not by walking the stream to its last row.
    with statements_seen(ledger.engine.sync_engine) as seen:
        response = await client.get("/aliases/busy", params={"page": "2"})
    assert response.status_code == 200, response.text
    reads = change_reads(seen)
    assert len(reads) == 2, reads  # was 2, the second a page of one at offset MOVES - 1
    assert "DESC" not in reads[0].upper(), reads  # the page, by offset from the oldest
    assert "DESC" in reads[1].upper(), reads  # the newest change, from the stream's end
    actors, count, points = shown(response.text)
    assert actors == [f"user-{n}" for n in range(PAGE, 2 * PAGE)]
    assert count == f"{MOVES} changes; {PAGE + 1} to {2 * PAGE} shown."
    assert "model-b" in points
    assert b in points


async def test_short_and_removed_aliases_on_the_newest_page(ledger: Ledger, client: httpx.AsyncClient) -> None:
    async with ledger.transaction() as m:
        a, b = await m.save_all([ArtifactIn(data={"name": n}) for n in ("model-a", "model-b")])
        await m.set_alias("prod", a.id, actor="user-0")
        await m.set_alias("prod", b.id, actor="user-1")
        await m.set_alias("gone", a.id, actor="user-2")
        await m.remove_alias("gone", actor="user-3")
    with statements_seen(ledger.engine.sync_engine) as seen:
        response = await client.get("/aliases/prod")
    assert response.status_code == 200, response.text
    assert len(change_reads(seen)) == 1
    actors, count, points = shown(response.text)
    assert (actors, count) == (["user-0", "user-1"], "")  # one page: no count line, no pager
    assert "model-b" in points
    response = await client.get("/aliases/gone")
    assert response.status_code == 200, response.text
    assert "This alias was removed" in response.text
    assert shown(response.text)[0] == ["user-2", "user-3"]
    assert (await client.get("/aliases/nobody")).status_code == 404
