"""Reaching every artifact and alias from the pages, and pages that stay readable (Chromium).

Found by using the console on a realistic ledger: an alias name with ``/`` and ``..`` in it, an
artifact's children, a tree deeper than the window is wide, a long message in a narrow window, a
page number past the last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from console_support import HIERARCHY, Served
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Ledger, RetentionPolicy
from artifact_ledger.http.console import routes as console_routes

OpenPage = Callable[..., Any]

TRICKY_ALIAS = "team/../../verify"
"""An alias name the ledger accepts whose path segments a browser would resolve away."""


def overflow(page: Any) -> int:
    """How far the page is wider than the window (0 or less: it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def test_alias_links_keep_slashes_and_dots_in_the_name(served: Served, open_page: OpenPage) -> None:
    model = served.create({"name": "model"})

    async def alias(ledger: Ledger) -> None:
        async with ledger.manager(HIERARCHY) as manager:
            await manager.set_alias(TRICKY_ALIAS, model, actor="alice", reason="release")

    served.call(alias)
    page = open_page(served)
    for start, where in (
        ("/aliases", "#aliases"),
        (f"/artifacts/{model}", "#alias-list"),
        (f"/artifacts/{model}", "#provenance"),
        ("/audit?type=alias.set", "#audit"),
    ):
        page.goto(start)
        page.locator(where).get_by_role("link", name=TRICKY_ALIAS, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Alias {TRICKY_ALIAS}")
        assert page.url == f"{served.base}/aliases/team%2F..%2F..%2Fverify", (start, page.url)
        expect(page.locator("main")).to_contain_text("Points at model v1")


async def _family(ledger: Ledger) -> dict[str, str]:
    """A run with 105 predictions; the first has an evaluation."""
    async with ledger.manager(HIERARCHY) as manager:
        run = await manager.save(ArtifactIn(data={"name": "run"}), actor="alice")
        children = await manager.save_all(
            [ArtifactIn(parent_id=run.id, data={"name": f"prediction-{n:03d}"}) for n in range(105)], actor="alice"
        )
        first = min(children, key=lambda out: out.data["name"])
        grandchild = await manager.save(ArtifactIn(parent_id=first.id, data={"name": "evaluation"}), actor="bob")
    return {"run": str(run.id), "first": str(first.id), "grandchild": str(grandchild.id)}


def test_an_artifact_page_lists_its_children_so_rows_the_tree_leaves_out_are_reached(
    served: Served, open_page: OpenPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_routes, "TREE_BUDGET", 10)  # the tree page draws 10 rows, counts the rest
    ids = served.call(_family)
    page = open_page(served)
    page.goto("/")
    more = page.locator(f'details[data-id="{ids["run"]}"] > .more')
    expect(more).to_contain_text("96 more not drawn here")  # the run and 9 of its children are drawn
    more.get_by_role("link", name="open this artifact").click()
    expect(page).to_have_url(f"{served.base}/artifacts/{ids['run']}")

    children = page.locator("#children")
    expect(children.get_by_role("heading", name="Children")).to_be_visible()
    expect(children).to_contain_text("105 children; 1 to 100 shown")
    expect(children.locator("#child-list > li")).to_have_count(100)
    expect(children.get_by_role("link", name="prediction-099", exact=True)).to_be_visible()
    expect(children.get_by_role("link", name="prediction-100", exact=True)).to_have_count(0)
    children.get_by_role("link", name="Next children").click()
    expect(children).to_contain_text("105 children; 101 to 105 shown")
    expect(children.locator("#child-list > li")).to_have_count(5)
    children.get_by_role("link", name="Previous children").click()
    expect(children.locator("#child-list > li")).to_have_count(100)

    # the 100 children took the budget: the first one's own child is counted, and its page lists it
    row = children.locator(f'details[data-id="{ids["first"]}"]')
    row.locator("summary .count").click()
    expect(row.locator(".more")).to_contain_text("1 more not drawn here")
    row.get_by_role("link", name="open this artifact").click()
    expect(page).to_have_url(f"{served.base}/artifacts/{ids['first']}")
    expect(page.locator("#children")).to_contain_text("1 child.")
    page.locator("#child-list").get_by_role("link", name="evaluation", exact=True).click()
    expect(page).to_have_url(f"{served.base}/artifacts/{ids['grandchild']}")
    expect(page.locator("#children")).to_contain_text("No children.")

    with httpx.Client(base_url=served.base, headers={"Authorization": "Bearer eve-token"}, timeout=30) as http:
        assert http.get(f"/artifacts/{ids['run']}", params={"children": "3"}).status_code == 404
        assert http.get(f"/artifacts/{ids['run']}", params={"children": "x"}).status_code == 400


@pytest.mark.parametrize("width", [1280, 390])
def test_a_deep_tree_stays_readable_and_inside_the_window(served: Served, open_page: OpenPage, width: int) -> None:
    async def chain(ledger: Ledger) -> str:
        async with ledger.manager(HIERARCHY) as manager:
            parent = await manager.save(ArtifactIn(data={"name": "level-00"}))
            for level in range(1, 45):
                parent = await manager.save(ArtifactIn(parent_id=parent.id, data={"name": f"level-{level:02d}"}))
        return str(parent.id)

    deepest = served.call(chain)
    page = open_page(served, width=width)
    page.goto("/")
    page.get_by_role("button", name="Expand all").click()
    link = page.get_by_role("link", name="level-44", exact=True)
    link.scroll_into_view_if_needed()
    expect(link).to_be_visible()
    box = link.bounding_box()
    assert box is not None
    assert box["height"] < 30, box  # on one line, not a character a line
    assert overflow(page) <= 0  # the tree scrolls in its own box, not the page
    link.click()
    expect(page).to_have_url(f"{served.base}/artifacts/{deepest}")


def test_an_expired_contents_message_fits_a_narrow_window(served: Served, open_page: OpenPage) -> None:
    async def expire(ledger: Ledger) -> str:
        async with ledger.manager(HIERARCHY) as manager:
            first = await manager.save(ArtifactIn(data={"name": "weights", "content": b"v1" * 50}))
            await manager.save(ArtifactIn(id=first.id, data={"name": "weights", "content": b"v2" * 50}))
        await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False, actor="ops", reason="retention")
        return str(first.id)

    artifact = served.call(expire)
    page = open_page(served, width=390, height=800)
    page.goto(f"/artifacts/{artifact}?version=1")
    expect(page.locator("#content-gone")).to_contain_text("expired")
    assert overflow(page) <= 0


def test_a_tree_page_past_the_last_says_so(served: Served, open_page: OpenPage) -> None:
    served.create({"name": "only-root"})
    page = open_page(served)
    response = page.goto("/?page=5")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("alert")).to_have_text("page 5 of the tree is past the last one, page 1")
    page.get_by_role("link", name="Back to the tree").click()
    expect(page.get_by_role("link", name="only-root", exact=True)).to_be_visible()


def test_a_long_name_stays_inside_its_lineage_box(served: Served, open_page: OpenPage) -> None:
    wide = "W" * 21 + "…"  # what a long name is cut to: still wider than the box in bold type
    model = served.create({"name": "W" * 60})
    dataset = served.create({"name": "dataset"})

    async def link(ledger: Ledger) -> None:
        async with ledger.manager(HIERARCHY) as manager:
            await manager.link(model, dataset, "derived_from", actor="alice")

    served.call(link)
    page = open_page(served)
    page.goto(f"/artifacts/{model}")
    label = page.locator(f'#lineage-svg a[data-id="{model}"] .lineage-label')
    expect(label).to_have_text(wide)
    # the label's own extent passes the box's right edge; what is drawn is clipped to the box
    inside = page.evaluate(
        """(id) => {
            const node = document.querySelector(`#lineage-svg a[data-id="${id}"]`);
            const box = node.querySelector("rect").getBBox();
            const label = node.querySelector(".lineage-label");
            const clip = label.getAttribute("clip-path");
            const match = clip && clip.match(/^url\\(#([\\w-]+)\\)$/);
            const area = match && document.getElementById(match[1]);
            const edge = area && area.querySelector("rect").getBBox();
            return {
                overflows: label.getBBox().x + label.getBBox().width > box.x + box.width,
                clipped: Boolean(edge) && edge.x >= box.x && edge.x + edge.width <= box.x + box.width
                    && edge.y >= box.y && edge.y + edge.height <= box.y + box.height,
            };
        }""",
        model,
    )
    assert inside == {"overflows": True, "clipped": True}


def test_a_deletion_compared_reads_as_words(served: Served, open_page: OpenPage) -> None:
    parent = served.create({"name": "run"})
    gone = served.create({"name": "scratch"}, parent_id=parent)
    with served.api() as client:
        assert client.delete(f"/{gone}").status_code == 204
    page = open_page(served)
    page.goto(f"/artifacts/{gone}?diff_from=1&diff_to=2#diff")
    facts = page.locator("#diff-result dl.facts")
    expect(facts.locator("dt")).to_have_text(["Deleted", "Level"])
    expect(facts.locator("dd")).to_have_text(["no → yes", "1 → none"])
    expect(facts).not_to_contain_text("True")
    expect(facts).not_to_contain_text("None")
