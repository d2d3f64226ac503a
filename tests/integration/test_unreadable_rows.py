"""A ``ledger_artifacts`` row the ledger did not write, which cannot even be read (a document that is
no JSON; on SQLite also text in an integer or a time column): reads and writes raise
ProjectionDriftError naming the artifact, never a bare ValueError or a model of the wrong type, on
every backend; rebuild repairs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger, ProjectionDriftError
from ledger_support import SECRET


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


CALLS: dict[str, Callable[[ArtifactManager, Any], Awaitable[Any]]] = {
    "find_by_id": lambda m, a: m.find_by_id(a),
    "find_by_id without content": lambda m, a: m.find_by_id(a, include_content=False),
    "find_all": lambda m, a: m.find_all(),
    "find_all without content": lambda m, a: m.find_all(include_content=False),
    "find": lambda m, a: m.find({"data.n": 1}),
    "find by tag": lambda m, a: m.find({"tags": "t"}),
    "find ordered by data": lambda m, a: m.find(order_by="data.n"),
    "count where": lambda m, a: m.count({"data.n": 1, "tags": "t"}),
    "save": lambda m, a: m.save(ArtifactIn(id=a, data={"n": 2})),
}


async def test_an_unreadable_row_is_drift_for_every_read_and_write(ledger: Ledger) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"n": 1}, tags=["t"]))
    damage = [("data", "'{not json'"), ("tags", "'['")]
    if ledger.engine.dialect.name == "sqlite":  # PostgreSQL's column types refuse these
        damage += [("level", "'x'"), ("version", "'one'"), ("created_at", "'yesterday'"), ("updated_at", "'-'")]
    for column, value in damage:
        async with ledger.engine.begin() as conn:
            await conn.execute(
                text(f"UPDATE ledger_artifacts SET {column} = {value} WHERE id = :id"), {"id": str(a.id)}
            )
        for name, call in CALLS.items():
            if name == "count where" and column not in ("data", "tags"):
                continue  # a count reads no other column
            async with ledger.manager() as m:
                with pytest.raises(ProjectionDriftError, match=f"artifact {a.id} ") as caught:
                    await call(m, a.id)
            assert caught.value.artifact_id == str(a.id), (column, name)
        report = await ledger.verify()
        assert not report.ok, column
        await ledger.rebuild()
        async with ledger.manager() as m:
            found = await m.find_by_id(a.id)
            assert found is not None
            assert (found.data, found.tags, found.level, found.version) == ({"n": 1}, ["t"], 0, 1)
