"""The console in a real headless Chromium, on SQLite and PostgreSQL.

Each test starts uvicorn over a fresh ledger, writes through the JSON API (or the library, for
content the API cannot carry) and then uses the pages as a person would: clicks, form fields,
downloads. A script error, a dialog or a Content-Security-Policy violation fails the test.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console_support import HIERARCHY, Served, tamper
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.dataframe import DataFrame

OpenPage = Callable[..., Any]


def node(page: Any, artifact_id: str) -> Any:
    """The tree row (summary or leaf) of an artifact."""
    return page.locator(f'[data-id="{artifact_id}"]').first


def test_tree_shows_and_expands_and_collapses(served: Served, open_page: OpenPage) -> None:
    root = served.create({"name": "run-1"})
    child = served.create({"name": "predictions"}, parent_id=root)
    grandchild = served.create({"name": "evaluation"}, parent_id=child)
    other = served.create({"name": "run-2"})
    page = open_page(served)
    page.goto("/")
    expect(page.get_by_role("heading", name="2 roots")).to_be_visible()
    run_1 = page.get_by_role("link", name="run-1", exact=True)
    predictions = page.get_by_role("link", name="predictions", exact=True)
    evaluation = page.get_by_role("link", name="evaluation", exact=True)
    expect(run_1).to_be_visible()
    expect(page.get_by_role("link", name="run-2", exact=True)).to_be_visible()
    # roots are open, deeper levels start closed
    expect(predictions).to_be_visible()
    expect(evaluation).to_be_hidden()
    expect(page.locator(f'details[data-id="{root}"] summary .level').first).to_have_text("training")
    # expand by clicking the row (not its link), then by keyboard
    page.locator(f'details[data-id="{child}"] > summary .count').click()
    expect(evaluation).to_be_visible()
    page.locator(f'details[data-id="{child}"] > summary').press("Enter")
    expect(evaluation).to_be_hidden()
    page.get_by_role("button", name="Expand all").click()
    expect(evaluation).to_be_visible()
    page.get_by_role("button", name="Collapse all").click()
    expect(predictions).to_be_hidden()
    expect(run_1).to_be_visible()
    # a row's link opens the artifact
    page.locator(f'details[data-id="{root}"] > summary').click()
    page.locator(f'details[data-id="{child}"] > summary').click()
    evaluation.click()
    expect(page).to_have_url(f"{served.base}/artifacts/{grandchild}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("evaluation")
    assert other


def _recorded_at(served: Served, artifact_id: str, version: int) -> datetime:
    with served.api() as client:
        response = client.get(f"/{artifact_id}/$history")
        assert response.status_code == 200, response.text
        entry = response.json()["items"][version - 1]
    return datetime.fromisoformat(entry["recorded_at"])


def test_as_of_control_redraws_the_tree_before_a_move(served: Served, open_page: OpenPage) -> None:
    first = served.create({"name": "experiment-a"})
    second = served.create({"name": "experiment-b"})
    moved = served.create({"name": "model-x"}, parent_id=first)
    created = _recorded_at(served, moved, 1)
    time.sleep(0.05)  # the move lands well after the millisecond the as-of control picks
    with served.api() as client:
        response = client.post(f"/{moved}/$move", json={"parent_id": second}, headers={"X-Reason": "regrouped"})
        assert response.status_code == 200, response.text
    page = open_page(served)
    page.goto("/")
    expect(page.locator(f'details[data-id="{second}"] [data-id="{moved}"]')).to_be_attached()
    expect(page.locator(f'details[data-id="{first}"]')).to_have_count(0)  # a leaf now

    before_move = created + timedelta(milliseconds=1)
    page.get_by_label("Show the tree as it was at").fill(before_move.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23])
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("as of")
    expect(page.locator(f'details[data-id="{first}"] [data-id="{moved}"]')).to_be_attached()
    expect(page.locator(f'details[data-id="{second}"]')).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("looking at the past")
    # the artifact page keeps the instant: its parent then
    page.get_by_role("link", name="model-x", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("As of")
    expect(page.locator(".facts")).to_contain_text(first)

    # before anything existed: an empty tree; back to now: the move again
    page.goto("/")
    earliest = _recorded_at(served, first, 1) - timedelta(seconds=1)
    page.get_by_label("Show the tree as it was at").fill(earliest.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23])
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_text("No artifact was live at that time.")).to_be_visible()
    page.get_by_role("link", name="Back to now").click()
    expect(page.locator(f'details[data-id="{second}"] [data-id="{moved}"]')).to_be_attached()


def test_artifact_page_shows_data_history_and_a_diff(served: Served, open_page: OpenPage) -> None:
    artifact = served.create({"name": "classifier", "metadata": {"f1": 0.5, "status": "draft"}}, tags=["baseline"])
    with served.api("bob-token") as client:
        response = client.put(
            f"/{artifact}",
            json={"data": {"name": "classifier", "metadata": {"f1": 0.75, "owner": "bob"}}, "tags": ["best"]},
            headers={"X-Reason": "retrained on the full set"},
        )
        assert response.status_code == 200, response.text
    page = open_page(served)
    page.goto(f"/artifacts/{artifact}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("classifier")
    data = page.locator("#data")
    expect(data).to_contain_text('"f1": 0.75')
    expect(data).to_contain_text('"owner": "bob"')
    facts = page.locator(".facts").first
    expect(facts).to_contain_text("by alice")
    expect(facts).to_contain_text("by bob")
    expect(facts).to_contain_text("best")

    history = page.locator("#history li")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("v1")
    expect(history.nth(0)).to_contain_text("artifact.created")
    expect(history.nth(0)).to_contain_text("by alice")
    expect(history.nth(1)).to_contain_text("artifact.updated")
    expect(history.nth(1)).to_contain_text("by bob")
    expect(history.nth(1)).to_contain_text("retrained on the full set")
    expect(history.nth(1).locator("time")).to_have_attribute("datetime", _recorded_at(served, artifact, 2).isoformat())

    page.get_by_label("From").select_option("1")
    page.get_by_label("to", exact=True).select_option("2")
    page.get_by_role("button", name="Compare").click()
    result = page.locator("#diff-result")
    expect(result).to_contain_text("Version 1 → 2")
    f1 = result.locator("tr", has_text="/metadata/f1")
    expect(f1).to_contain_text("changed")
    expect(f1).to_contain_text("0.5")
    expect(f1).to_contain_text("0.75")
    expect(result.locator("tr", has_text="/metadata/status")).to_contain_text("removed")
    expect(result.locator("tr", has_text="/metadata/owner")).to_contain_text("added")
    expect(result).to_contain_text("baseline → best")

    # an older version, and the same versions both sides
    history.nth(0).get_by_role("link", name="view version 1").click()
    expect(page.locator("#data")).to_contain_text('"f1": 0.5')
    expect(page.get_by_role("status")).to_contain_text("Version 1 of 2")
    page.goto(f"/artifacts/{artifact}?diff_from=2&diff_to=2")
    expect(page.locator("#diff-result")).to_contain_text("No changes.")


async def _contents(ledger: Ledger) -> dict[str, str]:
    frame = DataFrame(columns=["step", "loss"], data=[[i, round(1 / (i + 1), 4)] for i in range(25)])
    async with ledger.manager(HIERARCHY) as manager:
        run = await manager.save(ArtifactIn(data={"name": "run", "content": {"lr": 0.01, "layers": [64, 32]}}))
        table = await manager.save(
            ArtifactIn(parent_id=run.id, data={"name": "losses", "content": frame, "content_type": "text/csv"})
        )
        blob = await manager.save(
            ArtifactIn(
                parent_id=run.id,
                data={"name": "weights", "content": b"\x00\x01binary\xff" * 100, "content_type": "application/zip"},
            )
        )
        note = await manager.save(ArtifactIn(parent_id=run.id, data={"name": "notes", "content": "line one\nline two"}))
    return {"json": str(run.id), "table": str(table.id), "bytes": str(blob.id), "text": str(note.id)}


def test_content_previews_and_downloads(served: Served, open_page: OpenPage, tmp_path: Path) -> None:
    ids = served.call(_contents)
    page = open_page(served)

    page.goto(f"/artifacts/{ids['json']}")
    expect(page.locator("#content")).to_contain_text('"layers": [\n    64,')
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the content").click()
    assert Path(info.value.path()).read_bytes() == b'{"layers":[64,32],"lr":0.01}'

    page.goto(f"/artifacts/{ids['table']}")
    table = page.locator("table#content")
    expect(table.locator("caption")).to_contain_text("25 rows × 2 columns, the first 20 shown")
    expect(table.locator("thead th")).to_have_text(["step", "loss"])
    expect(table.locator("tbody tr")).to_have_count(20)
    expect(table.locator("tbody tr").nth(3).locator("td")).to_have_text(["3", "0.25"])
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the content").click()
    assert info.value.suggested_filename == f"artifact_{ids['table']}.csv"
    csv_lines = Path(info.value.path()).read_text().splitlines()
    assert csv_lines[0] == "step,loss"
    assert len(csv_lines) == 26

    page.goto(f"/artifacts/{ids['bytes']}")
    raw = b"\x00\x01binary\xff" * 100
    content = page.locator("#content")
    expect(content).to_contain_text(f"{len(raw):,} bytes")
    expect(content).to_contain_text(hashlib.sha256(raw).hexdigest())
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the content").click()
    assert Path(info.value.path()).read_bytes() == raw

    page.goto(f"/artifacts/{ids['text']}")
    expect(page.locator("pre#content")).to_have_text("line one\nline two")


def test_audit_search_filters_and_pages(served: Served, open_page: OpenPage) -> None:
    first = served.create({"name": "a"}, reason="first import")
    second = served.create({"name": "b"}, token="bob-token")
    with served.api("bob-token") as client:
        assert client.post(f"/{second}/$move", json={"parent_id": first}).status_code == 200
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    for number in range(50):
        served.create({"name": f"bulk-{number}"})

    page = open_page(served)
    page.goto("/audit")
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("first import")
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_role("heading", name="Events after position 50")).to_be_visible()
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(50)

    page.get_by_label("Actor").fill("bob")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i).locator(".actor")).to_have_text("bob")
    expect(page).to_have_url(f"{served.base}/audit?actor=bob&type=&since=&until=&artifact=")

    page.get_by_label("Event type").select_option("artifact.moved")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(second)

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Until (UTC, exclusive)").fill(cut.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23])
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(3)
    page.get_by_label("Until (UTC, exclusive)").fill("")
    page.get_by_label("From (UTC, inclusive)").fill(cut.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23])
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(50)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)

    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Artifact id").fill(second)
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)
    page.get_by_label("Actor").fill("nobody")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No event matches.")).to_be_visible()


def test_verify_badge_turns_red_after_tampering(served: Served, open_page: OpenPage) -> None:
    root = served.create({"name": "audited"})
    served.create({"name": "child"}, parent_id=root, token="bob-token")
    page = open_page(served)
    page.goto("/")
    badge = page.locator("#verify-badge")
    expect(badge).to_have_text("Log OK · 2 events")
    expect(badge).to_have_class("badge badge-ok")
    page.get_by_role("link", name="Verify", exact=True).click()
    expect(page.locator(".verdict")).to_contain_text("OK")

    served.call(lambda ledger: tamper(ledger, 2, "mallory"))
    page.goto("/")
    expect(badge).to_have_text("Log broken at position 2 (modified)")
    expect(badge).to_have_class("badge badge-broken")
    badge.click()
    expect(page).to_have_url(f"{served.base}/verify")
    verdict = page.locator(".verdict")
    expect(verdict).to_contain_text("Broken at position 2")
    expect(page.locator(".facts")).to_contain_text("position 1")  # the last intact event


XSS = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">'


def test_markup_in_data_tags_and_reasons_is_shown_as_text(serve: Any, open_page: OpenPage) -> None:
    served: Served = serve()  # no tokens: the open console
    artifact = served.create({"name": XSS, "metadata": {"note": XSS}, "content": XSS}, token="", reason=XSS, tags=[XSS])
    child = served.create({"title": "</summary></details><b id=bold>bold</b>"}, token="", parent_id=artifact)
    with served.api(None) as client:
        assert client.put(f"/{artifact}", json={"data": {"name": XSS, "v": XSS}}).status_code == 200
    page = open_page(served, token=None)

    page.goto("/")
    expect(page.get_by_role("link", name=XSS)).to_be_visible()
    expect(page.locator(".tag").first).to_have_text(XSS)
    expect(page.get_by_role("link", name="</summary></details><b id=bold>bold</b>")).to_be_visible()
    assert page.locator("#bold").count() == 0
    assert page.locator("img").count() == 0

    page.goto(f"/artifacts/{artifact}?diff_from=1&diff_to=2")
    expect(page.get_by_role("heading", level=1)).to_contain_text(XSS)
    expect(page.locator("#history")).to_contain_text(XSS)
    expect(page.locator("#diff-result")).to_contain_text("window.__xss")
    page.goto(f"/artifacts/{artifact}?version=1")
    expect(page.locator("pre#content")).to_have_text(XSS)
    page.goto("/audit")
    expect(page.locator("#audit")).to_contain_text(XSS)
    page.goto(f"/artifacts/{child}")
    assert page.locator("#bold").count() == 0
    assert page.locator("img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_signing_in_with_a_token(served: Served, open_page: OpenPage) -> None:
    served.create({"name": "secret-run"})
    page = open_page(served, token=None)
    response = page.goto("/audit?actor=alice")
    assert response is not None
    assert response.status == 401
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("secret-run")).to_have_count(0)
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is not known to this server.")
    page.get_by_label("Token").fill("eve-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{served.base}/audit?actor=alice")  # back where it was going
    expect(page.get_by_text("Signed in as eve (read)")).to_be_visible()
    expect(page.locator("#audit tbody tr")).to_have_count(1)
    expect(page.locator("#verify-badge")).to_have_text("Log OK · 1 events")
    cookie = next(c for c in page.context.cookies() if c["name"] == "artifact_ledger_console")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_pages_fit_a_narrow_window(served: Served, open_page: OpenPage) -> None:
    root = served.create({"name": "a run with a rather long name to wrap", "metadata": {"k": "v" * 300}})
    served.create({"name": "child"}, parent_id=root, tags=["one", "two", "three"])
    page = open_page(served, width=390, height=800)
    for path in ("/", f"/artifacts/{root}?diff_from=1&diff_to=1", "/audit", "/verify"):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, overflow)
