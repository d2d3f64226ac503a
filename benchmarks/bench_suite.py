"""The suite: W1 single saves, W1b batched saves, W3 subtree reads, each beside its floor in the same run."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import bench_workloads as w
from bench_db import Database, fresh_database
from bench_forest import Node, assign_ids, by_tree, forest, tree_size
from bench_report import GROWTH, RATE, TIME, Result
from ulid import ULID

from artifact_ledger import ArtifactManager

Log = Callable[[str], None]


@dataclass(frozen=True)
class Sizes:
    roots: int  # W1/W1b forest, and W3's small forest
    big_roots: int  # W3's big forest
    branching: int
    depth: int
    queries: int  # subtree queries per level (median taken)
    repeats: int  # W1/W1b repeats (median taken)
    lookups: int = 2_000  # W2 random find_by_id calls
    versions: int = 1_000  # W5 updates of one artifact
    scale_events: int = 1_000_000  # W7 rebuild/verify ledger size
    transfer_events: int = 100_000  # W8 export/import ledger size
    per_op: int = 1_000  # P operations of each kind (median taken)
    per_op_roots: int = 3  # P forest: this many trees (3,333 artifacts at full size)
    query_artifacts: int = 1_000_000  # Q ledger size
    query_alt: int = 100_000  # Q's find_all + Python filter ledger size


FULL = Sizes(roots=10, big_roots=100, branching=10, depth=4, queries=30, repeats=3)
QUICK = Sizes(
    roots=3,
    big_roots=12,
    branching=5,
    depth=4,
    queries=8,
    repeats=1,
    lookups=200,
    versions=100,
    scale_events=20_000,
    transfer_events=5_000,
    per_op=60,
    per_op_roots=2,
    query_artifacts=20_000,
    query_alt=5_000,
)

# Targets: ours / floor. Rates: at least this fraction of the floor. Times: at most this multiple.
# The targets of issue 7 ("Performance").
TARGETS: dict[tuple[str, str], float] = {
    ("W1", "sqlite"): 1 / 8,
    ("W1", "postgresql"): 1 / 5,
    ("W1b", "sqlite"): 1 / 3,
    ("W1b", "postgresql"): 1 / 3,
}
SUBTREE_TARGET = 1.5  # level-0 find_subtree within 1.5x the raw recursive CTE
FLAT_TARGET = 1.5  # level-0 find_subtree at the big forest at most 1.5x the small one (noise allowance)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _paired(ours: list[float], floor: list[float]) -> float:
    """The median of ours/floor taken repeat by repeat (each pair ran side by side)."""
    return statistics.median(o / f for o, f in zip(ours, floor, strict=True))


async def run_w1(backend: str, s: Sizes, log: Log) -> list[Result]:
    """Each repeat: three fresh databases; tree by tree, the two floors then ours (interleaved, so they share noise)."""
    nodes = forest(s.roots, s.branching, s.depth)
    n = len(nodes)
    ours, floor, floor_txn = [], [], []
    for rep in range(s.repeats):
        ids = assign_ids(nodes)
        saved: dict[int, ULID] = {}
        t_ours = t_floor = t_txn = 0.0
        async with fresh_database(backend) as fdb, fresh_database(backend) as tdb, fresh_database(backend) as odb:
            await fdb.create_floor_table()
            await tdb.create_floor_table()
            async with fdb.driver(autocommit=True) as fconn, tdb.driver() as tconn, odb.manager() as manager:
                for tree in by_tree(nodes):
                    rows = w.rows_for(tree, ids)
                    t_floor += await w.floor_single_inserts(fdb, fconn, rows)
                    t_txn += await w.floor_single_transactions(tdb, tconn, rows)
                    t_ours += await w.single_saves(manager, tree, saved)
                w.check(await manager.count(), n, "W1 saves")
                await w.check_floor(fdb, fconn, n)
                await w.check_floor(tdb, tconn, n)
        ours.append(n / t_ours)
        floor.append(n / t_floor)
        floor_txn.append(n / t_txn)
        log(
            f"W1 {backend} {rep + 1}/{s.repeats}: ours {ours[-1]:,.0f}/s, floor {floor[-1]:,.0f}/s, "
            f"floor with BEGIN/COMMIT {floor_txn[-1]:,.0f}/s"
        )
    detail = {"artifacts": n, "ours_runs": ours, "floor_runs": floor, "floor_txn_runs": floor_txn}
    name = f"W1 save() × {n:,}, commit each"
    return [
        Result(
            backend,
            name,
            RATE,
            _median(ours),
            _median(floor),
            "saves/s",
            TARGETS.get(("W1", backend)),
            "floor: autocommitted INSERT per row",
            detail,
            _paired(ours, floor),
        ),
        Result(
            backend,
            "W1 vs BEGIN/INSERT/COMMIT floor",
            RATE,
            _median(ours),
            _median(floor_txn),
            "saves/s",
            None,
            "floor: explicit transaction per row",
            detail,
            _paired(ours, floor_txn),
        ),
    ]


async def run_w1b(backend: str, s: Sizes, log: Log) -> list[Result]:
    nodes = forest(s.roots, s.branching, s.depth)
    n = len(nodes)
    ours, floor = [], []
    repeats = s.repeats if s.repeats < 3 else s.repeats + 2  # cheap: a few more repeats steady the median
    for rep in range(repeats):
        ids = assign_ids(nodes)
        async with fresh_database(backend) as fdb, fresh_database(backend) as odb:
            await fdb.create_floor_table()
            async with fdb.driver() as conn, odb.manager() as manager:
                floor.append(n / await w.floor_batches(fdb, conn, [w.rows_for(nodes, ids)]))
                ours.append(n / await w.batch_saves(manager, [nodes], ids))
                w.check(await manager.count(), n, "W1b saves")
                await w.check_floor(fdb, conn, n)
        log(f"W1b {backend} {rep + 1}/{repeats}: ours {ours[-1]:,.0f}/s, floor {floor[-1]:,.0f}/s")
    detail = {"artifacts": n, "calls": 1, "ours_runs": ours, "floor_runs": floor}
    return [
        Result(
            backend,
            f"W1b save_all(all {n:,}), one call",
            RATE,
            _median(ours),
            _median(floor),
            "saves/s",
            TARGETS.get(("W1b", backend)),
            "floor: one executemany in one transaction",
            detail,
            _paired(ours, floor),
        )
    ]


def _pick(nodes: list[Node], level: int, count: int, rng: random.Random) -> list[Node]:
    """``count`` start nodes at ``level`` (all of them, cycled, when fewer exist)."""
    candidates = [n for n in nodes if n.level == level]
    if len(candidates) >= count:
        return rng.sample(candidates, count)
    return [candidates[i % len(candidates)] for i in range(count)]


async def _subtree_medians(
    db: Database, manager: ArtifactManager, conn: object, nodes: list[Node], ids: list[ULID], s: Sizes, seed: int
) -> dict[str, float]:
    """Median ms per level (ours and floor, interleaved per start id) and build_tree at level 0."""
    rng = random.Random(seed)
    out: dict[str, float] = {}
    for level in (0, 1, 2):
        size = tree_size(s.branching, s.depth - level)
        starts = _pick(nodes, level, s.queries, rng)
        await w.subtree_ours(manager, ids[starts[0].index], size)  # warm-up (statement caches)
        await w.subtree_floor(db, conn, ids[starts[0].index], size)
        ours, floor = [], []
        for node in starts:
            ours.append(await w.subtree_ours(manager, ids[node.index], size))
            floor.append(await w.subtree_floor(db, conn, ids[node.index], size))
        out[f"ours_l{level}"], out[f"floor_l{level}"] = _median(ours) * 1e3, _median(floor) * 1e3
    trees = [await w.build_tree_ours(manager, ids[n.index], s.branching) for n in _pick(nodes, 0, s.queries, rng)]
    out["build_tree_l0"] = _median(trees) * 1e3
    return out


async def run_w3(backend: str, s: Sizes, log: Log) -> list[Result]:
    all_nodes = forest(s.big_roots, s.branching, s.depth)
    ids = assign_ids(all_nodes)
    trees = by_tree(all_nodes)
    small_nodes = [n for t in trees[: s.roots] for n in t]
    per_tree = tree_size(s.branching, s.depth)
    results: list[Result] = []
    phases: dict[str, dict[str, float]] = {}
    build_ours = build_floor = 0.0
    async with fresh_database(backend) as db:
        await db.create_floor_table()
        async with db.manager() as manager, db.driver() as conn:
            for label, batch_trees, present in (
                ("small", trees[: s.roots], small_nodes),
                ("big", trees[s.roots :], all_nodes),
            ):
                build_floor += await w.floor_batches(db, conn, [w.rows_for(t, ids) for t in batch_trees])
                build_ours += await w.batch_saves(manager, batch_trees, ids)
                w.check(await manager.count(), len(present), "W3 forest size")
                await db.analyze()
                phases[label] = await _subtree_medians(db, manager, conn, present, ids, s, seed=len(present))
                log(
                    f"W3 {backend} {len(present):,} artifacts: "
                    + ", ".join(f"{k} {v:.2f} ms" for k, v in phases[label].items())
                )
    n_all = len(all_nodes)
    results.append(
        Result(
            backend,
            f"W3 build {n_all:,}: save_all per tree of {per_tree:,}",
            RATE,
            n_all / build_ours,
            n_all / build_floor,
            "saves/s",
            None,
            "floor: executemany per tree, one transaction each",
            {"calls": len(trees)},
        )
    )
    for label, count in (("small", len(small_nodes)), ("big", n_all)):
        p = phases[label]
        for level in (0, 1, 2):
            size = tree_size(s.branching, s.depth - level)
            target = SUBTREE_TARGET if level == 0 else None
            results.append(
                Result(
                    backend,
                    f"W3 find_subtree L{level} ({size:,} nodes) @ {count:,}",
                    TIME,
                    p[f"ours_l{level}"],
                    p[f"floor_l{level}"],
                    "ms",
                    target,
                    "floor: recursive CTE on the driver",
                    {"queries": s.queries},
                )
            )
        results.append(
            Result(
                backend,
                f"W3 build_tree L0 @ {count:,}",
                TIME,
                p["build_tree_l0"],
                p["floor_l0"],
                "ms",
                None,
                "vs the same recursive CTE",
                {"queries": s.queries},
            )
        )
    small, big = phases["small"], phases["big"]
    results.append(
        Result(
            backend,
            f"W3 L0 growth {len(small_nodes):,} → {n_all:,}",
            GROWTH,
            big["ours_l0"],
            small["ours_l0"],
            "ms",
            FLAT_TARGET,
            "ratio = ours at big / ours at small",
            {
                "ours_small_ms": small["ours_l0"],
                "ours_big_ms": big["ours_l0"],
                "floor_small_ms": small["floor_l0"],
                "floor_big_ms": big["floor_l0"],
            },
        )
    )
    return results
