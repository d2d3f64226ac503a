"""The streaming benchmark (S1) runs end to end at a small size on both backends.

Timings are never asserted: the script checks the SHA-256 of what it saved; this checks that it
runs and prints one line per backend and blob store with every figure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_streaming_benchmark_runs_on_both_backends_and_stores(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_streaming.py"), "--mib", "9", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT / "benchmarks",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["sqlite", "database"],
        ["sqlite", "directory"],
        ["postgresql", "database"],
        ["postgresql", "directory"],
    ]
    for line in lines:
        assert re.search(r"save [\d.]+s \(\d+ MiB/s, [\d.]+x\)  read [\d.]+s \(\d+ MiB/s, [\d.]+x\)", line), line
