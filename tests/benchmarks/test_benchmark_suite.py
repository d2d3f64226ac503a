"""The benchmark suite runs end to end (small sizes) and reports every workload on both backends.

Timings are never asserted: this checks that `python benchmarks/run.py` works as
the README and docs/benchmarks.md say, that each workload's own correctness checks pass
(they raise on a wrong count or size), and that the JSON report is complete and well formed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ("W1", "W1b", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "H1", "H2", "H3", "V1", "P", "G")
PER_OPERATION = ("get", "save", "update", "move")  # P's operations, each with a target and a statement count

pytestmark = pytest.mark.slow


def test_quick_run_reports_every_workload_on_both_backends(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["args"]["quick"] is True
    assert set(report["machine"]["databases"]) == {"sqlite", "postgresql"}
    results = report["results"]
    for backend in ("sqlite", "postgresql"):
        names = [r["workload"] for r in results if r["backend"] == backend]
        reported = {n.split()[0] for n in names}
        assert set(WORKLOADS) <= reported, f"missing on {backend}: {set(WORKLOADS) - reported}"
    for r in results:
        assert r["ours"] > 0, r
        assert math.isfinite(r["ours"]), r
        assert r["floor"] > 0, r
        assert math.isfinite(r["floor"]), r
        assert math.isfinite(r["ratio"]), r
        assert r["passed"] in (True, False, None)
        if r["target"] is None and r["goal"] is None:
            assert r["passed"] is None, r  # information only: no verdict
    for backend in ("sqlite", "postgresql"):
        per_op = [r for r in results if r["backend"] == backend and r["workload"].startswith("P ")]
        timed = [r for r in per_op if r["target"] is not None]
        assert [r["workload"].split()[1].rstrip(":") for r in timed] == list(PER_OPERATION)
        assert all(r["unit"] == "µs" for r in timed)
        for r in timed:  # statements per operation, counted at the driver: a write needs BEGIN, itself, COMMIT
            counted = r["detail"]["statements"]
            assert counted["ours"] >= 1, r
            assert counted["floor"] >= 1, r
            assert counted["ours_sa"] <= counted["ours"], r
            if r["workload"].startswith(("P save", "P update", "P move")):
                assert counted["floor"] == 3, r
                assert counted["ours"] >= 3, r
    for backend in ("sqlite", "postgresql"):  # group commit: 32 tasks at once share transactions
        grouped = [r for r in results if r["backend"] == backend and r["workload"].startswith("G 32 tasks: saves")]
        assert len(grouped) == 1, grouped
        assert grouped[0]["detail"]["transactions_grouped"] < grouped[0]["detail"]["saves"], grouped
    assert "sqlite" in done.stdout  # the printed tables
    assert "postgresql" in done.stdout
