"""The console's diff shows a text document's change line by line, changed words highlighted (Chromium)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console_support import Served
from playwright.sync_api import expect

OpenPage = Callable[..., Any]


def test_text_diff_lines_with_word_highlights(served: Served, open_page: OpenPage) -> None:
    memo = served.create({"name": "memo", "content": "Dear team,\nwe ship on Monday.\nThanks\n"})
    with served.api("bob-token") as client:
        body = {"data": {"name": "memo", "content": "Dear team,\nwe ship on Friday.\nThanks\nBob\n"}}
        assert client.put(f"/{memo}", json=body).status_code == 200
    page = open_page(served)
    page.goto(f"/artifacts/{memo}?diff_from=1&diff_to=2#diff")
    content = page.get_by_role("region", name="Content changes")
    expect(content).to_contain_text("(text)")
    expect(content).to_contain_text("2 lines added, 1 removed")
    removed = content.locator("tr.line-remove")
    expect(removed).to_have_count(1)
    expect(removed).to_contain_text("we ship on Monday.")
    expect(removed.locator("del.word")).to_have_text("Monday")
    added = content.locator("tr.line-add")
    expect(added).to_have_count(2)
    expect(added.first.locator("ins.word")).to_have_text("Friday")
    expect(added.nth(1)).to_contain_text("Bob")
    highlight = added.first.locator("ins.word").evaluate("e => getComputedStyle(e).backgroundColor")
    assert highlight == "rgb(172, 238, 187)"
    expect(content.locator("tr.line-context").first).to_contain_text("Dear team,")


def test_a_redacted_artifact_shows_its_data_and_says_its_content_was_redacted(
    served: Served, open_page: OpenPage, tmp_path: Any
) -> None:
    scan = served.create({"name": "scan", "email": "ada@example.org", "content": "patient record\n"})
    with served.api("bob-token") as client:
        body = {"data": {"name": "scan", "email": "ada@example.org", "content": "patient record, page 2\n"}}
        assert client.put(f"/{scan}", json=body).status_code == 200
        erased = client.post(f"/{scan}/$redact", json={"fields": ["email"]}, headers={"X-Reason": "erasure request"})
        assert erased.status_code == 200, erased.text
        erased = client.post(f"/{scan}/$redact", json={"version": 1}, headers={"X-Reason": "erasure request"})
        assert erased.status_code == 200, erased.text
    page = open_page(served)
    page.goto(f"/artifacts/{scan}?version=1&diff_from=1&diff_to=2#diff")
    gone = page.locator("#content-gone")
    expect(gone).to_contain_text(f"the content of artifact {scan} version 1 was redacted")
    expect(page.locator("#data")).to_contain_text('"name": "scan"')
    expect(page.locator("main")).not_to_contain_text("ada@example.org")
    expect(page.locator("main")).not_to_contain_text("patient record\n")
    content = page.get_by_role("region", name="Content changes")
    expect(content).to_contain_text("the old content was redacted: not compared")
    history = page.locator("#history li")
    expect(history.nth(0).locator(".redacted")).to_have_text("redacted: content, data.email")
    expect(history.nth(1).locator(".redacted")).to_have_text("redacted: data.email")
    page.screenshot(path=str(tmp_path / "redacted.png"), full_page=True)
    page.goto(f"/artifacts/{scan}")  # the current version's content is untouched
    expect(page.locator("#content")).to_contain_text("patient record, page 2")
