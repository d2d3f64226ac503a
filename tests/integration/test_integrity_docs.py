"""docs/guides/integrity.md and docs/bundle-format.md: their snippets run and their links resolve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [DOCS / "guides" / "integrity.md", DOCS / "bundle-format.md"]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


BLOCKS = python_blocks(PAGES[0])


def test_the_guide_has_a_snippet() -> None:
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_integrity_guide_blocks_run(block: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
    done = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    if "recorded head" in block:  # the chain's block; the Merkle tree's and checkpoints' assert their own results
        assert "recorded head 2:" in done.stdout
    else:
        assert "verified" in done.stdout


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page: Path) -> None:
    targets = _LINK.findall(page.read_text(encoding="utf-8"))
    assert targets
    for target in targets:
        file_part, _, anchor = target.partition("#")
        path = (page.parent / file_part).resolve() if file_part else page
        assert path.is_file(), f"{page.name} links to missing {target}"
        if anchor:
            assert anchor in anchors(path), f"{page.name} links to missing anchor {target}"
