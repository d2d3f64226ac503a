"""What the suite's tests import by name (the fixtures themselves live in conftest.py).

A module of its own, not ``conftest``: several directories have a conftest.py, and a plain
``from ledger_support import`` would reach whichever of them was imported last.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from artifact_ledger import ArtifactHierarchy, Keyring
from artifact_ledger.group_commit import Committer

PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite-file", "sqlite-memory", "postgresql"]
SECRET = Keyring.from_secret("test-secret-for-the-suite")
HIERARCHY = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction", 2: "evaluation"})


class HourlyClock:
    """A ledger clock one hour further on at each reading, from 2026-01-01: versions saved in turn
    are an hour apart (retention's cutoffs fall between them)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


def pg_engine(schema: str | None = None) -> AsyncEngine:
    args = {"server_settings": {"search_path": schema}} if schema else {}
    return create_async_engine(PG_URL, connect_args=args)


async def sql(engine: AsyncEngine, statement: str, **values: object) -> None:
    """Run one statement in a transaction of its own (what someone with the database credentials does)."""
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(text(statement), values)


async def event_count(engine: AsyncEngine) -> int:
    """How many events the log holds."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def make_format_1(engine: AsyncEngine) -> None:
    """Make a fresh ledger seal chain format 1, as a ledger created before chain format 2 does: its
    ``ledger_info`` row naming the switch is removed (the guard is lifted for that and put back)."""
    from sqlalchemy import delete

    from artifact_ledger.store.tables import CHAIN_FORMAT_2_KEY, drop_guard_ddl, guard_ddl, info

    async with engine.begin() as conn:
        dialect = conn.dialect.name
        for statement in drop_guard_ddl(info.name, dialect):
            await conn.exec_driver_sql(statement)
        await conn.execute(delete(info).where(info.c.key == CHAIN_FORMAT_2_KEY))
        for statement in guard_ddl(info.name, dialect):
            await conn.exec_driver_sql(statement)


async def delete_openings_after(conn: AsyncConnection, keep: int) -> None:
    """What a thorough attacker also does after deleting the events past ``keep``: delete their
    chain-format-2 openings too (the guard lifted and put back), so no stray opening gives it away."""
    from sqlalchemy import text

    from artifact_ledger.store.tables import drop_guard_ddl, guard_ddl

    dialect = conn.dialect.name
    for statement in drop_guard_ddl("ledger_openings", dialect):
        await conn.exec_driver_sql(statement)
    await conn.execute(text("DELETE FROM ledger_openings WHERE position > :k"), {"k": keep})
    for statement in guard_ddl("ledger_openings", dialect):
        await conn.exec_driver_sql(statement)


async def lower_checkpoints(conn: AsyncConnection, keep: int) -> None:
    """What a thorough attacker does after deleting the events past ``keep`` so that ``rebuild`` takes the
    shortened log: the projections' checkpoints set back to ``keep`` (plain SQL: they are projection rows),
    so no checkpoint past the end shows the deletion."""
    from sqlalchemy import text

    await conn.execute(text("UPDATE ledger_checkpoints SET position = :k WHERE position > :k"), {"k": keep})


async def queued(committer: Committer, calls: list[Awaitable[Any]]) -> list[Any]:
    """Run ``calls`` so that they queue behind a busy committer, then release them as one group."""
    assert not committer.running
    committer.running = True
    tasks = [asyncio.ensure_future(call) for call in calls]
    for _ in range(50):  # every call reaches the queue (a few loop turns: sessions, input checks)
        if len(committer.queue) == len(tasks):
            break
        await asyncio.sleep(0)
    assert len(committer.queue) == len(tasks)
    committer._hand_over()
    return await asyncio.gather(*tasks, return_exceptions=True)
