"""docs/guides/reliability.md names every reliability test, and only tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
GUIDE = HERE.parents[1] / "docs" / "guides" / "reliability.md"


def test_the_guide_names_each_reliability_test_and_no_other() -> None:
    named = set(re.findall(r"`(test_\w+\.py)", GUIDE.read_text(encoding="utf-8")))
    files = {p.name for p in HERE.glob("test_*.py")} - {Path(__file__).name}
    assert named == files


def test_the_guide_lists_every_size_knob() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    used = set()
    for source in HERE.glob("test_*.py"):
        used |= set(re.findall(r'size\(\s*"(\w+)"', source.read_text(encoding="utf-8")))
    assert used
    for name in used:
        assert f"`{name.upper()}`" in text, name
