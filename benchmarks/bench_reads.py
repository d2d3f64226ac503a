"""W2 random lookups, W4 subtree moves, W5 one artifact's versions, W6 listing everything; each beside its floor.

- W2: ``find_by_id`` of random ids in the 10x10x10x10 forest (one artifact in 10 with a 256-byte
  content blob), with content (the default) and with ``include_content=False``, alternating with
  a primary-key SELECT on a minimal table that keeps the content inline (a BLOB column).
- W4: ``move`` of a level-1 subtree (111 artifacts) to another root, each its own transaction,
  alternating with the floor: one transaction that updates the node's parent_id and then every
  level of the subtree with one recursive CTE (a minimal table with a level column).
- W5: one artifact saved ``versions`` times (each its own transaction), alternating with a
  one-row UPDATE per transaction; then ``find_by_id(as_of=...)`` and ``history`` (bench_history's
  H1/H3 measurements, reused).
- W6: every artifact of the 111,100 forest without content, through ``find_all`` (one list)
  and ``iter_all`` (keyset pages), alternating with reading every floor row on the driver; peak
  memory growth of each in a separate, untimed pass under ``tracemalloc``.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import bench_workloads as w
import orjson
from bench_db import FLOOR_TABLE, Database, fresh_database
from bench_forest import Node, assign_ids, by_tree, forest, tree_size
from bench_history import _h1, _h3, _median_ms, _timed
from bench_report import RATE, TIME, Result
from bench_suite import Sizes
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager

Log = Callable[[str], None]

MOVE_TARGET = 3.0  # W4: within 3x a raw parent_id update plus level fix-up
LIST_TARGET = 1 / 2  # W6: at least half the raw row throughput
MEMORY_LIMIT_MB = 50.0  # W6: peak memory growth while listing
CONTENT_EVERY = 10  # W2: one artifact in 10 carries content


async def _ddl(db: Database, conn: Any, *statements: str) -> None:
    for ddl in statements:
        await conn.execute(ddl.replace("BLOB", "BYTEA") if db.backend == "postgresql" else ddl)
    if db.backend == "sqlite":
        await conn.commit()


async def _analyze(db: Database, conn: Any, table: str) -> None:
    """PostgreSQL: planner statistics for the ledger, the plain floor table (created empty if absent) and ``table``."""
    if db.backend == "postgresql":
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id VARCHAR(26) PRIMARY KEY)")
        await db.analyze()
        await conn.execute(f"ANALYZE {table}")


async def _executemany(db: Database, conn: Any, sql: str, rows: list[Any]) -> None:
    """One executemany in one transaction."""
    if db.backend == "sqlite":
        await conn.executemany(sql, rows)
        await conn.commit()
    else:
        async with conn.transaction():
            await conn.executemany(sql, rows)


async def _load(db: Database, manager: ArtifactManager, conn: Any, trees: list[list[Node]], ids: list[ULID]) -> None:
    """The forest into the ledger (save_all per tree) and into the plain floor table (executemany per tree)."""
    await db.create_floor_table()
    await w.floor_batches(db, conn, [w.rows_for(t, ids) for t in trees])
    await w.batch_saves(manager, trees, ids)
    count = sum(len(t) for t in trees)
    w.check(await manager.count(), count, "forest size")
    await w.check_floor(db, conn, count)


# ---- W2 ------------------------------------------------------------------------------------------------
FLOOR_C = "bench_floor_c"  # the floor for lookups: content inline, in a BLOB column


def _content(index: int) -> bytes:
    return index.to_bytes(4, "big") * 64  # 256 bytes


def _with_content(nodes: list[Node]) -> list[Node]:
    """The same forest, one node in ``CONTENT_EVERY`` carrying ``data["content"]`` (bytes)."""
    return [
        dataclasses.replace(n, data={**n.data, "content": _content(n.index)}) if n.index % CONTENT_EVERY == 0 else n
        for n in nodes
    ]


async def run_w2(backend: str, s: Sizes, log: Log) -> list[Result]:
    nodes = _with_content(forest(s.roots, s.branching, s.depth))
    ids = assign_ids(nodes)
    n = len(nodes)
    rng = random.Random(2)
    picks = [rng.choice(nodes) for _ in range(s.lookups)]
    runs: dict[str, list[float]] = {"ours_c": [], "floor_c": [], "ours": [], "floor": []}
    async with fresh_database(backend) as db, db.manager() as manager, db.driver() as conn:
        await _ddl(
            db,
            conn,
            f"CREATE TABLE {FLOOR_C} (id VARCHAR(26) PRIMARY KEY, parent_id VARCHAR(26), data TEXT NOT NULL, "
            "content BLOB)",
        )
        rows = [
            (
                str(ids[x.index]),
                str(ids[x.parent]) if x.parent is not None else None,
                orjson.dumps({k: v for k, v in x.data.items() if k != "content"}).decode(),
                x.data.get("content"),
            )
            for x in nodes
        ]
        await _executemany(db, conn, w.driver_sql(db, f"INSERT INTO {FLOOR_C} VALUES (?, ?, ?, ?)"), rows)
        await w.batch_saves(manager, by_tree(nodes), ids)
        w.check(await manager.count(), n, "W2 forest size")
        await _analyze(db, conn, FLOOR_C)
        with_c = w.driver_sql(db, f"SELECT id, parent_id, data, content FROM {FLOOR_C} WHERE id = ?")
        without_c = w.driver_sql(db, f"SELECT id, parent_id, data FROM {FLOOR_C} WHERE id = ?")
        for node in picks[:20]:  # warm-up (statement caches, page cache)
            await manager.find_by_id(ids[node.index])
            await manager.find_by_id(ids[node.index], include_content=False)
            await w.fetch(db, conn, with_c, str(ids[node.index]))
            await w.fetch(db, conn, without_c, str(ids[node.index]))
        blobs_read = 0
        flags: list[bool] = []
        for node in picks:
            aid, key, has = ids[node.index], str(ids[node.index]), "content" in node.data
            elapsed, out = await _timed(manager.find_by_id(aid))
            w.check(out.data.get("content") if out and out.data else None, node.data.get("content"), "W2 content")
            runs["ours_c"].append(elapsed)
            elapsed, found = await _timed(w.fetch(db, conn, with_c, key))
            w.check((len(found), found[0][3] is not None), (1, has), "W2 floor row with content")
            runs["floor_c"].append(elapsed)
            elapsed, out = await _timed(manager.find_by_id(aid, include_content=False))
            w.check((out.id if out else None, "content" in (out.data or {}) if out else None), (aid, False), "W2 row")
            runs["ours"].append(elapsed)
            elapsed, found = await _timed(w.fetch(db, conn, without_c, key))
            w.check(len(found), 1, "W2 floor row")
            runs["floor"].append(elapsed)
            blobs_read += has
            flags.append(has)
    med = {k: _median_ms(v) for k, v in runs.items()}
    blob_o = _median_ms([e for e, f in zip(runs["ours_c"], flags, strict=True) if f])
    blob_f = _median_ms([e for e, f in zip(runs["floor_c"], flags, strict=True) if f])
    log(
        f"W2 {backend}: with content {med['ours_c']:.3f} vs {med['floor_c']:.3f} ms, without "
        f"{med['ours']:.3f} vs {med['floor']:.3f} ms ({blobs_read} of {s.lookups} lookups read a blob)"
    )
    detail = {"artifacts": n, "lookups": s.lookups, "lookups_with_blob": blobs_read,
              **{f"{k}_total_s": sum(v) for k, v in runs.items()}}  # fmt: skip
    return [
        Result(backend, f"W2 find_by_id × {s.lookups:,} @ {n:,}, with content", TIME, med["ours_c"], med["floor_c"],
               "ms", None, f"1 in {CONTENT_EVERY} with a 256-byte blob; floor: PK SELECT, content inline (BLOB)",
               detail),
        Result(backend, f"W2 … only the {blobs_read:,} lookups that read a blob", TIME, blob_o, blob_f, "ms", None,
               "the same lookups, medians over those with content", detail),
        Result(backend, "W2 find_by_id, include_content=False", TIME, med["ours"], med["floor"], "ms", None,
               "same ids; floor: SELECT id, parent_id, data by PK", detail),
    ]  # fmt: skip


# ---- W4 ------------------------------------------------------------------------------------------------
FLOOR_LV = "bench_floor_lv"  # the floor for moves: a level column to fix up
# The subtree's levels, shifted by (new parent's level + 1 - the node's old level): one statement, set-based.
# PostgreSQL gets ``= ANY(ARRAY(...))`` because with ``IN``/``FROM sub`` it hash-joins a seq scan of the whole
# table (the CTE's row estimate is 1,000), 4x slower than the index scan this form gets.
_FIX_LEVELS = (
    f"WITH RECURSIVE sub(id) AS (SELECT id FROM {FLOOR_LV} WHERE id = {{node}} "
    f"UNION ALL SELECT f.id FROM {FLOOR_LV} f JOIN sub ON f.parent_id = sub.id) "
    f"UPDATE {FLOOR_LV} SET level = level + ((SELECT level + 1 FROM {FLOOR_LV} WHERE id = {{parent}}) "
    f"- (SELECT level FROM {FLOOR_LV} WHERE id = {{node}})) WHERE id {{members}}"
)
FIX_SQLITE = _FIX_LEVELS.format(node="?2", parent="?1", members="IN (SELECT id FROM sub)")
FIX_PG = _FIX_LEVELS.format(node="$2", parent="$1", members="= ANY(ARRAY(SELECT id FROM sub))")


async def _floor_move(db: Database, conn: Any, node: str, parent: str) -> float:
    """One transaction: the node's parent_id, then the level of every row in its subtree (set-based)."""
    reparent = w.driver_sql(db, f"UPDATE {FLOOR_LV} SET parent_id = ? WHERE id = ?")
    fix = FIX_SQLITE if db.backend == "sqlite" else FIX_PG
    t0 = w._start()
    await w.transaction(db, conn, [(reparent, (parent, node)), (fix, (parent, node))])
    return time.perf_counter() - t0


async def _ours_move(manager: ArtifactManager, node: ULID, parent: ULID) -> float:
    t0 = w._start()
    out = await manager.move(node, parent)
    elapsed = time.perf_counter() - t0
    w.check((out.parent_id, out.level), (parent, 1), f"move({node})")
    return elapsed


async def run_w4(backend: str, s: Sizes, log: Log) -> list[Result]:
    nodes = forest(s.roots, s.branching, s.depth)
    ids = assign_ids(nodes)
    trees = by_tree(nodes)
    size = tree_size(s.branching, s.depth - 1)
    rng = random.Random(4)
    movers = rng.sample([x for x in nodes if x.level == 1], s.queries + 1)  # the first one warms up
    roots = [t[0] for t in trees]
    ours, floor = [], []
    async with fresh_database(backend) as db, db.manager() as manager, db.driver() as conn:
        await w.batch_saves(manager, trees, ids)
        w.check(await manager.count(), len(nodes), "W4 forest size")
        await _ddl(
            db,
            conn,
            f"CREATE TABLE {FLOOR_LV} (id VARCHAR(26) PRIMARY KEY, parent_id VARCHAR(26), level INTEGER NOT NULL, "
            "data TEXT NOT NULL)",
            f"CREATE INDEX ix_{FLOOR_LV}_parent_id ON {FLOOR_LV} (parent_id)",
        )
        rows = [(r[0], r[1], x.level, r[2]) for r, x in zip(w.rows_for(nodes, ids), nodes, strict=True)]
        await _executemany(db, conn, w.driver_sql(db, f"INSERT INTO {FLOOR_LV} VALUES (?, ?, ?, ?)"), rows)
        await _analyze(db, conn, FLOOR_LV)
        moved_to: dict[int, int] = {}
        for i, x in enumerate(movers):
            target = roots[(x.tree + 1) % len(roots)]
            node, parent = ids[x.index], ids[target.index]
            o = await _ours_move(manager, node, parent)
            f = await _floor_move(db, conn, str(node), str(parent))
            moved_to[target.index] = moved_to.get(target.index, 0) + 1
            if i:
                ours.append(o)
                floor.append(f)
        # Every moved subtree now hangs under its new root, with its levels, in both.
        for x in movers:
            got = await manager.find_subtree(ids[x.index], include_content=False)
            w.check(len(got), size, "moved subtree size")
            w.check(sorted({g.level for g in got}), list(range(1, s.depth)), "moved subtree levels")
        for root_index, count in moved_to.items():
            root = ids[root_index]
            sub = await manager.find_subtree(root, include_content=False)
            lost = sum(1 for x in movers if x.tree == nodes[root_index].tree)
            w.check(len(sub), tree_size(s.branching, s.depth) + (count - lost) * size, "new root's subtree size")
            found = await w.fetch(db, conn, w.driver_sql(db, w.CTE_SQLITE.replace(FLOOR_TABLE, FLOOR_LV)), str(root))
            w.check(len(found), len(sub), "floor: new root's subtree size")
        levels = await w.fetch(db, conn, f"SELECT level, count(*) FROM {FLOOR_LV} GROUP BY level ORDER BY level")
        w.check([tuple(r) for r in levels], [(lv, len(roots) * s.branching**lv) for lv in range(s.depth)],
                "floor level counts")  # fmt: skip
    med_o, med_f = _median_ms(ours), _median_ms(floor)
    ratio = statistics.median(o / f for o, f in zip(ours, floor, strict=True))
    log(f"W4 {backend}: move {med_o:.2f} ms, floor {med_f:.2f} ms (paired ratio {ratio:.2f})")
    return [
        Result(backend, f"W4 move() of a {size:,}-artifact subtree @ {len(nodes):,}", TIME, med_o, med_f, "ms",
               MOVE_TARGET, "floor: UPDATE parent_id + recursive-CTE level UPDATE, one transaction",
               {"moves": len(ours), "ours_ms": [o * 1e3 for o in ours], "floor_ms": [f * 1e3 for f in floor]},
               ratio),
    ]  # fmt: skip


# ---- W5 ------------------------------------------------------------------------------------------------
async def run_w5(backend: str, s: Sizes, log: Log) -> list[Result]:
    versions = s.versions
    rng = random.Random(5)
    ours, floor = [], []
    async with fresh_database(backend) as db, db.manager() as manager, db.driver() as conn:
        await db.create_floor_table()
        parent = await manager.save(ArtifactIn(data={"name": "project"}))
        out = await manager.save(ArtifactIn(parent_id=parent.id, data={"name": "doc", "rev": 0}))
        doc, stamps = out.id, [out.updated_at]
        key = str(doc)
        insert = w.driver_sql(db, f"INSERT INTO {FLOOR_TABLE} VALUES (?, ?, ?)")
        await _executemany(db, conn, insert, [(key, None, "{}")])
        update = w.driver_sql(db, f"UPDATE {FLOOR_TABLE} SET data = ? WHERE id = ?")
        for rev in range(1, versions):
            data = {"name": "doc", "rev": rev, "metrics": {"loss": 1 / rev, "step": rev * 10}}
            t0 = w._start()
            out = await manager.save(ArtifactIn(id=doc, parent_id=parent.id, data=data))
            ours.append(time.perf_counter() - t0)
            stamps.append(out.updated_at)
            text = orjson.dumps(data).decode()
            t0 = w._start()
            await w.transaction(db, conn, [(update, (text, key))])
            floor.append(time.perf_counter() - t0)
        w.check(out.version, versions, "W5 versions saved")
        (row,) = await w.fetch(db, conn, w.driver_sql(db, f"SELECT data FROM {FLOOR_TABLE} WHERE id = ?"), key)
        w.check(row[0], orjson.dumps(data).decode(), "W5 floor row")
        await db.analyze()
        h1 = await _h1(manager, doc, stamps, s.queries, rng)
        h3 = await _h3(db, manager, doc, versions, s.queries)
    rate_o, rate_f = len(ours) / sum(ours), len(floor) / sum(floor)
    log(
        f"W5 {backend}: {rate_o:,.0f} updates/s (floor {rate_f:,.0f}/s); as_of {h1['ours']:.2f} vs "
        f"{h1['floor']:.2f} ms; history {h3['ours']:.2f} vs {h3['floor']:.2f} ms"
    )
    return [
        Result(backend, f"W5 save() update × {versions - 1:,} of one artifact", RATE, rate_o, rate_f, "saves/s",
               None, "each its own transaction; floor: one-row UPDATE per transaction",
               {"ours_median_ms": _median_ms(ours), "floor_median_ms": _median_ms(floor)}),
        Result(backend, f"W5 find_by_id(as_of) of {versions:,} versions", TIME, h1["ours"], h1["floor"], "ms", None,
               "random past instants; vs the current find_by_id", {"queries": s.queries,
               "fold_stream_ms": h1["replay"]}),
        Result(backend, f"W5 history() of {versions:,} versions", TIME, h3["ours"], h3["floor"], "ms", None,
               "floor: SELECT the stream's rows from ledger_events on the driver", {"blob_statements": 0}),
    ]  # fmt: skip


# ---- W6 ------------------------------------------------------------------------------------------------
SELECT_FLOOR = f"SELECT id, parent_id, data FROM {FLOOR_TABLE} ORDER BY id"
SELECT_ARTIFACTS = "SELECT * FROM ledger_artifacts ORDER BY id"
REPEATS = 3


async def _find_all(manager: ArtifactManager) -> int:
    return len(await manager.find_all(include_content=False))


async def _iter_all(manager: ArtifactManager) -> int:
    count = 0
    async for _out in manager.iter_all(include_content=False, page_size=1000):
        count += 1
    return count


async def _raw(db: Database, conn: Any, sql: str) -> int:
    return len(await w.fetch(db, conn, sql))


def _peak_mb(before: int) -> float:
    return (tracemalloc.get_traced_memory()[1] - before) / 2**20


async def _memory(call: Any, expected: int, what: str) -> float:
    """Peak traced memory above the level before ``call`` ran (MB); an untimed pass."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        w.check(await call(), expected, what)
        return _peak_mb(before)
    finally:
        tracemalloc.stop()


async def run_w6(backend: str, s: Sizes, log: Log) -> list[Result]:
    nodes = forest(s.big_roots, s.branching, s.depth)
    ids = assign_ids(nodes)
    n = len(nodes)
    has_iter = hasattr(ArtifactManager, "iter_all")
    names = ["floor", "find_all", *(["iter_all"] if has_iter else []), "raw_artifacts"]
    runs: dict[str, list[float]] = {k: [] for k in names}
    mem: dict[str, float] = {}
    async with fresh_database(backend) as db, db.manager() as manager, db.driver() as conn:
        await _load(db, manager, conn, by_tree(nodes), ids)
        await db.analyze()
        calls: dict[str, Callable[[], Any]] = {
            "floor": lambda: _raw(db, conn, SELECT_FLOOR),
            "find_all": lambda: _find_all(manager),
            "iter_all": lambda: _iter_all(manager),
            "raw_artifacts": lambda: _raw(db, conn, SELECT_ARTIFACTS),
        }
        for name in names:  # warm-up: page cache, statement caches
            w.check(await calls[name](), n, f"W6 {name} rows")
        for rep in range(REPEATS):
            for name in names:
                t0 = w._start()
                count = await calls[name]()
                runs[name].append(time.perf_counter() - t0)
                w.check(count, n, f"W6 {name} rows")
            log(
                f"W6 {backend} {rep + 1}/{REPEATS}: "
                + ", ".join(f"{k} {n / v[-1]:,.0f} rows/s" for k, v in runs.items())
            )
        for name in names:
            mem[name] = await _memory(calls[name], n, f"W6 {name} rows (memory pass)")
        log(f"W6 {backend} peak memory growth: " + ", ".join(f"{k} {v:.1f} MB" for k, v in mem.items()))
    rate = {k: n / statistics.median(v) for k, v in runs.items()}
    paired = {k: statistics.median(f / o for o, f in zip(v, runs["floor"], strict=True)) for k, v in runs.items()}
    detail = {"artifacts": n, "repeats": REPEATS, **{f"{k}_s": v for k, v in runs.items()},
              **{f"{k}_peak_mb": v for k, v in mem.items()}}  # fmt: skip
    results = [
        Result(backend, f"W6 find_all(include_content=False) × {n:,}", RATE, rate["find_all"], rate["floor"],
               "rows/s", LIST_TARGET, "one list; floor: SELECT id, parent_id, data ORDER BY id, fetch all", detail,
               paired["find_all"]),
    ]  # fmt: skip
    if has_iter:
        results.append(
            Result(backend, f"W6 iter_all(page_size=1000) × {n:,}", RATE, rate["iter_all"], rate["floor"],
                   "rows/s", LIST_TARGET, "keyset pages, streamed; same floor", detail, paired["iter_all"])
        )  # fmt: skip
    results.append(
        Result(backend, "W6 info: raw SELECT * FROM ledger_artifacts", RATE, rate["raw_artifacts"], rate["floor"],
               "rows/s", None, "every projection column, on the driver; vs the minimal floor", detail,
               paired["raw_artifacts"])
    )  # fmt: skip
    memory_note = "tracemalloc peak minus start, untimed pass; floor: the same for the driver's fetchall"
    for name, label in (("find_all", "find_all"), ("iter_all", "iter_all")):
        if name in mem:
            results.append(
                Result(backend, f"W6 peak memory growth, {label}", TIME, mem[name], mem["floor"], "MB", None,
                       memory_note, {"peak_mb": mem[name], "floor_peak_mb": mem["floor"]}, goal=MEMORY_LIMIT_MB)
            )  # fmt: skip
    return results
