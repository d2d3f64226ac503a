"""An artifact with a long history in a real browser: its history is listed a page at a time
(the newest page first), and versions to compare are typed once there are too many to list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from console_support import COOKIE, Served
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http.console.routes import HISTORY_PAGE

OpenPage = Callable[..., Any]
VERSIONS = 2 * HISTORY_PAGE + 30


def long_artifact(served: Served) -> str:
    async def write(ledger: Ledger) -> str:
        async with ledger.manager() as manager:
            a = await manager.save(ArtifactIn(data={"name": "notes", "n": 1}), actor="alice")
            for n in range(2, VERSIONS + 1):
                await manager.save(ArtifactIn(id=a.id, data={"name": "notes", "n": n}), actor="alice")
            return str(a.id)

    return served.call(write)


def test_a_long_history_is_paged_newest_first(served: Served, open_page: OpenPage) -> None:
    artifact = long_artifact(served)
    page = open_page(served)
    page.goto(f"/artifacts/{artifact}")
    history = page.locator("#history li")
    expect(history).to_have_count(30)  # the newest page: versions 201 to 230
    expect(history.nth(0)).to_contain_text(f"v{2 * HISTORY_PAGE + 1}")
    expect(history.nth(29)).to_contain_text(f"v{VERSIONS}")
    expect(page.locator("#history-count")).to_have_text(
        f"{VERSIONS} versions; {2 * HISTORY_PAGE + 1} to {VERSIONS} shown."
    )
    pager = page.get_by_role("navigation", name="Pages of the history")
    expect(pager).to_contain_text("Page 3 of 3")
    expect(pager.get_by_role("link", name="Newer versions")).to_have_count(0)
    pager.get_by_role("link", name="Older versions").click()
    expect(history).to_have_count(HISTORY_PAGE)
    expect(history.nth(0)).to_contain_text(f"v{HISTORY_PAGE + 1}")
    expect(pager).to_contain_text("Page 2 of 3")
    expect(page.locator("#data")).to_contain_text(f'"n": {VERSIONS}')  # still the latest shown

    # an old version opens on its own page of the history, marked as the one shown
    history.nth(0).get_by_role("link", name=f"view version {HISTORY_PAGE + 1}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Version {HISTORY_PAGE + 1} of {VERSIONS}")
    expect(page.locator("#data")).to_contain_text(f'"n": {HISTORY_PAGE + 1}')
    expect(page.locator("#history li.current")).to_contain_text(f"v{HISTORY_PAGE + 1}")
    page.goto(f"/artifacts/{artifact}?version=5")
    expect(page.locator("#history li.current")).to_contain_text("v5")
    expect(pager).to_contain_text("Page 1 of 3")

    # too many versions to list in a menu: typed, within 1 to the latest
    page.goto(f"/artifacts/{artifact}")
    page.get_by_label("From").fill("3")
    page.get_by_label("to", exact=True).fill(str(VERSIONS))
    page.get_by_role("button", name="Compare").click()
    result = page.locator("#diff-result")
    expect(result).to_contain_text(f"Version 3 → {VERSIONS}")
    expect(result.locator("tr", has_text="/n")).to_contain_text("changed")
    expect(page.get_by_label("to", exact=True)).to_have_attribute("max", str(VERSIONS))


def test_history_pages_out_of_range_are_refused_naming_the_last(served: Served) -> None:
    artifact = long_artifact(served)
    with httpx.Client(base_url=served.base, cookies={COOKIE: "alice-token"}, timeout=30) as client:
        response = client.get(f"/artifacts/{artifact}", params={"history": "4"})
        assert response.status_code == 404
        assert f"page 4 of the history of artifact {artifact} is past the last one, page 3" in response.text
        for bad in ("0", "x", "1_0", "²"):
            response = client.get(f"/artifacts/{artifact}", params={"history": bad})
            assert response.status_code == 400, bad
            assert "history" in response.text
        small = served.create({"name": "short"})
        response = client.get(f"/artifacts/{small}")
        assert response.status_code == 200
        assert "Pages of the history" not in response.text
        assert '<select id="diff-from"' not in response.text  # one version: nothing to compare
