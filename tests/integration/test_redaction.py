"""Redaction on chain format 2, end to end on both backends: the upgrade, erasing fields and content,
reads that say so, verify in the library and in the stdlib verifier, the guard, tampering, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    ArtifactNotFoundError,
    ChainBrokenError,
    InvalidArgumentError,
    Ledger,
    RedactedError,
    UnavailableContent,
    VersionNotFoundError,
    chain_v2,
)
from artifact_ledger.schemas.content_diffs import BytesContentDiff
from artifact_ledger.store.openings import opening_values
from artifact_ledger.store.tables import drop_guard_ddl, guard_ddl
from artifact_ledger.transfer import export_ledger, import_bundle
from artifact_ledger.verify_bundle import verify_bundle
from ledger_support import SECRET, lower_checkpoints, make_format_1


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


async def _rows(engine: AsyncEngine, sql: str, **values: object) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), values)).all()]


async def _hashes(engine: AsyncEngine) -> list[bytes]:
    return [bytes(r[0]) for r in await _rows(engine, "SELECT hash FROM ledger_events ORDER BY position")]  # type: ignore[arg-type]


async def test_a_new_ledger_seals_format_2_from_its_first_event(ledger: Ledger, engine: AsyncEngine) -> None:
    assert await ledger.upgrade_chain(reason="nothing to do") == 1
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"name": "first"}))
    assert [r[0] for r in await _rows(engine, "SELECT position FROM ledger_openings")] == [1]
    assert (await ledger.verify()).ok


async def test_upgrade_is_one_way_and_only_later_events_get_openings(ledger: Ledger, engine: AsyncEngine) -> None:
    await make_format_1(engine)  # a ledger created before chain format 2
    async with ledger.manager() as m:
        before = await m.save(ArtifactIn(data={"name": "old"}))
    switch = await ledger.upgrade_chain(reason="enable redaction")
    assert switch == 3  # event 1: the save, event 2: the upgrade itself (format 1)
    assert await ledger.upgrade_chain(reason="again") == switch  # nothing appended
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"name": "new"}))
    positions = [r[0] for r in await _rows(engine, "SELECT position FROM ledger_openings ORDER BY position")]
    assert positions == [3]
    assert (await ledger.verify()).ok
    async with ledger.manager() as m:
        with pytest.raises(InvalidArgumentError, match="chain format 1"):
            await m.redact(before.id, fields=["name"], reason="too old")


async def test_redacting_a_field_erases_it_everywhere_and_the_chain_still_verifies(
    ledger: Ledger, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "alice", "email": "alice@example.org", "n": 1}))
        await m.save(ArtifactIn(id=a.id, data={"name": "alice", "email": "alice@example.org", "n": 2}))
    hashes = await _hashes(engine)
    async with ledger.manager() as m:
        done = await m.redact(a.id, fields=["email"], reason="GDPR Art. 17 request 42", actor="dpo")
        assert [(v, paths) for _, v, paths in done.erased] == [(1, ['["data","email"]']), (2, ['["data","email"]'])]
        current = await m.find_by_id(a.id)
        assert current is not None
        assert current.data == {"name": "alice", "n": 2}
        assert [v.data for v in await m.history(a.id)] == [{"name": "alice", "n": 1}, {"name": "alice", "n": 2}]
        assert [v.redacted for v in await m.history(a.id)] == [["data.email"], ["data.email"]]
    # Nothing of the erased value is stored anywhere any more; every event hash is unchanged.
    payloads = [str(r[0]) for r in await _rows(engine, "SELECT payload FROM ledger_events")]
    assert not any("alice@example.org" in p for p in payloads)
    rows = [str(r[0]) for r in await _rows(engine, "SELECT data FROM ledger_artifacts")]
    assert not any("alice@example.org" in r for r in rows)
    assert (await _hashes(engine))[: len(hashes)] == hashes
    redaction = await _rows(
        engine, "SELECT type, actor, reason FROM ledger_events WHERE position = :p", p=done.position
    )
    assert redaction == [("artifact.redacted", "dpo", "GDPR Art. 17 request 42")]
    report = await ledger.verify()
    assert report.ok, report.problem
    # The stdlib verifier checks the same ledger from an export, openings and erasures included.
    await export_ledger(engine, tmp_path / "bundle")
    checked = verify_bundle(tmp_path / "bundle")
    assert checked.ok, checked
    assert checked.format_2_from == 1
    # Redacting again what is already gone writes nothing.
    async with ledger.manager() as m:
        with pytest.raises(InvalidArgumentError, match="already redacted"):
            await m.redact(a.id, fields=["email"], reason="again")
    assert len(await _hashes(engine)) == done.position


async def test_redacting_content_deletes_its_blob_and_reads_say_so(ledger: Ledger, engine: AsyncEngine) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "scan", "content": b"patient record 1"}))
        await m.save(ArtifactIn(id=a.id, data={"name": "scan", "content": b"patient record 2"}))
        shared = await m.save(ArtifactIn(data={"name": "copy", "content": b"patient record 2"}))
        done = await m.redact(a.id, version=1, reason="erasure request")
        assert len(done.blobs_deleted) == 1  # record 1 is named by no other version: gone
        with pytest.raises(RedactedError, match=f"artifact {a.id} version 1 was redacted") as caught:
            await m.find_by_id(a.id, version=1)
        assert caught.value.version == 1
        with pytest.raises(RedactedError):
            async for _ in m.open_content(a.id, version=1):
                pass
        current = await m.find_by_id(a.id)
        assert current is not None
        assert current.data["content"] == b"patient record 2"
        first = (await m.history(a.id))[0]
        assert (first.redacted, first.content_hash, first.content_size) == (["content"], None, None)
        # Version 2's content is shared with another artifact: redacting it keeps the blob for the other.
        second = await m.redact(a.id, version=2, reason="erasure request")
        assert second.blobs_deleted == []
        with pytest.raises(RedactedError):
            await m.find_by_id(a.id)
        other = await m.find_by_id(shared.id)
        assert other is not None
        assert other.data["content"] == b"patient record 2"
        # A later version built on erased content has none; nothing erased comes back.
        patched = await m.save(ArtifactIn(id=a.id, data={"name": "scan v3"}))
        assert patched.version == 3
    blobs = {str(r[0]) for r in await _rows(engine, "SELECT hash FROM ledger_blobs")}
    assert done.blobs_deleted[0] not in blobs
    assert (await ledger.verify()).ok
    report = await ledger.gc()  # the redaction deleted what it left unreferenced; gc finds nothing more
    assert report.blobs == 0
    assert report.referenced == 1  # patient record 2, which the other artifact still holds


async def test_history_and_diff_across_redacted_content_say_it_was_redacted(ledger: Ledger) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "a", "content": "secret v1"}))
        await m.save(ArtifactIn(id=a.id, data={"name": "a2", "content": "public v2"}))
        await m.redact(a.id, version=1, reason="erasure request")
        # history with content: version 1's content is marked, version 2's is read
        listed = await m.history(a.id, include_content=True)
        gone, kept = listed[0].data["content"], listed[1].data["content"]
        assert isinstance(gone, UnavailableContent)
        assert kept == "public v2"
        assert (gone.artifact_id, gone.version, gone.reason, gone.position) == (str(a.id), 1, "redacted", None)
        error = gone.error()
        assert isinstance(error, RedactedError)
        assert (error.artifact_id, error.version) == (str(a.id), 1)
        assert str(error) == str(gone) == gone.message
        assert f"artifact {a.id} version 1 was redacted" in gone.message
        with pytest.raises(RedactedError, match=f"artifact {a.id} version 1 was redacted") as caught:
            await m.find_by_id(a.id, version=1)  # a read of that one version fails
        assert (caught.value.artifact_id, caught.value.version) == (str(a.id), 1)
        versions = await m.history(a.id)
        assert [v.redacted for v in versions] == [["content"], []]
        # diff: version 1 had content; the diff says it was redacted, never that content was added
        for content in (False, True):
            d = await m.diff(a.id, 1, 2, content=content)
            assert d.content is not None
            assert (d.content.old_redacted, d.content.new_redacted) == (True, False)
            assert d.content.old_hash is None
            assert d.content.new_hash is not None
            assert "content: (redacted) -> sha256:" in str(d)
            assert "(none)" not in str(d)
            assert [op.path for op in d.data] == ["/name"]
        assert (await m.diff(a.id, 1, 2, content=False)).content_diff is None
        shown = (await m.diff(a.id, 1, 2)).content_diff
        assert isinstance(shown, BytesContentDiff)
        assert shown.note == "the old content was redacted: not compared"
        back = await m.diff(a.id, 2, 1, content=False)
        assert back.content is not None
        assert (back.content.old_redacted, back.content.new_redacted) == (False, True)
        assert "-> (redacted)" in str(back)


async def test_a_diff_of_two_redacted_versions_never_says_unchanged(ledger: Ledger) -> None:
    """Two erased sides look alike whatever they held: the diff says both were redacted."""
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "a", "content": "secret v1"}))
        await m.save(ArtifactIn(id=a.id, data={"name": "a", "content": "another secret v2"}))
        await m.patch(a.id, data={"name": "a3"})  # version 3 keeps version 2's content
        await m.redact(a.id, reason="erasure request")
        for v1, v2 in ((1, 2), (2, 3)):
            for content in (True, False):
                d = await m.diff(a.id, v1, v2, content=content)
                assert d.changed
                assert d.content is not None
                assert (d.content.old_redacted, d.content.new_redacted) == (True, True)
                assert (d.content.old_hash, d.content.new_hash) == (None, None)
                assert "content: (redacted) -> (redacted)" in str(d)
                if content:
                    shown = d.content_diff
                    assert isinstance(shown, BytesContentDiff)
                    assert shown.note == "the old and the new content was redacted: not compared"
                else:
                    assert d.content_diff is None
        same = await m.diff(a.id, 2, 2)
        assert (same.content, same.content_diff, same.changed) == (None, None, False)


async def test_an_artifact_whose_content_was_redacted_takes_every_command(ledger: Ledger) -> None:
    """The row of an artifact whose content was erased says so (codec ``redacted``), as the log's
    payload does: a patch, in a transaction or not, a move, a delete and restore, and a revert
    all go through (a patch was refused as projection drift), and none brings content back."""
    async with ledger.manager() as m:
        parent = await m.save(ArtifactIn(data={"name": "parent"}))
        a = await m.save(ArtifactIn(data={"name": "a", "email": "e@x", "content": b"secret bytes"}))
        await m.redact(a.id, reason="erasure request")
        patched = await m.patch(a.id, {"status": "kept"})
        assert (patched.version, patched.data) == (2, {"name": "a", "email": "e@x", "status": "kept"})
        async with m.transaction():
            again = await m.patch(a.id, {"round": 2})
        assert again.version == 3
        assert (await m.move(a.id, parent.id)).version == 4
        await m.delete_by_id(a.id)
        assert (await m.restore(a.id)).version == 6
        reverted = await m.revert(a.id, to_version=1)
        assert reverted.data == {"name": "a", "email": "e@x"}
        await m.redact(a.id, fields=["email"], reason="erasure request")
        assert (await m.patch(a.id, {"name": "b"})).data == {"name": "b"}
        current = await m.find_by_id(a.id)
        assert current is not None
        assert "content" not in current.data
    assert (await ledger.verify()).ok


async def test_bad_requests_write_nothing(ledger: Ledger, engine: AsyncEngine) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "x", "email": "e"}))
        head = len(await _hashes(engine))
        with pytest.raises(ArtifactNotFoundError):
            await m.redact("01ARZ3NDEKTSV4RRFFQ69G5FAV", fields=["email"], reason="r")
        with pytest.raises(VersionNotFoundError):
            await m.redact(a.id, version=7, fields=["email"], reason="r")
        with pytest.raises(InvalidArgumentError, match="no data field 'phone'"):
            await m.redact(a.id, fields=["phone"], reason="r")
        with pytest.raises(InvalidArgumentError, match="needs a reason"):
            await m.redact(a.id, fields=["email"])
        with pytest.raises(InvalidArgumentError, match="fields must be"):
            await m.redact(a.id, fields="email", reason="r")  # type: ignore[arg-type]
        with pytest.raises(RedactedError.__mro__[1]):  # ContentNotFoundError: it has no content
            await m.redact(a.id, reason="r")
    assert len(await _hashes(engine)) == head
    assert (await ledger.verify()).ok


async def test_the_guard_refuses_an_update_of_a_payload_still_sealed(ledger: Ledger, engine: AsyncEngine) -> None:
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"name": "x", "email": "e"}))
    async with engine.connect() as conn:
        with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
            await conn.execute(text("UPDATE ledger_events SET payload = '{}' WHERE position = 1"))
        await conn.rollback()
    for statement in (
        "DELETE FROM ledger_openings",
        "UPDATE ledger_openings SET position = 7 WHERE position = 1",
        "UPDATE ledger_openings SET salt = salt WHERE position = 1",  # an opening only ever loses its salt
    ):
        async with engine.connect() as conn:
            with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
                await conn.execute(text(statement))
            await conn.rollback()
    async with engine.connect() as conn:  # even once the salt is gone, only the payload may change
        await conn.execute(text("UPDATE ledger_openings SET salt = NULL WHERE position = 1"))
        with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
            await conn.execute(text("UPDATE ledger_events SET actor = 'mallory' WHERE position = 1"))
        await conn.rollback()
    assert (await ledger.verify()).ok


async def test_an_erasure_by_hand_is_reported_as_tampering(ledger: Ledger, engine: AsyncEngine) -> None:
    """A DBA erases a field correctly by the format's own rules but without a redaction event: verify says so."""
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"name": "x", "email": "e@x"}))
    (payload, salt), *_ = await _rows(
        engine,
        "SELECT e.payload, o.salt FROM ledger_events e JOIN ledger_openings o ON o.position = e.position "
        "WHERE e.position = 1",
    )
    erased_text, opening = chain_v2.redact(str(payload), chain_v2.Opening(bytes(salt)), ['["data","email"]'])  # type: ignore[arg-type]
    _, _, salts, erased = opening_values(1, opening)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE ledger_openings SET salt = NULL, salts = :s, erased = :e WHERE position = 1"),
            {"s": salts, "e": erased},
        )
        await conn.execute(text("UPDATE ledger_events SET payload = :p WHERE position = 1"), {"p": erased_text})
    report = await ledger.verify()
    assert not report.ok
    assert report.broken_position == 1
    assert report.problem is not None
    assert "without a redaction event" in report.problem


async def test_a_redacted_ledger_moves_between_backends_with_its_erasures(engine: AsyncEngine, tmp_path: Path) -> None:
    """Export a redacted SQLite ledger, import it into this backend: it verifies, the erased value is nowhere."""
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}", secret=SECRET) as source:
        async with source.manager() as m:
            a = await m.save(ArtifactIn(data={"name": "bob", "phone": "+1 555 0100", "content": b"voice memo"}))
            await m.redact(a.id, fields=["phone"], reason="erasure request")
            await m.redact(a.id, reason="erasure request")
        await export_ledger(source.engine, tmp_path / "bundle")
    assert verify_bundle(tmp_path / "bundle").ok
    async with Ledger.open(engine, secret=SECRET) as target:
        await import_bundle(target.engine, tmp_path / "bundle")
        report = await target.verify()
        assert report.ok, report.problem
        async with target.manager() as m:
            with pytest.raises(RedactedError):
                await m.find_by_id(a.id)
            found = await m.find_by_id(a.id, include_content=False)
        assert found is not None
        assert found.data == {"name": "bob"}
    payloads = [str(r[0]) for r in await _rows(engine, "SELECT payload FROM ledger_events")]
    assert not any("555 0100" in p for p in payloads)


async def test_a_redaction_refuses_an_event_whose_opening_was_changed(ledger: Ledger, engine: AsyncEngine) -> None:
    """The opening is a table, not the log: a salt changed outside the ledger is caught before anything is rewritten."""
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "x", "email": "e@x"}))
    async with engine.begin() as conn:  # lift the guard the way an attacker with the database would
        for statement in drop_guard_ddl("ledger_openings", conn.dialect.name):
            await conn.exec_driver_sql(statement)
        await conn.execute(text("UPDATE ledger_openings SET salt = :s WHERE position = 1"), {"s": bytes(32)})
        for statement in guard_ddl("ledger_openings", conn.dialect.name):
            await conn.exec_driver_sql(statement)
    async with ledger.manager() as m:
        with pytest.raises(ChainBrokenError, match=r"event 1 .* does not match its hash") as caught:
            await m.redact(a.id, fields=["email"], reason="erasure")
        assert caught.value.position == 1
    payload = await _rows(engine, "SELECT payload FROM ledger_events WHERE position = 1")
    assert "e@x" in str(payload[0][0])
    assert len(await _hashes(engine)) == 1


async def test_events_deleted_at_the_end_are_named_by_the_openings_they_leave(
    ledger: Ledger, engine: AsyncEngine
) -> None:
    """A DBA deletes the newest events and moves the projections' checkpoints back to the new end: the
    openings left behind say so (and a rebuild, which would hide it, is refused)."""
    async with ledger.manager() as m:
        for i in range(4):
            await m.save(ArtifactIn(data={"i": i}))
    async with engine.begin() as conn:
        dialect = conn.dialect.name
        for statement in drop_guard_ddl("ledger_events", dialect):
            await conn.exec_driver_sql(statement)
        await conn.execute(text("DELETE FROM ledger_events WHERE position > 2"))
        for statement in guard_ddl("ledger_events", dialect):
            await conn.exec_driver_sql(statement)
        await lower_checkpoints(conn, 2)
    report = await ledger.verify()
    assert not report.ok
    assert report.broken_position == 3
    assert report.problem is not None
    assert "ledger_openings holds the openings of events up to position 4" in report.problem
    with pytest.raises(ChainBrokenError, match="ledger_openings holds the openings of events up to position 4"):
        await ledger.rebuild()
