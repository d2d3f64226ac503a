"""Benchmark M (the Merkle tree: proofs, checkpoints, the write path with and without it) runs end to end at
its quick size on both backends and reports every row with its ratio.

Timings are never asserted. The run checks its own work (every proof verifies, every checkpoint note
holds, the ledger verifies) and fails otherwise; this test checks it finished and that the JSON report
holds every row of the table in docs/benchmarks.md, with finite numbers, and the statement counts.
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
    "M prove_inclusion(position), median",
    "M prove_inclusion(position), p95",
    "M prove_inclusion(position), statements",
    "M prove_consistency(old, new), median",
    "M prove_consistency(old, new), p95",
    "M prove_consistency(old, new), statements",
    "M verify --checkpoints (100 notes) vs full verify()",
    "M single committed save, with the tree vs without",
    "M save_all × 5,000, with the tree vs without",
)

pytestmark = pytest.mark.slow


def test_proof_benchmark_reports_every_row_on_both_backends(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "M", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    for backend in ("sqlite", "postgresql"):
        rows = [r for r in report["results"] if r["backend"] == backend]
        names = [r["workload"] for r in rows]
        for prefix in ROWS:
            assert any(n.startswith(prefix) for n in names), f"{prefix!r} missing on {backend}: {names}"
        for r in rows:
            assert r["workload"].startswith("M "), r
            for key in ("ours", "floor", "ratio"):
                assert math.isfinite(r[key]), r
            assert r["ours"] > 0, r
            assert r["floor"] > 0, r
        for r in rows:
            if "statements" in r["workload"]:
                assert r["target"] == 1.0, r
                assert r["floor"] == pytest.approx(math.log2(20_000)), r  # log2(n): the O(log n) yardstick
        checkpoints = next(r for r in rows if r["workload"].startswith("M verify --checkpoints"))
        assert checkpoints["detail"]["checkpoints"] == 100
        for r in rows:
            if "with the tree vs without" in r["workload"]:
                assert r["target"] == 0.95, r
                assert r["kind"] == "rate", r
    assert "M prove_inclusion" in done.stdout
