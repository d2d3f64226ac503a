"""The pytest plugin (artifact_ledger.testing): examples/test_with_plugin.py runs as a user's suite
would (plugin loaded through its entry point, pytest-asyncio in strict mode), with and without
PostgreSQL; the fixtures and assertion helpers also work inside this project's own suite."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.testing import TEST_URL_VARIABLE, assert_history, assert_verified
from ledger_support import PG_URL
from plugin_support import run_pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "test_with_plugin.py"


def run_example(tmp_path: Path, url: str | None) -> subprocess.CompletedProcess[str]:
    return run_pytest(EXAMPLE, tmp_path, url, timeout=300)


def test_example_passes_with_postgresql(tmp_path: Path) -> None:
    result = run_example(tmp_path, PG_URL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^4 passed", result.stdout, re.MULTILINE), result.stdout


def test_example_skips_postgresql_with_the_reason(tmp_path: Path) -> None:
    result = run_example(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^3 passed, 1 skipped", result.stdout, re.MULTILINE), result.stdout
    assert f"{TEST_URL_VARIABLE} is not set" in result.stdout


def test_example_refuses_a_url_that_is_not_postgresql(tmp_path: Path) -> None:
    result = run_example(tmp_path, "sqlite+aiosqlite:///:memory:")
    assert result.returncode == 1
    assert "must be a postgresql+asyncpg:// URL" in result.stdout


async def test_plugin_fixtures_in_this_suite(ledger: Ledger, ledger_file: Ledger) -> None:
    """The plugin's names do not clash with this project's conftest fixtures."""
    for opened in (ledger, ledger_file):
        async with opened.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"n": 1}))
            await assert_history(manager, saved.id, ["created"])
        assert (await assert_verified(opened)).events_checked == 1


async def test_assert_history_names_what_differs(ledger: Ledger) -> None:
    async with ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"n": 1}))
        with pytest.raises(pytest.fail.Exception, match=r"expected \['artifact.created', 'artifact.deleted'\]"):
            await assert_history(manager, saved.id, ["created", "deleted"])
        with pytest.raises(pytest.fail.Exception, match=r"got \[\]"):
            await assert_history(manager, "01ARZ3NDEKTSV4RRFFQ69G5FAV", ["created"])


async def test_assert_verified_fails_on_a_tampered_log(ledger_file: Ledger) -> None:
    from sqlalchemy import text

    async with ledger_file.manager() as manager:
        await manager.save(ArtifactIn(data={"n": 1}))
    async with ledger_file.engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER IF EXISTS ledger_events_no_update"))
        await conn.execute(text("UPDATE ledger_events SET actor = 'mallory'"))
    with pytest.raises(pytest.fail.Exception, match="the ledger does not verify"):
        await assert_verified(ledger_file)
