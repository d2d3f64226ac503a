"""Aliases and lineage in the console, in a real browser, on SQLite and PostgreSQL.

A model's page shows the aliases pointing at it and its lineage as an inline SVG drawn by the
server; a box of the picture opens that artifact. With ``ARTIFACT_LEDGER_SCREENSHOTS=docs/images``
the SQLite run also writes docs/images/console-lineage.png and docs/images/console-aliases.png.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from console_support import HIERARCHY, Served
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http.console import lineage_svg
from artifact_ledger.lineage import LineageEdge, LineageGraph

PNG = b"\x89PNG\r\n\x1a\n"


async def _promotion(ledger: Ledger) -> dict[str, str]:
    """Raw data -> a dataset -> a model (two versions) evaluated by a report; production on v2."""
    ids: dict[str, str] = {}
    async with ledger.manager(HIERARCHY) as manager:
        for name in ("raw-images", "imagenet-subset", "resnet", "eval-report", "augmentations"):
            out = await manager.save(ArtifactIn(data={"name": name}), actor="alice", reason="pipeline run")
            ids[name] = str(out.id)
        await manager.save(
            ArtifactIn(id=ids["resnet"], data={"name": "resnet", "metadata": {"epochs": 45}}), actor="alice"
        )
        await manager.link(ids["imagenet-subset"], ids["raw-images"], "derived_from", actor="alice")
        await manager.link(ids["resnet"], ids["imagenet-subset"], "derived_from", actor="alice")
        await manager.link(ids["resnet"], ids["augmentations"], "used", actor="alice")
        await manager.link(ids["eval-report"], ids["resnet"], "evaluated_on", actor="bob")
        await manager.set_alias("staging", ids["resnet"], version=1, actor="alice")
        await manager.set_alias("production", ids["resnet"], actor="bob", reason="passed the eval")
        await manager.protect_alias("production", actor="bob", reason="release freeze")
    return ids


def test_a_models_page_shows_its_aliases_and_lineage_and_opens_the_dataset(
    served: Served, open_page: Callable[..., Any], tmp_path: Path, backend: str
) -> None:
    ids = served.call(_promotion)
    page = open_page(served, token="eve-token")
    page.goto(f"/artifacts/{ids['resnet']}")

    aliases = page.locator("#alias-list")
    production = aliases.locator('li[data-name="production"]')
    expect(production).to_contain_text("v2")
    expect(production.locator(".protected")).to_have_text("protected")
    expect(aliases.locator('li[data-name="staging"]')).to_contain_text("v1")
    expect(aliases.locator('li[data-name="staging"] .protected')).to_have_count(0)

    picture = page.locator("svg#lineage-svg")
    expect(picture).to_be_visible()
    expect(picture.locator("a.lineage-node")).to_have_count(5)
    expect(picture.locator("a.lineage-root")).to_have_attribute("data-id", ids["resnet"])
    edge = picture.locator(f'g.lineage-edge[data-src="{ids["resnet"]}"][data-dst="{ids["imagenet-subset"]}"]')
    expect(edge).to_have_attribute("data-kind", "derived_from")
    expect(edge.locator("text")).to_have_text("derived_from")
    kinds = picture.locator("g.lineage-edge text").all_text_contents()
    assert sorted(kinds) == ["derived_from", "derived_from", "evaluated_on", "used"]
    # Upstream on the left of the model, downstream on its right.
    dataset = picture.locator(f'a.lineage-node[data-id="{ids["imagenet-subset"]}"]')
    model_box = picture.locator("a.lineage-root rect").bounding_box()
    dataset_box = dataset.locator("rect").bounding_box()
    report_box = picture.locator(f'a.lineage-node[data-id="{ids["eval-report"]}"] rect').bounding_box()
    assert dataset_box is not None
    assert model_box is not None
    assert report_box is not None
    assert dataset_box["x"] < model_box["x"] < report_box["x"]
    expect(dataset).to_contain_text("imagenet-subset")
    shots = tmp_path / "shots"
    shots.mkdir()
    _shoot_sections(page, shots, "lineage", "#aliases", "#lineage")

    dataset.click()
    page.wait_for_url(f"**/artifacts/{ids['imagenet-subset']}")
    expect(page.locator("h1")).to_contain_text("imagenet-subset")
    expect(page.locator("#alias-list")).to_have_count(0)
    expect(page.locator("#aliases")).to_contain_text("No alias points at this artifact")
    there = page.locator("svg#lineage-svg")
    expect(there.locator(f'a.lineage-node[data-id="{ids["raw-images"]}"]')).to_be_visible()
    expect(there.locator(f'a.lineage-node[data-id="{ids["resnet"]}"]')).to_be_visible()

    page.get_by_role("link", name="Aliases", exact=True).click()
    rows = page.locator("#aliases tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("production")
    expect(rows.first).to_contain_text("resnet")
    _shoot_sections(page, shots, "aliases", "h1", "#aliases")
    rows.first.get_by_role("link", name="production").click()
    history = page.locator("#alias-history li")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("by bob")
    expect(history.nth(0)).to_contain_text("passed the eval")
    expect(history.nth(1)).to_contain_text("protected")
    expect(history.nth(1)).to_contain_text("release freeze")

    target = os.environ.get("ARTIFACT_LEDGER_SCREENSHOTS")
    if target and backend == "sqlite-file":
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in sorted(shots.glob("console-*.png")):
            shutil.copy(shot, Path(target) / shot.name)


def test_lineage_as_of_shows_the_links_as_they_stood(served: Served, open_page: Callable[..., Any]) -> None:
    async def before_links(ledger: Ledger) -> tuple[str, str, str, str]:
        async with ledger.manager() as manager:
            a = await manager.save(ArtifactIn(data={"name": "a"}))
            b = await manager.save(ArtifactIn(data={"name": "b"}))
            await manager.link(a.id, b.id, "used")
            linked = (await manager.audit(event_type="link.added")).entries[-1].recorded_at
            await manager.unlink(a.id, b.id, "used")
            return str(a.id), str(b.id), b.updated_at.isoformat(), linked.isoformat()

    a_id, b_id, b_created, linked = served.call(before_links)
    page = open_page(served, token="eve-token")
    page.goto(f"/artifacts/{a_id}")
    expect(page.locator("#lineage")).to_contain_text("No links")
    page.goto(f"/artifacts/{a_id}?as_of={b_created.replace('+00:00', 'Z')}")
    expect(page.locator("svg#lineage-svg")).to_have_count(0)
    expect(page.locator("#lineage")).to_contain_text("No links")
    # While the link stood: drawn, and its boxes keep the instant.
    page.goto(f"/artifacts/{a_id}?as_of={linked.replace('+00:00', 'Z')}")
    expect(page.locator("svg#lineage-svg g.lineage-edge")).to_have_count(1)
    other = page.locator(f'svg#lineage-svg a.lineage-node[data-id="{b_id}"]')
    expect(other).to_have_attribute("href", re.compile(rf"^/artifacts/{b_id}\?as_of="))
    other.click()
    page.wait_for_url(f"**/artifacts/{b_id}?as_of=*")
    expect(page.locator("svg#lineage-svg g.lineage-edge")).to_have_count(1)


def _shoot_sections(page: Any, out: Path, name: str, first: str, last: str) -> Path:
    """A screenshot of the page from the top of ``first`` to the bottom of ``last`` (selectors)."""
    top = page.locator(first).first.bounding_box()
    bottom = page.locator(last).first.bounding_box()
    assert top is not None
    assert bottom is not None
    width = page.viewport_size["width"]
    clip = {
        "x": 0,
        "y": max(top["y"] - 16, 0),
        "width": width,
        "height": bottom["y"] + bottom["height"] - top["y"] + 32,
    }
    path = out / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True, clip=clip)
    assert path.read_bytes()[:8] == PNG
    return path


def test_alias_pages_answer_unknown_and_bad_names_with_error_pages(served: Served) -> None:
    ids = served.call(_promotion)
    headers = {"Authorization": "Bearer eve-token"}
    with httpx.Client(base_url=served.base, headers=headers, timeout=30) as http:
        assert http.get("/aliases", headers={"Authorization": ""}).status_code == 401
        listed = http.get("/aliases")
        assert listed.status_code == 200
        assert listed.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert "production" in listed.text
        unknown = http.get("/aliases/nope")
        assert unknown.status_code == 404
        assert "no alias named" in unknown.text
        assert http.get("/aliases/latest").status_code == 400
        assert http.get("/aliases/%24x").status_code == 400
        staging = http.get("/aliases/staging")
        assert staging.status_code == 200
        assert ids["resnet"] in staging.text
        assert "<script>" not in http.get(f"/artifacts/{ids['resnet']}").text.split("</head>", 1)[1]


def _graph(root: str, direction: str, edges: list[tuple[str, str, str]], hops: dict[str, int]) -> LineageGraph:
    graph = LineageGraph(root, direction)  # type: ignore[arg-type]
    graph.nodes = {root: 0, **hops}
    graph.edges = [LineageEdge(src, 1, kind, dst, 1) for src, kind, dst in edges]
    graph.labels = {aid: f"name of {aid}" for aid in graph.nodes}
    return graph


def test_the_layout_keeps_boxes_apart_and_counts_what_it_leaves_out() -> None:
    sources = [f"S{i:02d}" for i in range(11)]
    up = _graph("M", "upstream", [("M", "used", s) for s in sources], dict.fromkeys(sources, 1))
    down = _graph("M", "downstream", [("R", "evaluated_on", "M"), ("S00", "used", "M")], {"R": 1, "S00": 1})
    picture = lineage_svg.layout("M", up, down)
    drawn = {n.id: n for n in picture.nodes}
    assert len(drawn) == lineage_svg.MAX_PER_COLUMN + 2  # eight sources, the model, the report
    assert picture.hidden == {-1: 11 - lineage_svg.MAX_PER_COLUMN}
    assert drawn["S00"].column == -1  # upstream wins for a node on both sides
    assert drawn["M"].root
    assert drawn["S00"].x < drawn["M"].x < drawn["R"].x
    # Every edge between drawn boxes, the one back into the upstream column included; none to hidden ones.
    assert {(e.src.id, e.kind, e.dst.id) for e in picture.edges} == {
        *(("M", "used", s) for s in sources[: lineage_svg.MAX_PER_COLUMN]),
        ("R", "evaluated_on", "M"),
        ("S00", "used", "M"),
    }
    boxes = [(n.x, n.y, n.x + lineage_svg.NODE_W, n.y + lineage_svg.NODE_H) for n in picture.nodes]
    for i, a in enumerate(boxes):
        assert a[0] >= 0
        assert a[1] >= 0
        assert a[2] <= picture.width
        assert a[3] <= picture.height
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert not lineage_svg.layout("M", _graph("M", "upstream", [], {}), _graph("M", "downstream", [], {})).edges


def test_the_audit_trail_links_alias_and_link_events_to_what_they_name(served: Served) -> None:
    ids = served.call(_promotion)
    with httpx.Client(base_url=served.base, headers={"Authorization": "Bearer eve-token"}, timeout=30) as http:
        aliases = http.get("/audit", params={"type": "alias.set"})
        assert aliases.status_code == 200
        assert 'href="/aliases/production"' in aliases.text
        assert f'href="/artifacts/{ids["resnet"]}"' in aliases.text
        links = http.get("/audit", params={"type": "link.added"}).text
        assert f'href="/artifacts/{ids["imagenet-subset"]}"' in links
        assert f'href="/artifacts/{ids["raw-images"]}"' in links
        assert "evaluated_on" in links


def test_an_artifacts_history_lists_its_alias_and_link_events(served: Served, open_page: Callable[..., Any]) -> None:
    ids = served.call(_promotion)
    page = open_page(served, token="eve-token")
    page.goto(f"/artifacts/{ids['resnet']}")
    events = page.locator("#provenance li")
    expect(events).to_have_count(6)  # three links, staging set, production set and protected
    expect(events.nth(0)).to_contain_text("derived_from")
    expect(events.nth(2)).to_contain_text("evaluated_on")
    expect(events.nth(2).get_by_role("link")).to_have_attribute("href", f"/artifacts/{ids['eval-report']}")
    expect(events.nth(4)).to_contain_text("alias production → v2")
    expect(events.nth(4)).to_contain_text("passed the eval")
    expect(events.nth(5)).to_contain_text("protected")
    page.goto(f"/artifacts/{ids['raw-images']}")
    expect(page.locator("#provenance li")).to_have_count(1)
    expect(page.locator("#provenance li")).to_contain_text("derived_from this v1")
