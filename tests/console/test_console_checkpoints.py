"""The verify page and badge say against which checkpoint they verified, and which one a rewritten log contradicts.

Played as the attacker checkpoints are for: a DBA drops the newest events, lets the ledger write others
(chained and hashed as usual) and replays the projections, so the chain alone verifies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console_support import TOKENS, Served
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Checkpoint, CheckpointSigner, Ledger
from artifact_ledger.checkpoint_dir import write_note
from artifact_ledger.http import TokenAuth
from ledger_support import delete_events, delete_openings_after, lower_checkpoints

OpenPage = Callable[..., Any]
WRITTEN = datetime(2026, 12, 5, 10, 2, 30, tzinfo=UTC)


async def drop_newest_and_rewrite(ledger: Ledger, keep: int, count: int) -> None:
    """Delete the events after ``keep`` with the guard off, replay the projections, write ``count`` others."""
    engine = ledger.engine
    async with engine.begin() as conn:
        await delete_events(conn, "position > :k", k=keep)
        await delete_openings_after(conn, keep)
        await lower_checkpoints(conn, keep)
    await ledger.rebuild()
    async with ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={"forged": i}) for i in range(count)])


def anchor(served: Served, notes: Path, signer: CheckpointSigner | None) -> Path:
    """``artifact-ledger checkpoint --to notes``, done through the library on the server's loop."""
    made: Checkpoint = served.call(lambda ledger: ledger.checkpoint(signers=[] if signer is None else [signer]))
    path = write_note(notes, made)
    os.utime(path, (WRITTEN.timestamp(), WRITTEN.timestamp()))
    return path


def badge_json(served: Served) -> dict[str, Any]:
    with served.api("eve-token") as client:
        response = client.get(f"{served.base}/verify.json")
        assert response.status_code == 200, response.text
        return dict(response.json())


def test_the_badge_names_the_checkpoint_and_then_the_one_a_rewrite_contradicts(
    serve: Callable[..., Served], open_page: OpenPage, tmp_path: Path, backend: str
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    operator = CheckpointSigner.generate("operator.example")
    served = serve(auth=TokenAuth(TOKENS), checkpoints=notes, checkpoint_keys=[operator.verifier_key])
    for name in ("raw", "clean", "features"):
        served.create({"name": name})
    empty = badge_json(served)
    assert (empty["ok"], empty["badge"], empty["checkpoint"]["state"]) == (True, None, "none")
    assert (
        empty["checkpoint"]["summary"] == "chain only — the checkpoint directory holds no checkpoint of this ledger yet"
    )

    path = anchor(served, notes, operator)
    page = open_page(served)
    page.goto("/")
    badge = page.locator("#verify-badge")
    expect(badge).to_have_text("Log OK · checkpoint 3 of 2026-12-05 10:02 UTC")
    expect(badge).to_have_class("badge badge-ok")
    expect(badge).to_have_attribute(
        "title",
        "verified · checkpoint size 3 of 2026-12-05 10:02 UTC signed by operator.example (signature checked)",
    )
    page.goto("/verify")
    expect(page.locator(".verdict")).to_contain_text("OK")
    expect(page.locator("p.checkpoint")).to_have_text(
        "verified · checkpoint size 3 of 2026-12-05 10:02 UTC signed by operator.example (signature checked)"
    )
    facts = page.locator("dl.facts").nth(1)
    expect(facts).to_contain_text(path.name)
    expect(facts).to_contain_text("operator.example (signature checked)")
    if backend == "sqlite-file":
        page.screenshot(path=str(tmp_path / "console-verify-checkpoint.png"), full_page=True)

    served.call(lambda ledger: drop_newest_and_rewrite(ledger, keep=2, count=2))
    assert served.call(lambda ledger: ledger.verify()).ok  # the chain alone cannot tell
    page.goto("/verify")
    expect(badge).to_have_text("Log contradicts checkpoint 3")
    expect(badge).to_have_class("badge badge-broken")
    verdict = page.locator(".verdict")
    expect(verdict).to_contain_text("Contradicted")
    expect(verdict).to_contain_text(path.name)
    expect(page.locator("p.problem").first).to_contain_text(
        f"checkpoint {path.name} (size 3): the log's first 3 events have the root"
    )
    expect(page.locator("p.checkpoint")).to_have_text(
        f"contradicted by checkpoint {path.name} (size 3 of 2026-12-05 10:02 UTC, signed by operator.example "
        "(signature checked))"
    )
    expect(badge).to_have_attribute(
        "title", re.compile(r"\): the log's first 3 events have the root [0-9a-f]{64}, not")
    )
    shot = tmp_path / "console-verify-contradicted.png"
    page.screenshot(path=str(shot), full_page=True)
    target = os.environ.get("ARTIFACT_LEDGER_SCREENSHOTS")
    if target and backend == "sqlite-file":
        Path(target).mkdir(parents=True, exist_ok=True)
        for taken in (shot, tmp_path / "console-verify-checkpoint.png"):
            Path(target, taken.name).write_bytes(taken.read_bytes())
    report = badge_json(served)
    assert report["ok"] is False
    assert report["broken_position"] is None  # the chain itself is intact
    assert report["checkpoint"]["state"] == "contradicted"
    assert report["checkpoint"]["file"] == path.name
    assert report["checkpoint"]["size"] == 3
    assert "rewritten (or this is a fork)" in report["checkpoint"]["problem"]
    assert str(notes) not in report["checkpoint"]["summary"]


def test_without_a_checkpoint_directory_the_check_is_chain_only(
    serve: Callable[..., Served], open_page: OpenPage
) -> None:
    served = serve(auth=TokenAuth(TOKENS))
    served.create({"name": "one"})
    report = badge_json(served)
    assert report["ok"] is True
    assert report["badge"] is None
    assert report["checkpoint"]["state"] == "not-configured"
    assert report["checkpoint"]["summary"] == "chain only — no checkpoint configured"
    page = open_page(served)
    page.goto("/verify")
    badge = page.locator("#verify-badge")
    expect(badge).to_have_text("Log OK · 1 events")
    expect(badge).to_have_attribute("title", "chain only — no checkpoint configured")
    expect(page.locator("p.checkpoint")).to_have_text("chain only — no checkpoint configured")
    expect(page.get_by_text("start the server with --checkpoints DIR")).to_be_visible()


def test_truncation_foreign_unreadable_and_unknown_signer_notes(
    serve: Callable[..., Served], open_page: OpenPage, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    served = serve(auth=TokenAuth(TOKENS), checkpoints=notes)  # no verifier keys: signatures not checked
    for i in range(4):
        served.create({"n": i})
    stranger = CheckpointSigner.generate("stranger")
    path = anchor(served, notes, stranger)
    foreign = Checkpoint(origin="artifact-ledger/01ARZ3NDEKTSV4RRFFQ69G5FAV", size=99, root="ab" * 32)
    write_note(notes, foreign.model_copy(update={"signatures": (stranger.sign(foreign),)}))
    fine = badge_json(served)
    assert fine["checkpoint"]["state"] == "verified"  # the other ledger's larger note is passed over
    assert fine["checkpoint"]["summary"].endswith(
        "signed by stranger (signatures not checked: no verifier key configured)"
    )

    served.call(lambda ledger: drop_newest_and_rewrite(ledger, keep=3, count=0))
    dropped = badge_json(served)
    assert (dropped["ok"], dropped["badge"]) == (False, "Log contradicts checkpoint 4")
    assert dropped["checkpoint"]["problem"] == (
        f"checkpoint {path.name} (size 4): the log holds 3 events, but the checkpoint recorded 4: "
        "the newest 1 were dropped"
    )

    (notes / "000000000009-garbage.note").write_text("not a note\n")
    page = open_page(served)
    page.goto("/verify")
    badge = page.locator("#verify-badge")
    expect(badge).to_have_text("Log: checkpoint unreadable")
    expect(badge).to_have_class("badge badge-broken")
    shown = page.locator("p.checkpoint")
    expect(shown).to_contain_text("checkpoint not checked: the checkpoint directory/000000000009-garbage.note:")
    expect(shown).not_to_contain_text(str(notes))
