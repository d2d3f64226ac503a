"""V1: how fast ``Ledger.verify`` checks a ledger of 100,000 events, beside reading the same rows raw.

The ledger: trees of one root and 99 children (80,000 creates, one in 50 with a 256-byte
blob of its own), then 20,000 updates, all through ``save_all`` in batches of 5,000. Timed,
each three times (median): the full ``verify()`` (chain, checkpoints, blobs, projection
drift), the chain alone (``blobs=False, projections=False``), and an incremental
``verify(since=...)`` of the last 1,000 events. The floor reads every event row on the bare
driver connection in position order, in one query, and does nothing with them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_db import Database, fresh_database
from bench_report import RATE, TIME, Result
from bench_suite import QUICK, Sizes
from ulid import ULID

from artifact_ledger import ArtifactIn, HeadDigest, Ledger

Log = Callable[[str], None]
FULL_EVENTS, QUICK_EVENTS = 100_000, 5_000
BATCH = 5_000
TREE = 100
REPEATS = 3
SELECT_ALL = "SELECT * FROM ledger_events ORDER BY position"


def plan(total: int) -> tuple[list[ArtifactIn], list[ArtifactIn]]:
    """80 % creates (trees of 100; one in 50 with a blob), then 20 % updates of the earliest artifacts."""
    creates: list[ArtifactIn] = []
    root: ULID | None = None
    for i in range(total * 4 // 5):
        aid = ULID()
        data: dict[str, Any] = {"type": "bench", "i": i, "metrics": {"loss": 1 / (i + 1), "epoch": i % 7}}
        if i % 50 == 0:
            data["content"] = i.to_bytes(8, "big") * 32
        parent = None if i % TREE == 0 else root
        if i % TREE == 0:
            root = aid
        creates.append(ArtifactIn(id=aid, parent_id=parent, data=data))
    updates = [
        ArtifactIn(id=a.id, parent_id=a.parent_id, data={**(a.data or {}), "updated": True})
        for a in creates[: total - len(creates)]
    ]
    return creates, updates


async def build(db: Database, total: int, log: Log) -> HeadDigest:
    creates, updates = plan(total)
    t0 = time.perf_counter()
    async with db.manager() as manager:
        for items in (creates, updates):
            for start in range(0, len(items), BATCH):
                await manager.save_all(items[start : start + BATCH])
    async with Ledger.open(db.engine) as ledger:
        head = await ledger.head()
    assert head.position == total, head
    log(f"V1 {db.backend}: built {total:,} events in {time.perf_counter() - t0:.1f} s")
    return head


async def floor_read(db: Database) -> float:
    async with db.driver() as conn:
        t0 = time.perf_counter()
        rows = await (conn.execute_fetchall(SELECT_ALL) if db.backend == "sqlite" else conn.fetch(SELECT_ALL))
        elapsed = time.perf_counter() - t0
    assert len(rows) > 0
    return elapsed


async def timed_verify(db: Database, expect_events: int, **options: Any) -> float:
    async with Ledger.open(db.engine) as ledger:
        t0 = time.perf_counter()
        report = await ledger.verify(**options)
        elapsed = time.perf_counter() - t0
    assert report.ok, report
    assert report.events_checked == expect_events, report
    return elapsed


async def run_v1(backend: str, sizes: Sizes, log: Log) -> list[Result]:
    total = QUICK_EVENTS if sizes == QUICK else FULL_EVENTS
    async with fresh_database(backend) as db:
        await build(db, total, log)
        await db.create_floor_table()  # analyze() refreshes its statistics too
        await db.analyze()
        async with Ledger.open(db.engine) as ledger:
            since = (await ledger.events_since(total - 1_001, limit=1))[0]
        checkpoint = HeadDigest(since.position, since.hash.hex())
        runs: dict[str, list[float]] = {"full": [], "chain": [], "since": [], "floor": []}
        for rep in range(REPEATS):
            runs["floor"].append(await floor_read(db))
            runs["full"].append(await timed_verify(db, total))
            runs["chain"].append(await timed_verify(db, total, blobs=False, projections=False))
            runs["since"].append(await timed_verify(db, 1_000, since=checkpoint))
            log(
                f"V1 {backend} {rep + 1}/{REPEATS}: full {total / runs['full'][-1]:,.0f} events/s, chain "
                f"{total / runs['chain'][-1]:,.0f}/s, floor read {total / runs['floor'][-1]:,.0f}/s, "
                f"incremental 1,000 in {runs['since'][-1] * 1e3:.1f} ms"
            )
    med = {name: statistics.median(values) for name, values in runs.items()}
    floor = total / med["floor"]
    detail = {"events": total, **{f"{k}_s": v for k, v in runs.items()}}
    return [
        Result(backend, f"V1 verify() × {total:,} events (full)", RATE, total / med["full"], floor, "events/s",
               None, "chain, checkpoints, blobs, projection drift; floor: SELECT every event on the driver", detail),
        Result(backend, "V1 verify(), chain only", RATE, total / med["chain"], floor, "events/s", None,
               "blobs=False, projections=False", detail),
        Result(backend, "V1 verify(since=…), last 1,000 events", TIME, med["since"] * 1e3,
               med["floor"] * 1e3 * 1_000 / total, "ms", None, "floor: the raw read's share of 1,000 rows", detail),
    ]  # fmt: skip
