"""G: group commit. N asyncio tasks of one process each doing single committed saves, every save on
a new session and ``ArtifactManager`` (the way the HTTP API and chapkit's routes use the manager),
with group commit on (the default) and off (``Ledger.open(..., group_commit=False)``), alternating
round by round on the same database.

Rows, per task count (1, 8, 32): saves/s with group commit against saves/s without it (the
issue's target: at least 3x at 32 tasks; with 1 task a lone save must not get slower), and an
info row against a raw-SQL floor measured in the same run: the same number of tasks each sending
``INSERT`` + ``COMMIT`` of one row on a driver connection of its own (PostgreSQL: one connection per
task; SQLite: one connection per task too, the file lock serialising them as it does ours).
Latency percentiles (p50/p99 per save) go in each row's detail.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from bench_db import Database, fresh_database
from bench_report import RATE, TIME, Result
from bench_suite import QUICK, Sizes
from ulid import ULID

from artifact_ledger import ArtifactIn
from artifact_ledger.group_commit import committer_for, set_enabled

Log = Callable[[str], None]
TASKS = (1, 8, 32)
ROUNDS = 5
QUICK_ROUNDS = 2
SAVES_PER_ROUND = 960
QUICK_SAVES_PER_ROUND = 240
"""Saves in one round of one mode, shared among its tasks (a lone task needs as many to be timed well)."""
LONE_ROUNDS = 8
QUICK_LONE_ROUNDS = 4
LONE_SAVES = 200
QUICK_LONE_SAVES = 100
"""The lone-save row: rounds of sequential saves, grouping on and off alternating, per-save medians."""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Call = Callable[[int, int], Awaitable[None]]


async def _concurrently(tasks: int, per_task: int, one: Call) -> tuple[float, list[float]]:
    """Saves/s of ``tasks`` tasks each calling ``one(task, i)`` ``per_task`` times; and every call's seconds."""
    latencies: list[float] = []

    async def worker(task: int) -> None:
        for i in range(per_task):
            t0 = time.perf_counter()
            await one(task, i)
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(task) for task in range(tasks)))
    return tasks * per_task / (time.perf_counter() - t0), latencies


async def ours(db: Database, parent: ULID, tasks: int, per_task: int, grouped: bool) -> tuple[float, list[float]]:
    set_enabled(db.engine, grouped)

    async def one(task: int, i: int) -> None:
        async with db.manager() as manager:
            await manager.save(ArtifactIn(parent_id=parent, data={"task": task, "i": i, "grouped": grouped}))

    try:
        return await _concurrently(tasks, per_task, one)
    finally:
        set_enabled(db.engine, True)


async def floor(db: Database, tasks: int, per_task: int) -> tuple[float, list[float]]:
    """Each task: its own driver connection, one committed INSERT per call."""
    connections: list[Any] = []
    contexts = [db.driver(autocommit=True) for _ in range(tasks)]
    for context in contexts:
        connections.append(await context.__aenter__())
    insert = "INSERT INTO bench_floor (id, parent_id, data) VALUES ({})"

    async def one(task: int, i: int) -> None:
        conn = connections[task]
        data = orjson.dumps({"task": task, "i": i}).decode()
        if db.backend == "sqlite":
            await conn.execute(insert.format("?, ?, ?"), (str(ULID()), None, data))
        else:
            await conn.execute(insert.format("$1, $2, $3"), str(ULID()), None, data)

    try:
        return await _concurrently(tasks, per_task, one)
    finally:
        for context in contexts:
            await context.__aexit__(None, None, None)


async def lone(db: Database, parent: ULID, rounds: int, saves: int, log: Log) -> Result:
    """One task saving one artifact after another (nothing to group): the committer's cost alone.

    Rounds alternate grouping on and off in one process on one database, so the machine's load
    falls on both; the row is the median of the per-round ratios of the per-save medians.
    """
    medians: dict[bool, list[float]] = {True: [], False: []}
    means: dict[bool, list[float]] = {True: [], False: []}
    for rnd in range(rounds):
        for grouped in (True, False) if rnd % 2 == 0 else (False, True):
            _rate, latencies = await ours(db, parent, 1, saves, grouped)
            medians[grouped].append(statistics.median(latencies))
            means[grouped].append(statistics.fmean(latencies))
    paired = statistics.median(a / b for a, b in zip(medians[True], medians[False], strict=True))
    on, off = (statistics.median(medians[mode]) * 1e6 for mode in (True, False))
    mean_paired = statistics.median(a / b for a, b in zip(means[True], means[False], strict=True))
    log(
        f"G {db.backend} lone save: median {on:,.0f} us with group commit, {off:,.0f} us without (paired "
        f"{paired:.2f}; of the means {mean_paired:.2f})"
    )
    return Result(
        db.backend,
        "G lone save (one task, sequential): with group commit vs without",
        TIME,
        on,
        off,
        "µs",
        target=1.1,
        note=f"{rounds} alternating rounds of {saves} saves; a lone save must not get slower",
        detail={
            "per_round_median_us": {str(k): [v * 1e6 for v in vs] for k, vs in medians.items()},
            "per_round_mean_us": {str(k): [v * 1e6 for v in vs] for k, vs in means.items()},
            "paired_ratio_of_means": mean_paired,
        },
        paired_ratio=paired,
    )


async def run_g(backend: str, sizes: Sizes, log: Log) -> list[Result]:
    quick = sizes == QUICK
    rounds = QUICK_ROUNDS if quick else ROUNDS
    per_round = QUICK_SAVES_PER_ROUND if quick else SAVES_PER_ROUND
    results: list[Result] = []
    async with fresh_database(backend) as db:
        await db.create_floor_table()
        async with db.manager() as manager:
            parent = (await manager.save(ArtifactIn(data={"name": "group commit"}))).id
        committer = committer_for(db.engine)
        for tasks in TASKS:
            per_task = per_round // tasks
            rates: dict[str, list[float]] = {"on": [], "off": [], "floor": []}
            latency: dict[str, list[float]] = {"on": [], "off": [], "floor": []}
            groups = 0
            for rnd in range(rounds):
                order = ["on", "off", "floor"] if rnd % 2 == 0 else ["floor", "off", "on"]
                for mode in order:
                    if mode == "floor":
                        rate, lat = await floor(db, tasks, per_task)
                    else:
                        before = committer.groups
                        rate, lat = await ours(db, parent, tasks, per_task, mode == "on")
                        if mode == "on":
                            groups += committer.groups - before
                    rates[mode].append(rate)
                    latency[mode].extend(lat)
            saves = rounds * tasks * per_task
            med = {mode: statistics.median(values) for mode, values in rates.items()}
            ms = {
                mode: {"p50_ms": _percentile(v, 0.5) * 1000, "p99_ms": _percentile(v, 0.99) * 1000}
                for mode, v in latency.items()
            }
            paired = statistics.median(a / b for a, b in zip(rates["on"], rates["off"], strict=True))
            log(
                f"G {backend} {tasks} tasks: grouped {med['on']:,.0f}/s (p99 {ms['on']['p99_ms']:.1f} ms, "
                f"{saves} saves in {groups} transactions), ungrouped {med['off']:,.0f}/s "
                f"(p99 {ms['off']['p99_ms']:.1f} ms), floor {med['floor']:,.0f}/s"
            )
            detail = {"latency": ms, "rates": rates, "transactions_grouped": groups, "saves": saves}
            target = 3.0 if tasks == 32 else (1 / 1.1 if tasks == 1 else None)
            results.append(
                Result(
                    backend,
                    f"G {tasks} task{'s' if tasks > 1 else ''}: saves with group commit vs without",
                    RATE,
                    med["on"],
                    med["off"],
                    "saves/s",
                    target=target,
                    note="new session and manager per save; ungrouped = Ledger.open(group_commit=False)",
                    detail=detail,
                    paired_ratio=paired,
                )
            )
            results.append(
                Result(
                    backend,
                    f"G {tasks} task{'s' if tasks > 1 else ''}: grouped saves vs INSERT/COMMIT floor",
                    RATE,
                    med["on"],
                    med["floor"],
                    "saves/s",
                    note="floor: each task a driver connection of its own, one committed INSERT per call",
                    detail=detail,
                )
            )
        lone_rounds = QUICK_LONE_ROUNDS if quick else LONE_ROUNDS
        results.append(await lone(db, parent, lone_rounds, QUICK_LONE_SAVES if quick else LONE_SAVES, log))
    return results
