"""W7: ``Ledger.rebuild()`` and ``Ledger.verify()`` over a log of ``scale_events`` events (1,000,000).

The ledger, as in V1 (``bench_verify``) but generated batch by batch so memory stays bounded
at a million events: trees of one root and 99 children (80 % of the events are creates, one
in 50 with a 256-byte blob of its own), then 20 % updates of the earliest artifacts, all
through ``save_all`` in batches of 5,000. Timed, interleaved (median of three below 200,000
events, one run each above, as the 1M runs take minutes):

- ``rebuild()``: drop the projections and replay the whole log; the rebuilt projections must
  equal the ones the writes left (row counts and a SHA-256 over every ``ledger_artifacts``
  row, the closure table and the parent history).
- ``verify()`` in full (chain, checkpoints, blobs, projection drift), and the chain alone
  (``blobs=False, projections=False``); both must report OK over every event.

Floors, on the bare driver connection: for verify, reading every event row in position order
through a cursor, 5,000 rows a page (the way ``verify`` reads them), doing nothing with them;
for rebuild, a minimal current-state table rebuilt from the log with two statements (every
created event's id, parent and payload INSERT…SELECTed into ``bench_floor``, then each
updated artifact's latest payload set with one UPDATE…FROM). The issue's targets are absolute
(rebuild >= 50,000 events/s, verify >= 200,000 events/s): each row's ``goal`` is that rate,
pass/fail is against it, and the ratio to the floor is shown beside it.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench_db import FLOOR_TABLE, Database, fresh_database
from bench_report import RATE, Result
from bench_suite import Sizes
from bench_verify import timed_verify
from ulid import ULID

from artifact_ledger import ArtifactIn, Ledger

Log = Callable[[str], None]
BATCH = 5_000
PAGE = 5_000
TREE = 100
REBUILD_GOAL = 50_000.0  # events/s, issue 7
VERIFY_GOAL = 200_000.0  # events/s, issue 7
FEW = 200_000  # at most this many events: three repeats; above: one
SELECT_ALL = "SELECT * FROM ledger_events ORDER BY position"
# (artifacts, closure rows, parent-history rows); rows in key order, hashed page by page.
DIGESTS = (
    "SELECT id, parent_id, level, version, type, data, content_hash, content_codec, content_type, content_size, "
    "tags, created_at, updated_at, created_by, updated_by FROM ledger_artifacts ORDER BY id",
    "SELECT ancestor_id, descendant_id, depth FROM ledger_artifact_closure ORDER BY ancestor_id, descendant_id",
    "SELECT artifact_id, valid_from, valid_to, parent_id FROM ledger_artifact_parent_history "
    "ORDER BY artifact_id, valid_from",
)


def _data(i: int) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "bench", "i": i, "metrics": {"loss": 1 / (i + 1), "epoch": i % 7}}
    if i % 50 == 0:
        data["content"] = i.to_bytes(8, "big") * 32
    return data


def batches(total: int) -> Iterator[list[ArtifactIn]]:
    """The ledger's ``save_all`` batches, generated lazily: only the updated artifacts' ids are kept."""
    creates = total * 4 // 5
    updates = total - creates
    kept: list[tuple[ULID, ULID | None]] = []
    root: ULID | None = None
    batch: list[ArtifactIn] = []
    for i in range(creates):
        aid = ULID()
        parent = None if i % TREE == 0 else root
        if i % TREE == 0:
            root = aid
        if i < updates:
            kept.append((aid, parent))
        batch.append(ArtifactIn(id=aid, parent_id=parent, data=_data(i)))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
    for start in range(0, updates, BATCH):
        yield [
            ArtifactIn(id=aid, parent_id=parent, data={**_data(start + k), "updated": True})
            for k, (aid, parent) in enumerate(kept[start : start + BATCH])
        ]


async def build(db: Database, total: int, log: Log) -> None:
    t0 = time.perf_counter()
    done = 0
    async with db.manager() as manager:
        for items in batches(total):
            await manager.save_all(items)
            done += len(items)
            if done % 100_000 < BATCH:
                log(f"W7 {db.backend}: {done:,}/{total:,} events ({done / (time.perf_counter() - t0):,.0f}/s)")
    async with Ledger.open(db.engine) as ledger:
        head = await ledger.head()
    assert head.position == total, head
    log(f"W7 {db.backend}: built {total:,} events in {time.perf_counter() - t0:.1f} s")


async def _pages(db: Database, conn: Any, sql: str) -> Any:
    """Rows of ``sql`` a page at a time through a driver cursor (bounded memory)."""
    if db.backend == "sqlite":
        cursor = await conn.execute(sql)
        try:
            while rows := await cursor.fetchmany(PAGE):
                yield rows
        finally:
            await cursor.close()
        return
    async with conn.transaction():
        cursor = await conn.cursor(sql)
        while rows := await cursor.fetch(PAGE):
            yield rows


async def digest(db: Database) -> tuple[tuple[int, str], ...]:
    """Row count and SHA-256 of each projection table, in key order."""
    out = []
    async with db.driver() as conn:
        for sql in DIGESTS:
            h, n = hashlib.sha256(), 0
            async for page in _pages(db, conn, sql):
                for row in page:
                    h.update(repr(tuple(row)).encode())
                n += len(page)
            out.append((n, h.hexdigest()))
    return tuple(out)


async def floor_read(db: Database, total: int) -> float:
    async with db.driver() as conn:
        t0 = time.perf_counter()
        n = 0
        async for page in _pages(db, conn, SELECT_ALL):
            n += len(page)
        elapsed = time.perf_counter() - t0
    assert n == total, n
    return elapsed


def _floor_rebuild_sql(backend: str) -> tuple[str, str]:
    parent = "json_extract(payload, '$.parent_id')" if backend == "sqlite" else "payload::json->>'parent_id'"
    insert = (
        f"INSERT INTO {FLOOR_TABLE} (id, parent_id, data) SELECT artifact_id, {parent}, payload "
        "FROM ledger_events WHERE type = 'artifact.created' ORDER BY position"
    )
    update = (
        f"UPDATE {FLOOR_TABLE} SET data = u.payload FROM (SELECT artifact_id, payload, row_number() OVER "
        "(PARTITION BY artifact_id ORDER BY position DESC) AS rn FROM ledger_events "
        f"WHERE type = 'artifact.updated') AS u WHERE u.rn = 1 AND {FLOOR_TABLE}.id = u.artifact_id"
    )
    return insert, update


async def floor_rebuild(db: Database, total: int) -> float:
    """Rebuild ``bench_floor`` (id, parent, latest payload) from the log in one transaction."""
    insert, update = _floor_rebuild_sql(db.backend)
    async with db.driver() as conn:
        if db.backend == "sqlite":
            await conn.execute(f"DELETE FROM {FLOOR_TABLE}")
            await conn.commit()
            t0 = time.perf_counter()
            await conn.execute(insert)
            await conn.execute(update)
            await conn.commit()
            elapsed = time.perf_counter() - t0
            rows = await conn.execute_fetchall(
                f"SELECT count(*), sum(data LIKE '%\"updated\":true%') FROM {FLOOR_TABLE}"
            )
            count, updated = rows[0]
        else:
            await conn.execute(f"TRUNCATE {FLOOR_TABLE}")
            t0 = time.perf_counter()
            async with conn.transaction():
                await conn.execute(insert)
                await conn.execute(update)
            elapsed = time.perf_counter() - t0
            count, updated = await conn.fetchrow(
                f"SELECT count(*), count(*) FILTER (WHERE data LIKE '%\"updated\":true%') FROM {FLOOR_TABLE}"
            )
    creates = total * 4 // 5
    assert (count, updated) == (creates, total - creates), (count, updated)
    return elapsed


async def timed_rebuild(db: Database, total: int, expect: tuple[tuple[int, str], ...]) -> float:
    async with Ledger.open(db.engine) as ledger:
        t0 = time.perf_counter()
        applied = await ledger.rebuild()
        elapsed = time.perf_counter() - t0
    assert applied == total, applied
    got = await digest(db)
    assert got == expect, f"rebuilt projections differ from the written ones: {got} != {expect}"
    return elapsed


async def run_w7(backend: str, s: Sizes, log: Log) -> list[Result]:
    total = s.scale_events
    repeats = 3 if total <= FEW else 1
    async with fresh_database(backend) as db:
        await build(db, total, log)
        await db.create_floor_table()
        await db.analyze()
        written = await digest(db)
        assert written[0][0] == total * 4 // 5, written
        runs: dict[str, list[float]] = {"rebuild": [], "floor_rebuild": [], "full": [], "chain": [], "floor_read": []}
        for rep in range(repeats):
            runs["floor_rebuild"].append(await floor_rebuild(db, total))
            runs["rebuild"].append(await timed_rebuild(db, total, written))
            await db.analyze()
            runs["floor_read"].append(await floor_read(db, total))
            runs["full"].append(await timed_verify(db, total))
            runs["chain"].append(await timed_verify(db, total, blobs=False, projections=False))
            log(
                f"W7 {backend} {rep + 1}/{repeats}: rebuild {total / runs['rebuild'][-1]:,.0f} events/s "
                f"(floor {total / runs['floor_rebuild'][-1]:,.0f}/s), verify full {total / runs['full'][-1]:,.0f}/s, "
                f"chain {total / runs['chain'][-1]:,.0f}/s (floor read {total / runs['floor_read'][-1]:,.0f}/s)"
            )
    rate = {name: total / statistics.median(values) for name, values in runs.items()}
    paired = {
        name: statistics.median(f / o for o, f in zip(runs[name], runs[floor], strict=True))
        for name, floor in (("rebuild", "floor_rebuild"), ("full", "floor_read"), ("chain", "floor_read"))
    }
    how = f"median of {repeats}" if repeats > 1 else "one run"
    detail = {"events": total, "repeats": repeats, **{f"{k}_s": v for k, v in runs.items()}}
    return [
        Result(backend, f"W7 rebuild() × {total:,} events", RATE, rate["rebuild"], rate["floor_rebuild"], "events/s",
               None, f"{how}; goal {REBUILD_GOAL:,.0f} events/s; floor: INSERT…SELECT creates + UPDATE…FROM "
               "latest updates into a 3-column table", detail, paired["rebuild"], goal=REBUILD_GOAL),
        Result(backend, f"W7 verify() × {total:,} events (full)", RATE, rate["full"], rate["floor_read"], "events/s",
               None, f"{how}; goal {VERIFY_GOAL:,.0f} events/s; floor: read every event row (cursor)", detail,
               paired["full"], goal=VERIFY_GOAL),
        Result(backend, "W7 verify(), chain only", RATE, rate["chain"], rate["floor_read"], "events/s", None,
               f"{how}; blobs=False, projections=False; goal {VERIFY_GOAL:,.0f} events/s", detail, paired["chain"],
               goal=VERIFY_GOAL),
    ]  # fmt: skip
