"""S1: streaming content, saved from a file and read back, beside ``shutil.copyfileobj`` of the same bytes.

Run with ``python benchmarks/bench_streaming.py [--mib 1024] [--repeats 3] [--backend sqlite|postgresql]
[--store database|directory]``.

Each repeat, on a fresh database of each backend, for each blob store (the database's
``ledger_blobs`` table, or a blob directory in the same temporary directory as the copy):

- floor: ``shutil.copyfileobj`` of the source file to a new file in the same temporary
  directory (the same disk as the SQLite database), then ``fsync``; timed right before the save
  and again right before the read, each time after an untimed copy, so the floor and the step
  it is set against both start right after a copy of the same 1 GiB;
- save: ``manager.save(ArtifactIn(data={"content": Path(source)}))`` (a commit);
- read: ``async for chunk in manager.open_content(id)`` written to a new file, then ``fsync``.
- database floor (database store only): the least any store that keeps content in the database
  must do, on a bare driver connection (no ledger, no hashing): the file read in 4 MiB chunks, one
  ``INSERT`` per chunk into a bare table (a ``BLOB``; on PostgreSQL a ``bytea`` stored uncompressed,
  ``STORAGE EXTERNAL``) in one transaction, committed; then the rows read back in order into a new
  file, ``fsync``. Its ratio to ``copyfileobj`` bounds what the database store can reach.

Throughput ratios are floor time over our time (1.0 = as fast as copying the file; the
target is at least 0.5), each the median of the repeats' ratios. On this shared virtual disk
the same 1 GiB copy takes 0.8 s or 2.5 s depending on what was written just before it (a copy
right after a save is a slow one), so a floor timed once, before everything else, says more
about the disk than about the ledger. Each timed step starts after ``os.sync()``, with nothing
of the step before still waiting to be written. The resident set is sampled every 5 ms during the save and the read
(``bench_transfer._PeakRss``): its growth over the start shows memory does not follow the
content's size. Medians of the repeats are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_db import BACKENDS, fresh_database
from bench_transfer import _PeakRss

from artifact_ledger import ArtifactIn
from artifact_ledger.content.streams import CHUNK_SIZE
from artifact_ledger.store.blob_dir import attach_blob_store, detach_blob_store

STORES = ("database", "directory")


def _write_source(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for index in range(mib):
            piece = index.to_bytes(8, "big") + block[8:]  # no two chunks alike: nothing deduplicates
            digest.update(piece)
            handle.write(piece)
    return digest.hexdigest()


def _copy(source: Path, target: Path) -> float:
    os.sync()
    started = time.perf_counter()
    with source.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 4 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def _floor(source: Path, target: Path) -> float:
    """A copy timed in the conditions of the step it is set against: right after another copy of the
    same bytes (untimed), as the step itself runs right after this one."""
    _copy(source, target)
    return _copy(source, target)


async def _one(backend: str, store: str, source: Path, expected: str, scratch: Path) -> dict[str, float]:
    async with fresh_database(backend) as db:
        blobs = scratch / "blobs"
        attached = None
        if store == "directory":
            attached = await attach_blob_store(db.engine, f"file://{blobs}", create=True)
        try:
            times = await _save_and_read(db, source, expected, scratch)
            if store == "database":
                times |= await _database_floor(db, source, scratch)
        finally:
            if attached is not None:
                detach_blob_store(db.engine, attached)
            await asyncio.to_thread(shutil.rmtree, blobs, True)
    return times


FLOOR_TABLE = "bench_chunks"


async def _database_floor(db: Any, source: Path, scratch: Path) -> dict[str, float]:
    """The database floor: the source's chunks inserted into a bare table and read back (see the docstring)."""
    sqlite = db.backend == "sqlite"
    async with db.driver(autocommit=True) as conn:
        if sqlite:
            await conn.execute(f"CREATE TABLE {FLOOR_TABLE} (n INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        else:
            await conn.execute(f"CREATE TABLE {FLOOR_TABLE} (n integer PRIMARY KEY, data bytea NOT NULL)")
            await conn.execute(f"ALTER TABLE {FLOOR_TABLE} ALTER COLUMN data SET STORAGE EXTERNAL")
        insert = f"INSERT INTO {FLOOR_TABLE} (n, data) VALUES ({'?, ?' if sqlite else '$1, $2'})"
        started = time.perf_counter()
        with source.open("rb") as handle:
            if sqlite:
                await conn.execute("BEGIN IMMEDIATE")
                n = 0
                while chunk := handle.read(CHUNK_SIZE):
                    await conn.execute(insert, (n, chunk))
                    n += 1
                await conn.execute("COMMIT")
            else:
                async with conn.transaction():
                    n = 0
                    while chunk := handle.read(CHUNK_SIZE):
                        await conn.execute(insert, n, chunk)
                        n += 1
        save = time.perf_counter() - started
        target = scratch / "floor-read.bin"
        started = time.perf_counter()
        with target.open("wb") as out:
            for index in range(n):
                if sqlite:
                    async with conn.execute(f"SELECT data FROM {FLOOR_TABLE} WHERE n = ?", (index,)) as cursor:
                        row = await cursor.fetchone()
                    out.write(row[0])
                else:
                    out.write(await conn.fetchval(f"SELECT data FROM {FLOOR_TABLE} WHERE n = $1", index))
            out.flush()
            os.fsync(out.fileno())
        read = time.perf_counter() - started
        target.unlink()
        await conn.execute(f"DROP TABLE {FLOOR_TABLE}")
    return {"db_floor_save_s": save, "db_floor_read_s": read}


async def _save_and_read(db: Any, source: Path, expected: str, scratch: Path) -> dict[str, float]:
    async with db.manager() as manager:
        save_floor = await asyncio.to_thread(_floor, source, scratch / "copy.bin")
        await asyncio.to_thread(os.sync)  # every timed step starts on a disk with nothing left to write
        with _PeakRss() as save_rss:
            started = time.perf_counter()
            out = await manager.save(ArtifactIn(data={"name": "weights", "content": source}))
            save = time.perf_counter() - started
        assert out.data["content"].sha256 == expected
        target = scratch / "read.bin"
        read_floor = await asyncio.to_thread(_floor, source, scratch / "copy.bin")
        await asyncio.to_thread(os.sync)
        with _PeakRss() as read_rss, target.open("wb") as handle:
            started = time.perf_counter()
            async for chunk in manager.open_content(out.id):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            read = time.perf_counter() - started
        target.unlink()
    return {
        "floor_s": statistics.median((save_floor, read_floor)),
        "save_s": save,
        "read_s": read,
        "save_ratio": save_floor / save,
        "read_ratio": read_floor / read,
        "save_rss_growth_mib": save_rss.peak - save_rss.start,
        "read_rss_growth_mib": read_rss.peak - read_rss.start,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="content size in MiB (default 1024)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--store", choices=STORES, action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="al-stream-") as tmp:
        scratch = Path(tmp)
        source = scratch / "source.bin"
        expected = _write_source(source, args.mib)
        for backend in args.backend or BACKENDS:
            for store in args.store or STORES:
                runs = [await _one(backend, store, source, expected, scratch) for _ in range(args.repeats)]
                med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
                rate = args.mib / med["floor_s"]
                print(
                    f"{backend:10} {store:9} {args.mib} MiB  copyfileobj {med['floor_s']:.2f}s ({rate:.0f} MiB/s)  "
                    f"save {med['save_s']:.2f}s ({args.mib / med['save_s']:.0f} MiB/s, "
                    f"{med['save_ratio']:.2f}x)  read {med['read_s']:.2f}s "
                    f"({args.mib / med['read_s']:.0f} MiB/s, {med['read_ratio']:.2f}x)  "
                    f"RSS growth save {med['save_rss_growth_mib']:.0f} MiB, read {med['read_rss_growth_mib']:.0f} MiB"
                )
                if "db_floor_save_s" in med:
                    print(
                        f"{'':21}database floor: insert {med['db_floor_save_s']:.2f}s "
                        f"({med['floor_s'] / med['db_floor_save_s']:.2f}x copyfileobj), read back "
                        f"{med['db_floor_read_s']:.2f}s ({med['floor_s'] / med['db_floor_read_s']:.2f}x); "
                        f"ours over it: save {med['save_s'] / med['db_floor_save_s']:.2f}x, "
                        f"read {med['read_s'] / med['db_floor_read_s']:.2f}x"
                    )


if __name__ == "__main__":
    asyncio.run(main())
