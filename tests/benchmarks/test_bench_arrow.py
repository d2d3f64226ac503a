"""The Arrow DataFrame benchmark (S2) runs end to end at a small size on both backends.

Timings are never asserted: the script checks that every frame read back equals the original
(through Parquet and through the ledger); this checks that it runs and prints one line per
backend with every figure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_arrow_benchmark_runs_on_both_backends() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_arrow.py"), "--rows", "5000", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT / "benchmarks",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["sqlite", "postgresql"]
    for line in lines:
        assert re.search(
            r"parquet write [\d.]+s read [\d.]+s  save [\d.]+s \([\d.]+x\)  read [\d.]+s \([\d.]+x\)", line
        ), line
