"""The seed's three examples rewritten with the sync API run as scripts, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PG_ADMIN = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

# What each sync example must print: the same lines its async original promises, plus verify.
EXPECTED = {
    "sync_01_basic_artifacts.py": [
        "(level 0, version 1)",
        "Content type: application/x-pickle",
        "Loaded content is a LinearRegression",
        "Prediction for x=6.0: 13.00",
        "Loaded model predicts the same as the original",
        "History: version 1 artifact.created",
        "Verified: True (1 events)",
    ],
    "sync_02_hierarchical_artifacts.py": [
        "Tree of hierarchy 'ml_pipeline':",
        "- training (level 0)",
        "  - prediction (level 1)",
        "First prediction content is a dict with shape (2, 2)",
        "find_all: 4 artifacts",
        "now level 2",
        "    - evaluation (level 2)",
        "Live artifacts: 3",
        "Verified: True (6 events)",
    ],
    "sync_03_generic_artifacts.py": [
        "Tree of hierarchy 'documents':",
        "- project (level 0): Malaria forecasting",
        "  - document (level 1): Methods",
        "    - version (level 2): v3",
        "Level 2 (version): 3 artifact(s)",
        "Final version: Methods, revision 3 (3000 words)",
        "History: version 1 artifact.created status=draft",
        "History: version 2 artifact.updated status=superseded",
        "Verified: True (6 events)",
    ],
}


def test_every_sync_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("sync_*.py")) == sorted(EXPECTED)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh database: a SQLite file, or a PostgreSQL database created and dropped here."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        return
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"al_sync_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def _run(name: str, database_url: str, workdir: Path, keys: Path) -> subprocess.CompletedProcess[str]:
    """The example ``name`` on ``database_url``, run from ``workdir`` with its key files in ``keys``."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), database_url],
        cwd=workdir,
        env={**os.environ, "ARTIFACT_LEDGER_KEY_DIR": str(keys)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sync_example_runs(name: str, database_url: str, tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = _run(name, database_url, workdir, tmp_path / "keys")
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    for line in EXPECTED[name]:
        assert line in result.stdout, f"{name}: {line!r} missing from output:\n{result.stdout}"
    assert list(workdir.iterdir()) == [], f"{name} left files behind: {list(workdir.iterdir())}"


def test_sync_example_default_is_in_memory(tmp_path: Path) -> None:
    """Without a URL the example runs on in-memory SQLite and leaves nothing in its directory."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "sync_03_generic_artifacts.py")],
        cwd=tmp_path,
        env={**os.environ, "ARTIFACT_LEDGER_KEY_DIR": str(tmp_path / "keys")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Verified: True (6 events)" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["keys"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sync_example_runs_twice_on_one_database(name: str, database_url: str, tmp_path: Path) -> None:
    """A database given on the command line outlives the run: the second run adds to it, checks only its own
    artifacts, and both say where they wrote; nothing lands in the working directory."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    for run in (1, 2):
        result = _run(name, database_url, workdir, tmp_path / "keys")
        assert result.returncode == 0, f"{name} run {run} failed:\n{result.stdout}\n{result.stderr}"
        assert "Verified: True" in result.stdout
        assert "Wrote to " in result.stdout, result.stdout
    assert list(workdir.iterdir()) == []
