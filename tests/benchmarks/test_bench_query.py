"""Benchmark Q (metadata queries) runs end to end at a tiny size on both backends and reports every row.

Timings are never asserted. The run itself checks its work (each ``find`` returns exactly the ids
the hand-written SQL returns, ``as_of`` what the floor returned before the updates, counts equal,
the ledger verifies) and fails otherwise; this test checks that it finished and that the JSON
report holds every row of the table in docs/benchmarks.md, with finite numbers and verdicts.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    "Q indexed equality",
    "Q indexed range",
    "Q $or of two indexed",
    "Q tag filter",
    "Q equality as_of=t",
    "Q range as_of=t",
    "Q $or as_of=t",
    "Q tag as_of=t",
    "Q count(equality)",
    "Q first page of 100, no filter",
    "Q page after",
    "Q deep page vs first, no filter",
    "Q first page of 100, one group",
    "Q deep page vs first, one group",
    "Q peak memory paging",
    "Q alt: find_all + Python filter",
)
TARGETED = {  # row prefix -> its target (a ratio)
    "Q indexed equality": 2.0,
    "Q indexed range": 2.0,
    "Q $or of two indexed": 2.0,
    "Q equality as_of=t": 3.0,
    "Q deep page vs first, no filter": 1.5,
    "Q peak memory paging": 1.5,
}

pytestmark = pytest.mark.slow


def test_query_benchmark_reports_every_row_on_both_backends(tmp_path: Path) -> None:
    out = tmp_path / "q.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--only",
            "Q",
            "--query-artifacts",
            "2000",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["args"]["sizes"]["query_artifacts"] == 2000
    for backend in ("sqlite", "postgresql"):
        rows = [r for r in report["results"] if r["backend"] == backend]
        names = [r["workload"] for r in rows]
        for prefix in ROWS:
            assert any(n.startswith(prefix) for n in names), f"{prefix!r} missing on {backend}: {names}"
        for r in rows:
            assert r["workload"].startswith("Q "), r
            assert r["ours"] > 0, r
            assert math.isfinite(r["ours"]), r
            assert r["floor"] > 0, r
            assert math.isfinite(r["floor"]), r
            assert math.isfinite(r["ratio"]), r
        for prefix, target in TARGETED.items():
            (row,) = [r for r in rows if r["workload"].startswith(prefix)]
            assert row["target"] == target, row
            assert row["passed"] is (row["ratio"] <= target), row
        equality = next(r for r in rows if r["workload"].startswith("Q indexed equality"))
        assert equality["detail"]["rows"] == 100  # one experiment: its root and 99 runs
        assert equality["detail"]["artifacts"] == 2000
        memory = next(r for r in rows if r["workload"].startswith("Q peak memory"))
        assert memory["unit"] == "MB"
        assert memory["detail"]["small_rows"] == 100  # one experiment: one page
        assert memory["detail"]["large_rows"] == 1000  # ten groups of one experiment each at 2,000 artifacts
    assert "Q indexed equality" in done.stdout
