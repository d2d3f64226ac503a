"""docs/guides/operations.md: every command it shows exists, and its links resolve."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from artifact_ledger.cli import build_parser

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "operations.md"


def test_every_command_in_the_guide_exists() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = GUIDE.read_text(encoding="utf-8")
    used = set(re.findall(r"(?:\$ |`)artifact-ledger (?:--db \S+ )?([a-z][a-z-]+)", text))
    assert {"migrate", "export", "import", "import-chapkit", "verify"} <= used
    assert used <= set(sub.choices), used - set(sub.choices)


def test_guide_links_resolve() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        path = target.split("#", 1)[0]
        assert (GUIDE.parent / path).exists(), f"broken link {target}"
    for heading in ("Install", "Back up", "Export and import", "Move from SQLite to PostgreSQL", "Upgrade"):
        assert re.search(rf"^## {heading}$", text, re.M), heading
