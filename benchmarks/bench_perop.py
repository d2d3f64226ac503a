"""P: the per-operation path, the way chapkit's routes and an HTTP API use the manager.

Every call of ours opens a new ``AsyncSession`` (``ledger.sessions()``), builds an
``ArtifactRepository`` and an ``ArtifactManager`` on it, makes one manager call and closes the
session, all inside the timed section: a route pays for all of it. The ledger is opened with
``Ledger.open`` on the library's configured engine (``artifact_ledger.create_engine``, its pool
settings) and holds a forest of a few thousand artifacts (``save_all`` per tree); the same rows
sit in the plain floor table, read and written on one driver connection held open, as every floor
in the suite is. Ours and the floor alternate operation by operation (who goes first alternates
too), so they share the noise; the table reports medians in µs per operation.

- get: ``find_by_id`` of a random id; floor: one SELECT by primary key.
- save: ``save(ArtifactIn(parent_id=..., data=...))`` of a new leaf (library-assigned id), committed;
  floor: BEGIN; INSERT; COMMIT.
- update: ``save`` of an existing artifact with changed data (same parent); floor: BEGIN; UPDATE data; COMMIT.
- move: ``move`` of a leaf to another parent on the same level; floor: BEGIN; UPDATE parent_id; COMMIT.
- info rows: a session alone (open, connection checkout, close: no statement) and ``find_by_id`` on one
  session held open (as W2 does), both beside the get floor, to split the get's cost.

Statements per operation come from an untimed pass after the timed ones, with counters on every
connection: SQLAlchemy's ``before_cursor_execute`` (statements sent through the session) plus, at the
driver, SQLite's trace callback (every statement the connection runs, BEGIN/COMMIT/ROLLBACK included)
or asyncpg's query logger (every statement sent outside SQLAlchemy's prepared statements: the write
path's own, BEGIN, COMMIT, ROLLBACK). The floor's are counted the same way on its connection. On
PostgreSQL each statement is a round trip; on SQLite the cost is in aiosqlite's thread hops (each call
runs on the connection's own thread), counted too.
``--profile P-get`` (``P-save``, ``P-update``, ``P-move``) profiles ours alone (:func:`profile_ops`).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import aiosqlite
import bench_workloads as w
import orjson
from bench_db import FLOOR_TABLE, HIERARCHY, Database, fresh_database
from bench_forest import Node, assign_ids, by_tree, forest, small_data
from bench_reads import _load
from bench_report import TIME, Result
from bench_suite import Sizes
from sqlalchemy import event
from sqlalchemy.util import await_only
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactOut, ArtifactRepository, Ledger
from artifact_ledger.store import sqlite as sqlite_store
from artifact_ledger.store.sqlite_threads import workers_of

Log = Callable[[str], None]
Call = Callable[[], Awaitable[Any]]

# Ours / floor, medians of µs per operation (the targets for the per-operation path).
TARGETS = {"get": 3.0, "save": 4.0, "update": 4.0, "move": 3.0}
OPS = ("get", "save", "update", "move")
WRITES = ("save", "update", "move")
INFO_OPS = ("session", "get-held")
WARM_UP = 20  # operations of each kind before the timed ones (statement caches, pool, page cache)
COUNTED = 5  # operations of each kind in the statement-counting pass
LEAF_LEVEL = 3

LABELS = {
    "get": "P get: find_by_id, new session per call",
    "save": "P save: save() of a new leaf, committed",
    "update": "P update: save() changing an artifact's data",
    "move": "P move: move() of a leaf to another parent",
    "session": "P info: session alone (open, checkout, close)",
    "get-held": "P info: find_by_id on one held session (as W2)",
}
FLOOR_NOTES = {
    "get": "floor: one SELECT by primary key",
    "save": "floor: BEGIN; INSERT; COMMIT",
    "update": "floor: BEGIN; UPDATE data; COMMIT",
    "move": "floor: BEGIN; UPDATE parent_id; COMMIT",
    "session": "no statement; vs the get floor",
    "get-held": "vs the get floor; the difference to P get is the session's cost",
}


@dataclass(frozen=True)
class Step:
    """One operation of a kind: ours and the floor doing the same thing, and a check of both results."""

    ours: Call
    floor: Call
    check: Callable[[Any, Any], None]


class PerOp:
    """One P run's database: the ledger and the floor connection holding the same forest."""

    def __init__(self, db: Database, ledger: Ledger, conn: Any, nodes: list[Node], ids: list[ULID], seed: int) -> None:
        self.db, self.ledger, self.conn = db, ledger, conn
        self.nodes, self.ids = nodes, ids
        self.rng = random.Random(seed)
        self.parents = {str(ids[n.index]): str(ids[n.parent]) if n.parent is not None else None for n in nodes}
        self.versions = dict.fromkeys(self.parents, 1)
        self.level2 = [str(ids[n.index]) for n in nodes if n.level == LEAF_LEVEL - 1]
        self.leaves = [str(ids[n.index]) for n in nodes if n.level == LEAF_LEVEL]
        self.created = 0
        self.held: ArtifactManager | None = None
        self.sql = {
            "get": w.driver_sql(db, f"SELECT id, parent_id, data FROM {FLOOR_TABLE} WHERE id = ?"),
            "save": w.driver_sql(db, f"INSERT INTO {FLOOR_TABLE} (id, parent_id, data) VALUES (?, ?, ?)"),
            "update": w.driver_sql(db, f"UPDATE {FLOOR_TABLE} SET data = ? WHERE id = ?"),
            "move": w.driver_sql(db, f"UPDATE {FLOOR_TABLE} SET parent_id = ? WHERE id = ?"),
        }

    # ---- ours: what a route does per request ------------------------------------------------------------
    @asynccontextmanager
    async def request(self) -> AsyncIterator[ArtifactManager]:
        """A new ``AsyncSession``, an ``ArtifactRepository`` and an ``ArtifactManager`` on it (``Ledger.manager``)."""
        async with self.ledger.sessions() as session:
            repo = ArtifactRepository(
                session, secret=self.ledger.keyring, clock=self.ledger.clock, id_factory=self.ledger.new_id
            )
            yield ArtifactManager(repo, hierarchy=HIERARCHY)

    async def _find(self, aid: str) -> ArtifactOut | None:
        async with self.request() as manager:
            return await manager.find_by_id(aid)

    async def _save(self, item: Callable[[], ArtifactIn]) -> ArtifactOut:
        async with self.request() as manager:
            return await manager.save(item())  # the model is built inside: a route builds it per request

    async def _move(self, aid: str, parent: str) -> ArtifactOut:
        async with self.request() as manager:
            return await manager.move(aid, parent)

    async def _session(self) -> None:
        async with self.ledger.sessions() as session:
            await session.connection()

    # ---- the steps of each kind ---------------------------------------------------------------------------
    def steps(self, kind: str) -> Iterator[Step]:
        make = {
            "get": self._get,
            "save": self._new,
            "update": self._update,
            "move": self._relocate,
            "session": self._session_step,
            "get-held": self._held,
        }[kind]
        while True:
            yield make()

    def _floor_get(self, key: str) -> Call:
        return lambda: w.fetch(self.db, self.conn, self.sql["get"], key)

    def _floor_write(self, kind: str, params: tuple[Any, ...]) -> Call:
        return lambda: w.transaction(self.db, self.conn, [(self.sql[kind], params)])

    def _get(self) -> Step:
        aid = str(self.ids[self.rng.choice(self.nodes).index])

        def check(out: ArtifactOut | None, rows: list[Any]) -> None:
            w.check((out.id if out else None, len(rows)), (ULID.from_str(aid), 1), "P get")

        return Step(lambda: self._find(aid), self._floor_get(aid), check)

    def _held(self) -> Step:
        aid = str(self.ids[self.rng.choice(self.nodes).index])
        held = self.held
        assert held is not None, "get-held runs inside PerOp.holding()"

        def check(out: ArtifactOut | None, rows: list[Any]) -> None:
            w.check((out.id if out else None, len(rows)), (ULID.from_str(aid), 1), "P get, held session")

        return Step(lambda: held.find_by_id(aid), self._floor_get(aid), check)

    def _session_step(self) -> Step:
        aid = str(self.ids[self.rng.choice(self.nodes).index])
        return Step(self._session, self._floor_get(aid), lambda _out, rows: w.check(len(rows), 1, "P session floor"))

    def _new(self) -> Step:
        parent = self.rng.choice(self.level2)
        self.created += 1
        data = small_data(len(self.nodes) + self.created, LEAF_LEVEL)
        floor_row = (str(ULID()), parent, orjson.dumps(data).decode())

        def check(out: ArtifactOut, _rows: Any) -> None:
            w.check((str(out.parent_id), out.level, out.version), (parent, LEAF_LEVEL, 1), "P save")

        return Step(
            lambda: self._save(lambda: ArtifactIn(parent_id=ULID.from_str(parent), data=data)),
            self._floor_write("save", floor_row),
            check,
        )

    def _update(self) -> Step:
        node = self.rng.choice(self.nodes)
        aid = str(self.ids[node.index])
        version = self.versions[aid] + 1
        self.versions[aid] = version
        parent = self.parents[aid]
        data = {**node.data, "rev": version, "score": self.rng.random()}

        def item() -> ArtifactIn:
            return ArtifactIn(id=ULID.from_str(aid), parent_id=ULID.from_str(parent) if parent else None, data=data)

        def check(out: ArtifactOut, _rows: Any) -> None:
            w.check((out.version, out.data), (version, data), "P update")

        return Step(lambda: self._save(item), self._floor_write("update", (orjson.dumps(data).decode(), aid)), check)

    def _relocate(self) -> Step:
        aid = self.rng.choice(self.leaves)
        parent = self.rng.choice(self.level2)
        while parent == self.parents[aid]:
            parent = self.rng.choice(self.level2)
        self.parents[aid] = parent
        version = self.versions[aid] + 1
        self.versions[aid] = version

        def check(out: ArtifactOut, _rows: Any) -> None:
            w.check((str(out.parent_id), out.level, out.version), (parent, LEAF_LEVEL, version), "P move")

        return Step(lambda: self._move(aid, parent), self._floor_write("move", (parent, aid)), check)

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """``get-held`` reads through one manager on one session for the whole phase (as W2 does)."""
        async with self.ledger.manager(HIERARCHY) as manager:
            self.held = manager
            try:
                yield
            finally:
                self.held = None

    async def check_end_state(self) -> None:
        """Both stores hold the forest plus the new leaves, and agree on every parent after the moves."""
        total = len(self.nodes) + self.created
        async with self.request() as manager:
            w.check(await manager.count(), total, "P ledger size")
            moved = await manager.find_all_by_id(self.leaves, include_content=False)
        await w.check_floor(self.db, self.conn, total)
        w.check({str(o.id): str(o.parent_id) for o in moved}, {a: self.parents[a] for a in self.leaves}, "P parents")
        rows = await w.fetch(self.db, self.conn, f"SELECT id, parent_id FROM {FLOOR_TABLE}")
        floor_parents = {r[0]: r[1] for r in rows}
        expected = {a: self.parents[a] for a in self.leaves}
        w.check({a: floor_parents[a] for a in self.leaves}, expected, "P floor parents")


async def _timed(call: Call) -> tuple[float, Any]:
    t0 = w._start()
    out = await call()
    return time.perf_counter() - t0, out


async def interleaved(steps: Iterator[Step], count: int, warm: int = WARM_UP) -> tuple[list[float], list[float]]:
    """``warm`` + ``count`` steps, ours and the floor one after the other (who goes first alternates)."""
    ours, floor = [], []
    for i in range(warm + count):
        step = next(steps)
        if i % 2:
            f, f_out = await _timed(step.floor)
            o, o_out = await _timed(step.ours)
        else:
            o, o_out = await _timed(step.ours)
            f, f_out = await _timed(step.floor)
        step.check(o_out, f_out)
        if i >= warm:
            ours.append(o)
            floor.append(f)
    return ours, floor


# ---- statements per operation ----------------------------------------------------------------------------
class StatementCounter:
    """Counts statements on the ledger's connections (SQLAlchemy and driver level) and on the floor's."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.sa = 0  # through SQLAlchemy (before_cursor_execute)
        self.driver = 0  # at the driver: SQLite's trace callback (all) / asyncpg's logger (all but SA's)

    def _on_sa(self, *_args: Any) -> None:
        self.sa += 1

    def _on_driver(self, *_args: Any) -> None:
        self.driver += 1

    def _instrument(self, _dbapi_connection: Any, record: Any) -> None:
        """Pool ``connect`` event (in SQLAlchemy's greenlet, so the aiosqlite call may be awaited)."""
        raw = record.driver_connection
        if self.backend == "sqlite":
            await_only(raw.set_trace_callback(self._on_driver))
        else:
            raw.add_query_logger(self._on_driver)

    @property
    def total(self) -> int:
        # SQLite's trace sees SQLAlchemy's statements too; asyncpg's logger does not (prepared statements).
        return self.driver if self.backend == "sqlite" else self.driver + self.sa

    @asynccontextmanager
    async def on_ledger(self, ledger: Ledger) -> AsyncIterator[None]:
        """Counters on every connection the engine makes from now on (the pool is emptied first)."""
        sync_engine = ledger.engine.sync_engine
        await ledger.engine.dispose()
        event.listen(sync_engine, "connect", self._instrument)
        event.listen(sync_engine, "before_cursor_execute", self._on_sa)
        # SQLite: the write path and idle reads run on the ledger's own connections (sqlite_threads.py);
        # each one handed out gets the trace callback on its thread first.
        threads = workers_of(ledger.engine)
        acquire = threads.acquire if threads is not None else None
        if threads is not None and acquire is not None:

            def traced() -> Any:
                worker = acquire()
                worker.post(lambda connection: connection.set_trace_callback(self._on_driver))
                return worker

            threads.acquire = traced  # type: ignore[method-assign]
        try:
            yield
        finally:
            if threads is not None and acquire is not None:
                threads.acquire = acquire  # type: ignore[method-assign]
            event.remove(sync_engine, "connect", self._instrument)
            event.remove(sync_engine, "before_cursor_execute", self._on_sa)
            await ledger.engine.dispose()  # the counted connections go

    @asynccontextmanager
    async def on_driver(self, conn: Any) -> AsyncIterator[None]:
        if self.backend == "sqlite":
            await conn.set_trace_callback(self._on_driver)
        else:
            conn.add_query_logger(self._on_driver)
        try:
            yield
        finally:
            if self.backend == "sqlite":
                await conn.set_trace_callback(None)
            else:
                conn.remove_query_logger(self._on_driver)

    async def count(self, call: Call) -> tuple[int, int, Any]:
        """(statements in total, of them through SQLAlchemy, the result) of one call."""
        total, sa = self.total, self.sa
        out = await call()
        for _ in range(3):  # asyncpg hands logged queries to the loop with call_soon
            await asyncio.sleep(0)
        return self.total - total, self.sa - sa, out


class HopCounter:
    """SQLite: aiosqlite runs every call on its own thread; count those hops (each costs a thread wake-up
    there and back), the floor connection's apart. Wraps aiosqlite's ``Connection._execute``, an internal
    the library's write path relies on too; without it, no hops are counted."""

    def __init__(self, floor_conn: Any) -> None:
        self.floor_conn = floor_conn
        self.ours = self.floor = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        original = getattr(aiosqlite.Connection, "_execute", None)
        if original is None:
            yield
            return
        counter = self

        async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            if conn is counter.floor_conn:
                counter.floor += 1
            else:
                counter.ours += 1
            return await original(conn, fn, *args, **kwargs)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
        try:
            yield
        finally:
            aiosqlite.Connection._execute = original  # type: ignore[method-assign]


async def count_statements(run: PerOp, kinds: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Median statements per operation of each kind, ours (total and through SQLAlchemy) and floor;
    on SQLite also the thread hops of each (on PostgreSQL every statement is a round trip)."""
    names = ("ours", "ours_sa", "floor", *(("ours_hops", "floor_hops") if run.db.backend == "sqlite" else ()))
    counted: dict[str, dict[str, list[int]]] = {k: {name: [] for name in names} for k in kinds}
    ours, floor = StatementCounter(run.db.backend), StatementCounter(run.db.backend)
    hops = HopCounter(run.conn)
    async with ours.on_ledger(run.ledger), floor.on_driver(run.conn):
        for kind in kinds:
            steps = run.steps(kind)
            for i in range(1 + COUNTED):  # the first makes the connection (PRAGMAs, type setup): not counted
                step = next(steps)
                hops.ours = hops.floor = 0
                with hops.counting():
                    total, sa, o_out = await ours.count(step.ours)
                    f_total, _, f_out = await floor.count(step.floor)
                step.check(o_out, f_out)
                if i:
                    found = {"ours": total, "ours_sa": sa, "floor": f_total, "ours_hops": hops.ours,
                             "floor_hops": hops.floor}  # fmt: skip
                    for name in names:
                        counted[kind][name].append(found[name])
    return {k: {name: statistics.median_high(v) for name, v in c.items()} for k, c in counted.items()}


class StatementClock:
    """SQLite: the time an operation spends running its statements on the ledger's own thread (the
    sqlite3 calls of ``store.sqlite._run_steps``, BEGIN and COMMIT included), nothing of the ledger's
    Python around them: the least a write with these statements can cost, however lean the rest."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        original = sqlite_store._run_steps
        clock = self

        def timed(conn: Any, steps: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(conn, steps)
            finally:
                clock.seconds += time.perf_counter() - started  # one worker thread at a time: no race

        sqlite_store._run_steps = timed
        try:
            yield
        finally:
            sqlite_store._run_steps = original


async def statements_alone(run: PerOp, kinds: tuple[str, ...], count: int) -> dict[str, tuple[float, float]]:
    """SQLite, per write kind: (median µs of the statements alone, median of their ratio to the floor's
    whole operation), from ``count`` operations interleaved with the floor's, after the timed passes."""
    clock = StatementClock()
    out: dict[str, tuple[float, float]] = {}
    with clock.timing():
        for kind in kinds:
            alone, ratios = [], []
            steps = run.steps(kind)
            for i in range(WARM_UP + count):
                step = next(steps)
                clock.seconds = 0.0
                o_out = await step.ours()
                spent = clock.seconds
                f, f_out = await _timed(step.floor)
                step.check(o_out, f_out)
                if i >= WARM_UP:
                    alone.append(spent * 1e6)
                    ratios.append(spent / f)
            out[kind] = (statistics.median(alone), statistics.median(ratios))
    return out


# ---- the workload ------------------------------------------------------------------------------------------
def _per_op_forest(s: Sizes) -> list[Node]:
    return forest(s.per_op_roots, s.branching, s.depth)


@asynccontextmanager
async def opened(backend: str, s: Sizes, seed: int) -> AsyncIterator[PerOp]:
    """A fresh database: the ledger (``Ledger.open`` on the configured engine) and the floor, both loaded."""
    nodes = _per_op_forest(s)
    ids = assign_ids(nodes)
    async with fresh_database(backend) as db, Ledger.open(db.engine) as ledger, db.driver() as conn:
        async with ledger.manager(HIERARCHY) as manager:
            await _load(db, manager, conn, by_tree(nodes), ids)
        await db.analyze()
        yield PerOp(db, ledger, conn, nodes, ids, seed)


async def run_p(backend: str, s: Sizes, log: Log) -> list[Result]:
    medians: dict[str, tuple[float, float]] = {}
    runs: dict[str, dict[str, list[float]]] = {}
    async with opened(backend, s, seed=7) as run:
        for kind in (*OPS, *INFO_OPS):
            if kind == "get-held":
                async with run.holding():
                    ours, floor = await interleaved(run.steps(kind), s.per_op)
            else:
                ours, floor = await interleaved(run.steps(kind), s.per_op)
            runs[kind] = {"ours_us": [o * 1e6 for o in ours], "floor_us": [f * 1e6 for f in floor]}
            medians[kind] = (statistics.median(ours) * 1e6, statistics.median(floor) * 1e6)
        statements = await count_statements(run, OPS)
        alone = await statements_alone(run, WRITES, s.per_op) if backend == "sqlite" else {}
        await run.check_end_state()
        n = len(run.nodes)
    log(
        f"P {backend} @ {n:,} artifacts, {s.per_op:,} ops each: "
        + ", ".join(f"{k} {o:.0f} vs {f:.0f} µs" for k, (o, f) in medians.items())
    )
    log(f"P {backend} statements per op (ours total / via SQLAlchemy / floor): {statements}")
    results: list[Result] = []
    for kind in (*OPS, *INFO_OPS):
        o, f = medians[kind]
        detail: dict[str, Any] = {"artifacts": n, "ops": s.per_op, "ours_p90_us": _p90(runs[kind]["ours_us"]),
                                  "floor_p90_us": _p90(runs[kind]["floor_us"])}  # fmt: skip
        if kind in statements:
            detail["statements"] = statements[kind]
        results.append(
            Result(backend, f"{LABELS[kind]} @ {n:,}", TIME, o, f, "µs", TARGETS.get(kind), FLOOR_NOTES[kind], detail)
        )
    for kind, (us, ratio) in alone.items():
        label = f"P info: {kind}'s statements alone, on the ledger's thread (op target ≤ {TARGETS[kind]:g}×)"
        results.append(
            Result(backend, label,
                   TIME, us, medians[kind][1], "µs", None,
                   "the sqlite3 calls only (no Python of the ledger's around them), vs the floor's whole "
                   "operation; at or above the target, no leaner Python can meet it", {"ratio": ratio},
                   paired_ratio=ratio)
        )  # fmt: skip
    for kind in OPS:
        c = statements[kind]
        hops = f"; thread hops {c['ours_hops']} vs {c['floor_hops']}" if "ours_hops" in c else ""
        results.append(
            Result(backend, f"P {kind}: statements per op ({c['ours_sa']} via SQLAlchemy{hops})", TIME,
                   c["ours"], c["floor"], "stmts", None,
                   "counted at the driver (BEGIN/COMMIT/ROLLBACK included) in an untimed pass", c)
        )  # fmt: skip
    return results


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


async def profile_ops(kind: str, backend: str, s: Sizes, profiler: Any) -> int:
    """``--profile P-<kind>``: ``s.per_op`` operations of ours under ``profiler`` (enable/disable); returns how many."""
    if kind not in OPS:
        raise SystemExit(f"--profile P-{kind}: use one of {', '.join('P-' + k for k in OPS)}")
    async with opened(backend, s, seed=11) as run:
        steps = run.steps(kind)
        for _ in range(WARM_UP):
            step = next(steps)
            step.check(await step.ours(), await step.floor())
        todo = [next(steps) for _ in range(s.per_op)]
        outs = []
        profiler.enable()
        for step in todo:
            outs.append(await step.ours())
        profiler.disable()
        for step, out in zip(todo, outs, strict=True):
            step.check(out, await step.floor())
        await run.check_end_state()
    return len(todo)
