"""H: history, point-in-time reads and their alternatives (issue 4's performance ratios).

One database per backend: 10 trees of 1,111 (save_all per tree), one artifact updated to 1,000
versions (each version with a small content blob), then three "days" of changes to one tree
(updates; moves of level-2 subtrees to other level-1 parents; deletes of leaves and new leaves),
each change its own transaction. Then, queries alternating ours and the reference:

- H1 ``find_by_id(id, as_of=t)`` at random versions' instants vs the current ``find_by_id(id)``;
- H2 ``build_tree(root, as_of=t)`` of the 1,111-node tree as it was before the moves vs the
  current ``build_tree(root)`` (1,111 nodes too), both ``include_content=False``;
- H3 ``history(id)`` of the 1,000 versions vs a raw SELECT of the stream on the driver; the run
  fails if any statement touches ``ledger_blobs`` during it.

Info rows show the alternative the temporal parent links were chosen over (docs/decisions.md,
"Point-in-time reads"): replaying the log up to t in Python for the tree, and folding the stream
for one artifact.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import bench_workloads as w
from bench_db import Database, fresh_database
from bench_forest import Node, artifacts_in, assign_ids, by_tree, forest, tree_size
from bench_report import TIME, Result
from sqlalchemy import event
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactTreeNode
from artifact_ledger.decide import fold
from artifact_ledger.queries import events_after, stream

Log = Callable[[str], None]

AS_OF_TARGET = 2.0  # find_by_id(as_of) within 2x the current find_by_id
TREE_TARGET = 3.0  # build_tree(as_of) within 3x the current build_tree


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def _count(tree: ArtifactTreeNode | None) -> int:
    if tree is None:
        return 0
    return 1 + sum(_count(c) for c in tree.children or [])


async def _timed(call: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = await call
    return time.perf_counter() - t0, result


async def _versions(manager: ArtifactManager, parent: ULID, count: int) -> tuple[ULID, list[datetime]]:
    """One artifact saved ``count`` times (each its own transaction, each with a 256-byte blob)."""
    out = await manager.save(ArtifactIn(parent_id=parent, data={"name": "doc", "rev": 0, "content": bytes(256)}))
    stamps = [out.updated_at]
    for rev in range(1, count):
        blob = rev.to_bytes(4, "big") * 64
        data = {"name": "doc", "rev": rev, "content": blob}
        out = await manager.save(ArtifactIn(id=out.id, parent_id=parent, data=data))
        stamps.append(out.updated_at)
    w.check(out.version, count, "versions saved")
    return out.id, stamps


async def _three_days(manager: ArtifactManager, tree: list[Node], ids: list[ULID], rng: random.Random) -> datetime:
    """Updates (day 1), moves (day 2), deletes and new leaves (day 3) in one tree; returns the end of day 2's
    predecessor state: the instant after day 1, before any move."""
    level1 = [n for n in tree if n.level == 1]
    level2 = [n for n in tree if n.level == 2]
    leaves = [n for n in tree if n.level == 3]
    for n in rng.sample(tree, len(tree) // 10):
        data = {**n.data, "score": 1.0, "note": "re-scored"}
        parent = ids[n.parent] if n.parent is not None else None
        await manager.save(ArtifactIn(id=ids[n.index], parent_id=parent, data=data))
    day1 = datetime.now().astimezone()
    for n in rng.sample(level2, max(1, len(level2) // 10)):
        target = rng.choice([p for p in level1 if p.index != n.parent])
        await manager.move(ids[n.index], ids[target.index])
    for n in rng.sample(leaves, 5):
        parent = ids[n.parent] if n.parent is not None else None
        await manager.delete_by_id(ids[n.index])
        await manager.save(ArtifactIn(parent_id=parent, data={"name": "replacement"}))
    return day1


async def _replay_tree(manager: ArtifactManager, root: ULID, instant: datetime) -> int:
    """The alternative to the temporal parent links: fold the log up to ``instant`` in Python, then walk the root's
    subtree. Returns its size (the data of every member is in the fold)."""
    session = manager.repo.session
    parent: dict[str, str | None] = {}
    live: set[str] = set()
    position = 0
    while True:
        chunk = await events_after(session, position, 5000)
        for e in chunk:
            if e.recorded_at > instant:
                chunk = []
                break
            if e.type in ("artifact.created", "artifact.restored", "artifact.reverted"):
                parent[e.artifact_id] = e.payload["parent_id"]
                live.add(e.artifact_id)
            elif e.type == "artifact.moved":
                parent[e.artifact_id] = e.payload["to_parent_id"]
            elif e.type == "artifact.deleted":
                live.discard(e.artifact_id)
            position = e.position
        if not chunk:
            break
    children: dict[str | None, list[str]] = {}
    for aid in live:
        children.setdefault(parent[aid], []).append(aid)
    members = [str(root)]
    for aid in members:
        members.extend(children.get(aid, []))
    return len(members)


async def _replay_one(manager: ArtifactManager, aid: ULID, instant: datetime) -> int:
    """The alternative for one artifact: read its whole stream and fold the events up to ``instant``."""
    events = [e for e in await stream(manager.repo.session, str(aid)) if e.recorded_at <= instant]
    state = fold(events)
    return state.version if state is not None else 0


async def run_h(backend: str, s: Any, log: Log) -> list[Result]:
    versions = 1_000 if s.branching >= 10 else 100
    nodes = forest(s.roots, s.branching, s.depth)
    ids = assign_ids(nodes)
    trees = by_tree(nodes)
    size = tree_size(s.branching, s.depth)
    rng = random.Random(4)
    async with fresh_database(backend) as db, db.manager() as manager:
        for t in trees:
            await manager.save_all(artifacts_in(t, ids))
        doc, stamps = await _versions(manager, ids[trees[1][0].index], versions)
        target = trees[0]
        day1 = await _three_days(manager, target, ids, rng)
        root = ids[target[0].index]
        await _analyze(db)
        h1 = await _h1(manager, doc, stamps, s.queries, rng)
        h2 = await _h2(manager, root, day1, size, s.queries)
        h3 = await _h3(db, manager, doc, versions, s.queries)
    log(
        f"H {backend}: as_of {h1['ours']:.2f} vs {h1['floor']:.2f} ms; tree as_of {h2['ours']:.2f} vs "
        f"{h2['floor']:.2f} ms (replay {h2['replay']:.1f} ms); history {h3['ours']:.2f} ms"
    )
    n_all = len(nodes) + versions
    return [
        Result(backend, f"H1 find_by_id(as_of) of {versions:,} versions", TIME, h1["ours"], h1["floor"], "ms",
               AS_OF_TARGET, "vs the current find_by_id", {"queries": s.queries}),
        Result(backend, f"H1 alt: fold the stream up to t ({versions:,})", TIME, h1["replay"], h1["floor"], "ms",
               None, "not used: vs the current find_by_id", {}),
        Result(backend, f"H2 build_tree(as_of) {size:,} nodes @ {n_all:,}", TIME, h2["ours"], h2["floor"], "ms",
               TREE_TARGET, "vs the current build_tree", {"queries": s.queries}),
        Result(backend, "H2 alt: replay the log up to t", TIME, h2["replay"], h2["floor"], "ms", None,
               "not used: vs the current build_tree", {}),
        Result(backend, f"H3 history() of {versions:,} versions, 0 blob reads", TIME, h3["ours"], h3["floor"], "ms",
               None, "vs a raw SELECT of the stream", {"blob_statements": 0}),
    ]  # fmt: skip


async def _analyze(db: Database) -> None:
    """PostgreSQL: planner statistics after the bulk load, as autovacuum soon would (SQLite: nothing)."""
    if db.backend == "postgresql":
        async with db.driver() as conn:
            for table in (
                "ledger_events",
                "ledger_artifacts",
                "ledger_artifact_closure",
                "ledger_artifact_parent_history",
            ):
                await conn.execute(f"ANALYZE {table}")


async def _h1(
    manager: ArtifactManager, doc: ULID, stamps: list[datetime], queries: int, rng: random.Random
) -> dict[str, float]:
    ours, floor, replay = [], [], []
    await manager.find_by_id(doc, as_of=stamps[0])  # warm-up (statement caches)
    await manager.find_by_id(doc)
    for _ in range(queries):
        k = rng.randrange(len(stamps))
        elapsed, past = await _timed(manager.find_by_id(doc, as_of=stamps[k]))
        w.check(past.version if past else None, k + 1, "find_by_id(as_of) version")
        ours.append(elapsed)
        elapsed, now = await _timed(manager.find_by_id(doc))
        w.check(now.version if now else None, len(stamps), "find_by_id version")
        floor.append(elapsed)
        elapsed, version = await _timed(_replay_one(manager, doc, stamps[k]))
        w.check(version, k + 1, "fold version")
        replay.append(elapsed)
    return {"ours": _median_ms(ours), "floor": _median_ms(floor), "replay": _median_ms(replay)}


async def _h2(manager: ArtifactManager, root: ULID, instant: datetime, size: int, queries: int) -> dict[str, float]:
    ours, floor, replay = [], [], []
    await manager.build_tree(root, include_content=False, as_of=instant)  # warm-up
    for _ in range(queries):
        elapsed, past = await _timed(manager.build_tree(root, include_content=False, as_of=instant))
        w.check(_count(past), size, "build_tree(as_of) size")
        ours.append(elapsed)
        elapsed, now = await _timed(manager.build_tree(root, include_content=False))
        w.check(_count(now), size, "build_tree size")
        floor.append(elapsed)
    for _ in range(3):
        elapsed, count = await _timed(_replay_tree(manager, root, instant))
        w.check(count, size, "replayed tree size")
        replay.append(elapsed)
    return {"ours": _median_ms(ours), "floor": _median_ms(floor), "replay": _median_ms(replay)}


async def _h3(db: Database, manager: ArtifactManager, doc: ULID, versions: int, queries: int) -> dict[str, float]:
    blob_statements: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "ledger_blobs" in statement:
            blob_statements.append(statement)

    ours, floor = [], []
    sql = "SELECT * FROM ledger_events WHERE artifact_id = {p} ORDER BY version"
    event.listen(db.engine.sync_engine, "before_cursor_execute", watch)
    try:
        async with db.driver() as conn:
            for _ in range(max(5, queries // 3)):
                elapsed, entries = await _timed(manager.history(doc))
                w.check(len(entries), versions, "history length")
                ours.append(elapsed)
                t0 = time.perf_counter()
                if db.backend == "sqlite":
                    rows: Any = await conn.execute_fetchall(sql.format(p="?"), (str(doc),))
                else:
                    rows = await conn.fetch(sql.format(p="$1"), str(doc))
                floor.append(time.perf_counter() - t0)
                w.check(len(rows), versions, "raw stream length")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", watch)
    w.check(blob_statements, [], "statements reading ledger_blobs during history()")
    return {"ours": _median_ms(ours), "floor": _median_ms(floor)}
