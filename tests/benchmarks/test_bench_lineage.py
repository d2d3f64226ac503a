"""Workload L (aliases and lineage) runs end to end at its quick size on both backends.

Timings are never asserted: the workload checks its own answers against the floor's (resolved ids,
lineage node and edge counts equal to the recursive CTE's, ``verify()`` of the bulk-built ledger)
and raises otherwise; this checks that it runs and reports every row, finite and complete.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("L1 resolve_alias", "L1 info", "L2 resolve_alias(as_of)", "L3 lineage upstream", "L3 lineage downstream",
        "L3 info", "L4 save", "L4 set_alias", "L4 link")  # fmt: skip


def test_workload_l_quick_on_both_backends(tmp_path: Path) -> None:
    out = tmp_path / "l.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "L", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    for backend in ("sqlite", "postgresql"):
        rows = [r for r in results if r["backend"] == backend]
        assert [next(p for p in ROWS if r["workload"].startswith(p)) for r in rows] == list(ROWS)
        for r in rows:
            assert r["ours"] > 0, r
            assert r["floor"] > 0, r
            assert math.isfinite(r["ratio"]), r
        lineage = [r for r in rows if r["workload"].startswith("L3 lineage")]
        assert all(r["detail"]["nodes"] > 100 for r in lineage)  # depth 10 reaches far into the graph
        assert all(r["detail"]["edges"] >= r["detail"]["nodes"] - 1 for r in lineage)
        writes = [r for r in rows if r["workload"].startswith(("L4 set_alias", "L4 link"))]
        save = next(r for r in rows if r["workload"].startswith("L4 save"))
        assert all(r["target"] == round(save["ratio"] * 1.25, 2) for r in writes)
