"""S2: an Arrow DataFrame saved and read back, beside ``pyarrow.parquet`` writing and reading the same frame.

Run with ``python benchmarks/bench_arrow.py [--rows 1000000] [--repeats 3] [--backend sqlite|postgresql]``.

The frame has the columns the JSON DataFrame format cannot carry exactly (a nullable ``Int64``
column with NA, a categorical, timestamps with a time zone, floats with NaN and infinities)
beside plain int64, float64 and string columns, under a named index. Each repeat, on a fresh
database of each backend, in turn:

- floor: ``pyarrow.parquet.write_table(pa.Table.from_pandas(frame), path)`` to a file in a
  temporary directory (the same disk as the SQLite database), then
  ``pq.read_table(path).to_pandas()``; the write is also timed with an ``fsync`` of the file
  after it (printed in brackets), since a committed save returns only once its bytes are on
  disk;
- save: ``manager.save(ArtifactIn(data={"content": frame, "content_type":
  "application/vnd.apache.arrow.stream"}))``: the frame as an Arrow IPC stream, decoded again and
  compared with the original before it is stored (the codec's round-trip check), one commit;
- read: ``manager.find_by_id(id)`` with its content: the blob read, its SHA-256 checked, the
  IPC stream decoded to a DataFrame.

Ratios are our time over the floor's (1.0 = as fast as Parquet through pyarrow directly; the
target is at most 1.5). The frame read back is checked equal to the original (dtypes, index,
values, missing values) every repeat. Medians of the repeats are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from bench_db import BACKENDS, fresh_database

from artifact_ledger import ArtifactIn

ARROW = "application/vnd.apache.arrow.stream"


def make_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    floats = rng.normal(size=rows)
    floats[::97] = np.nan
    floats[::1009] = np.inf
    counts = pd.array(rng.integers(0, 1000, size=rows), dtype="Int64")
    counts[::13] = pd.NA
    frame = pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "score": floats,
            "count": counts,
            "label": pd.Categorical(rng.choice(["train", "test", "holdout"], size=rows)),
            "name": [f"item-{i % 5000}" for i in range(rows)],
            "at": pd.date_range("2026-01-01", periods=rows, freq="s", tz="UTC"),
        }
    )
    frame.index = pd.RangeIndex(rows, name="row")
    return frame


def _floor(frame: pd.DataFrame, path: Path) -> tuple[float, float, float]:
    started = time.perf_counter()
    pq.write_table(pa.Table.from_pandas(frame), path)
    written = time.perf_counter() - started
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # what a committed save also waits for: the bytes on disk
    finally:
        os.close(fd)
    synced = time.perf_counter() - started
    started = time.perf_counter()
    back = pq.read_table(path).to_pandas()
    read = time.perf_counter() - started
    pd.testing.assert_frame_equal(back, frame)
    path.unlink()
    return written, synced, read


async def _one(backend: str, frame: pd.DataFrame, scratch: Path) -> dict[str, float]:
    floor_save, floor_synced, floor_read = await asyncio.to_thread(_floor, frame, scratch / "floor.parquet")
    async with fresh_database(backend) as db, db.manager() as manager:
        started = time.perf_counter()
        out = await manager.save(ArtifactIn(data={"name": "frame", "content": frame, "content_type": ARROW}))
        save = time.perf_counter() - started
        started = time.perf_counter()
        got: Any = await manager.find_by_id(out.id)
        read = time.perf_counter() - started
    assert got is not None
    pd.testing.assert_frame_equal(got.data["content"], frame)
    return {
        "floor_save_s": floor_save,
        "floor_synced_s": floor_synced,
        "floor_read_s": floor_read,
        "save_s": save,
        "read_s": read,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    args = parser.parse_args()
    frame = make_frame(args.rows)
    with tempfile.TemporaryDirectory(prefix="al-arrow-") as tmp:
        for backend in args.backend or BACKENDS:
            runs = [await _one(backend, frame, Path(tmp)) for _ in range(args.repeats)]
            med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            print(
                f"{backend:10} {args.rows} rows  parquet write {med['floor_save_s']:.3f}s read "
                f"{med['floor_read_s']:.3f}s  save {med['save_s']:.3f}s "
                f"({med['save_s'] / med['floor_save_s']:.2f}x)  read {med['read_s']:.3f}s "
                f"({med['read_s'] / med['floor_read_s']:.2f}x)  [parquet write + fsync {med['floor_synced_s']:.3f}s: "
                f"save {med['save_s'] / med['floor_synced_s']:.2f}x]"
            )


if __name__ == "__main__":
    asyncio.run(main())
