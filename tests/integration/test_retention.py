"""Retention and holds: events in the chain, expired reads, verify, rebuild, the blob guard (both backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    ArtifactNotFoundError,
    ContentExpiredError,
    HoldNotFoundError,
    InvalidArgumentError,
    Ledger,
    RetentionPolicy,
    UnavailableContent,
)
from artifact_ledger.content import streams
from artifact_ledger.retention import PART_ITEMS
from artifact_ledger.transfer import export_ledger, import_bundle
from artifact_ledger.verify_bundle import BundleFormatError, retention_deleted, verify_bundle
from ledger_support import SECRET, HourlyClock


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET, clock=HourlyClock()) as opened:
        yield opened


async def _versions(ledger: Ledger, contents: list[bytes], name: str = "model") -> str:
    """One artifact with one version per content; its id."""
    async with ledger.manager() as m:
        first = await m.save(ArtifactIn(data={"name": name, "content": contents[0]}))
        for i, content in enumerate(contents[1:], 2):
            await m.save(ArtifactIn(id=first.id, data={"name": name, "n": i, "content": content}))
    return str(first.id)


async def _content(ledger: Ledger, aid: str, version: int) -> object:
    async with ledger.manager() as m:
        found = await m.find_by_id(aid, version=version)
        assert found is not None
        return found.data["content"]


async def _types(ledger: Ledger) -> list[str]:
    async with ledger.manager() as m:
        return [e.event_type for e in (await m.audit(limit=1000)).entries]


async def _blob_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_blobs"))).scalar_one())


async def test_keep_last_expires_older_content(ledger: Ledger, engine: AsyncEngine) -> None:
    aid = await _versions(ledger, [b"one", b"two", b"three", b"four"])
    before = await _types(ledger)
    blobs = await _blob_count(engine)
    dry = await ledger.apply_retention(RetentionPolicy(keep_last=2))
    assert dry.dry_run
    assert [(e.artifact_id, e.version) for e in dry.expired] == [(aid, 1), (aid, 2)]
    assert len(dry.blobs) == 2
    assert dry.bytes_freed > 0
    assert dry.positions == []
    assert await _types(ledger) == before  # a dry run appends nothing
    assert await _blob_count(engine) == blobs
    assert await _content(ledger, aid, 1) == b"one"

    done = await ledger.apply_retention(RetentionPolicy(keep_last=2), dry_run=False, actor="ops", reason="budget")
    assert not done.dry_run
    assert done.expired == dry.expired
    assert done.blobs == dry.blobs
    assert done.bytes_freed == dry.bytes_freed
    assert len(done.positions) == 1
    assert await _blob_count(engine) == blobs - 2
    with pytest.raises(ContentExpiredError) as caught:
        await _content(ledger, aid, 1)
    message = str(caught.value)
    assert aid in message
    assert "version 1" in message
    assert f"position {done.positions[0]}" in message
    assert caught.value.position == done.positions[0]
    assert await _content(ledger, aid, 3) == b"three"
    async with ledger.manager() as m:
        current = await m.find_by_id(aid)
        assert current is not None
        assert current.data["content"] == b"four"
        # data and history stay; history without content works, with content the expired version says so
        history = await m.history(aid, include_content=False)
        assert [v.version for v in history] == [1, 2, 3, 4]
        assert (await m.find_by_id(aid, version=1, include_content=False)) is not None
        # with content: the expired versions are marked, one by one; the kept ones read
        listed = [v.data["content"] for v in await m.history(aid, include_content=True)]
        assert listed[2:] == [b"three", b"four"]
        for version, gone in enumerate(listed[:2], start=1):
            assert isinstance(gone, UnavailableContent)
            assert (gone.artifact_id, gone.version, gone.reason) == (aid, version, "expired")
            assert gone.position == done.positions[0]
            error = gone.error()
            assert isinstance(error, ContentExpiredError)
            assert (error.version, error.position) == (version, gone.position)
            assert f"artifact {aid} version {version} expired" in str(error)
        diff = await m.diff(aid, 3, 4)
        assert diff is not None
        entry = (await m.audit(event_type="retention.applied")).entries[0]
        assert (entry.actor, entry.reason) == ("ops", "budget")
    again = await ledger.apply_retention(RetentionPolicy(keep_last=2), dry_run=False)
    assert again.expired == []
    assert again.positions == []
    assert (await ledger.verify()).ok


async def test_shared_content_is_kept_for_every_version_that_has_it(ledger: Ledger, engine: AsyncEngine) -> None:
    aid = await _versions(ledger, [b"same", b"other", b"same"])
    other = await _versions(ledger, [b"other", b"latest"], name="second")
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    # "same" is version 3's (kept); "other" is nobody's kept content any more
    assert [(e.artifact_id, e.version) for e in report.expired] == [(aid, 2), (other, 1)]
    assert len(report.blobs) == 1
    assert await _content(ledger, aid, 1) == b"same"
    with pytest.raises(ContentExpiredError):
        await _content(ledger, aid, 2)
    with pytest.raises(ContentExpiredError):
        await _content(ledger, other, 1)
    assert (await ledger.verify()).ok


async def test_keep_newer_than(ledger: Ledger) -> None:
    aid = await _versions(ledger, [b"a", b"b", b"c", b"d"])  # an hour apart
    report = await ledger.apply_retention(RetentionPolicy(keep_newer_than=timedelta(hours=2, minutes=30)))
    # the run reads the clock once more: an hour after version 4; versions 3 and 4 are newer than 2.5 h
    assert [e.version for e in report.expired] == [1, 2]
    assert report.policy["keep_newer_than"] == 9000.0
    assert report.policy["cutoff"] is not None
    assert aid


async def test_keep_aliased_and_combined(ledger: Ledger) -> None:
    aid = await _versions(ledger, [b"1", b"2", b"3", b"4", b"5"])
    async with ledger.manager() as m:
        await m.set_alias("production", aid, version=2)
    alone = await ledger.apply_retention(RetentionPolicy(keep_aliased=True))
    assert [e.version for e in alone.expired] == [1, 3, 4, 5]
    combined = await ledger.apply_retention(RetentionPolicy(keep_last=1, keep_aliased=True))
    assert [e.version for e in combined.expired] == [1, 3, 4]
    # the clock reads: versions at 1..5 h, the alias at 6 h, the runs at 7, 8 and 9 h: 6.5 h keeps 3 to 5
    everything = RetentionPolicy(keep_last=2, keep_aliased=True, keep_newer_than=timedelta(hours=6, minutes=30))
    assert [e.version for e in (await ledger.apply_retention(everything)).expired] == [1]
    await ledger.apply_retention(RetentionPolicy(keep_last=1, keep_aliased=True), dry_run=False)
    async with ledger.manager() as m:
        assert (await m.resolve_alias("production")).data["content"] == b"2"
    assert (await ledger.verify()).ok


async def test_holds_keep_everything_until_released(ledger: Ledger) -> None:
    held = await _versions(ledger, [b"h1", b"h2", b"h3"], name="held")
    free = await _versions(ledger, [b"f1", b"f2"], name="free")
    async with ledger.manager() as m:
        hold = await m.hold(held, "litigation 2026-17", actor="legal")
        assert hold.held
        assert hold.position is not None
        assert hold.updated_by == "legal"
        assert hold.reason == "litigation 2026-17"
        again = await m.hold(held, "twice")
        assert again.position is None  # already held: a no-op, nothing appended
        assert await m.holds() == [held]
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert [(e.artifact_id, e.version) for e in report.expired] == [(free, 1)]
    assert await _content(ledger, held, 1) == b"h1"
    async with ledger.manager() as m:
        released = await m.release(held, "case closed", actor="legal")
        assert not released.held
        assert await m.holds() == []
        with pytest.raises(HoldNotFoundError, match=held):
            await m.release(held, "again")
        entries = (await m.audit(event_type="hold.*")).entries
        assert [(e.event_type, e.actor, e.reason) for e in entries] == [
            ("hold.set", "legal", "litigation 2026-17"),
            ("hold.released", "legal", "case closed"),
        ]
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert [(e.artifact_id, e.version) for e in report.expired] == [(held, 1), (held, 2)]
    assert (await ledger.verify()).ok


async def test_hold_bad_input_appends_nothing(ledger: Ledger) -> None:
    aid = await _versions(ledger, [b"x"])
    before = await _types(ledger)
    async with ledger.manager() as m:
        unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        with pytest.raises(ArtifactNotFoundError, match=f"artifact {unknown} not found: there is nothing to hold"):
            await m.hold(unknown, "why")
        with pytest.raises(ArtifactNotFoundError, match=f"artifact {unknown} not found: there is no hold to release"):
            await m.release(unknown, "why")
        with pytest.raises(HoldNotFoundError, match=aid):
            await m.release(aid, "never held")
        for reason in (None, "", "   "):
            with pytest.raises(InvalidArgumentError, match="reason"):
                await m.hold(aid, reason)
        with pytest.raises(ArtifactNotFoundError, match="not an id"):
            await m.hold("not an id", "why")
        await m.set_alias("prod", aid)
        alias_stream = (await m.audit(event_type="alias.set")).entries[0].artifact_id
        with pytest.raises(ArtifactNotFoundError):
            await m.hold(alias_stream, "an alias stream is no artifact")
    assert await _types(ledger) == [*before, "alias.set"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"keep_last": 0},
        {"keep_last": -1},
        {"keep_last": True},
        {"keep_last": "2"},
        {"keep_newer_than": timedelta(days=-1)},
        {"keep_newer_than": 30},
        {"keep_aliased": "yes"},
        {},
    ],
)
def test_bad_policies(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]


async def test_apply_retention_bad_arguments(ledger: Ledger) -> None:
    with pytest.raises(InvalidArgumentError):
        await ledger.apply_retention({"keep_last": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run="no")  # type: ignore[arg-type]


async def test_hand_deleted_blob_is_still_reported(ledger: Ledger, engine: AsyncEngine, backend: str) -> None:
    aid = await _versions(ledger, [b"old", b"new"])
    await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert (await ledger.verify()).ok
    # The guard refuses a DELETE of a blob no retention event expired.
    with pytest.raises((IntegrityError, DBAPIError), match="retention"):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger_blobs"))
    # Someone who plants a row in the expiry table gets past the guard, not past verify.
    async with ledger.manager() as m:
        current = await m.find_by_id(aid)
    async with engine.begin() as conn:
        digest = (await conn.execute(text("SELECT hash FROM ledger_blobs"))).scalar_one()
        await conn.execute(text(f"INSERT INTO ledger_expired_blobs (hash, position) VALUES ('{digest}', 1)"))
        await conn.execute(text(f"DELETE FROM ledger_blobs WHERE hash = '{digest}'"))
    report = await ledger.verify()
    assert not report.ok
    assert report.blob_hash == digest
    assert current is not None


async def test_rebuild_after_retention(ledger: Ledger, engine: AsyncEngine) -> None:
    aid = await _versions(ledger, [b"1", b"2", b"3"])
    async with ledger.manager() as m:
        await m.hold(aid, "keep")
        await m.release(aid, "let go")
    await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)

    async def tables() -> list[object]:
        async with engine.connect() as conn:
            return [
                (await conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))).all()
                for t in ("ledger_holds", "ledger_expired_content", "ledger_expired_blobs")
            ]

    before = await tables()
    assert all(before)
    await ledger.rebuild()
    assert await tables() == before
    assert (await ledger.verify()).ok
    with pytest.raises(ContentExpiredError):
        await _content(ledger, aid, 1)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM ledger_expired_content"))
    report = await ledger.verify()
    assert not report.ok
    assert "ledger_expired_content" in (report.problem or "")
    await ledger.rebuild()
    assert (await ledger.verify()).ok


async def test_big_runs_are_cut_into_bounded_events(ledger: Ledger) -> None:
    count = PART_ITEMS // 2 + 10  # each expired version is two items: itself and its blob
    async with ledger.transaction() as m:
        for i in range(count):
            await m.save(ArtifactIn(data={"i": i, "content": f"old {i}".encode()}))
    async with ledger.transaction() as m:
        rows = await m.find(limit=1000)
        for a in rows.items:
            await m.save(ArtifactIn(id=a.id, data={"i": a.data["i"], "content": b"new"}))
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert len(report.expired) == count
    assert len(report.positions) == 2
    async with ledger.manager() as m:
        parts = (await m.audit(event_type="retention.applied")).entries
    assert len(parts) == 2
    assert (await ledger.verify()).ok


async def test_resaved_content_after_expiry_must_be_there(ledger: Ledger, engine: AsyncEngine) -> None:
    aid = await _versions(ledger, [b"back", b"gone"])
    await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    async with ledger.manager() as m:
        await m.save(ArtifactIn(id=aid, data={"name": "model", "content": b"back"}))  # the same bytes again
    assert await _content(ledger, aid, 3) == b"back"
    assert (await ledger.verify()).ok


async def test_streamed_content_expires_with_its_chunks(
    ledger: Ledger, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(streams, "CHUNK_SIZE", 64)
    shared = bytes(range(64))  # the first chunk of both streams
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    old.write_bytes(shared + b"a" * 100)
    new.write_bytes(shared + b"b" * 100)
    async with ledger.manager() as m:
        first = await m.save(ArtifactIn(data={"name": "big", "content": old}))
        await m.save(ArtifactIn(id=first.id, data={"name": "big", "content": new}))
    blobs = await _blob_count(engine)  # 2 manifests, the shared chunk, 2 + 2 chunks of their own
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    assert [e.version for e in report.expired] == [1]
    assert len(report.blobs) == 3  # the manifest and its two chunks of its own; the shared chunk stays
    assert await _blob_count(engine) == blobs - 3
    async with ledger.manager() as m:
        with pytest.raises(ContentExpiredError, match="version 1"):
            async for _ in m.open_content(first.id, version=1):
                pass
        chunks = [c async for c in m.open_content(first.id, version=2)]
        assert b"".join(chunks) == new.read_bytes()
    assert (await ledger.verify()).ok


async def test_export_import_and_stdlib_verify_after_retention(
    ledger: Ledger, engine: AsyncEngine, tmp_path: Path
) -> None:
    aid = await _versions(ledger, [b"one", b"two", b"three"])
    async with ledger.manager() as m:
        await m.hold(aid, "audit")
        await m.release(aid, "done")
    await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    async with ledger.manager() as m:
        await m.save(ArtifactIn(id=aid, data={"name": "model", "content": b"one"}))  # expired bytes back again
    bundle = tmp_path / "bundle"
    await export_ledger(engine, bundle)
    report = verify_bundle(bundle)
    assert report.ok, report.problem
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}", secret=SECRET) as copy:
        await import_bundle(copy.engine, bundle)
        assert (await copy.verify()).ok
        with pytest.raises(ContentExpiredError):
            await _content(copy, aid, 2)
        assert await _content(copy, aid, 4) == b"one"
        async with copy.manager() as m:
            assert await m.holds() == []
    # A blob the bundle lacks that no retention event deleted is still refused.
    async with ledger.manager() as m:
        kept = await m.find_by_id(aid, version=3)
    assert kept is not None
    for file in (bundle / "blobs").rglob("*"):
        if file.is_file() and file.read_bytes() == b"three":
            file.unlink()
    assert not verify_bundle(bundle).ok


def test_bundle_rules_refuse_malformed_retention_payloads() -> None:
    event = SimpleNamespace(position=7, payload='{"deleted": [["nothex", 1]]}')
    with pytest.raises(BundleFormatError, match="event 7"):
        retention_deleted(event)  # type: ignore[arg-type]
