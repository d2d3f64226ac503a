"""Benchmark N (many processes writing to 1 or more namespaces) runs end to end at its quick size on
both backends, and its chart can be drawn from the report.

Timings are never asserted. The run checks its own work (each namespace's artifact count, read back
through the ledger, equals what its worker processes reported saving) and fails otherwise; this test
checks that every cell is in the JSON report with finite numbers, that lock wait was measured where
the docs say it is (the timed lock statement on both backends, pg_locks samples on PostgreSQL only),
and that the chart script writes a PNG.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_processes import MODES, QUICK_NAMESPACES, QUICK_PROCESSES  # noqa: E402  (the path above)

pytestmark = pytest.mark.slow


def test_every_cell_on_both_backends_and_the_chart(tmp_path: Path) -> None:
    out = tmp_path / "n.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "N", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    for backend in ("sqlite", "postgresql"):
        cells = {r["workload"]: r for r in results if r["backend"] == backend and "ours" in r["detail"]}
        wanted = {f"N {mode} {n}p x {m}ns" for mode in MODES for n in QUICK_PROCESSES for m in QUICK_NAMESPACES}
        assert set(cells) == wanted
        for r in cells.values():
            ours, floor = r["detail"]["ours"], r["detail"]["floor"]
            assert ours["operations"] > 0, r
            assert floor["operations"] > 0, r
            assert all(math.isfinite(ours[k]) and ours[k] >= 0 for k in ("rate", "p50_ms", "p99_ms", "lock_p99_ms"))
            assert 0 <= ours["lock_share"] <= 1, r  # time in the lock statement / the processes' time
            sampled = ours["lock_share_sampled"]
            assert (sampled is not None) == (backend == "postgresql"), r
            assert floor["lock_share"] == 0  # the floor takes no lock
        targets = [r for r in results if r["backend"] == backend and "ours" not in r["detail"]]
        assert [(r["target"], r["goal"]) for r in targets] == [(4.0, None), (None, 25_000.0)]
    png = tmp_path / "n.png"
    drawn = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "chart_processes.py"), str(out), "--out", str(png)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
