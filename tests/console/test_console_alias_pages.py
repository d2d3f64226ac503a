"""The aliases page in a real browser: a page of aliases at a time (one page read in the database,
``aliases_paginated``), by name, with its targets' names, and links to the previous and next page."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from console_support import COOKIE, Served
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http.console.routes import ALIAS_PAGE

OpenPage = Callable[..., Any]
ALIASES = 2 * ALIAS_PAGE + 30


def many_aliases(served: Served) -> list[str]:
    """``ALIASES`` aliases on three artifacts (one moved, one removed), their names sorted."""

    async def write(ledger: Ledger) -> list[str]:
        async with ledger.manager() as manager:
            targets = [await manager.save(ArtifactIn(data={"name": f"model-{n}"}), actor="alice") for n in range(3)]
            names = [f"release-{n:04d}" for n in range(ALIASES)]
            for n, name in enumerate(names):
                await manager.set_alias(name, targets[n % 3].id, actor="alice")
            await manager.set_alias("release-0000", targets[2].id, actor="bob", reason="moved")
            await manager.set_alias("gone", targets[0].id, actor="alice")
            await manager.remove_alias("gone", actor="alice")  # removed: neither listed nor counted
            return names

    return served.call(write)


def test_the_aliases_page_is_paged_with_previous_and_next_links(served: Served, open_page: OpenPage) -> None:
    names = many_aliases(served)
    page = open_page(served)
    page.goto("/aliases")
    rows = page.locator("#aliases tbody tr")
    caption = page.locator("#aliases-caption")
    pager = page.get_by_role("navigation", name="Pages of aliases")
    expect(rows).to_have_count(ALIAS_PAGE)  # was every alias on one page
    expect(caption).to_have_text(f"{ALIASES} aliases; 1 to {ALIAS_PAGE} shown")
    expect(pager).to_contain_text("Page 1 of 3")
    expect(pager.get_by_role("link", name="Previous aliases")).to_have_count(0)
    expect(rows.first).to_contain_text(names[0])
    expect(rows.first).to_contain_text("model-2")  # moved: where it stands now, by its target's name
    expect(rows.nth(1)).to_contain_text("model-1")
    expect(rows.last).to_contain_text(names[ALIAS_PAGE - 1])

    pager.get_by_role("link", name="Next aliases").click()
    page.wait_for_url("**/aliases?page=2")
    expect(rows).to_have_count(ALIAS_PAGE)
    expect(rows.first).to_contain_text(names[ALIAS_PAGE])
    expect(caption).to_have_text(f"{ALIASES} aliases; {ALIAS_PAGE + 1} to {2 * ALIAS_PAGE} shown")
    expect(pager).to_contain_text("Page 2 of 3")

    pager.get_by_role("link", name="Next aliases").click()
    page.wait_for_url("**/aliases?page=3")
    expect(rows).to_have_count(30)
    expect(rows.first).to_contain_text(names[2 * ALIAS_PAGE])
    expect(rows.last).to_contain_text(names[-1])
    expect(pager.get_by_role("link", name="Next aliases")).to_have_count(0)
    expect(page.locator("#aliases")).not_to_contain_text("gone")
    shot = os.environ.get("ARTIFACT_LEDGER_ALIAS_SHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)

    pager.get_by_role("link", name="Previous aliases").click()
    page.wait_for_url("**/aliases?page=2")
    expect(rows.first).to_contain_text(names[ALIAS_PAGE])
    rows.first.get_by_role("link", name=names[ALIAS_PAGE]).click()
    expect(page.locator("#alias-history li")).to_have_count(1)


def test_alias_pages_out_of_range_are_refused_naming_the_last(served: Served, tmp_path: Path) -> None:
    with httpx.Client(base_url=served.base, cookies={COOKIE: "alice-token"}, timeout=30) as client:
        empty = client.get("/aliases")
        assert empty.status_code == 200
        assert "No aliases yet." in empty.text
        assert "Pages of aliases" not in empty.text
        response = client.get("/aliases", params={"page": "2"})
        assert response.status_code == 404
        assert "page 2 of the aliases is past the last one, page 1" in response.text
        many_aliases(served)
        response = client.get("/aliases", params={"page": "4"})
        assert response.status_code == 404
        assert "page 4 of the aliases is past the last one, page 3" in response.text
        for bad in ("0", "x", "1_0", "²", "-1"):
            response = client.get("/aliases", params={"page": bad})
            assert response.status_code == 400, bad
            assert "page" in response.text
        assert client.get("/aliases", params={"page": "3"}).status_code == 200
