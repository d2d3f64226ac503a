"""Q: metadata queries (``find``/``count`` with ``where=``, ``as_of=``, keyset pages) beside hand-written SQL.

The ledger: ``query_artifacts`` artifacts (1,000,000) in experiments of 100 (a root and its 99
runs), each with realistic metadata (experiment, run, status, accuracy, a group of 100
experiments, nested parameters) and tags; one in 10,000 is tagged ``flagged``. It is built the
fastest way the public API offers, ``save_all`` in batches of 5,000 (each batch one
transaction: events, hash chain, projections; the run verifies the chain at the end), then
``Ledger.create_index`` on the three filtered paths. Then an instant ``t``, then updates of two
experiments and 1 % of the rest (status, accuracy, the flag), so the past differs from the present.

Timed, ours and the floor alternating, medians of the repeats (and the median of the per-repeat
ratios): an indexed equality filter (one experiment, 100 rows), an indexed range filter (an
accuracy band of ~100 rows), an ``$or`` of two experiments (200 rows), a tag filter (not
indexable by ``create_index``: both sides scan), each again with ``as_of=t`` (against the same
current-state query; its result must equal what the floor returned before the updates), a
count, the first page and a page after half the ledger (keyset cursor; by id, and by id under
an indexed filter), and tracemalloc's peak while paging (``limit=100``) through a result of one
page (one experiment, 100 rows) and through a tenth of the ledger (ten groups, 100,000 rows in
1,000 pages): flat when a page never holds more than its own rows, whatever the result's size.
The floor is SQL written by hand on the bare driver connection against the same
``ledger_artifacts`` table, using the same expression indexes.

Beside it, the question answered the chapkit way, ``find_all(include_content=False)`` and a
Python filter, in a ledger of ``query_alt`` artifacts (100,000), against ``find`` there.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench_db import Database, fresh_database
from bench_report import TIME, Result
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger
from artifact_ledger.query import cursor as cursors
from artifact_ledger.query.find import plan

Log = Callable[[str], None]
BATCH = 5_000
EXPERIMENT = 100  # artifacts per experiment: a root and 99 runs
GROUPS = 100  # experiments per group ("data.metadata.group")
FLAG_EVERY = 10_000  # one artifact in this many is tagged "flagged"
STATUSES = ("done", "done", "done", "running", "failed", "queued")
INDEXED = ("data.metadata.experiment", "data.metadata.accuracy", "data.metadata.group")
FILTER_TARGET = 2.0  # indexed filters within 2x the hand-written SQL
DEEP_TARGET = 1.5  # a page after half the ledger within 1.5x the first page (keyset; noise allowance)
AS_OF_TARGET = 3.0  # as_of within 3x the current-state query
MEMORY_TARGET = 1.5  # peak while paging 100,000 rows within 1.5x the peak for one page of 100
LIMIT = 1_000  # page size of the filter queries (every result here fits one page)
PAGE = 100  # page size of the page rows
MEMORY_PAGE = 100  # page size while paging under tracemalloc: the small result (one experiment) is one page
MEMORY_GROUPS = 10  # the large result: ten of the GROUPS groups, a tenth of the ledger
COLUMNS = "id, parent_id, level, version, data, content_hash, content_codec, tags, created_at, updated_at"


def experiment(e: int) -> str:
    return f"exp-{e:05d}"


def _data(i: int, rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    e, r = divmod(i, EXPERIMENT)
    status = STATUSES[rng.randrange(len(STATUSES))]
    metadata = {
        "experiment": experiment(e),
        "run": r,
        "status": status,
        "accuracy": round(rng.random(), 6),
        "group": f"g{e % GROUPS:02d}",
        "params": {"lr": rng.choice([1e-4, 3e-4, 1e-3]), "layers": [64, 32], "optimizer": "adam"},
    }
    kind = "experiment" if r == 0 else "run"
    tags = [kind, status] + (["flagged"] if i % FLAG_EVERY == 7 else [])
    return {"name": f"{kind}-{i}", "kind": kind, "metadata": metadata}, tags


@dataclass
class Built:
    total: int
    kept: dict[int, tuple[ULID, ULID | None]]  # index -> (id, parent) of the artifacts updated after t
    seconds: float


def _updated(total: int) -> set[int]:
    """The indices changed after ``t``: experiments E/3 and 2E/3 whole, and 1 % of the rest."""
    n = total // EXPERIMENT
    chosen = {i for e in (n // 3, 2 * n // 3) for i in range(e * EXPERIMENT, (e + 1) * EXPERIMENT)}
    return chosen | set(range(53, total, 100))


def batches(total: int, keep: set[int], kept: dict[int, tuple[ULID, ULID | None]]) -> Iterator[list[ArtifactIn]]:
    rng = random.Random(15)
    batch: list[ArtifactIn] = []
    root: ULID | None = None
    for i in range(total):
        aid = ULID()
        parent = None if i % EXPERIMENT == 0 else root
        if parent is None:
            root = aid
        data, tags = _data(i, rng)
        batch.append(ArtifactIn(id=aid, parent_id=parent, data=data, tags=tags))
        if i in keep:
            kept[i] = (aid, parent)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def build(db: Database, total: int, log: Log) -> Built:
    t0 = time.perf_counter()
    kept: dict[int, tuple[ULID, ULID | None]] = {}
    done = 0
    async with db.manager() as manager:
        for items in batches(total, _updated(total), kept):
            await manager.save_all(items)
            done += len(items)
            if done % 100_000 < BATCH:
                log(f"Q {db.backend}: {done:,}/{total:,} artifacts ({done / (time.perf_counter() - t0):,.0f}/s)")
    seconds = time.perf_counter() - t0
    log(f"Q {db.backend}: built {total:,} artifacts in {seconds:.1f} s")
    return Built(total, kept, seconds)


async def update_after(db: Database, built: Built) -> None:
    """Change status, accuracy and the flag of the kept artifacts (one save_all per batch)."""
    rng = random.Random(151)
    items = []
    for i, (aid, parent) in sorted(built.kept.items()):
        data, tags = _data(i, random.Random(i))
        data["metadata"]["status"] = "archived"
        data["metadata"]["accuracy"] = round(rng.random(), 6)
        tags = [t for t in tags if t != "flagged"] + (["flagged"] if i % 997 == 0 else [])
        items.append(ArtifactIn(id=aid, parent_id=parent, data=data, tags=tags))
    async with db.manager() as manager:
        for start in range(0, len(items), BATCH):
            await manager.save_all(items[start : start + BATCH])


async def analyze(db: Database) -> None:
    """PostgreSQL: planner statistics after the bulk load and the indexes, as autovacuum soon would."""
    if db.backend == "postgresql":
        async with db.driver() as conn:
            for table in ("ledger_artifacts", "ledger_events", "ledger_artifact_parent_history"):
                await conn.execute(f"ANALYZE {table}")


# --- the floor: hand-written SQL on the bare driver ----------------------------------------------------------


@dataclass(frozen=True)
class Query:
    name: str
    where: dict[str, Any] | None
    sqlite: str
    pg: str
    params: tuple[Any, ...]
    pg_params: tuple[Any, ...]


def _sqlite_value(path: str) -> str:
    return "json_extract(data, '$." + ".".join(f'"{p}"' for p in path.split(".")[1:]) + "')"


def _pg_value(path: str) -> str:
    return "(CAST(data AS JSONB)" + "".join(f" -> '{p}'" for p in path.split(".")[1:]) + ")"


def _jsonb(value: Any) -> str:
    import json

    return json.dumps(value)


def queries(total: int, rng: random.Random) -> dict[str, Query]:
    n = total // EXPERIMENT
    a, b = experiment(n // 3), experiment(2 * n // 3)
    exp, acc = "data.metadata.experiment", "data.metadata.accuracy"
    sx, px = _sqlite_value(exp), _pg_value(exp)
    sa, pa = _sqlite_value(acc), _pg_value(acc)
    low = round(rng.uniform(0.1, 0.8), 6)
    high = round(low + 100 / total, 6)
    order = f" ORDER BY id LIMIT {LIMIT + 1}"
    return {
        "eq": Query(
            "indexed equality (one experiment)",
            {exp: a},
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE {sx} = ?{order}",
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE {px} = $1::jsonb{order}",
            (a,),
            (_jsonb(a),),
        ),
        "range": Query(
            "indexed range (accuracy band)",
            {acc: {"gte": low, "lt": high}},
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE {sa} >= ? AND {sa} < ?{order}",
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE {pa} >= $1::jsonb AND {pa} < $2::jsonb{order}",
            (low, high),
            (_jsonb(low), _jsonb(high)),
        ),
        "or": Query(
            "$or of two experiments",
            {"$or": [{exp: a}, {exp: b}]},
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE {sx} = ? OR {sx} = ?{order}",
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE {px} = $1::jsonb OR {px} = $2::jsonb{order}",
            (a, b),
            (_jsonb(a), _jsonb(b)),
        ),
        "tag": Query(
            "tag filter (not indexed: both scan)",
            {"tags": "flagged"},
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE EXISTS "
            f"(SELECT 1 FROM json_each(tags) WHERE value = ?){order}",
            f"SELECT {COLUMNS} FROM ledger_artifacts WHERE CAST(tags AS JSONB) @> $1::jsonb{order}",
            ("flagged",),
            (_jsonb(["flagged"]),),
        ),
    }


async def floor_fetch(db: Database, conn: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
    if db.backend == "sqlite":
        return list(await conn.execute_fetchall(sql, params))
    return list(await conn.fetch(sql, *params))


async def floor_run(db: Database, conn: Any, q: Query) -> tuple[float, list[str]]:
    sql, params = (q.sqlite, q.params) if db.backend == "sqlite" else (q.pg, q.pg_params)
    t0 = time.perf_counter()
    rows = await floor_fetch(db, conn, sql, params)
    return time.perf_counter() - t0, [str(r[0]) for r in rows]


async def ours_run(manager: ArtifactManager, where: Any, **kw: Any) -> tuple[float, list[str], str | None]:
    t0 = time.perf_counter()
    page = await manager.find(where, **kw)
    return time.perf_counter() - t0, [str(a.id) for a in page.items], page.next_cursor


def _check(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        raise RuntimeError(f"benchmark sanity check failed: {what} gave {actual!r:.300}, expected {expected!r:.300}")


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def _paired(ours: list[float], floor: list[float]) -> float:
    return statistics.median(o / f for o, f in zip(ours, floor, strict=True))


@dataclass
class Timing:
    ours: list[float]
    floor: list[float]
    rows: int

    def result(self, backend: str, name: str, target: float | None, note: str, **detail: Any) -> Result:
        info = {"rows": self.rows, "repeats": len(self.ours), "ours_s": self.ours, "floor_s": self.floor, **detail}
        return Result(
            backend, name, TIME, _ms(self.ours), _ms(self.floor), "ms", target, note, info,
            _paired(self.ours, self.floor),
        )  # fmt: skip


async def _filters(
    db: Database, manager: ArtifactManager, qs: dict[str, Query], repeats: int, scans: int
) -> dict[str, Timing]:
    out: dict[str, Timing] = {}
    async with db.driver() as conn:
        for key, q in qs.items():
            n = scans if key == "tag" else repeats
            await ours_run(manager, q.where, limit=LIMIT)  # warm-up (statement caches, pages)
            await floor_run(db, conn, q)
            ours, floor, rows = [], [], 0
            for _ in range(n):
                f, expected = await floor_run(db, conn, q)
                _check(len(expected) <= LIMIT, True, f"{q.name}: the floor's result fits one page of {LIMIT}")
                o, got, more = await ours_run(manager, q.where, limit=LIMIT)
                _check(got, expected, f"find({q.where}) ids")
                _check(more, None, "one page holds the result")
                ours.append(o)
                floor.append(f)
                rows = len(got)
            out[key] = Timing(ours, floor, rows)
    return out


async def _past(
    manager: ArtifactManager, qs: dict[str, Query], instant: datetime, before: dict[str, list[str]], repeats: int
) -> dict[str, Timing]:
    """Each filter as of ``instant`` (must equal what the floor returned then) against the current ``find``."""
    out: dict[str, Timing] = {}
    for key, q in qs.items():
        await ours_run(manager, q.where, limit=LIMIT, as_of=instant)
        past, now, rows = [], [], 0
        for _ in range(repeats):
            o, got, _ = await ours_run(manager, q.where, limit=LIMIT, as_of=instant)
            _check(got, before[key], f"find({q.where}, as_of=t) ids")
            c, _, _ = await ours_run(manager, q.where, limit=LIMIT)
            past.append(o)
            now.append(c)
            rows = len(got)
        out[key] = Timing(past, now, rows)
    return out


async def _pages(db: Database, manager: ArtifactManager, total: int, repeats: int) -> dict[str, Timing]:
    """The first page and the page after half the matches, by id (no filter; one indexed group of 100 experiments)."""
    group, name = "data.metadata.group", f"g{(total // EXPERIMENT // 2) % GROUPS:02d}"
    cases: dict[str, tuple[dict[str, Any] | None, str, str, tuple[Any, ...]]] = {
        "all": (None, "", "", ()),
        "group": (
            {group: name},
            f" WHERE {_sqlite_value(group)} = ?",
            f" WHERE {_pg_value(group)} = $1::jsonb",
            (name,) if db.backend == "sqlite" else (_jsonb(name),),
        ),
    }
    out: dict[str, Timing] = {}
    async with db.driver() as conn:
        for key, (where, s_where, p_where, params) in cases.items():
            cond = s_where if db.backend == "sqlite" else p_where
            (matches,) = (await floor_fetch(db, conn, f"SELECT count(*) FROM ledger_artifacts{cond}", params))[0]
            middle_sql = f"SELECT id FROM ledger_artifacts{cond} ORDER BY id LIMIT 1 OFFSET {matches // 2 - 1}"
            middle = str((await floor_fetch(db, conn, middle_sql, params))[0][0])
            checked = plan(where, order_by="id", limit=PAGE, after=None, as_of=None)
            deep_cursor = cursors.encode(checked.query, [middle])
            p = "?" if db.backend == "sqlite" else f"${len(params) + 1}"
            glue = " AND" if cond else " WHERE"
            first_sql = f"SELECT {COLUMNS} FROM ledger_artifacts{cond} ORDER BY id LIMIT {PAGE + 1}"
            deep_sql = f"SELECT {COLUMNS} FROM ledger_artifacts{cond}{glue} id > {p} ORDER BY id LIMIT {PAGE + 1}"
            firsts, deeps, floor_first, floor_deep = [], [], [], []
            await ours_run(manager, where, limit=PAGE, after=deep_cursor)
            for _ in range(repeats):
                t0 = time.perf_counter()
                rows = await floor_fetch(db, conn, first_sql, params)
                floor_first.append(time.perf_counter() - t0)
                o, got, _ = await ours_run(manager, where, limit=PAGE)
                _check(got, [str(r[0]) for r in rows[:PAGE]], "first page ids")
                firsts.append(o)
                t0 = time.perf_counter()
                rows = await floor_fetch(db, conn, deep_sql, (*params, middle))
                floor_deep.append(time.perf_counter() - t0)
                o, got, _ = await ours_run(manager, where, limit=PAGE, after=deep_cursor)
                _check(got, [str(r[0]) for r in rows[:PAGE]], "deep page ids")
                deeps.append(o)
            out[f"{key}-first"] = Timing(firsts, floor_first, PAGE)
            out[f"{key}-deep"] = Timing(deeps, floor_deep, PAGE)
            out[f"{key}-deep-vs-first"] = Timing(deeps, firsts, matches // 2)
    return out


async def _count(db: Database, manager: ArtifactManager, q: Query, repeats: int) -> Timing:
    sql = q.sqlite if db.backend == "sqlite" else q.pg
    sql = "SELECT count(*) FROM ledger_artifacts WHERE " + sql.split(" WHERE ", 1)[1].split(" ORDER BY")[0]
    params = q.params if db.backend == "sqlite" else q.pg_params
    ours, floor = [], []
    async with db.driver() as conn:
        for _ in range(repeats):
            t0 = time.perf_counter()
            (expected,) = (await floor_fetch(db, conn, sql, params))[0]
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            got = await manager.count(q.where)
            ours.append(time.perf_counter() - t0)
            _check(got, expected, f"count({q.where})")
    return Timing(ours, floor, int(expected))


async def _walk(manager: ArtifactManager, where: dict[str, Any], *, traced: bool = True) -> tuple[int, float]:
    """Page through every match (``limit=MEMORY_PAGE``), one page alive at a time, under tracemalloc
    (``traced``); returns (rows, peak MB above what was allocated before the walk)."""
    if traced:
        tracemalloc.start()
    try:
        rows, after = 0, None
        while True:
            page = await manager.find(where, limit=MEMORY_PAGE, after=after)
            rows += len(page.items)
            after = page.next_cursor
            del page
            if after is None:
                break
        _, peak = tracemalloc.get_traced_memory() if traced else (0, 0)
    finally:
        if traced:
            tracemalloc.stop()
    return rows, peak / 1e6


async def _memory(manager: ArtifactManager, total: int) -> dict[str, float]:
    """Peak memory of paging through one page's worth of matches and through a tenth of the ledger.

    Both walk pages of ``MEMORY_PAGE``; if ``find`` held the result (or grew anything per page),
    the large walk's peak would grow with its 1,000 pages, otherwise it stays at one page's."""
    n = total // EXPERIMENT
    small = {"data.metadata.experiment": experiment(n // 2)}
    large = {"data.metadata.group": {"in": [f"g{g:02d}" for g in range(MEMORY_GROUPS)]}}
    for where in (small, large):  # warm-up: compiled statements and caches are not the result's memory
        await _walk(manager, where, traced=False)
    small_rows, small_peak = await _walk(manager, small)
    large_rows, large_peak = await _walk(manager, large)
    _check(small_rows, EXPERIMENT, "rows of the small result")
    expected = sum(1 for e in range(n) if e % GROUPS < MEMORY_GROUPS) * EXPERIMENT
    _check(large_rows, expected, "rows of the large result")
    return {
        "small_rows": small_rows,
        "small_mb": small_peak,
        "large_rows": large_rows,
        "large_mb": large_peak,
        "page": MEMORY_PAGE,
    }


async def _alternative(backend: str, total: int, repeats: int, log: Log) -> Timing:
    """The chapkit way in a ledger of ``total``: find_all(include_content=False) and a Python filter."""
    async with fresh_database(backend) as db:
        await build(db, total, log)
        async with Ledger.open(db.engine) as ledger:
            await ledger.create_index("data.metadata.experiment")
        await analyze(db)
        wanted = experiment(total // EXPERIMENT // 2)
        where = {"data.metadata.experiment": wanted}
        async with db.manager() as manager:
            alt, ours = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                everything = await manager.find_all(include_content=False)
                found = [a for a in everything if a.data["metadata"]["experiment"] == wanted]
                alt.append(time.perf_counter() - t0)
                del everything
                o, got, _ = await ours_run(manager, where, limit=LIMIT)
                ours.append(o)
                _check(sorted(str(a.id) for a in found), got, "find_all + filter ids")
    return Timing(alt, ours, len(got))


async def run_q(backend: str, s: Any, log: Log) -> list[Result]:
    total = s.query_artifacts
    repeats = max(5, s.queries // 2)
    scans = 5 if total > 100_000 else repeats
    rng = random.Random(1515)
    async with fresh_database(backend) as db:
        built = await build(db, total, log)
        t0 = time.perf_counter()
        async with Ledger.open(db.engine) as ledger:
            for path in INDEXED:
                await ledger.create_index(path)
        index_s = time.perf_counter() - t0
        await analyze(db)
        qs = queries(total, rng)
        before: dict[str, list[str]] = {}
        async with db.driver() as conn:
            for key, q in qs.items():
                before[key] = (await floor_run(db, conn, q))[1]
        await asyncio.sleep(0.01)
        instant = datetime.now(UTC)
        await asyncio.sleep(0.01)
        await update_after(db, built)
        await analyze(db)
        async with db.manager() as manager:
            filters = await _filters(db, manager, qs, repeats, scans)
            past = await _past(manager, qs, instant, before, scans)
            counted = await _count(db, manager, qs["eq"], repeats)
            pages = await _pages(db, manager, total, repeats)
            memory = await _memory(manager, total)
        t0 = time.perf_counter()
        async with Ledger.open(db.engine) as ledger:
            report = await ledger.verify()
        verify_s = time.perf_counter() - t0
        _check(report.ok, True, "verify() of the built ledger")
    alt = await _alternative(backend, s.query_alt, 3, log)
    log(
        f"Q {backend}: eq {_ms(filters['eq'].ours):.2f} vs {_ms(filters['eq'].floor):.2f} ms; "
        f"as_of eq {_ms(past['eq'].ours):.1f} ms; deep page {_ms(pages['all-deep'].ours):.2f} ms; "
        f"memory {memory['small_mb']:.2f} -> {memory['large_mb']:.2f} MB"
    )
    at = f"@ {total:,}"
    build_info = {"artifacts": total, "build_s": built.seconds, "create_index_s": index_s, "verify_s": verify_s}
    rows: list[Result] = []
    for key, label in (("eq", "indexed equality"), ("range", "indexed range"), ("or", "$or of two indexed")):
        t = filters[key]
        rows.append(t.result(backend, f"Q {label}, {t.rows} rows {at}", FILTER_TARGET, "vs hand-written SQL",
                             where=qs[key].where, **build_info))  # fmt: skip
    t = filters["tag"]
    rows.append(t.result(backend, f"Q tag filter, {t.rows} rows {at} (scan)", None,
                         "not indexable by create_index: both sides scan", where=qs["tag"].where))  # fmt: skip
    for key, label in (("eq", "equality"), ("range", "range"), ("or", "$or"), ("tag", "tag")):
        t = past[key]
        rows.append(t.result(backend, f"Q {label} as_of=t, {t.rows} rows", AS_OF_TARGET,
                             "vs the same find() of the current state"))  # fmt: skip
    rows.append(counted.result(backend, f"Q count(equality) = {counted.rows}", None, "vs SELECT count(*)"))
    for key, label in (("all", "no filter"), ("group", "one group (indexed)")):
        first, deep, versus = pages[f"{key}-first"], pages[f"{key}-deep"], pages[f"{key}-deep-vs-first"]
        rows.append(first.result(backend, f"Q first page of {PAGE}, {label}", None, "vs hand-written SQL"))
        rows.append(deep.result(backend, f"Q page after {versus.rows:,}, {label}", None, "vs hand-written SQL"))
        rows.append(versus.result(backend, f"Q deep page vs first, {label}", DEEP_TARGET,
                                  "ours after half the matches vs ours first page"))  # fmt: skip
    rows.append(
        Result(backend, f"Q peak memory paging {memory['large_rows']:,} vs {memory['small_rows']} rows", TIME,
               memory["large_mb"], memory["small_mb"], "MB", MEMORY_TARGET,
               f"tracemalloc peak, pages of {MEMORY_PAGE}", memory)
    )  # fmt: skip
    rows.append(alt.result(backend, f"Q alt: find_all + Python filter @ {s.query_alt:,}", None,
                           "the chapkit way, vs find() in the same ledger"))  # fmt: skip
    return rows
