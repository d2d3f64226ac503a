"""W8: export and import rates (events/s) of a ledger of ``transfer_events`` events, beside a driver floor.

Run with ``python benchmarks/run.py --only W8``. The ledger is the one ``bench_verify`` builds
(80 % creates in trees of 100, one in 50 with a 256-byte blob, then 20 % updates). Each repeat,
alternating ours and the floor:

- export: ``export_ledger`` writes a bundle (events.jsonl, the blob files, the manifest). Floor:
  read every event row on the driver in one query and write it as a JSON line (orjson, hashes as
  hex), then read every blob and write it to its own file.
- import: ``import_bundle`` into a fresh database of the same backend (it verifies the bundle
  first, then inserts the events and projects them, in one transaction); afterwards
  ``Ledger.verify(blobs=False)`` must pass. Floor: one ``executemany`` of the event rows, already
  in memory, into a fresh minimal table with the same columns (primary key only), one transaction.

The resident set during each export and import (sampled every 5 ms on a thread: start, peak and
growth, MiB, of the last repeat) goes into the result's detail, to show that memory does not grow
with the log. The sampling thread runs during the timed steps; it wakes 200 times a second and
reads one /proc file, which costs well under 1 % of a core.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from bench_db import Database, fresh_database
from bench_report import RATE, Result
from bench_suite import Sizes
from bench_verify import build

from artifact_ledger import Ledger
from artifact_ledger.transfer import export_ledger, import_bundle

Log = Callable[[str], None]

COLUMNS = (
    "position, event_id, artifact_id, version, type, schema_version, payload, recorded_at, actor, reason, "
    "correlation_id, causation_id, prev_hash, hash"
)
SELECT_EVENTS = f"SELECT {COLUMNS} FROM ledger_events ORDER BY position"
SELECT_BLOBS = "SELECT hash, data FROM ledger_blobs"
FLOOR_EVENTS = "bench_events"
FLOOR_EVENTS_DDL = (
    f"CREATE TABLE {FLOOR_EVENTS} (position BIGINT PRIMARY KEY, event_id VARCHAR(26) NOT NULL, "
    "artifact_id VARCHAR(26) NOT NULL, version INTEGER NOT NULL, type VARCHAR(64) NOT NULL, "
    "schema_version SMALLINT NOT NULL, payload TEXT NOT NULL, recorded_at {time} NOT NULL, actor VARCHAR(255), "
    "reason TEXT, correlation_id VARCHAR(255), causation_id VARCHAR(255), prev_hash {blob} NOT NULL, "
    "hash {blob} NOT NULL)"
)


def _rss_mib() -> float:
    """The process's resident set now (Linux ``/proc``; the high-water mark elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pages * resource.getpagesize() / 2**20


class _PeakRss:
    """Samples the resident set every 5 ms on a thread while a step runs: its peak, and the growth over the start."""

    def __init__(self) -> None:
        self.start = self.peak = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mib())

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())

    def as_dict(self) -> dict[str, float]:
        return {
            "start_mib": round(self.start, 1),
            "peak_mib": round(self.peak, 1),
            "growth_mib": round(self.peak - self.start, 1),
        }


def _line(row: Any) -> bytes:
    return orjson.dumps([v.hex() if isinstance(v, bytes) else v for v in row]) + b"\n"


def _write(directory: Path, rows: list[Any], blobs: list[Any]) -> None:
    """The floor's files, written inline (blocking, the cheapest way)."""
    (directory / "blobs").mkdir(parents=True)
    with open(directory / "events.jsonl", "wb") as out:
        for row in rows:
            out.write(_line(row))
    for digest, data in blobs:
        (directory / "blobs" / digest).write_bytes(data)


async def _floor_export(db: Database, directory: Path) -> tuple[float, list[Any]]:
    """Every event row as a JSON line, every blob as a file; returns the seconds taken and the rows read."""
    async with db.driver() as conn:
        t0 = time.perf_counter()
        if db.backend == "sqlite":
            rows: list[Any] = list(await conn.execute_fetchall(SELECT_EVENTS))
            blobs: list[Any] = list(await conn.execute_fetchall(SELECT_BLOBS))
        else:
            rows = list(await conn.fetch(SELECT_EVENTS))
            blobs = list(await conn.fetch(SELECT_BLOBS))
        _write(directory, rows, blobs)
        elapsed = time.perf_counter() - t0
    return elapsed, rows


async def _floor_import(db: Database, rows: list[Any]) -> float:
    async with db.driver() as conn:
        if db.backend == "sqlite":
            await conn.execute(FLOOR_EVENTS_DDL.format(time="VARCHAR(32)", blob="BLOB"))
            await conn.commit()
            insert = f"INSERT INTO {FLOOR_EVENTS} VALUES ({', '.join('?' * 14)})"
            t0 = time.perf_counter()
            await conn.executemany(insert, rows)
            await conn.commit()
            elapsed = time.perf_counter() - t0
            (row,) = await conn.execute_fetchall(f"SELECT count(*) FROM {FLOOR_EVENTS}")
            count = row[0]
        else:
            await conn.execute(FLOOR_EVENTS_DDL.format(time="TIMESTAMPTZ", blob="BYTEA"))
            insert = f"INSERT INTO {FLOOR_EVENTS} VALUES ({', '.join(f'${i}' for i in range(1, 15))})"
            t0 = time.perf_counter()
            async with conn.transaction():
                await conn.executemany(insert, rows)
            elapsed = time.perf_counter() - t0
            count = await conn.fetchval(f"SELECT count(*) FROM {FLOOR_EVENTS}")
    if count != len(rows):
        raise RuntimeError(f"benchmark sanity check failed: floor import wrote {count} rows, expected {len(rows)}")
    return elapsed


async def run_w8(backend: str, s: Sizes, log: Log) -> list[Result]:
    total = s.transfer_events
    runs: dict[str, list[float]] = {"export": [], "floor_export": [], "import": [], "floor_import": []}
    rss: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="al-bench-w8-") as tmp:
        directory = Path(tmp)
        async with fresh_database(backend) as source:
            await build(source, total, log)
            for rep in range(s.repeats):
                bundle = directory / f"bundle-{rep}"
                with _PeakRss() as peak:
                    t0 = time.perf_counter()
                    manifest = await export_ledger(source.engine, bundle)
                    runs["export"].append(time.perf_counter() - t0)
                if manifest.event_count != total:
                    raise RuntimeError(f"benchmark sanity check failed: exported {manifest.event_count} events")
                rss["export"] = peak.as_dict()
                elapsed, rows = await _floor_export(source, directory / f"floor-{rep}")
                runs["floor_export"].append(elapsed)
                blob_files = sum(1 for _ in (directory / f"floor-{rep}" / "blobs").iterdir())
                if (len(rows), blob_files) != (total, manifest.blob_count):
                    raise RuntimeError(
                        f"benchmark sanity check failed: floor wrote {len(rows)} events, {blob_files} blobs"
                    )
        for rep in range(s.repeats):
            async with fresh_database(backend) as target:
                with _PeakRss() as peak:
                    t0 = time.perf_counter()
                    result = await import_bundle(target.engine, directory / f"bundle-{rep}")
                    runs["import"].append(time.perf_counter() - t0)
                rss["import"] = peak.as_dict()
                if result.events_imported != total:
                    raise RuntimeError(f"benchmark sanity check failed: imported {result.events_imported} events")
                async with Ledger.open(target.engine) as ledger:
                    report = await ledger.verify(blobs=False)
                if not report.ok or report.events_checked != total:
                    raise RuntimeError(f"benchmark sanity check failed: the imported ledger does not verify: {report}")
                runs["floor_import"].append(await _floor_import(target, rows))
            log(
                f"W8 {backend} {rep + 1}/{s.repeats}: export {total / runs['export'][rep]:,.0f} events/s "
                f"(floor {total / runs['floor_export'][rep]:,.0f}/s), import {total / runs['import'][rep]:,.0f}/s "
                f"(floor {total / runs['floor_import'][rep]:,.0f}/s)"
            )
    rate = {k: total / statistics.median(v) for k, v in runs.items()}
    detail = {"events": total, "blobs": manifest.blob_count,
              "rss": rss, **{f"{k}_s": v for k, v in runs.items()}}  # fmt: skip
    return [
        Result(backend, f"W8 export_ledger × {total:,} events", RATE, rate["export"], rate["floor_export"],
               "events/s", None, "floor: SELECT all events, orjson line each, blob files", detail),
        Result(backend, f"W8 import_bundle × {total:,} events", RATE, rate["import"], rate["floor_import"],
               "events/s", None, "bundle verification included; floor: one executemany into a bare table", detail),
    ]  # fmt: skip
