"""The streaming benchmark (S1) runs end to end at a small size on both backends.

Timings are never asserted: the script checks the SHA-256 of what it saved; this checks that it
runs and prints one line per backend and blob store with every figure, and under each database-store
line the database's own floor.
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
    printed = done.stdout.strip().splitlines()
    lines = [line for line in printed if not line.startswith(" ")]
    floors = [line.strip() for line in printed if line.startswith(" ")]
    assert [line.split()[:2] for line in lines] == [
        ["sqlite", "database"],
        ["sqlite", "directory"],
        ["postgresql", "database"],
        ["postgresql", "directory"],
    ]
    for line in lines:
        assert re.search(r"save [\d.]+s \(\d+ MiB/s, [\d.]+x\)  read [\d.]+s \(\d+ MiB/s, [\d.]+x\)", line), line
    # Under each database-store line, the database's own floor (bare-table inserts and reads) and ours over it.
    assert [printed[printed.index(line) + 1].strip() for line in lines if line.split()[1] == "database"] == floors
    assert len(floors) == 2
    for line in floors:
        pattern = r"database floor: insert [\d.]+s \([\d.]+x copyfileobj\), read back [\d.]+s \([\d.]+x\); "
        assert re.search(pattern + r"ours over it: save [\d.]+x, read [\d.]+x", line), line
