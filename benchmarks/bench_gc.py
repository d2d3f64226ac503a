"""GC: ``ledger.gc`` over many blobs, half of them unreferenced: time and peak memory.

Run with ``python benchmarks/bench_gc.py [--blobs 1000000] [--backend sqlite|postgresql]
[--store database|directory] [--dir-blobs 100000]`` or through ``benchmarks/run.py --only GC``
(``--quick``: 20,000 blobs).

Setup, on a fresh database of each backend: ``live`` = half the blobs are small contents saved
through the manager (``save_all`` in batches of 2,000: real versions, events and blob rows); the
other half are ``ledger_blobs`` rows (directory store: files under the blob directory) inserted
in bulk with the bare driver, so no version names them: they are what gc must find and delete.
The directory store makes its files one by one; ``--dir-blobs`` (default 100,000) keeps that
setup bounded, and the report says which count ran.

Measured: ``ledger.gc(dry_run=True)`` then a real ``ledger.gc()`` (``--unlisted``: both with
``list_blobs=False``, the report counting each store's blobs instead of listing every hash): wall time, and the resident
set's growth over the start of each call (sampled every 5 ms on a thread, ``bench_transfer._PeakRss``).
There is no raw-SQL floor for gc: the floor printed is one keyset scan of ``ledger_blobs``
(hash, size, 5,000 rows a page) with the bare driver, the least any collector must read.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_db import BACKENDS, Database, fresh_database
from bench_report import Result
from bench_suite import QUICK, Sizes
from bench_transfer import _PeakRss

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.store.blob_dir import DirectoryBlobs

SECRET = "bench-gc-secret-0123456789abcdef"
BATCH = 2000
FULL_BLOBS = 1_000_000
QUICK_BLOBS = 20_000
DIR_BLOBS = 100_000
PAGE = 5000


def _garbage(count: int) -> list[tuple[str, int, bytes]]:
    out = []
    for i in range(count):
        data = b"garbage-%d" % i
        out.append((hashlib.sha256(data).hexdigest(), len(data), data))
    return out


async def _insert_rows(db: Database, rows: list[tuple[str, int, bytes]]) -> None:
    async with db.driver() as conn:
        if db.backend == "postgresql":
            await conn.copy_records_to_table("ledger_blobs", records=rows, columns=["hash", "size", "data"])
        else:
            await conn.executemany("INSERT INTO ledger_blobs (hash, size, data) VALUES (?, ?, ?)", rows)
            await conn.commit()


def _write_files(root: Path, rows: list[tuple[str, int, bytes]]) -> None:
    store = DirectoryBlobs(root)
    for digest, _, data in rows:
        path = store.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


async def _scan_floor(db: Database) -> float:
    started = time.perf_counter()
    after = ""
    async with db.driver() as conn:
        while True:
            if db.backend == "postgresql":
                rows = await conn.fetch(
                    "SELECT hash, size FROM ledger_blobs WHERE hash > $1 ORDER BY hash LIMIT $2", after, PAGE
                )
            else:
                cursor = await conn.execute(
                    "SELECT hash, size FROM ledger_blobs WHERE hash > ? ORDER BY hash LIMIT ?", (after, PAGE)
                )
                rows = list(await cursor.fetchall())
            if len(rows) < PAGE:
                return time.perf_counter() - started
            after = str(rows[-1][0])


async def _setup(db: Database, ledger: Ledger, blobs: int, root: Path | None) -> None:
    live = blobs // 2
    async with ledger.manager() as manager:
        for start in range(0, live, BATCH):
            items = [
                ArtifactIn(data={"name": f"a{i}", "content": b"live-%d" % i})
                for i in range(start, min(live, start + BATCH))
            ]
            await manager.save_all(items)
    garbage = _garbage(blobs - live)
    if root is None:
        await _insert_rows(db, garbage)
    else:
        await asyncio.to_thread(_write_files, root, garbage)


async def measure(backend: str, store: str, blobs: int, log: Any = print, *, listed: bool = True) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="al-gc-") as tmp:
        root = Path(tmp) / "blobs" if store == "directory" else None
        async with fresh_database(backend) as db:
            blobs_url = None if root is None else f"file://{root}"
            async with Ledger.open(db.engine, secret=SECRET, blobs=blobs_url) as ledger:
                started = time.perf_counter()
                await _setup(db, ledger, blobs, root)
                log(f"GC {backend}/{store}: {blobs:,} blobs set up in {time.perf_counter() - started:.1f}s")
                floor = await _scan_floor(db)
                out: dict[str, Any] = {}
                for mode in ("dry", "real"):
                    with _PeakRss() as rss:
                        started = time.perf_counter()
                        report = await ledger.gc(dry_run=mode == "dry", list_blobs=listed)
                        out[mode] = (time.perf_counter() - started, rss.as_dict(), report.blobs)
                _, _, left = out["real"]
                again = await ledger.gc(dry_run=True)
                assert left == blobs - blobs // 2, (left, blobs)
                assert again.blobs == 0, again.blobs
    results = []
    suffix = "" if listed else " unlisted"
    for mode, (seconds, rss, found) in out.items():
        results.append(
            Result(
                backend=backend,
                workload="GC",
                kind=f"gc {'dry run' if mode == 'dry' else 'real'}{suffix} {store} {blobs:,} blobs",
                ours=seconds,
                floor=floor,
                unit="s",
                note=f"{found:,} unreferenced; RSS growth {rss['growth_mib']} MiB",
                detail={"blobs": blobs, "store": store, "found": found, "listed": listed, **rss},
            )
        )
    return results


async def run_gc(backend: str, sizes: Sizes, log: Any) -> list[Result]:
    quick = sizes == QUICK
    blobs = QUICK_BLOBS if quick else FULL_BLOBS
    results = await measure(backend, "database", blobs, log)
    results += await measure(backend, "directory", min(blobs, QUICK_BLOBS if quick else DIR_BLOBS), log)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=FULL_BLOBS)
    parser.add_argument("--dir-blobs", type=int, default=DIR_BLOBS)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--store", choices=("database", "directory"), action="append")
    parser.add_argument("--unlisted", action="store_true", help="gc(list_blobs=False): counts, not every hash")
    args = parser.parse_args()
    for backend in args.backend or BACKENDS:
        for store in args.store or ("database", "directory"):
            count = args.blobs if store == "database" else min(args.blobs, args.dir_blobs)
            for r in await measure(backend, store, count, listed=not args.unlisted):
                print(f"{backend:10} {r.kind:40} {r.ours:8.2f}s  (blob scan floor {r.floor:.2f}s)  {r.note}")


if __name__ == "__main__":
    asyncio.run(main())
