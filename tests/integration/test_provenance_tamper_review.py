"""A hold, alias or expiry row holding a value no writer of ours writes is a verify finding, not a traceback.

SQLite stores a timestamp as text and accepts any text in its place; PostgreSQL's ``timestamptz`` and
``integer`` columns refuse such values outright, so these cases exist on SQLite only.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import tampering

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.integrity import PROJECTION_DRIFT, verify_connection
from ledger_support import SECRET


@pytest.fixture
def sqlite_engine(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name != "sqlite":
        pytest.skip("a PostgreSQL column refuses a value of the wrong type: nothing to verify")
    return engine


async def _held_and_aliased(engine: AsyncEngine) -> str:
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as m:
        saved = await m.save(ArtifactIn(data={"name": "model"}))
        await m.hold(saved.id, "audit")
        await m.set_alias("prod", saved.id)
        return str(saved.id)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("UPDATE ledger_aliases SET updated_at = 'not a time'", "the ledger_aliases row of alias 'prod' differs"),
        ("UPDATE ledger_holds SET updated_at = 'not a time'", "ledger_holds, ledger_expired_content or"),
    ],
    ids=["alias-updated_at", "hold-updated_at"],
)
async def test_an_unreadable_timestamp_in_a_provenance_row_is_drift(
    sqlite_engine: AsyncEngine, sql: str, fragment: str
) -> None:
    await _held_and_aliased(sqlite_engine)
    async with tampering(sqlite_engine) as conn:
        await conn.execute(text(sql))
        report = await verify_connection(conn)
    assert not report.ok
    assert report.reason == PROJECTION_DRIFT
    assert fragment in str(report.problem)
