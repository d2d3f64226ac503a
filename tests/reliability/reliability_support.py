"""Helpers shared by the reliability tests: databases worker processes can reach, snapshots, checks.

Worker processes need a URL, so PostgreSQL tests get a fresh *database* each (not the schema of
``tests/conftest.py``), dropped with ``WITH (FORCE)`` afterwards. Sizes come from environment
variables ``ARTIFACT_LEDGER_RELIABILITY_<NAME>`` with CI-sized defaults (see
``docs/guides/reliability.md``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from artifact_ledger import Keyring, Ledger
from artifact_ledger.events import RecordedEvent
from artifact_ledger.models import Artifact

PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SECRET_TEXT = "reliability-secret"
SECRET = Keyring.from_secret(SECRET_TEXT)
WORKERS = Path(__file__).parent / "workers"

SNAPSHOTS = {
    "ledger_artifacts": "SELECT * FROM ledger_artifacts ORDER BY id",
    "ledger_artifact_closure": "SELECT * FROM ledger_artifact_closure ORDER BY ancestor_id, descendant_id",
    "ledger_artifact_parent_history": "SELECT * FROM ledger_artifact_parent_history ORDER BY artifact_id, valid_from",
}


def size(name: str, default: int) -> int:
    """A test size, overridable with ``ARTIFACT_LEDGER_RELIABILITY_<NAME>`` (e.g. for a longer soak)."""
    return int(os.environ.get(f"ARTIFACT_LEDGER_RELIABILITY_{name.upper()}", default))


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database with the ledger tables; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await create_tables(url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def create_tables(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Artifact.metadata.create_all)
    await engine.dispose()


async def snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {name: [tuple(r) for r in (await conn.execute(text(sql))).all()] for name, sql in SNAPSHOTS.items()}


async def check_log_and_rebuild(ledger: Ledger) -> int:
    """``verify()`` passes and a rebuild leaves every projection table as it was; returns the head position."""
    report = await ledger.verify()
    assert report.ok, report.problem
    live = await snapshot(ledger.engine)
    replayed = await ledger.rebuild()
    assert replayed == report.head_position
    rebuilt = await snapshot(ledger.engine)
    for table in SNAPSHOTS:
        assert rebuilt[table] == live[table], table
    return report.head_position


async def all_events(ledger: Ledger) -> list[RecordedEvent]:
    out: list[RecordedEvent] = []
    while page := await ledger.events_since(out[-1].position if out else 0, limit=5000):
        out.extend(page)
    return out


async def assert_no_cycle(engine: AsyncEngine) -> None:
    """Parent links form a forest, and the closure table holds no path in both directions."""
    async with engine.connect() as conn:
        parents = dict((await conn.execute(text("SELECT id, parent_id FROM ledger_artifacts"))).all())
        both_ways = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM ledger_artifact_closure a JOIN ledger_artifact_closure b "
                    "ON a.ancestor_id = b.descendant_id AND a.descendant_id = b.ancestor_id "
                    "WHERE a.ancestor_id <> a.descendant_id"
                )
            )
        ).scalar_one()
    assert both_ways == 0
    for start in parents:
        seen = {start}
        node = parents.get(start)
        while node is not None:
            assert node not in seen, f"cycle through {node}"
            seen.add(node)
            node = parents.get(node)


async def spawn(script: str, *args: str) -> asyncio.subprocess.Process:
    """Start ``workers/<script>`` as an OS process of this interpreter, stdout piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKERS / script), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def finish(procs: Sequence[asyncio.subprocess.Process], limit_s: float) -> None:
    """Wait (at most ``limit_s``) for every process; each must exit 0 (its stderr is shown if not)."""
    results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), limit_s)
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()


@asynccontextmanager
async def database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of a fresh ledger database: a new PostgreSQL database, or a SQLite file with the tables."""
    if backend == "postgresql":
        async with fresh_pg_database() as url:
            yield url
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        await create_tables(url)
        yield url
