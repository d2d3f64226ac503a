"""Finding an alias's head in the log costs the same however many times the alias was changed.

An alias write reads the head of the alias's stream from the log (``alias_guard.alias_state``,
statement ``alias_heads_named``). It took every event of the name from the alias-name index and, for
each, looked up its stream's highest version: its work grew with the number of changes of the one
alias (20,000 changes: 20,000 index entries and as many subqueries). It is now the alias-name index
read backwards by position (the index is keyed by name, then position) and the head of that stream.
The work is measured as the database counts it: SQLite's virtual machine steps, PostgreSQL's rows
read from ``ledger_events`` (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager
from artifact_ledger.store.provenance import provenance_statements


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows the plan's nodes on ledger_events produced, each times its loops."""
    own = int(plan["Actual Rows"] * plan["Actual Loops"]) if plan.get("Relation Name") == "ledger_events" else 0
    return own + sum(_rows_read(p) for p in plan.get("Plans", []))


async def head_lookup_work(engine: AsyncEngine, name: str) -> tuple[int, Any]:
    """(the work of the head lookup of alias ``name``, the head row it returned)."""
    statement = provenance_statements(engine.dialect.name).alias_heads_named
    if engine.dialect.name == "postgresql":
        sql = re.sub(r"\$1\b", ":name", statement.sql)
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE ledger_events"))
            await conn.execute(text("SET LOCAL enable_seqscan = off"))  # a small table read as a large one is
            row = (await conn.execute(text(sql), {"name": name})).one()
            plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), {"name": name})).scalar_one()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return _rows_read(plan[0]["Plan"]), row
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.set_progress_handler(step, 1)
        try:
            row = (await conn.exec_driver_sql(statement.sql, (name,))).one()
        finally:
            await raw.set_progress_handler(None, 1)
    return steps[0], row


async def move(manager: ArtifactManager, name: str, targets: list[str], times: int) -> None:
    for i in range(times):
        await manager.set_alias(name, targets[i % 2])


async def test_the_head_of_an_alias_is_found_with_the_same_work_after_many_changes(
    engine: AsyncEngine, manager: ArtifactManager
) -> None:
    a = str((await manager.save(ArtifactIn(data={"name": "a"}))).id)
    b = str((await manager.save(ArtifactIn(data={"name": "b"}))).id)
    await move(manager, "other", [a, b], 3)
    await move(manager, "prod", [a, b], 10)
    few, row = await head_lookup_work(engine, "prod")
    assert row[1] == 10  # the stream's highest version
    await move(manager, "prod", [a, b], 290)
    await move(manager, "other", [a, b], 3)
    many, row = await head_lookup_work(engine, "prod")
    assert row[1] == 300
    assert json.loads(row[2])["artifact_id"] == b
    # 30 times the changes: the same work within a B-tree level's steps, not 30 times it.
    assert many <= few * 1.5, (few, many)
    assert (await manager.set_alias("prod", a)).artifact_id is not None  # the write path still reads it
