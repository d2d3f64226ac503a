"""Fresh databases for the benchmarks: the library's engine for "ours", the bare driver for the floor.

SQLite: a new file in a temporary directory, opened through ``artifact_ledger.create_engine``
(WAL, synchronous=NORMAL, busy timeout, foreign keys) and, for the floor, by ``aiosqlite``
directly with the same PRAGMAs. PostgreSQL: a new schema in database ``test`` reached through
``search_path`` (as ``tests/conftest.py`` does), dropped with everything in it afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from artifact_ledger import ArtifactHierarchy, ArtifactManager, ArtifactRepository, create_engine
from artifact_ledger.models import Artifact

PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_DSN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
BACKENDS = ("sqlite", "postgresql")

HIERARCHY = ArtifactHierarchy(name="bench", level_labels={0: "project", 1: "run", 2: "model", 3: "evaluation"})

# The floor's table: the least a hierarchy needs (an id, a parent link, a JSON document).
FLOOR_TABLE = "bench_floor"
FLOOR_DDL = (
    f"CREATE TABLE {FLOOR_TABLE} (id VARCHAR(26) PRIMARY KEY, parent_id VARCHAR(26), data TEXT NOT NULL)",
    f"CREATE INDEX ix_{FLOOR_TABLE}_parent_id ON {FLOOR_TABLE} (parent_id)",
)
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")


@dataclass
class Database:
    """One fresh database (SQLite file or PostgreSQL schema) with the ledger tables created."""

    backend: str
    engine: AsyncEngine
    sqlite_path: Path | None = None
    pg_schema: str | None = None

    @asynccontextmanager
    async def manager(self) -> AsyncIterator[ArtifactManager]:
        """An ``ArtifactManager`` on one ``AsyncSession``, the way an application builds it."""
        sessions = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)
        async with sessions() as session:
            yield ArtifactManager(ArtifactRepository(session), hierarchy=HIERARCHY)

    @asynccontextmanager
    async def driver(self, *, autocommit: bool = False) -> AsyncIterator[Any]:
        """A bare driver connection (aiosqlite or asyncpg) on the same database, for the floor.

        asyncpg always autocommits outside ``conn.transaction()``; aiosqlite does with ``autocommit``
        (``isolation_level=None``), otherwise sqlite3 opens a transaction before the first write.
        """
        if self.sqlite_path is not None:
            conn = await aiosqlite.connect(self.sqlite_path, isolation_level=None if autocommit else "")
            try:
                for pragma in SQLITE_PRAGMAS:
                    await conn.execute(pragma)
                yield conn
            finally:
                await conn.close()
        else:
            pg = await asyncpg.connect(PG_DSN, server_settings={"search_path": str(self.pg_schema)})
            try:
                yield pg
            finally:
                await pg.close()

    async def analyze(self) -> None:
        await _analyze(self)

    async def create_floor_table(self) -> None:
        async with self.driver() as conn:
            for ddl in FLOOR_DDL:
                await conn.execute(ddl)
            if self.sqlite_path is not None:
                await conn.commit()


ANALYZED_TABLES = (FLOOR_TABLE, "ledger_artifacts", "ledger_artifact_closure", "ledger_events")


async def _analyze(db: Database) -> None:
    """PostgreSQL: refresh planner statistics after a bulk load, as autovacuum soon would (SQLite: nothing)."""
    if db.backend != "postgresql":
        return
    async with db.driver() as conn:
        for table in ANALYZED_TABLES:
            await conn.execute(f"ANALYZE {table}")


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[Database]:
    """A new empty database with the ledger tables, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="al-bench-") as tmp:
            path = Path(tmp) / "ledger.db"
            engine = create_engine(f"sqlite+aiosqlite:///{path}")
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(Artifact.metadata.create_all)
                yield Database(backend, engine, sqlite_path=path)
            finally:
                await engine.dispose()
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        engine = create_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Artifact.metadata.create_all)
            yield Database(backend, engine, pg_schema=schema)
        finally:
            await engine.dispose()
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.close()


async def server_version(backend: str) -> str:
    """The database engine's version string, for the report."""
    if backend == "sqlite":
        return f"SQLite {aiosqlite.sqlite_version}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
