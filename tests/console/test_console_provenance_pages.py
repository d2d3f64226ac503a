"""An artifact's aliases and its alias and link events, and one alias's changes, a page at a time in
a real browser (SQLite file and PostgreSQL).

The artifact page read ``aliases(id)`` and ``provenance_history(id)`` whole and listed every entry;
the alias page read ``alias_history(name)`` whole. Each list is now one page read in the database
(``aliases_paginated``, ``provenance_history_paginated``, ``alias_history_paginated``) with previous
and next links; the lists in time order open on their newest page, as the history does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
from console_support import COOKIE, Served
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http.console.paging import PAGE

OpenPage = Callable[..., Any]
ALIASES = 2 * PAGE + 30
MOVES = 2 * PAGE + 50


def build(served: Served) -> tuple[str, list[str], int]:
    """``ALIASES`` aliases on artifact A; alias ``busy`` moved ``MOVES`` times between A and B.
    Returns A's id, the alias names by name, and how many alias and link events name A."""

    async def write(ledger: Ledger) -> tuple[str, list[str], int]:
        async with ledger.manager() as manager:
            a = await manager.save(ArtifactIn(data={"name": "model-a"}), actor="alice")
            b = await manager.save(ArtifactIn(data={"name": "model-b"}), actor="alice")
            names = [f"release-{n:04d}" for n in range(ALIASES)]
            for name in names:
                await manager.set_alias(name, a.id, actor="alice")
            for n in range(MOVES):
                await manager.set_alias("busy", (a, b)[n % 2].id, actor=f"user-{n}")  # ends on B
            _, total = await manager.provenance_history_paginated(a.id, 1, 1)
            return str(a.id), names, total

    return served.call(write)


def test_an_artifact_s_aliases_and_provenance_are_paged(served: Served, open_page: OpenPage) -> None:
    a, names, events = build(served)
    page = open_page(served)
    page.goto(f"/artifacts/{a}")
    aliases = page.locator("#alias-list li")
    alias_pager = page.get_by_role("navigation", name="Pages of this artifact's aliases")
    expect(aliases).to_have_count(PAGE)  # was every alias pointing at it
    expect(page.locator("#alias-count")).to_have_text(f"{ALIASES} aliases; 1 to {PAGE} shown.")
    expect(aliases.first).to_contain_text(names[0])
    expect(alias_pager).to_contain_text("Page 1 of 3")

    pages = (events + PAGE - 1) // PAGE
    newest = events - (pages - 1) * PAGE
    provenance = page.locator("#provenance > li")
    provenance_pager = page.get_by_role("navigation", name="Pages of the aliases and links")
    expect(provenance).to_have_count(newest)  # the newest page (was every event)
    expect(provenance_pager).to_contain_text(f"Page {pages} of {pages}")
    expect(provenance.last).to_contain_text(f"by user-{MOVES - 1}")
    expect(provenance_pager.get_by_role("link", name="Newer alias and link events")).to_have_count(0)

    alias_pager.get_by_role("link", name="Next aliases").click()
    page.wait_for_url(f"**/artifacts/{a}?aliases=2#aliases-heading")
    expect(aliases).to_have_count(PAGE)
    expect(aliases.first).to_contain_text(names[PAGE])
    expect(page.locator("#alias-count")).to_have_text(f"{ALIASES} aliases; {PAGE + 1} to {2 * PAGE} shown.")

    provenance_pager.get_by_role("link", name="Older alias and link events").click()
    page.wait_for_url(f"**/artifacts/{a}?aliases=2&provenance={pages - 1}#provenance-heading")
    expect(provenance).to_have_count(PAGE)
    expect(provenance_pager).to_contain_text(f"Page {pages - 1} of {pages}")
    expect(aliases.first).to_contain_text(names[PAGE])  # the other list stays on its page
    expect(page.locator("#provenance-count")).to_contain_text(f"{events} alias and link events")
    shot = os.environ.get("ARTIFACT_LEDGER_PROVENANCE_SHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)

    alias_pager.get_by_role("link", name="Previous aliases").click()
    page.wait_for_url(f"**/artifacts/{a}?provenance={pages - 1}&aliases=1#aliases-heading")
    expect(aliases.first).to_contain_text(names[0])
    expect(provenance_pager).to_contain_text(f"Page {pages - 1} of {pages}")


def test_an_alias_s_changes_are_paged_newest_page_first(served: Served, open_page: OpenPage) -> None:
    build(served)
    page = open_page(served)
    page.goto("/aliases/busy")
    changes = page.locator("#alias-history > li")
    pager = page.get_by_role("navigation", name="Pages of the alias's history")
    last = MOVES - 2 * PAGE
    expect(changes).to_have_count(last)  # the newest page (was every change)
    expect(pager).to_contain_text("Page 3 of 3")
    expect(page.locator("#alias-history-count")).to_have_text(f"{MOVES} changes; {2 * PAGE + 1} to {MOVES} shown.")
    expect(changes.last).to_contain_text(f"by user-{MOVES - 1}")
    expect(page.get_by_text("Points at")).to_contain_text("model-b")

    pager.get_by_role("link", name="Older changes").click()
    page.wait_for_url("**/aliases/busy?page=2#alias-history-heading")
    expect(changes).to_have_count(PAGE)
    expect(changes.first).to_contain_text(f"by user-{PAGE}")
    expect(page.get_by_text("Points at")).to_contain_text("model-b")  # where it stands now, on any page
    pager.get_by_role("link", name="Older changes").click()
    page.wait_for_url("**/aliases/busy?page=1#alias-history-heading")
    expect(changes.first).to_contain_text("user-0")
    expect(pager.get_by_role("link", name="Older changes")).to_have_count(0)
    shot = os.environ.get("ARTIFACT_LEDGER_ALIAS_HISTORY_SHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)
    pager.get_by_role("link", name="Newer changes").click()
    page.wait_for_url("**/aliases/busy?page=2#alias-history-heading")


def test_pages_past_the_last_are_refused_naming_it(served: Served) -> None:
    a, _, events = build(served)
    pages = (events + PAGE - 1) // PAGE
    with httpx.Client(base_url=served.base, cookies={COOKIE: "alice-token"}, timeout=30) as client:
        response = client.get("/aliases/busy", params={"page": "4"})
        assert response.status_code == 404
        assert "page 4 of the changes of alias &#39;busy&#39; is past the last one, page 3" in response.text
        response = client.get(f"/artifacts/{a}", params={"aliases": "4"})
        assert response.status_code == 404
        assert f"page 4 of the aliases of artifact {a} is past the last one, page 3" in response.text
        response = client.get(f"/artifacts/{a}", params={"provenance": str(pages + 1)})
        assert response.status_code == 404
        assert f"past the last one, page {pages}" in response.text
        for key, path in (("page", "/aliases/busy"), ("aliases", f"/artifacts/{a}"), ("provenance", f"/artifacts/{a}")):
            for bad in ("0", "x", "1_0", "-1"):
                assert client.get(path, params={key: bad}).status_code == 400, (key, bad)
        assert client.get("/aliases/nobody").status_code == 404
        assert client.get("/aliases/busy", params={"page": "3"}).status_code == 200
