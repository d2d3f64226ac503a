"""Testing your own code against a ledger with the pytest plugin that ships with artifact-ledger.

Installing artifact-ledger registers the plugin (``artifact_ledger.testing``), so these fixtures
need no conftest.py: ``ledger`` (in-memory SQLite), ``ledger_file`` (a SQLite file),
``pg_ledger`` (a fresh PostgreSQL schema of ``$ARTIFACT_LEDGER_TEST_URL``, skipped when it is
unset) and ``frozen_clock``. Needs pytest-asyncio. Run with
``pytest examples/test_with_plugin.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from artifact_ledger import ArtifactIn, ArtifactManager, FixedClock, Ledger
from artifact_ledger.testing import assert_history, assert_verified

pytestmark = pytest.mark.asyncio  # for projects in pytest-asyncio's strict mode


# ---- the code under test: what an application would have ----------------------------------------
async def publish_report(manager: ArtifactManager, title: str, body: str) -> str:
    """Create a draft report, then publish it: two versions of one artifact."""
    draft = await manager.save(ArtifactIn(data={"title": title, "status": "draft", "content": body}))
    await manager.save(ArtifactIn(id=draft.id, data={"title": title, "status": "published", "content": body}))
    return str(draft.id)


# ---- its tests -----------------------------------------------------------------------------------
async def test_publish_report_writes_two_versions(ledger: Ledger) -> None:
    async with ledger.manager() as manager:
        report_id = await publish_report(manager, "Q1", "All good.")
        await assert_history(manager, report_id, ["created", "updated"])
        published = await manager.find_by_id(report_id)
        assert published is not None
        assert published.data["status"] == "published"
        assert published.data["content"] == "All good."
    await assert_verified(ledger)


async def test_survives_a_reopen(ledger_file: Ledger) -> None:
    async with ledger_file.manager() as manager:
        report_id = await publish_report(manager, "Q2", "Stored on disk.")
    async with Ledger.open(ledger_file.engine, secret=ledger_file.keyring) as again, again.manager() as manager:
        assert (await manager.find_by_id(report_id)) is not None
    await assert_verified(ledger_file)


async def test_recorded_times_are_known(ledger: Ledger, frozen_clock: FixedClock) -> None:
    """A test that asks for frozen_clock gets ledgers that record its readings."""
    async with ledger.manager() as manager:
        report_id = await publish_report(manager, "Q3", "On time.")
        frozen_clock.advance(timedelta(days=1))
        await manager.save(ArtifactIn(id=report_id, data={"title": "Q3", "status": "archived"}))
        history = await manager.history(report_id)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert history[0].recorded_at == start
    assert history[-1].recorded_at >= start + timedelta(days=1)


async def test_on_postgresql(pg_ledger: Ledger) -> None:
    """Skipped, with the reason, unless ARTIFACT_LEDGER_TEST_URL names a PostgreSQL database."""
    async with pg_ledger.manager() as manager:
        report_id = await publish_report(manager, "Q4", "On PostgreSQL.")
        await assert_history(manager, report_id, ["artifact.created", "artifact.updated"])
    await assert_verified(pg_ledger)
