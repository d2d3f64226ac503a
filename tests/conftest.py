"""Shared fixtures: every integration test runs on SQLite (file and in-memory) and PostgreSQL.

PostgreSQL is not optional: if it cannot be reached the tests fail (CI starts it).
Each PostgreSQL test gets its own schema (via ``search_path``), dropped afterwards.
Set ``ARTIFACT_LEDGER_TEST_PG`` to point at another server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from artifact_ledger import ArtifactManager, ArtifactRepository, Ledger, create_engine
from artifact_ledger.content import streams
from artifact_ledger.models import Artifact
from ledger_support import BACKENDS, HIERARCHY, PG_URL, SECRET, pg_engine
from streaming_support import CHUNK


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, dropped with everything in it afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = pg_engine()
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_engine(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], AsyncEngine]]:
    """A factory of engines that all reach the same (fresh) database with the ledger tables created."""
    engines: list[AsyncEngine] = []
    schema: str | None = None
    admin: AsyncEngine | None = None
    if backend == "postgresql":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = pg_engine()
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def factory() -> AsyncEngine:
        if backend == "sqlite-file":
            engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
        elif backend == "sqlite-memory":
            if engines:
                return engines[0]
            engine = create_engine("sqlite+aiosqlite:///:memory:")
        else:
            engine = pg_engine(schema)
        engines.append(engine)
        return engine

    first = factory()
    async with first.begin() as conn:
        await conn.run_sync(Artifact.metadata.create_all)
    try:
        yield factory
    finally:
        for engine in engines:
            await engine.dispose()
        if admin is not None:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


@pytest.fixture
def engine(make_engine: Callable[[], AsyncEngine]) -> AsyncEngine:
    return make_engine()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as s:
        yield s


@pytest.fixture
def manager(session: AsyncSession) -> ArtifactManager:
    return ArtifactManager(ArtifactRepository(session, secret=SECRET), hierarchy=HIERARCHY)


async def _database(statement: str) -> None:
    admin = pg_engine().execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database, as a user passes it (``--db``, ``Ledger.open``): a SQLite
    file in the test's directory, or a PostgreSQL database of its own, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        return
    name = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_database(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_database(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["database", "directory"])
def blob_root(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    """Where the ledger under test keeps content: None for the database, else a blob directory."""
    return None if request.param == "database" else tmp_path / "blobs"


@pytest.fixture
async def blob_ledger(engine: AsyncEngine, blob_root: Path | None) -> AsyncIterator[Ledger]:
    """A ledger on ``engine`` whose content goes to the blob store ``blob_root`` names."""
    async with Ledger.open(engine, secret=SECRET, blobs=None if blob_root is None else f"file://{blob_root}") as opened:
        yield opened


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Content streamed in chunks of ``streaming_support.CHUNK`` bytes (a module asks for it with
    ``pytestmark = pytest.mark.usefixtures("small_chunks")``)."""
    monkeypatch.setattr(streams, "CHUNK_SIZE", CHUNK)


@pytest.fixture
def no_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without git config: no global or system file, no identity in the environment (a module
    asks for it with ``pytestmark = pytest.mark.usefixtures("no_git_config")``)."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
