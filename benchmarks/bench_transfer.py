"""Export and import rates (events/s) for a ledger of 100,000 events, on SQLite and PostgreSQL.

Not part of the suite: ``cd benchmarks && python bench_transfer.py [--events N]``. The ledger is
the one ``bench_verify`` builds (80 % creates in trees of 100, one in 50 with a blob, then 20 %
updates). Export writes a bundle; import replays it into a fresh database of the same backend
(verifying the bundle first, then inserting and projecting in one transaction). Also printed:
the process's peak RSS after each step, to show that memory does not grow with the log.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from bench_db import BACKENDS, fresh_database
from bench_verify import build

from artifact_ledger import Ledger
from artifact_ledger.transfer import export_ledger, import_bundle


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(backend: str, total: int, directory: Path) -> None:
    bundle = directory / f"bundle-{backend}"
    async with fresh_database(backend) as source:
        await build(source, total, print)
        t0 = time.perf_counter()
        manifest = await export_ledger(source.engine, bundle)
        exported = time.perf_counter() - t0
    assert manifest.event_count == total
    print(f"{backend}: export {total / exported:,.0f} events/s ({exported:.2f} s), peak RSS {_rss_mib():.0f} MiB")
    async with fresh_database(backend) as target:
        t0 = time.perf_counter()
        result = await import_bundle(target.engine, bundle)
        imported = time.perf_counter() - t0
        assert result.events_imported == total
        async with Ledger.open(target.engine) as ledger:
            report = await ledger.verify(blobs=False)
        assert report.ok, report
    print(f"{backend}: import {total / imported:,.0f} events/s ({imported:.2f} s, bundle verification included), "
          f"peak RSS {_rss_mib():.0f} MiB")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        for backend in args.backend or BACKENDS:
            await bench(backend, args.events, Path(directory))


if __name__ == "__main__":
    asyncio.run(main())
