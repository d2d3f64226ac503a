"""An import holds every retention event it carries over to the plan its recorded policy makes on the log.

Ledger B is a backup of ledger A: it imported A's whole export, then imports A's incremental export
(from B's head) that holds a retention run. The bundle's verifier cannot check a run of an
incremental bundle (it lacks the log before it), so the import checks each run against B's own log
plus the bundle's events before it. A forged run that lists content its policy keeps (a held
artifact, the last versions, an aliased version, a version an earlier run expired) is refused
naming the run, the artifact and the version, and B keeps everything it held. Every backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, RetentionPolicy
from artifact_ledger.bundle import write_bundle
from artifact_ledger.errors import BundleRuleError
from artifact_ledger.integrity import HeadDigest
from artifact_ledger.transfer import export_ledger, import_bundle
from artifact_ledger.verify_bundle import verify_bundle
from bundle_forge import Record, forge, payload, read_events, with_payload
from ledger_support import SECRET

Ids = dict[str, str]


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[Ledger]:
    """Ledger A: ``held`` (held), ``pinned`` (an alias on version 1) and ``free``, three content versions each."""
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}", secret=SECRET) as ledger:
        yield ledger


@pytest.fixture
async def target(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    """Ledger B, the backup, on the backend under test."""
    async with Ledger.open(engine, secret=SECRET) as ledger:
        yield ledger


async def _fill(source: Ledger) -> Ids:
    ids: Ids = {}
    async with source.manager() as m:
        for name in ("held", "pinned", "free"):
            first = await m.save(ArtifactIn(data={"name": name, "content": f"{name}-1".encode()}))
            for n in (2, 3):
                await m.save(ArtifactIn(id=first.id, data={"name": name, "content": f"{name}-{n}".encode()}))
            ids[name] = str(first.id)
        await m.hold(ids["held"], "litigation")
        await m.set_alias("prod", ids["pinned"], version=1)
    return ids


async def _backup(source: Ledger, target: Ledger, tmp_path: Path) -> HeadDigest:
    """B imports A's whole export; A's head then (what the incremental export continues)."""
    await export_ledger(source.engine, tmp_path / "full")
    await import_bundle(target.engine, tmp_path / "full")
    return await source.head()


def _content_hash(events: list[Record], aid: str, version: int) -> str:
    for record in events:
        if record["artifact_id"] == aid and record["version"] == version and "content" in payload(record):
            return str(payload(record)["content"]["hash"])
    raise AssertionError(f"no version {version} of {aid}")


def _expiring(digest: str, aid: str, version: int) -> Callable[[list[Record]], list[Record]]:
    """An edit: the last retention event also lists version ``version`` of ``aid`` and deletes its blob."""

    def edit(events: list[Record]) -> list[Record]:
        last = max(i for i, r in enumerate(events) if r["type"] == "retention.applied")
        body = payload(events[last])
        events[last] = with_payload(
            events[last],
            expired=[*body["expired"], [aid, version, digest]],
            deleted=[*body["deleted"], [digest, 6]],
        )
        return events

    return edit


async def _content(ledger: Ledger, aid: str, version: int) -> object:
    async with ledger.manager() as m:
        found = await m.find_by_id(aid, version=version)
    assert found is not None
    return found.data["content"]


async def _unchanged(target: Ledger, head: HeadDigest, ids: Ids) -> None:
    """B holds what it held before the refused import: its head, every version's content, a clean verify."""
    assert await target.head() == head
    for name, aid in ids.items():
        for version in (1, 2, 3):
            assert await _content(target, aid, version) == f"{name}-{version}".encode()
    report = await target.verify()
    assert report.ok, report.problem


@pytest.mark.parametrize(
    ("name", "version", "why"),
    [
        ("held", 1, "which is held: a held artifact keeps all its content"),
        ("pinned", 1, "which its own recorded policy keeps"),  # keep_aliased
        ("free", 3, "which its own recorded policy keeps"),  # keep_last 1
    ],
)
async def test_a_forged_incremental_run_that_expires_kept_content_is_refused(
    source: Ledger, target: Ledger, tmp_path: Path, name: str, version: int, why: str
) -> None:
    ids = await _fill(source)
    since = await _backup(source, target, tmp_path)
    head = await target.head()
    await source.apply_retention(RetentionPolicy(keep_last=1, keep_aliased=True), dry_run=False)
    await write_bundle(source.engine, tmp_path / "later", since=since)
    digest = _content_hash(read_events(tmp_path / "full"), ids[name], version)
    bundle = forge(tmp_path / "later", tmp_path / "forged", _expiring(digest, ids[name], version))
    assert verify_bundle(bundle).ok  # the bundle alone cannot tell: it lacks the log before it

    with pytest.raises(BundleRuleError) as refused:
        await import_bundle(target.engine, bundle)
    run = next(r for r in read_events(bundle) if r["type"] == "retention.applied")
    assert refused.value.rule == "retention-plan"
    assert refused.value.line == run["position"] - read_events(bundle)[0]["position"] + 1
    message = str(refused.value)
    assert f"expired version {version} of artifact {ids[name]}, {why}" in message
    assert f"the retention run {run['artifact_id']}" in message
    assert "Nothing was imported" in message
    await _unchanged(target, head, ids)

    await import_bundle(target.engine, tmp_path / "later")  # the honest export still goes in
    with pytest.raises(Exception, match="expired"):
        await _content(target, ids["free"], 1)
    assert await _content(target, ids["held"], 1) == b"held-1"
    assert (await target.verify()).ok


async def test_a_run_that_expires_again_what_a_run_the_target_holds_expired_is_refused(
    source: Ledger, target: Ledger, tmp_path: Path
) -> None:
    """The earlier run is only in B's log (and the whole export B imported): the audit folds B's own events."""
    ids = await _fill(source)
    await source.apply_retention(RetentionPolicy(keep_last=2), dry_run=False)  # free, pinned, not held: v1
    since = await _backup(source, target, tmp_path)
    async with source.manager() as m:  # a fourth version, so the next run has something to expire
        await m.save(ArtifactIn(id=ids["free"], data={"name": "free", "content": b"free-4"}))
    await source.apply_retention(RetentionPolicy(keep_last=2), dry_run=False)
    await write_bundle(source.engine, tmp_path / "later", since=since)
    digest = _content_hash(read_events(tmp_path / "full"), ids["free"], 1)
    forged = forge(tmp_path / "later", tmp_path / "forged", _expiring(digest, ids["free"], 1))

    with pytest.raises(BundleRuleError, match=f"version 1 of artifact {ids['free']}, whose content an earlier run"):
        await import_bundle(target.engine, forged)
    await import_bundle(target.engine, tmp_path / "later")
    assert (await target.verify()).ok


async def test_a_forged_whole_bundle_run_is_refused_by_its_verification(
    source: Ledger, target: Ledger, tmp_path: Path
) -> None:
    """The same forgery in a bundle from position 1 (B holds its start): the bundle's own check refuses it."""
    ids = await _fill(source)
    await _backup(source, target, tmp_path)
    head = await target.head()
    await source.apply_retention(RetentionPolicy(keep_last=1, keep_aliased=True), dry_run=False)
    await export_ledger(source.engine, tmp_path / "whole")
    digest = _content_hash(read_events(tmp_path / "full"), ids["held"], 1)
    bundle = forge(tmp_path / "whole", tmp_path / "forged", _expiring(digest, ids["held"], 1))

    with pytest.raises(BundleRuleError, match=f"version 1 of artifact {ids['held']}, which is held"):
        await import_bundle(target.engine, bundle)
    await _unchanged(target, head, ids)
