"""Screenshots of every console page, looked at by people: docs/console.md shows them.

Each run writes them to the test's temporary directory and checks they are real pictures; with
``ARTIFACT_LEDGER_SCREENSHOTS=docs/images`` the SQLite run also writes docs/images/console-*.png
(``ARTIFACT_LEDGER_SCREENSHOTS=docs/images python -m pytest tests/console/test_console_screenshots.py``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console_support import HIERARCHY, Served, tamper
from playwright.sync_api import expect

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.dataframe import DataFrame

PNG = b"\x89PNG\r\n\x1a\n"


async def _experiment(ledger: Ledger) -> dict[str, str]:
    """Two training runs with predictions and evaluations, written by three people."""
    ids: dict[str, str] = {}
    async with ledger.manager(HIERARCHY) as manager:
        for run, lr in (("resnet-baseline", 0.1), ("resnet-tuned", 0.01)):
            root = await manager.save(
                ArtifactIn(data={"name": run, "metadata": {"lr": lr, "epochs": 30}}, tags=["imagenet"]),
                actor="alice",
                reason="nightly training job",
            )
            ids[run] = str(root.id)
            for split in ("val", "test"):
                frame = DataFrame(
                    columns=["image", "label", "score"],
                    data=[
                        [f"img_{i:04d}.jpg", ["cat", "dog", "fox"][i % 3], round(0.5 + i / 80, 3)] for i in range(40)
                    ],
                )
                pred = await manager.save(
                    ArtifactIn(
                        parent_id=root.id,
                        data={"name": f"predictions-{split}", "content": frame, "content_type": "text/csv"},
                    ),
                    actor="alice",
                )
                ids[f"{run}/{split}"] = str(pred.id)
                await manager.save(
                    ArtifactIn(
                        parent_id=pred.id,
                        data={"name": f"eval-{split}", "metadata": {"f1": 0.81, "accuracy": 0.84}},
                    ),
                    actor="bob",
                )
    return ids


async def _refine(ledger: Ledger, ids: dict[str, str]) -> None:
    async with ledger.manager(HIERARCHY) as manager:
        tuned = ids["resnet-tuned"]
        await manager.save(
            ArtifactIn(
                id=tuned,
                data={"name": "resnet-tuned", "metadata": {"lr": 0.005, "epochs": 45, "warmup": 5}},
                tags=["imagenet", "best"],
            ),
            actor="carol",
            reason="longer schedule after review",
        )
        await manager.move(ids["resnet-baseline/test"], tuned, actor="carol", reason="re-scored with the tuned model")


def _shoot(page: Any, out: Path, name: str, *, full: bool = True) -> Path:
    path = out / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=full)
    assert path.read_bytes()[:8] == PNG
    return path


def test_screenshots_of_every_page(served: Served, open_page: Callable[..., Any], tmp_path: Path, backend: str) -> None:
    ids = served.call(_experiment)
    time.sleep(0.05)
    before = datetime.now(UTC)
    time.sleep(0.05)
    served.call(lambda ledger: _refine(ledger, ids))
    out = tmp_path / "shots"
    out.mkdir()
    page = open_page(served, token="eve-token")
    badge = page.locator("#verify-badge")

    page.goto("/")
    page.get_by_role("button", name="Expand all").click()
    expect(badge).to_have_text("Log OK · 12 events")
    _shoot(page, out, "tree")

    page.get_by_label("Show the tree as it was at").fill(before.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23])
    page.get_by_role("button", name="Show", exact=True).click()
    page.get_by_role("button", name="Expand all").click()
    expect(page.get_by_role("status")).to_contain_text("looking at the past")
    _shoot(page, out, "tree-as-of")

    page.goto(f"/artifacts/{ids['resnet-tuned']}?diff_from=1&diff_to=2#diff")
    expect(page.locator("#diff-result")).to_be_visible()
    _shoot(page, out, "artifact")

    page.goto(f"/artifacts/{ids['resnet-tuned/val']}")
    expect(page.locator("table#content")).to_be_visible()
    _shoot(page, out, "dataframe")

    page.goto("/audit?actor=carol")
    expect(page.locator("#audit tbody tr")).to_have_count(2)
    _shoot(page, out, "audit")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(badge).to_have_text("Log OK · 12 events")
    _shoot(page, out, "narrow", full=False)
    page.set_viewport_size({"width": 1280, "height": 900})

    served.call(lambda ledger: tamper(ledger, 3, "mallory"))
    page.goto("/verify")
    expect(badge).to_have_text("Log broken at position 3 (modified)")
    _shoot(page, out, "verify-broken")

    target = os.environ.get("ARTIFACT_LEDGER_SCREENSHOTS")
    if target and backend == "sqlite-file":
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in sorted(out.glob("console-*.png")):
            shutil.copy(shot, Path(target) / shot.name)
