"""The workloads, each with its raw-SQL floor on the bare driver connection. Every function returns seconds.

"Ours" goes through the public API (``ArtifactManager`` on an ``AsyncSession``) and includes
building the ``ArtifactIn`` models; the floor gets its rows serialised up front and times only
the database round trips.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

from bench_db import FLOOR_TABLE, Database
from bench_forest import Node, artifacts_in, floor_rows
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager

FloorRow = tuple[str, str | None, str]

INSERT_SQLITE = f"INSERT INTO {FLOOR_TABLE} (id, parent_id, data) VALUES (?, ?, ?)"
INSERT_PG = f"INSERT INTO {FLOOR_TABLE} (id, parent_id, data) VALUES ($1, $2, $3)"
# The subtree of one node, parents before children, in the same order as find_subtree (depth, id).
_CTE = (
    f"WITH RECURSIVE sub(id, parent_id, data, depth) AS ("
    f"SELECT id, parent_id, data, 0 FROM {FLOOR_TABLE} WHERE id = {{p}} "
    f"UNION ALL SELECT f.id, f.parent_id, f.data, sub.depth + 1 FROM {FLOOR_TABLE} f JOIN sub ON f.parent_id = sub.id"
    f") SELECT id, parent_id, data FROM sub ORDER BY depth, id"
)
CTE_SQLITE = _CTE.format(p="?")
CTE_PG = _CTE.format(p="$1")


COLLECT = True
"""Collect garbage before each timed section (the profiler turns it off so gc is not profiled)."""


def _start() -> float:
    """Collect, then freeze what survives (the forest data) so the collector does not rescan the harness."""
    if COLLECT:
        gc.collect()
        gc.freeze()
    return time.perf_counter()


# ---- W1: one committed save per artifact --------------------------------------------------------------
async def single_saves(manager: ArtifactManager, nodes: Sequence[Node], saved: dict[int, ULID]) -> float:
    """``await manager.save(ArtifactIn(...))`` per node, each its own transaction; library-assigned ids.

    ``saved`` maps node index to the id the library gave it (parents come first).
    """
    t0 = _start()
    for n in nodes:
        parent = saved[n.parent] if n.parent is not None else None
        out = await manager.save(ArtifactIn(parent_id=parent, data=n.data))
        saved[n.index] = out.id
    return time.perf_counter() - t0


async def floor_single_inserts(db: Database, conn: Any, rows: Sequence[FloorRow]) -> float:
    """One autocommitted INSERT per row on the driver: the cheapest committed single-row write.

    ``conn`` must autocommit (asyncpg outside a transaction; aiosqlite with ``isolation_level=None``).
    """
    t0 = _start()
    if db.backend == "sqlite":
        for row in rows:
            await conn.execute(INSERT_SQLITE, row)
    else:
        for row in rows:
            await conn.execute(INSERT_PG, *row)
    return time.perf_counter() - t0


async def floor_single_transactions(db: Database, conn: Any, rows: Sequence[FloorRow]) -> float:
    """An explicit transaction per row (BEGIN, INSERT, COMMIT): what every ledger save must at least do."""
    t0 = _start()
    if db.backend == "sqlite":
        for row in rows:
            await conn.execute(INSERT_SQLITE, row)  # sqlite3 opens the transaction implicitly
            await conn.commit()
    else:
        for row in rows:
            async with conn.transaction():
                await conn.execute(INSERT_PG, *row)
    return time.perf_counter() - t0


# ---- W1b / W3 build: batches -----------------------------------------------------------------------------
async def batch_saves(manager: ArtifactManager, batches: Sequence[Sequence[Node]], ids: Sequence[ULID]) -> float:
    """``await manager.save_all([...])`` per batch (client-assigned ids, parents earlier in the list)."""
    t0 = _start()
    for batch in batches:
        await manager.save_all(artifacts_in(list(batch), list(ids)))
    return time.perf_counter() - t0


async def floor_batches(db: Database, conn: Any, batches: Sequence[Sequence[FloorRow]]) -> float:
    """One ``executemany`` per batch, each batch one transaction."""
    t0 = _start()
    for rows in batches:
        if db.backend == "sqlite":
            await conn.executemany(INSERT_SQLITE, rows)
            await conn.commit()
        else:
            async with conn.transaction():
                await conn.executemany(INSERT_PG, rows)
    return time.perf_counter() - t0


# ---- W3: subtree reads -----------------------------------------------------------------------------------
async def subtree_ours(manager: ArtifactManager, start_id: ULID, expected: int) -> float:
    t0 = time.perf_counter()
    nodes = await manager.find_subtree(start_id, include_content=False)
    elapsed = time.perf_counter() - t0
    check(len(nodes), expected, f"find_subtree({start_id})")
    return elapsed


async def build_tree_ours(manager: ArtifactManager, start_id: ULID, children: int) -> float:
    t0 = time.perf_counter()
    tree = await manager.build_tree(start_id, include_content=False)
    elapsed = time.perf_counter() - t0
    check(len(tree.children or []) if tree is not None else None, children, f"build_tree({start_id}) children")
    return elapsed


async def subtree_floor(db: Database, conn: Any, start_id: ULID, expected: int) -> float:
    key = str(start_id)
    t0 = time.perf_counter()
    if db.backend == "sqlite":
        rows: Sequence[Any] = await conn.execute_fetchall(CTE_SQLITE, (key,))
    else:
        rows = await conn.fetch(CTE_PG, key)
    elapsed = time.perf_counter() - t0
    check(len(rows), expected, f"recursive CTE from {start_id}")
    return elapsed


# ---- helpers ---------------------------------------------------------------------------------------------
def driver_sql(db: Database, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in the driver's style (``$1, $2, ...`` for asyncpg)."""
    if db.backend == "sqlite":
        return sql
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


async def fetch(db: Database, conn: Any, sql: str, *args: Any) -> list[Any]:
    """The rows of one statement on the driver connection (``sql`` in the driver's placeholder style)."""
    if db.backend == "sqlite":
        return list(await conn.execute_fetchall(sql, args))
    return list(await conn.fetch(sql, *args))


async def transaction(db: Database, conn: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """One explicit transaction on the driver: BEGIN, ``statements`` (driver placeholder style), COMMIT.

    aiosqlite's connection (from ``Database.driver()``) opens it implicitly before the first write;
    asyncpg's in ``conn.transaction()``. Untimed: callers time it with :func:`_start`.
    """
    if db.backend == "sqlite":
        for sql, params in statements:
            await conn.execute(sql, params)
        await conn.commit()
    else:
        async with conn.transaction():
            for sql, params in statements:
                await conn.execute(sql, *params)


def rows_for(nodes: Sequence[Node], ids: Sequence[ULID]) -> list[FloorRow]:
    return floor_rows(list(nodes), list(ids))


def check(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        raise RuntimeError(f"benchmark sanity check failed: {what} gave {actual!r}, expected {expected!r}")


async def check_floor(db: Database, conn: Any, expected: int) -> None:
    sql = f"SELECT count(*) FROM {FLOOR_TABLE}"
    if db.backend == "sqlite":
        (row,) = await conn.execute_fetchall(sql)
        count = row[0]
    else:
        count = await conn.fetchval(sql)
    check(count, expected, "floor row count")
