"""Reads create nothing: a read command (or ``Ledger.open(create=False)``) where there is no ledger
fails with "no ledger at ..." and leaves no file, table or key behind; and the migrate command."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, LedgerNotFoundError, create_engine, migrate
from artifact_ledger.cli import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED
from ledger_support import PG_URL, SECRET, make_format_1, pg_engine

SOME_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
READS = [
    ["verify"],
    ["verify", "--json"],
    ["ls"],
    ["show", SOME_ID],
    ["tree", SOME_ID],
    ["history", SOME_ID],
    ["diff", SOME_ID, "1"],
    ["audit"],
    ["export", "{tmp}/bundle"],
    ["rebuild"],
]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (``python -m artifact_ledger``)."""
    return subprocess.run(
        [sys.executable, "-m", "artifact_ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    keys = tmp_path / "keys"
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
    return {**base, "ARTIFACT_LEDGER_KEY_DIR": str(keys), "HOME": str(tmp_path / "home")}


def everything_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (no ledger tables), as a URL."""
    name = f"reads_{uuid.uuid4().hex[:10]}"
    libpq = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    subprocess.run(["psql", "-q", libpq, "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        subprocess.run(
            ["psql", "-q", libpq, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
            check=True,
            capture_output=True,
        )


def pg_tables(url: str) -> list[str]:
    libpq = url.replace("postgresql+asyncpg://", "postgresql://")
    out = subprocess.run(
        ["psql", "-At", libpq, "-c", "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_a_read_on_a_missing_sqlite_file_creates_nothing(args: list[str], tmp_path: Path, env: dict[str, str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mistyped.db'}"
    result = cli("--db", url, *[a.format(tmp=tmp_path) for a in args], env=env)
    assert result.returncode == EXIT_NOT_FOUND, result.stderr
    assert f"no ledger at {url}" in result.stderr
    assert "OK" not in result.stdout
    assert everything_under(tmp_path) == []  # no database, no -wal/-shm, no key file, no key directory, no bundle


@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_a_read_on_a_postgresql_database_without_a_ledger_creates_nothing(
    args: list[str], tmp_path: Path, env: dict[str, str], pg_database: str
) -> None:
    url = pg_database.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it; the message must not show it
    result = cli("--db", url, *[a.format(tmp=tmp_path) for a in args], env=env)
    assert result.returncode == EXIT_NOT_FOUND, result.stderr
    assert f"no ledger at {pg_database.replace('postgres@', 'postgres:***@')}" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert pg_tables(pg_database) == []
    assert everything_under(tmp_path) == []


def test_a_read_on_an_empty_sqlite_file_leaves_it_empty(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "empty.db").touch()
    result = cli("--db", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", "verify", env=env)
    assert result.returncode == EXIT_NOT_FOUND
    assert everything_under(tmp_path) == ["empty.db"]
    assert (tmp_path / "empty.db").stat().st_size == 0


# ---- the library ----------------------------------------------------------------------------------


async def test_open_without_create_on_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nothing.db'}"
    with pytest.raises(LedgerNotFoundError, match=re.escape(f"no ledger at {url}")) as caught:
        async with Ledger.open(url, create=False):
            pass
    assert caught.value.where == url
    engine = create_engine(url)
    with pytest.raises(LedgerNotFoundError):
        async with Ledger.open(engine, create=False):
            pass
    await engine.dispose()
    assert everything_under(tmp_path) == []


async def test_open_without_create_on_a_schema_without_tables_creates_nothing(pg_schema: str) -> None:
    engine = pg_engine(pg_schema)
    try:
        with pytest.raises(LedgerNotFoundError, match="no ledger at postgresql"):
            async with Ledger.open(engine, create=False):
                pass
        async with engine.connect() as conn:
            assert await conn.run_sync(lambda c: inspect(c).get_table_names()) == []
    finally:
        await engine.dispose()


async def test_open_without_create_in_memory_creates_nothing() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        with pytest.raises(LedgerNotFoundError):
            async with Ledger.open(engine, create=False):
                pass
        async with engine.connect() as conn:
            assert await conn.run_sync(lambda c: inspect(c).get_table_names()) == []
    finally:
        await engine.dispose()


# ---- migrate: up, down, base, repair ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of a ledger holding one event, on each backend (a fresh PostgreSQL database)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        async with Ledger.open(url, secret=SECRET) as ledger, ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"x": 1}))
        yield url
        return
    name = f"mig_{uuid.uuid4().hex[:10]}"
    root = create_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with root.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        async with Ledger.open(url, secret=SECRET) as ledger, ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"x": 1}))
        yield url
    finally:
        async with root.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await root.dispose()


async def tables_of(url: str) -> set[str]:
    engine: AsyncEngine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrate_to_base_is_refused_while_the_log_holds_events(ledger_url: str, env: dict[str, str]) -> None:
    before = await tables_of(ledger_url)
    result = cli("--db", ledger_url, "migrate", "--revision", "base", env=env)
    assert result.returncode == EXIT_ERROR
    assert "refusing to downgrade to base" in result.stderr
    assert "holds 1 event." in result.stderr
    assert "artifact-ledger export" in result.stderr
    assert await tables_of(ledger_url) == before
    assert await migrate.current_revision(ledger_url) == migrate.HEAD_REVISION


async def test_migrate_goes_down_and_up_and_base_empties_an_empty_ledger(ledger_url: str, env: dict[str, str]) -> None:
    # The ledger's event is sealed under chain format 2: below revision 0007 its salt would be lost.
    refused = cli("--db", ledger_url, "migrate", "--revision", "0006", env=env)
    assert refused.returncode != EXIT_OK
    assert "refusing to downgrade below revision 0007" in refused.stderr
    assert await migrate.current_revision(ledger_url) == migrate.HEAD_REVISION
    await migrate.downgrade(ledger_url, "base", discard_log=True)
    assert cli("--db", ledger_url, "migrate", env=env).returncode == EXIT_OK
    async with Ledger.open(ledger_url, secret=SECRET) as ledger:  # a ledger of format-1 events, as before 0007
        await make_format_1(ledger.engine)
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"x": 1}))
    down = cli("--db", ledger_url, "migrate", "--revision", "0001", env=env)
    assert down.returncode == EXIT_OK, down.stderr
    assert "revision 0001" in down.stdout
    assert await migrate.current_revision(ledger_url) == "0001"
    assert "ledger_info" not in await tables_of(ledger_url)
    up = cli("--db", ledger_url, "migrate", env=env)
    assert up.returncode == EXIT_OK, up.stderr
    assert await migrate.current_revision(ledger_url) == migrate.HEAD_REVISION
    verify = cli("--db", ledger_url, "verify", "--json", env={**env, "ARTIFACT_LEDGER_SECRET": "x"})
    assert json.loads(verify.stdout)["ok"] is True
    await migrate.downgrade(ledger_url, "base", discard_log=True)  # only Python can drop a log
    assert await tables_of(ledger_url) == set()
    again = cli("--db", ledger_url, "migrate", env=env)
    assert again.returncode == EXIT_OK
    empty = cli("--db", ledger_url, "migrate", "--revision", "base", env=env)
    assert empty.returncode == EXIT_OK, empty.stderr
    assert "revision base" in empty.stdout
    assert await tables_of(ledger_url) == set()


async def test_migrate_repair_guards_and_a_tampered_ledger_exits_1(ledger_url: str, env: dict[str, str]) -> None:
    engine = create_engine(ledger_url)
    drop = (
        "DROP TRIGGER ledger_events_no_delete"
        if ledger_url.startswith("sqlite")
        else "DROP FUNCTION ledger_events_append_only() CASCADE"
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(text(drop))
    finally:
        await engine.dispose()
    for args in (["verify"], ["ls"]):
        refused = cli("--db", ledger_url, *args, env=env)
        assert refused.returncode == EXIT_VERIFY_FAILED, refused.stderr
        assert "is not guarded" in refused.stderr
        assert "artifact-ledger migrate --repair-guards" in refused.stderr
    repaired = cli("--db", ledger_url, "migrate", "--repair-guards", env=env)
    assert repaired.returncode == EXIT_OK, repaired.stderr
    assert "repaired the append-only guards" in repaired.stdout
    assert "ledger_events" in repaired.stdout
    verify = cli("--db", ledger_url, "verify", env={**env, "ARTIFACT_LEDGER_SECRET": "x"})
    assert verify.returncode == EXIT_OK, verify.stderr
    again = cli("--db", ledger_url, "migrate", "--repair-guards", env=env)
    assert "were all in place" in again.stdout


def test_migrate_to_an_unknown_revision_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    result = cli("--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "migrate", "--revision", "9999", env=env)
    assert result.returncode == EXIT_USAGE
    assert "unknown revision '9999'" in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("how", [["--revision", "base"], ["--repair-guards"]])
def test_migrate_down_or_repair_in_a_namespace_that_does_not_exist_creates_nothing(
    url: str, how: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from artifact_ledger.cli import main
    from artifact_ledger.namespaces import list_namespaces

    assert main(["--db", url, "migrate"]) == EXIT_OK
    capsys.readouterr()
    assert main(["--db", url, "--namespace", "typo", "migrate", *how]) == EXIT_NOT_FOUND
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "typo" in err

    async def names() -> list[str]:
        engine = create_engine(url)
        try:
            return await list_namespaces(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(names()) == ["default"]  # the mistyped namespace was not made
