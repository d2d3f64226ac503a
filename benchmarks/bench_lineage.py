"""L: aliases and lineage (issue 16's ratios), each beside a raw-SQL floor on the bare driver, interleaved.

One database per backend: a layered graph of ``LAYERS`` layers of ``width`` artifacts (``save_all``
in chunks), each artifact below the top layer ``derived_from`` two artifacts of the layer above:
``2 * width * (LAYERS - 1)`` links (100,000 at full size). The links are written in bulk, a few
thousand ``link.added`` events per transaction through the manager's own write batch (sealed,
hash-chained and projected as ``link()`` would, without the per-link cycle walk the layering makes
needless); ``Ledger.verify()`` then checks the whole ledger (chain and projections) before anything
is timed. Aliases: ``ALIASES`` names, each set to an artifact and moved ``MOVES`` times (one
transaction each), so ``resolve_alias(as_of=)`` has history to seek in.

- L1 ``resolve_alias(name)`` vs one indexed SELECT joining ``ledger_aliases`` (by name) to the
  artifact's row (what the answer needs); info row: ``find_by_id`` of the same artifact.
- L2 ``resolve_alias(name, as_of=t)`` at a random earlier move vs a raw indexed seek: the alias's
  stream event at or before ``t`` (``ledger_aliases`` by name, ``ledger_events`` by the stream's
  key), its payload decoded, then the artifact's row by primary key.
- L3 ``lineage(id, depth=10)`` upstream from a bottom-layer artifact and downstream from a top-layer
  one vs a recursive CTE on the same ``ledger_links`` rows (current links, depth-limited, distinct
  edges); the node and edge counts must agree.
  An info row sets upstream beside a leaner CTE returning only the distinct node ids (no edges).
- L4 ``set_alias`` and ``link`` (one committed transaction each) beside a single committed
  ``save`` of a new artifact, all against the same floor (BEGIN; INSERT; COMMIT on the driver): the
  writes' ratios are reported next to the single save's, whose ratio is their target.
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import bench_workloads as w
import orjson
from bench_db import Database, fresh_database
from bench_report import TIME, Result
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger
from artifact_ledger.ambient import current as current_attribution
from artifact_ledger.events import LINK_ADDED, NewEvent
from artifact_ledger.ids import id_text
from artifact_ledger.lineage import DERIVED_FROM, link_payload
from artifact_ledger.writer import WriteBatch

Log = Callable[[str], None]

LAYERS = 11  # depth 10 from the bottom layer reaches the top one
PARENTS = 2  # derived_from links per artifact below the top layer
DEPTH = 10
RESOLVE_TARGET = 1.5
AS_OF_TARGET = 3.0
LINEAGE_TARGET = 3.0
LINK_CHUNK = 5_000  # link events per bulk transaction
SAVE_CHUNK = 2_000

_CTE = (
    "WITH RECURSIVE walk(id, hop) AS (SELECT {p1}, 0 UNION "
    "SELECT l.{far}, walk.hop + 1 FROM ledger_links l JOIN walk ON l.{near} = walk.id "
    "WHERE l.valid_to IS NULL AND walk.hop < {p2}) "
    "SELECT DISTINCT l.stream_id, l.kind, l.src_id, l.src_version, l.dst_id, l.dst_version "
    "FROM ledger_links l JOIN (SELECT DISTINCT id FROM walk WHERE hop < {p2}) f ON l.{near} = f.id "
    "WHERE l.valid_to IS NULL"
)
_LEAN = (
    "WITH RECURSIVE walk(id, hop) AS (SELECT {p1}, 0 UNION "
    "SELECT l.{far}, walk.hop + 1 FROM ledger_links l JOIN walk ON l.{near} = walk.id "
    "WHERE l.valid_to IS NULL AND walk.hop < {p2}) SELECT DISTINCT id FROM walk"
)
_RESOLVE = (
    "SELECT a.id, a.parent_id, a.level, a.version, a.data, a.content_hash, a.content_codec, a.tags, "
    "a.created_at, a.updated_at, a.created_by, a.updated_by, al.version "
    "FROM ledger_aliases al JOIN ledger_artifacts a ON a.id = al.artifact_id WHERE al.name = ?"
)
_SEEK = (
    "SELECT e.payload FROM ledger_aliases al JOIN ledger_events e ON e.artifact_id = al.stream_id "
    "WHERE al.name = ? AND e.recorded_at <= ? ORDER BY e.position DESC LIMIT 1"
)
_ROW = (
    "SELECT id, parent_id, level, version, data, content_hash, content_codec, tags, created_at, updated_at, "
    "created_by, updated_by FROM ledger_artifacts WHERE id = ?"
)
_FLOOR_WRITE = "INSERT INTO bench_l_floor (id, data) VALUES (?, ?)"


def _sizes(s: Any) -> tuple[int, int, int, int]:
    """(layer width, aliases, moves per alias, timed calls) for the full or the quick run."""
    if s.branching >= 10:
        return 5_000, 200, 20, max(60, s.queries * 4)
    return 100, 20, 5, max(10, s.queries)


def _cte(db: Database, upstream: bool, template: str = _CTE) -> str:
    near, far = ("src_id", "dst_id") if upstream else ("dst_id", "src_id")
    if db.backend == "sqlite":
        return template.format(p1="?1", p2="?2", near=near, far=far)
    return template.format(p1="$1::varchar", p2="$2", near=near, far=far)


async def _timed(call: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = await call
    return time.perf_counter() - t0, result


def _paired(ours: list[float], floor: list[float]) -> float:
    return statistics.median(o / f for o, f in zip(ours, floor, strict=True))


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


async def _bulk_links(manager: ArtifactManager, pairs: list[tuple[str, str]]) -> None:
    """``derived_from`` links in transactions of ``LINK_CHUNK`` events, sealed and projected by the write batch."""
    who = current_attribution(actor="bench", reason=None)
    for start in range(0, len(pairs), LINK_CHUNK):
        chunk = pairs[start : start + LINK_CHUNK]

        async def write(batch: WriteBatch, chunk: list[tuple[str, str]] = chunk) -> None:
            await batch.prefetch([])
            decided = [
                NewEvent(id_text(batch.new_id), 1, LINK_ADDED, link_payload(DERIVED_FROM, src, 1, dst, 1))
                for src, dst in chunk
            ]
            await batch._commit_events(decided, who)

        await manager._commands._write(write)


async def _build(db: Database, manager: ArtifactManager, width: int, rng: random.Random) -> list[list[str]]:
    layers: list[list[str]] = []
    for layer in range(LAYERS):
        ids: list[str] = []
        items = [ArtifactIn(data={"name": f"L{layer}-{i}", "type": "dataset"}) for i in range(width)]
        for start in range(0, width, SAVE_CHUNK):
            ids.extend(str(o.id) for o in await manager.save_all(items[start : start + SAVE_CHUNK]))
        layers.append(ids)
    pairs = [
        (child, parent)
        for above, below in itertools.pairwise(layers)
        for child in below
        for parent in rng.sample(above, PARENTS)
    ]
    await _bulk_links(manager, pairs)
    async with db.driver() as conn:
        (count,) = (await w.fetch(db, conn, "SELECT count(*) FROM ledger_links"))[0]
    w.check(count, PARENTS * width * (LAYERS - 1), "links projected")
    return layers


async def _verify(db: Database) -> None:
    async with Ledger.open(db.engine) as ledger:
        report = await ledger.verify()
    w.check(report.ok, True, f"verify of the measured ledger ({report.problem})")


async def _aliases(
    manager: ArtifactManager, layers: list[list[str]], count: int, moves: int, rng: random.Random
) -> dict[str, list[tuple[datetime, str]]]:
    """``count`` aliases, each set then moved ``moves`` times (moves of all aliases interleaved)."""
    history: dict[str, list[tuple[datetime, str]]] = {f"alias-{i}": [] for i in range(count)}
    pool = [a for layer in layers for a in layer]
    for _ in range(moves + 1):
        for name, steps in history.items():
            target = rng.choice(pool)
            out = await manager.set_alias(name, target)
            steps.append((out.updated_at, target))
    return history


async def run_l(backend: str, s: Any, log: Log) -> list[Result]:
    width, n_aliases, moves, calls = _sizes(s)
    rng = random.Random(16)
    async with fresh_database(backend) as db:
        async with db.manager() as manager:
            t0 = time.perf_counter()
            layers = await _build(db, manager, width, rng)
            history = await _aliases(manager, layers, n_aliases, moves, rng)
            built = time.perf_counter() - t0
        await _verify(db)
        if db.backend == "postgresql":
            async with db.driver() as conn:
                for table in ("ledger_links", "ledger_aliases", "ledger_events", "ledger_artifacts"):
                    await conn.execute(f"ANALYZE {table}")
        async with db.manager() as manager, db.driver(autocommit=True) as conn:
            l1 = await _l1(db, conn, manager, history, calls, rng)
            l2 = await _l2(db, conn, manager, history, calls, rng)
            up = await _l3(db, conn, manager, layers[-1], True, max(5, calls // 4), rng)
            down = await _l3(db, conn, manager, layers[0], False, max(5, calls // 4), rng)
            l4 = await _l4(db, conn, manager, layers, calls, rng)
    edges = PARENTS * width * (LAYERS - 1)
    log(
        f"L {backend}: built {edges:,} links, {n_aliases} aliases in {built:.1f} s; resolve {l1['ratio']:.2f}x, "
        f"as_of {l2['ratio']:.2f}x, lineage up {up['ratio']:.2f}x ({up['nodes']} nodes), "
        f"down {down['ratio']:.2f}x ({down['nodes']} nodes)"
    )
    save_ratio = l4["save"]["ratio"]
    detail = {"links": edges, "aliases": n_aliases, "moves": moves, "calls": calls}
    return [
        Result(backend, f"L1 resolve_alias × {calls} ({n_aliases} aliases)", TIME, l1["ours"], l1["floor"], "ms",
               RESOLVE_TARGET, "floor: one SELECT, alias by name joined to its artifact row", detail,
               paired_ratio=l1["ratio"]),
        Result(backend, "L1 info: find_by_id of the same artifact", TIME, l1["find"], l1["floor"], "ms", None,
               "the plain read, vs the same floor", {}, paired_ratio=l1["find_ratio"]),
        Result(backend, f"L2 resolve_alias(as_of) × {calls} ({moves + 1} targets each)", TIME, l2["ours"],
               l2["floor"], "ms", AS_OF_TARGET, "floor: the stream's event at t (indexed seek), then the row",
               detail, paired_ratio=l2["ratio"]),
        Result(backend, f"L3 lineage upstream depth {DEPTH} @ {edges:,} links ({up['nodes']:,} nodes)", TIME,
               up["ours"], up["floor"], "ms", LINEAGE_TARGET, "floor: recursive CTE on ledger_links", up["detail"],
               paired_ratio=up["ratio"]),
        Result(backend, f"L3 lineage downstream depth {DEPTH} ({down['nodes']:,} nodes)", TIME, down["ours"],
               down["floor"], "ms", LINEAGE_TARGET, "floor: recursive CTE on ledger_links", down["detail"],
               paired_ratio=down["ratio"]),
        Result(backend, "L3 info: upstream vs a lean CTE (node ids only, no edges)", TIME, up["ours"], up["lean"],
               "ms", None, "the least a walk can return", {}, paired_ratio=up["lean_ratio"]),
        Result(backend, "L4 save (single, committed): the single-save ratio", TIME, l4["save"]["ours"],
               l4["save"]["floor"], "ms", None, "floor: BEGIN; INSERT; COMMIT", {}, paired_ratio=save_ratio),
        Result(backend, "L4 set_alias (single, committed)", TIME, l4["set_alias"]["ours"], l4["set_alias"]["floor"],
               "ms", round(save_ratio * 1.25, 2), "target: the single-save ratio (+25% noise)", {},
               paired_ratio=l4["set_alias"]["ratio"]),
        Result(backend, "L4 link (single, committed)", TIME, l4["link"]["ours"], l4["link"]["floor"], "ms",
               round(save_ratio * 1.25, 2), "target: the single-save ratio (+25% noise)", {},
               paired_ratio=l4["link"]["ratio"]),
    ]  # fmt: skip


async def _l1(
    db: Database, conn: Any, manager: ArtifactManager, history: dict[str, list[tuple[datetime, str]]], calls: int,
    rng: random.Random,
) -> dict[str, float]:  # fmt: skip
    names = list(history)
    sql = w.driver_sql(db, _RESOLVE)
    ours, floor, find = [], [], []
    await manager.resolve_alias(names[0])  # warm-up (statement caches)
    for i in range(calls):
        name = rng.choice(names)
        expected = history[name][-1][1]
        first = i % 2 == 0  # who goes first alternates
        if first:
            e_o, out = await _timed(manager.resolve_alias(name))
        e_f, rows = await _timed(w.fetch(db, conn, sql, name))
        if not first:
            e_o, out = await _timed(manager.resolve_alias(name))
        e_b, plain = await _timed(manager.find_by_id(expected))
        w.check((str(out.id), str(rows[0][0]), str(plain.id) if plain else None), (expected,) * 3, "resolved id")
        ours.append(e_o)
        floor.append(e_f)
        find.append(e_b)
    return {
        "ours": _ms(ours), "floor": _ms(floor), "find": _ms(find), "ratio": _paired(ours, floor),
        "find_ratio": _paired(find, floor),
    }  # fmt: skip


async def _l2(
    db: Database, conn: Any, manager: ArtifactManager, history: dict[str, list[tuple[datetime, str]]], calls: int,
    rng: random.Random,
) -> dict[str, float]:  # fmt: skip
    names = list(history)
    seek, row = w.driver_sql(db, _SEEK), w.driver_sql(db, _ROW)

    async def floor_call(name: str, at: datetime) -> Any:
        stamp: Any = (
            at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds") if db.backend == "sqlite" else at
        )
        (found,) = await w.fetch(db, conn, seek, name, stamp)
        payload = orjson.loads(found[0])
        return (await w.fetch(db, conn, row, payload["artifact_id"]))[0]

    ours, floor = [], []
    for i in range(calls + 1):
        name = rng.choice(names)
        steps = history[name]
        k = rng.randrange(len(steps) - 1) if len(steps) > 1 else 0
        at, expected = steps[k]
        first = i % 2 == 0
        if first:
            e_o, out = await _timed(manager.resolve_alias(name, as_of=at))
        e_f, found = await _timed(floor_call(name, at))
        if not first:
            e_o, out = await _timed(manager.resolve_alias(name, as_of=at))
        w.check((str(out.id), str(found[0])), (expected, expected), f"{name} as of move {k}")
        if i:  # the first pair warms the statements up
            ours.append(e_o)
            floor.append(e_f)
    return {"ours": _ms(ours), "floor": _ms(floor), "ratio": _paired(ours, floor)}


async def _l3(
    db: Database, conn: Any, manager: ArtifactManager, starts: list[str], upstream: bool, calls: int,
    rng: random.Random,
) -> dict[str, Any]:  # fmt: skip
    sql, lean_sql = _cte(db, upstream), _cte(db, upstream, _LEAN)
    direction = "upstream" if upstream else "downstream"
    ours, floor, lean, nodes, edges = [], [], [], [], []
    for i in range(calls + 1):
        start = rng.choice(starts)
        first = i % 2 == 0
        if first:
            e_o, graph = await _timed(manager.lineage(start, direction=direction, depth=DEPTH))
        e_f, rows = await _timed(w.fetch(db, conn, sql, start, DEPTH))
        if not first:
            e_o, graph = await _timed(manager.lineage(start, direction=direction, depth=DEPTH))
        far = {r[4] if upstream else r[2] for r in rows} | {start}
        w.check((len(graph.edges), len(graph.nodes)), (len(rows), len(far)), f"lineage {direction} of {start}")
        e_l, ids = await _timed(w.fetch(db, conn, lean_sql, start, DEPTH))
        w.check(len(ids), len(far), f"lean CTE {direction} of {start}")
        if i:
            ours.append(e_o)
            floor.append(e_f)
            lean.append(e_l)
            nodes.append(len(graph.nodes))
            edges.append(len(graph.edges))
    return {
        "ours": _ms(ours), "floor": _ms(floor), "ratio": _paired(ours, floor), "nodes": int(statistics.median(nodes)),
        "lean": _ms(lean), "lean_ratio": _paired(ours, lean),
        "detail": {"nodes": int(statistics.median(nodes)), "edges": int(statistics.median(edges)), "calls": calls},
    }  # fmt: skip


async def _l4(
    db: Database, conn: Any, manager: ArtifactManager, layers: list[list[str]], calls: int, rng: random.Random
) -> dict[str, dict[str, float]]:
    await conn.execute("CREATE TABLE bench_l_floor (id VARCHAR(26) PRIMARY KEY, data TEXT NOT NULL)")
    insert = w.driver_sql(db, _FLOOR_WRITE)
    top, bottom = layers[0], layers[-1]
    used: set[tuple[str, str]] = set()

    async def floor_write() -> None:
        async with _tx(db, conn):
            await conn.execute(insert, *_args(db, str(ULID()), '{"n": 1}'))

    def new_link() -> tuple[str, str]:
        while True:  # a bottom artifact "used" a top one: no cycle, never linked before
            pair = (rng.choice(bottom), rng.choice(top))
            if pair not in used:
                used.add(pair)
                return pair

    ops: dict[str, Callable[[int], Any]] = {
        "save": lambda i: manager.save(ArtifactIn(data={"name": f"new-{i}", "type": "dataset"})),
        "set_alias": lambda i: manager.set_alias(f"write-{i % 7}", rng.choice(top)),
        "link": lambda i: manager.link(*new_link(), "used"),
    }
    runs: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in ops}
    for i in range(calls + 1):
        for kind, op in ops.items():
            first = (i + len(kind)) % 2 == 0
            if first:
                e_o, _ = await _timed(op(i))
            e_f, _ = await _timed(floor_write())
            if not first:
                e_o, _ = await _timed(op(i))
            if i:
                runs[kind][0].append(e_o)
                runs[kind][1].append(e_f)
    return {k: {"ours": _ms(o), "floor": _ms(f), "ratio": _paired(o, f)} for k, (o, f) in runs.items()}


def _args(db: Database, *values: Any) -> tuple[Any, ...]:
    return (values,) if db.backend == "sqlite" else values


class _tx:
    """BEGIN … COMMIT on the floor's autocommit driver connection."""

    def __init__(self, db: Database, conn: Any) -> None:
        self.db, self.conn, self.inner = db, conn, None

    async def __aenter__(self) -> None:
        if self.db.backend == "sqlite":
            await self.conn.execute("BEGIN")
        else:
            self.inner = self.conn.transaction()
            await self.inner.start()

    async def __aexit__(self, *exc: Any) -> None:
        if self.db.backend == "sqlite":
            await self.conn.execute("COMMIT" if exc[0] is None else "ROLLBACK")
        elif exc[0] is None:
            await self.inner.commit()
        else:
            await self.inner.rollback()
