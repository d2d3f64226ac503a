"""``benchmarks/http_load.py`` keeps working: a tiny run against our server only (no chapkit).

Timings are never asserted: this checks that the script seeds the 1,111-node tree, loads each
route (every response's status is checked by the script itself: a wrong one fails the run),
says why chapkit was left out, and prints the table with one row per route.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ("`GET /{id}`", "`GET /{id}/$tree`", "`POST /`")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_http_load_runs_ours_alone(backend: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "http_load.py"),
            "--backend",
            backend,
            "--clients",
            "2",
            "--duration",
            "0.5",
            "--repeats",
            "1",
            "--chapkit-python",
            str(tmp_path / "no-such-python"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "chapkit skipped" in done.stderr
    assert "does not exist" in done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == list(ROUTES)
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")[2:-1]]
        assert float(cells[0]) > 0, row  # ours: requests per second
        assert cells[3:] == ["—"] * 4, row  # no chapkit columns
