"""Every example runs as a script, exits 0 and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED = {
    "01_basic_artifacts.py": [
        "Saved artifact",
        "(level 0, version 1)",
        "Content type: application/x-pickle",
        "Loaded content is a LinearRegression",
        "Prediction for x=6.0: 13.00",
        "Loaded model predicts the same as the original",
        "History: version 1 artifact.created",
    ],
    "02_hierarchical_artifacts.py": [
        "Tree of hierarchy 'ml_pipeline':",
        "- training (level 0)",
        "  - prediction (level 1)",
        "First prediction content is a dict with shape (2, 2)",
        "find_all: 4 artifacts",
        "now level 2",
        "    - evaluation (level 2)",
        "Live artifacts: 3",
    ],
    "03_generic_artifacts.py": [
        "Tree of hierarchy 'documents':",
        "- project (level 0): Malaria forecasting",
        "  - document (level 1): Methods",
        "    - version (level 2): v3",
        "Level 2 (version): 3 artifact(s)",
        "Final version: Methods, revision 3 (3000 words)",
        "History: version 1 artifact.created status=draft",
        "History: version 2 artifact.updated status=superseded",
    ],
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("[0-9]*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    for line in EXPECTED[name]:
        assert line in result.stdout, f"{name}: {line!r} missing from output:\n{result.stdout}"
    assert list(tmp_path.iterdir()) == [], f"{name} left files behind: {list(tmp_path.iterdir())}"
