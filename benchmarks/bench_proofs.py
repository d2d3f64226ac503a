"""M: the Merkle tree — proofs, checkpoints, and what keeping the tree costs the write path.

The ledger: ``FULL_EVENTS`` (1,000,000) creates through ``save_all`` in batches of 5,000 (quick:
20,000), trees of one root and 99 children with a small ``data``; after every hundredth of the
log, a checkpoint signed by a benchmark key (``ledger.checkpoint()``'s note at that size) is written the way
``artifact-ledger checkpoint --to DIR`` writes it, so the directory ends with 100 notes spread
over the log.

Timed on that ledger:

- ``prove_inclusion(position)`` at ``PROOFS`` (200) random positions and
  ``prove_consistency(old, new)`` at 200 random size pairs: the median and p95 latency (ms)
  against an absolute goal of 5 ms; the floor is one hand-written point lookup of an event's hash
  by position on the bare driver connection (the least a proof must read), timed in the same run.
- SQL statements per proof (the most over the 200; every statement counted, through SQLAlchemy or
  the store's recorders), against ``log2(n)``: the target is O(log n), i.e. a ratio of at most 1.
- ``verify --checkpoints DIR`` (``cli.checkpoints.check_directory``, what the command runs) over the
  100 notes, against one full ``ledger.verify()``: the target is a ratio below 1.

The write path with the tree against without it, in fresh databases (median of ``REPEATS``
alternating runs, the ratio the median of the per-repeat ratios): single committed saves
(``SINGLE`` artifacts, one ``save`` and commit each) and ``save_all`` batches of 5,000 (``BULK``
artifacts). *Without* is this code with the tree patched out in the benchmark process only
(:func:`merkle_off`): the frontier is read as empty and never grown, no frontier or node row is
written. The head statement still joins the (empty) frontier table. Target: at most 5 % slower.
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_db import Database, fresh_database
from bench_report import RATE, TIME, Result
from bench_suite import QUICK, Sizes
from sqlalchemy import event
from ulid import ULID

try:
    from artifact_ledger.checkpoint_dir import write_note
except ImportError:  # before the directory code had a module of its own
    from artifact_ledger.cli.checkpoints import write_note  # type: ignore[attr-defined,no-redef]

import artifact_ledger.merkle as merkle_module
import artifact_ledger.store.event_store as event_store_module
import artifact_ledger.writer_structural as writer_module
from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.checkpoints import ORIGIN_PREFIX, Checkpoint, CheckpointSigner, cosign
from artifact_ledger.cli.checkpoints import check_directory
from artifact_ledger.merkle import Frontier
from artifact_ledger.store.postgres import PostgresRecorder
from artifact_ledger.store.sqlite import SqliteRecorder

Log = Callable[[str], None]
FULL_EVENTS, QUICK_EVENTS = 1_000_000, 20_000
BATCH = 5_000
TREE = 100
CHECKPOINTS = 100
PROOFS = 200
GOAL_MS = 5.0
REPEATS = 5  # write-rate repeats, with and without the tree alternating
SINGLE, QUICK_SINGLE = 1_000, 100
BULK, QUICK_BULK = 50_000, 5_000
WRITE_TARGET = 0.95  # with the tree, at least 95 % of the rate without it


def items(start: int, count: int) -> Iterator[list[ArtifactIn]]:
    """Creates ``start`` .. ``start + count``: trees of one root and 99 children, in batches."""
    batch: list[ArtifactIn] = []
    root: ULID | None = None
    for i in range(start, start + count):
        aid = ULID()
        parent = None if i % TREE == 0 or root is None else root
        if parent is None:
            root = aid
        batch.append(ArtifactIn(id=aid, parent_id=parent, data={"type": "bench", "i": i, "loss": 1 / (i + 1)}))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


SIGNER = CheckpointSigner.from_seed("bench-operator", bytes(32))


async def build(db: Database, total: int, notes: Path, log: Log) -> float:
    """The ledger of ``total`` events, then a checkpoint note at every hundredth of it; returns the build's seconds.

    The notes are what ``ledger.checkpoint()`` would have made at each size (the root of the first
    ``size`` events, signed by ``SIGNER``), written as ``artifact-ledger checkpoint --to DIR`` writes them.
    """
    t0 = time.perf_counter()
    done = 0
    async with db.manager() as manager:
        for batch in items(0, total):
            await manager.save_all(batch)
            done += len(batch)
            if done % 100_000 < BATCH:
                log(f"M {db.backend}: {done:,}/{total:,} events ({done / (time.perf_counter() - t0):,.0f}/s)")
    seconds = time.perf_counter() - t0
    async with Ledger.open(db.engine) as ledger:
        head = await ledger.head()
        assert head.position == total, head
        for k in range(1, CHECKPOINTS + 1):
            size = total * k // CHECKPOINTS
            tree = await ledger.merkle_root(size)
            made = Checkpoint(origin=f"{ORIGIN_PREFIX}{ledger.ledger_id}", size=size, root=tree.root)
            write_note(notes, cosign(made, SIGNER))
    log(f"M {db.backend}: built {total:,} events in {seconds:.1f} s, {CHECKPOINTS} checkpoint notes")
    return seconds


async def analyze(db: Database) -> None:
    """PostgreSQL: planner statistics after the bulk load, as autovacuum soon would (SQLite: nothing)."""
    if db.backend == "postgresql":
        async with db.driver() as conn:
            for table in ("ledger_events", "ledger_merkle_nodes", "ledger_artifacts"):
                await conn.execute(f"ANALYZE {table}")


# ---- counting statements -------------------------------------------------------------------------


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement run in the block, through SQLAlchemy or the recorders (as ``tests/statement_log.py``)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    originals = [(cls, cls.pipeline, cls.pages) for cls in (SqliteRecorder, PostgresRecorder)]
    for cls, pipeline, pages in originals:

        async def run(self: Any, steps: Any, original: Any = pipeline) -> Any:
            seen.extend(step[0].sql for step in steps)
            return await original(self, steps)

        def paged(self: Any, statement: Any, params: Any, size: int, original: Any = pages) -> Any:
            seen.append(statement.sql)
            return original(self, statement, params, size)

        cls.pipeline = run  # type: ignore[method-assign]
        cls.pages = paged  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        for cls, pipeline, pages in originals:
            cls.pipeline = pipeline  # type: ignore[method-assign]
            cls.pages = pages  # type: ignore[method-assign]


# ---- proofs ---------------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


async def floor_lookups(db: Database, positions: list[int]) -> list[float]:
    """One hash by position on the bare driver, per position (ms each)."""
    out: list[float] = []
    async with db.driver() as conn:
        for position in positions:
            t0 = time.perf_counter()
            if db.backend == "sqlite":
                rows = await conn.execute_fetchall("SELECT hash FROM ledger_events WHERE position = ?", (position,))
            else:
                rows = await conn.fetch("SELECT hash FROM ledger_events WHERE position = $1", position)
            out.append((time.perf_counter() - t0) * 1e3)
            assert len(rows) == 1
    return out


async def time_proofs(db: Database, ledger: Ledger, total: int) -> dict[str, Any]:
    rng = random.Random(9162)
    positions = [rng.randint(1, total) for _ in range(PROOFS)]
    pairs = sorted((rng.randint(1, total), rng.randint(1, total)) for _ in range(PROOFS))
    pairs = [(min(a, b), max(a, b)) for a, b in pairs]
    inclusion: list[float] = []
    consistency: list[float] = []
    inclusion_statements: list[int] = []
    consistency_statements: list[int] = []
    floor = await floor_lookups(db, positions)
    for position, (old, new) in zip(positions, pairs, strict=True):
        with statements(db) as seen:
            t0 = time.perf_counter()
            proof = await ledger.prove_inclusion(position)
            inclusion.append((time.perf_counter() - t0) * 1e3)
        inclusion_statements.append(len(seen))
        assert proof.verify(), position
        with statements(db) as seen:
            t0 = time.perf_counter()
            shown = await ledger.prove_consistency(old, new)
            consistency.append((time.perf_counter() - t0) * 1e3)
        consistency_statements.append(len(seen))
        assert shown.verify(), (old, new)
    floor += await floor_lookups(db, positions)  # before and after: the cache warms for both sides alike
    return {
        "inclusion": inclusion,
        "consistency": consistency,
        "inclusion_statements": inclusion_statements,
        "consistency_statements": consistency_statements,
        "floor": floor,
    }


async def time_checkpoints(ledger: Ledger, notes: Path) -> tuple[float, float, int]:
    """(seconds for ``verify --checkpoints`` over the notes, seconds for a full ``verify()``, notes)."""
    t0 = time.perf_counter()
    checked, problem = await check_directory(ledger, str(notes), [SIGNER.verifier_key])
    seconds = time.perf_counter() - t0
    assert problem is None, problem
    t0 = time.perf_counter()
    report = await ledger.verify()
    full = time.perf_counter() - t0
    assert report.ok, report
    return seconds, full, checked


# ---- the write path with and without the tree -----------------------------------------------------


@contextmanager
def merkle_off() -> Iterator[None]:
    """The write path without the Merkle tree, in this process only: the stored frontier is read as an
    empty one that never grows, and no frontier or node row is written."""
    original_at, original_steps, original_append = (
        event_store_module.frontier_at,
        writer_module.merkle_steps,
        merkle_module.Frontier.append,
    )
    event_store_module.frontier_at = lambda *_args: (Frontier(), "")  # type: ignore[assignment]
    writer_module.merkle_steps = lambda *_args: []  # type: ignore[assignment]
    merkle_module.Frontier.append = lambda *_args: None  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        event_store_module.frontier_at = original_at
        writer_module.merkle_steps = original_steps
        merkle_module.Frontier.append = original_append  # type: ignore[method-assign]


async def single_rate(backend: str, count: int) -> float:
    async with fresh_database(backend) as db, db.manager() as manager:
        artifacts = [a for batch in items(0, count) for a in batch]
        await manager.save(artifacts[0])  # each save is its own committed transaction
        t0 = time.perf_counter()
        for artifact in artifacts[1:]:
            await manager.save(artifact)
        return (count - 1) / (time.perf_counter() - t0)


async def bulk_rate(backend: str, count: int) -> float:
    async with fresh_database(backend) as db, db.manager() as manager:
        t0 = time.perf_counter()
        for batch in items(0, count):
            await manager.save_all(batch)
        return count / (time.perf_counter() - t0)


async def write_rates(backend: str, single: int, bulk: int, log: Log) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {"single_on": [], "single_off": [], "bulk_on": [], "bulk_off": []}
    for rep in range(REPEATS):
        order = [True, False] if rep % 2 == 0 else [False, True]
        for on in order:
            suffix = "on" if on else "off"
            if on:
                runs[f"single_{suffix}"].append(await single_rate(backend, single))
                runs[f"bulk_{suffix}"].append(await bulk_rate(backend, bulk))
            else:
                with merkle_off():
                    runs[f"single_{suffix}"].append(await single_rate(backend, single))
                    runs[f"bulk_{suffix}"].append(await bulk_rate(backend, bulk))
        log(
            f"M {backend} writes {rep + 1}/{REPEATS}: single {runs['single_on'][-1]:,.0f}/s with the tree, "
            f"{runs['single_off'][-1]:,.0f}/s without; save_all {runs['bulk_on'][-1]:,.0f}/s with, "
            f"{runs['bulk_off'][-1]:,.0f}/s without"
        )
    return runs


def _paired(on: list[float], off: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(on, off, strict=True))


async def run_m(backend: str, sizes: Sizes, log: Log) -> list[Result]:
    quick = sizes == QUICK
    total = QUICK_EVENTS if quick else FULL_EVENTS
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="al-bench-notes-") as tmp:
        notes = Path(tmp)
        async with fresh_database(backend) as db:
            build_s = await build(db, total, notes, log)
            await analyze(db)
            async with Ledger.open(db.engine) as ledger:
                proofs = await time_proofs(db, ledger, total)
                log(
                    f"M {backend}: inclusion median {statistics.median(proofs['inclusion']):.2f} ms, "
                    f"consistency median {statistics.median(proofs['consistency']):.2f} ms"
                )
                checkpoints_s, full_s, checked = await time_checkpoints(ledger, notes)
                log(f"M {backend}: verify --checkpoints ({checked}) {checkpoints_s:.2f} s, full verify {full_s:.1f} s")
    runs = await write_rates(backend, QUICK_SINGLE if quick else SINGLE, QUICK_BULK if quick else BULK, log)
    floor_ms = statistics.median(proofs["floor"])
    log_n = math.log2(total)
    common = {"events": total, "build_s": build_s, "proofs": PROOFS}
    for kind in ("inclusion", "consistency"):
        values = proofs[kind]
        counts = proofs[f"{kind}_statements"]
        detail = {**common, "median_ms": statistics.median(values), "p95_ms": p95(values), "floor_ms": floor_ms}
        name = "prove_inclusion(position)" if kind == "inclusion" else "prove_consistency(old, new)"
        results += [
            Result(backend, f"M {name}, median × {total:,}", TIME, statistics.median(values), floor_ms, "ms",
                   note="floor: one hash by position on the driver", detail=detail, goal=GOAL_MS),
            Result(backend, f"M {name}, p95", TIME, p95(values), floor_ms, "ms",
                   note="floor: one hash by position on the driver", detail=detail, goal=GOAL_MS),
            Result(backend, f"M {name}, statements (max)", TIME, float(max(counts)), log_n, "statements", 1.0,
                   f"floor: log2(n) = {log_n:.1f}; median {statistics.median(counts):g}",
                   {**common, "statements": sorted(set(counts))}),
        ]  # fmt: skip
    results.append(
        Result(backend, f"M verify --checkpoints ({checked} notes) vs full verify()", TIME, checkpoints_s * 1e3,
               full_s * 1e3, "ms", 1.0, "floor: one full ledger.verify() of the same ledger",
               {**common, "checkpoints": checked, "checkpoints_s": checkpoints_s, "full_verify_s": full_s}),
    )  # fmt: skip
    for kind, label in (("single", "single committed save"), ("bulk", f"save_all × {BATCH:,}")):
        on, off = runs[f"{kind}_on"], runs[f"{kind}_off"]
        results.append(
            Result(backend, f"M {label}, with the tree vs without", RATE, statistics.median(on),
                   statistics.median(off), "artifacts/s", WRITE_TARGET,
                   "floor: the same code with the Merkle tree patched out", {f"{kind}_on": on, f"{kind}_off": off},
                   paired_ratio=_paired(on, off)),
        )  # fmt: skip
    return results
