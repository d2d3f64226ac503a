"""A retention event that its own policy and the holds before it do not allow is a verify finding (both backends).

A retention event is what makes missing content acceptable to ``verify``, so a forged one (a log
re-chained by someone with write access, or a writer that ignored a hold) could otherwise hide the
deletion of any blob. The writer's plan is replaced here so that a run expires what it must not;
the log then holds exactly what such a forgery would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, RetentionPolicy, lifecycle
from artifact_ledger.bundle import write_bundle
from artifact_ledger.integrity import MODIFIED
from artifact_ledger.retention import LogFacts, Plan, plan
from artifact_ledger.verify_bundle import verify_bundle
from ledger_support import SECRET, HourlyClock


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET, clock=HourlyClock()) as opened:
        yield opened


async def _versions(ledger: Ledger, contents: list[bytes], name: str) -> str:
    async with ledger.manager() as m:
        first = await m.save(ArtifactIn(data={"name": name, "content": contents[0]}))
        for i, content in enumerate(contents[1:], 2):
            await m.save(ArtifactIn(id=first.id, data={"name": name, "n": i, "content": content}))
    return str(first.id)


async def test_a_run_that_expired_a_held_artifacts_content_is_reported(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = await _versions(ledger, [b"h1", b"h2"], name="held")
    await _versions(ledger, [b"f1", b"f2"], name="free")
    async with ledger.manager() as m:
        await m.hold(held, "litigation")

    def ignoring_holds(facts: LogFacts, policy: RetentionPolicy, now: datetime) -> Plan:
        facts.holds.clear()
        return plan(facts, policy, now)

    monkeypatch.setattr(lifecycle, "plan", ignoring_holds)
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert (held, 1) in [(e.artifact_id, e.version) for e in report.expired]
    found = await ledger.verify()
    assert not found.ok
    assert found.reason == MODIFIED
    assert found.broken_position == report.positions[0]
    assert found.artifact_id == held
    assert found.problem is not None
    assert f"version 1 of artifact {held}" in found.problem
    assert "held" in found.problem


async def test_a_run_that_expired_more_than_its_recorded_policy_is_reported(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    aid = await _versions(ledger, [b"a1", b"a2", b"a3"], name="model")

    def keep_one(facts: LogFacts, policy: RetentionPolicy, now: datetime) -> Plan:
        return plan(facts, RetentionPolicy(keep_last=1), now)

    monkeypatch.setattr(lifecycle, "plan", keep_one)
    report = await ledger.apply_retention(RetentionPolicy(keep_last=2), dry_run=False)  # records keep_last 2
    assert [(e.artifact_id, e.version) for e in report.expired] == [(aid, 1), (aid, 2)]
    found = await ledger.verify()
    assert not found.ok
    assert found.broken_position == report.positions[0]
    assert found.problem is not None
    assert f"version 2 of artifact {aid}, which its own recorded policy keeps" in found.problem


async def test_honest_runs_with_holds_aliases_and_cutoffs_verify(ledger: Ledger) -> None:
    held = await _versions(ledger, [b"h1", b"h2", b"h3"], name="held")
    aliased = await _versions(ledger, [b"p1", b"p2", b"p3"], name="aliased")
    async with ledger.manager() as m:
        await m.hold(held, "audit")
        await m.set_alias("prod", aliased, version=1)
    await ledger.apply_retention(RetentionPolicy(keep_last=1, keep_aliased=True), dry_run=False)
    await ledger.apply_retention(RetentionPolicy(keep_newer_than=timedelta(hours=3)), dry_run=False)
    async with ledger.manager() as m:
        await m.release(held, "done")
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert report.positions
    assert (await ledger.verify()).ok


async def test_content_redacted_after_a_run_still_verifies(ledger: Ledger, engine: AsyncEngine, tmp_path: Path) -> None:
    """A redaction erases a version's content hash from the log after the run listed it: the run is taken
    at its word for that hash, in the database and in a bundle of it."""
    aid = await _versions(ledger, [b"r1", b"r2", b"r3"], name="model")
    await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    async with ledger.manager() as m:
        await m.redact(aid, version=1, reason="erasure request")
    report = await ledger.verify()
    assert report.ok, report.problem
    await write_bundle(engine, tmp_path / "bundle")
    bundle = verify_bundle(tmp_path / "bundle")
    assert bundle.ok, bundle.problem
