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
    "04_versioning_and_audit.py": [
        "  v1 artifact.created   2026-03-02 09:00 alice  status=draft     reason='new protocol'",
        "  v3 artifact.updated   2026-03-03 12:00 carol  status=approved  reason='approve'",
        "Version 2 as it was: status=review, content='Keep samples at 2-8 °C for at most 48 hours.'",
        "  ~ /status: 'review' -> 'approved'",
        "  ~ /title: 'Sample handling' -> 'Sample handling (approved)'",
        "Reverted to version 2 as version 4: status=review",
        "Reverting again appends nothing: still version 4",
        "artifact.reverted  v4 reason='72 hours is not validated' correlation=None reverted_to=2",
        "Events by bob: [3]",
        "Events on 2026-03-03: [('carol', 'artifact.updated'), ('alice', 'artifact.reverted')]",
    ],
    "06_model_promotion.py": [
        "stale promotion refused: ConcurrencyError",
        "in production on 2026-05-05: forecaster v2",
        "in production now: forecaster v1",
        "forecaster v2 was trained on: sales-2026-q1, sales-2026-q2",
        "promoted by bob on 2026-05-05: rmse 1.9 -> 1.5",
        "2026-05-06 carol: moved (v2 drifts on new stores)",
        "verify: ok=True",
    ],
    "05_time_travel.py": [
        "Day 2 (2026-04-07 12:00 UTC):\n  - training: baseline (v1) {'rmse': 1.9}\n"
        "    - prediction: forecast north (v1)\n    - prediction: forecast east (v1)\n"
        "      - evaluation: eval east (v1) {'mae': 0.8}\n    - prediction: forecast west (v1)\n",
        "Day 3 (2026-04-08 12:00 UTC):\n  - training: baseline (v2) {'rmse': 1.7}\n"
        "    - prediction: forecast north (v1)\n    - prediction: forecast west (v1)\n"
        "  - training: tuned (v1) {'rmse': 1.4}\n    - prediction: forecast south (v1)\n"
        "    - prediction: forecast east (v2)\n      - evaluation: eval east (v1) {'mae': 0.8}\n",
        "Day 4 (2026-04-09 12:00 UTC):\n  - training: baseline (v2) {'rmse': 1.7}\n"
        "    - prediction: forecast north (v1)\n  - training: tuned (v1)",
        "forecast east on day 1: None",
        "forecast west today: None; on day 3: forecast west",
        "The ledger kept every day's tree.",
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
