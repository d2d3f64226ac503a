"""An import carries the source's erasures over to the events and blobs the target already holds.

A backup ledger B is kept up to date by importing exports of ledger A. When A later redacts
fields or content of versions B already holds, or a retention run expires content B already
stores, importing A's next export (whole, or incremental from B's head) must leave B erased and
expired exactly as A is: the same payloads and openings, the same blobs, reads that say so, and a
log that verifies, in the library and in the stdlib verifier. Only a redaction event in the chain
erases, and only what it names: anything else is refused and B is left as it was. Every backend,
and (where content is involved) both blob stores.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    ContentExpiredError,
    Ledger,
    RedactedError,
    RetentionPolicy,
    chain_v2,
)
from artifact_ledger.bundle import write_bundle
from artifact_ledger.content import streams
from artifact_ledger.errors import BundleRuleError
from artifact_ledger.store.openings import opening_values
from artifact_ledger.store.tables import drop_guard_ddl, guard_ddl
from artifact_ledger.transfer import ImportConflictError, export_ledger, import_bundle
from artifact_ledger.verify_bundle import verify_bundle
from bundle_forge import forge, read_events, with_payload, write_events
from ledger_support import SECRET, make_format_1

EMAIL = '["data","email"]'


@pytest.fixture(params=["database", "directory"])
def blobs(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def store_url(blobs: str, directory: Path) -> str | None:
    """``blobs=`` for a ledger: None (its database) or a blob directory of its own."""
    return None if blobs == "database" else f"file://{directory}"


@pytest.fixture
async def source(tmp_path: Path, blobs: str) -> AsyncIterator[Ledger]:
    """Ledger A, on SQLite, with the same kind of blob store as the target."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    async with Ledger.open(url, secret=SECRET, blobs=store_url(blobs, tmp_path / "source-blobs")) as ledger:
        yield ledger


@pytest.fixture
async def target(engine: AsyncEngine, tmp_path: Path, blobs: str) -> AsyncIterator[Ledger]:
    """Ledger B, the backup, on the backend under test."""
    async with Ledger.open(engine, secret=SECRET, blobs=store_url(blobs, tmp_path / "target-blobs")) as ledger:
        yield ledger


async def stored_blobs(ledger: Ledger, blobs: str, directory: Path) -> set[str]:
    """Every blob the ledger stores: rows of ``ledger_blobs`` and files of its directory."""
    async with ledger.engine.connect() as conn:
        found = {str(r[0]) for r in await conn.execute(text("SELECT hash FROM ledger_blobs"))}
    return found | (blob_files(directory) if blobs == "directory" else set())


def blob_files(directory: Path) -> set[str]:
    return {p.name for p in directory.rglob("*") if p.is_file() and len(p.name) == 64}


async def payloads(ledger: Ledger) -> list[str]:
    async with ledger.engine.connect() as conn:
        return [str(r[0]) for r in await conn.execute(text("SELECT payload FROM ledger_events ORDER BY position"))]


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def stdlib_verifies(bundle: Path) -> None:
    """The one-file verifier, run as an auditor runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "artifact_ledger.verify_bundle", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def same_as_source(source: Ledger, target: Ledger, tmp_path: Path, name: str) -> None:
    """B verifies, and exports byte for byte what A exports: every payload, opening and blob."""
    report = await target.verify()
    assert report.ok, report.problem
    await export_ledger(source.engine, tmp_path / f"{name}-a")
    await export_ledger(target.engine, tmp_path / f"{name}-b")
    assert files(tmp_path / f"{name}-b") == files(tmp_path / f"{name}-a")
    stdlib_verifies(tmp_path / f"{name}-b")


# ---- retention ----------------------------------------------------------------------------------------
async def test_an_imported_retention_run_expires_the_content_held_here(
    source: Ledger, target: Ledger, tmp_path: Path, blobs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B held every version's content; A's retention run expires two versions (one saved whole, one
    streamed) and then saves expired bytes again, all in one incremental bundle: B's reads expire as
    A's do, B stores exactly A's blobs (chunks included), and B verifies."""
    monkeypatch.setattr(streams, "CHUNK_SIZE", 64)
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    old.write_bytes(bytes(range(64)) + b"a" * 100)
    new.write_bytes(bytes(range(64)) + b"b" * 100)  # its first chunk is the old stream's too
    async with source.manager() as m:
        model = await m.save(ArtifactIn(data={"name": "model", "content": b"weights one"}))
        await m.save(ArtifactIn(id=model.id, data={"name": "model", "content": b"weights two"}))
        await m.save(ArtifactIn(id=model.id, data={"name": "model", "content": b"weights three"}))
        big = await m.save(ArtifactIn(data={"name": "big", "content": old}))
        await m.save(ArtifactIn(id=big.id, data={"name": "big", "content": new}))
    await export_ledger(source.engine, tmp_path / "first")
    head = await source.head()
    await import_bundle(target.engine, tmp_path / "first")
    held = await stored_blobs(target, blobs, tmp_path / "target-blobs")

    report = await source.apply_retention(RetentionPolicy(keep_last=1), dry_run=False, reason="policy")
    assert len(report.expired) == 3
    assert len(report.blobs) == 5  # two contents; a manifest and its two chunks
    async with source.manager() as m:  # expired bytes saved again, after the run, in the same bundle
        await m.save(ArtifactIn(id=model.id, data={"name": "model", "content": b"weights one"}))
    await write_bundle(source.engine, tmp_path / "later", since=head)
    await import_bundle(target.engine, tmp_path / "later")

    async with target.manager() as m:
        with pytest.raises(ContentExpiredError, match="version 2"):
            await m.find_by_id(model.id, version=2)
        with pytest.raises(ContentExpiredError, match="version 1"):
            async for _ in m.open_content(big.id, version=1):
                pass
        again = await m.find_by_id(model.id)
        assert again is not None
        assert again.data["content"] == b"weights one"
        streamed = b"".join([c async for c in m.open_content(big.id, version=2)])
        assert streamed == new.read_bytes()
    here = await stored_blobs(target, blobs, tmp_path / "target-blobs")
    assert here == await stored_blobs(source, blobs, tmp_path / "source-blobs")
    assert len(held - here) == 4  # what the run deleted, but the bytes saved again
    await same_as_source(source, target, tmp_path, "after")


# ---- redaction ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bundle", ["whole", "incremental"])
async def test_an_imported_redaction_erases_the_events_held_here(
    source: Ledger, target: Ledger, tmp_path: Path, blobs: str, bundle: str
) -> None:
    """B holds two versions with an e-mail address and content; A erases the address from both and
    the content of both (the second's bytes are another artifact's too). Importing A's next export
    leaves B erased exactly as A is, and the next import after that changes nothing more."""
    async with source.manager() as m:
        scan = await m.save(ArtifactIn(data={"name": "scan", "email": "jane@example.org", "content": b"record 1"}))
        await m.save(ArtifactIn(id=scan.id, data={"name": "scan", "email": "jane@example.org", "content": b"record 2"}))
        copy = await m.save(ArtifactIn(data={"name": "copy", "content": b"record 2"}))
    await export_ledger(source.engine, tmp_path / "first")
    head = await source.head()
    await import_bundle(target.engine, tmp_path / "first")
    before = await stored_blobs(target, blobs, tmp_path / "target-blobs")

    async with source.manager() as m:
        await m.redact(scan.id, fields=["email"], reason="erasure request 2026-117")
        done = await m.redact(scan.id, reason="erasure request 2026-117")
    assert len(done.blobs_deleted) == 1  # record 1; record 2 stays for the copy
    if bundle == "whole":
        await export_ledger(source.engine, tmp_path / "second")
    else:
        await write_bundle(source.engine, tmp_path / "second", since=head)
    result = await import_bundle(target.engine, tmp_path / "second")
    assert result.events_imported == 2

    assert not any("jane@example.org" in p for p in await payloads(target))
    async with target.manager() as m:
        for version in (1, 2):
            with pytest.raises(RedactedError, match=f"version {version} was redacted"):
                await m.find_by_id(scan.id, version=version)
        shown = await m.find_by_id(scan.id, include_content=False)
        assert shown is not None
        assert shown.data == {"name": "scan"}
        assert [v.redacted for v in await m.history(scan.id)] == [["content", "data.email"]] * 2
        other = await m.find_by_id(copy.id)
        assert other is not None
        assert other.data["content"] == b"record 2"
    after = await stored_blobs(target, blobs, tmp_path / "target-blobs")
    assert before - after == set(done.blobs_deleted)
    assert after == await stored_blobs(source, blobs, tmp_path / "source-blobs")
    await same_as_source(source, target, tmp_path, "erased")

    # A later whole export holds the redactions B now holds too: they are carried over once only.
    async with source.manager() as m:
        await m.save(ArtifactIn(data={"name": "later"}))
    await export_ledger(source.engine, tmp_path / "third")
    assert (await import_bundle(target.engine, tmp_path / "third")).events_imported == 1
    await same_as_source(source, target, tmp_path, "later")


async def test_an_imported_redaction_of_streamed_content_deletes_its_chunks_here(
    source: Ledger, target: Ledger, tmp_path: Path, blobs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content saved as a stream is a manifest and chunks; one chunk is another stream's too. The
    erasure carried over deletes the manifest and the chunks only it lists, as the redaction did."""
    monkeypatch.setattr(streams, "CHUNK_SIZE", 64)
    one, two = tmp_path / "one.bin", tmp_path / "two.bin"
    one.write_bytes(bytes(range(64)) + b"a" * 100)
    two.write_bytes(bytes(range(64)) + b"b" * 100)
    async with source.manager() as m:
        scan = await m.save(ArtifactIn(data={"name": "scan", "content": one}))
        await m.save(ArtifactIn(data={"name": "other", "content": two}))
    await export_ledger(source.engine, tmp_path / "first")
    head = await source.head()
    await import_bundle(target.engine, tmp_path / "first")
    before = await stored_blobs(target, blobs, tmp_path / "target-blobs")
    async with source.manager() as m:
        done = await m.redact(scan.id, reason="erasure request")
    assert len(done.blobs_deleted) == 3  # the manifest and its two chunks of its own
    await write_bundle(source.engine, tmp_path / "second", since=head)
    await import_bundle(target.engine, tmp_path / "second")
    async with target.manager() as m:
        with pytest.raises(RedactedError):
            async for _ in m.open_content(scan.id):
                pass
    after = await stored_blobs(target, blobs, tmp_path / "target-blobs")
    assert before - after == set(done.blobs_deleted)
    assert after == await stored_blobs(source, blobs, tmp_path / "source-blobs")
    await same_as_source(source, target, tmp_path, "erased")


# ---- what stays refused -----------------------------------------------------------------------------
async def _held_and_redacted(source: Ledger, target: Ledger, tmp_path: Path) -> tuple[str, str, Path]:
    """B holds x (an e-mail address) and y (a phone number); A redacts x's address after that.
    Returns the ids and an incremental bundle of the redaction (position 3)."""
    async with source.manager() as m:
        x = await m.save(ArtifactIn(data={"name": "x", "email": "jane@example.org"}))
        y = await m.save(ArtifactIn(data={"name": "y", "phone": "+1 555 0100"}))
    await export_ledger(source.engine, tmp_path / "first")
    head = await source.head()
    await import_bundle(target.engine, tmp_path / "first")
    async with source.manager() as m:
        await m.redact(x.id, fields=["email"], reason="erasure request")
    await write_bundle(source.engine, tmp_path / "redaction", since=head)
    return str(x.id), str(y.id), tmp_path / "redaction"


async def _unchanged(target: Ledger) -> None:
    payload = await payloads(target)
    assert len(payload) == 2
    assert "jane@example.org" in payload[0]
    assert "555 0100" in payload[1]
    assert (await target.verify()).ok


def _forged_redaction(bundle: Path, forged: Path, **changes: Any) -> Path:
    """A copy of the one-line bundle ``bundle`` whose redaction payload has ``changes``, re-sealed."""
    import shutil

    shutil.copytree(bundle, forged)
    (line,) = read_events(forged)
    write_events(forged, [with_payload(line, **changes)])
    return forged


@pytest.mark.parametrize("blobs", ["database"])
@pytest.mark.parametrize(
    ("forgery", "refusal"),
    [
        ("other-artifact", r"names event 2, which this ledger holds, but not as a version of artifact"),
        ("unknown-leaf", r"names leaves of event 1 it cannot: the payload holds no leaf \[\"data\",\"nope\"\]"),
    ],
    ids=["other-artifact", "unknown-leaf"],
)
async def test_a_redaction_that_names_what_it_cannot_is_refused(
    source: Ledger, target: Ledger, tmp_path: Path, forgery: str, refusal: str
) -> None:
    """A redaction event in the chain erases only what it names, of the artifact it names: one that
    names another artifact's event, or a leaf the held event does not have, is refused, naming its
    position and line, and B is left as it was."""
    x, _y, bundle = await _held_and_redacted(source, target, tmp_path)
    erased = [[2, [EMAIL]]] if forgery == "other-artifact" else [[1, ['["data","nope"]']]]
    forged = _forged_redaction(bundle, tmp_path / "forged", artifact_id=x, erased=erased)
    assert verify_bundle(forged).ok  # the files hold: only the importer knows what B holds
    with pytest.raises(ImportConflictError, match=r"events\.jsonl line 1 \(position 3\): the redaction " + refusal):
        await import_bundle(target.engine, forged)
    await _unchanged(target)
    await import_bundle(target.engine, bundle)  # the real one is carried over
    assert not any("jane@example.org" in p for p in await payloads(target))
    assert (await target.verify()).ok


@pytest.mark.parametrize("blobs", ["database"])
async def test_a_redaction_of_a_format_1_event_held_here_is_refused(target: Ledger, tmp_path: Path) -> None:
    """A ledger written before chain format 2 hashes its old payloads byte for byte: a redaction
    naming such an event that B holds is refused (erasing it would break B's chain)."""
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", secret=SECRET) as old:
        await make_format_1(old.engine)
        async with old.manager() as m:
            x = await m.save(ArtifactIn(data={"name": "x", "email": "jane@example.org"}))
        await old.upgrade_chain(reason="enable redaction")
        async with old.manager() as m:
            y = await m.save(ArtifactIn(data={"name": "y", "email": "joe@example.org"}))
        await export_ledger(old.engine, tmp_path / "first")
        head = await old.head()
        async with old.manager() as m:
            await m.redact(y.id, fields=["email"], reason="erasure request")
        await write_bundle(old.engine, tmp_path / "redaction", since=head)
    await import_bundle(target.engine, tmp_path / "first")
    forged = _forged_redaction(
        tmp_path / "redaction", tmp_path / "forged", artifact_id=str(x.id), erased=[[1, [EMAIL]]]
    )
    with pytest.raises(ImportConflictError, match=r"line 1 \(position 4\): the redaction names event 1, .*format 1"):
        await import_bundle(target.engine, forged)
    assert "jane@example.org" in (await payloads(target))[0]
    await import_bundle(target.engine, tmp_path / "redaction")
    assert not any("joe@example.org" in p for p in await payloads(target))
    assert (await target.verify()).ok


@pytest.mark.parametrize("blobs", ["database"])
async def test_an_erasure_without_a_redaction_event_is_refused(source: Ledger, target: Ledger, tmp_path: Path) -> None:
    """A whole bundle whose line of an event B holds is erased (correctly by the format's rules, so its
    hash holds) with no redaction event naming it: refused as tampering at that line, B unchanged."""
    async with source.manager() as m:
        await m.save(ArtifactIn(data={"name": "x", "email": "jane@example.org"}))
        await m.save(ArtifactIn(data={"name": "y", "phone": "+1 555 0100"}))
    await export_ledger(source.engine, tmp_path / "first")
    await import_bundle(target.engine, tmp_path / "first")
    async with source.manager() as m:
        await m.save(ArtifactIn(data={"name": "z"}))  # something new to import
    await export_ledger(source.engine, tmp_path / "second")
    lines = read_events(tmp_path / "second")
    salt = bytes.fromhex(lines[0]["opening"]["salt"])
    payload, opening = chain_v2.redact(lines[0]["payload"], chain_v2.Opening(salt), [EMAIL])
    lines[0] = {
        **lines[0],
        "payload": payload,
        "opening": {
            "salt": None,
            "salts": {k: v.hex() for k, v in opening.salts.items()},
            "erased": {k: v.hex() for k, v in opening.erased.items()},
        },
    }
    write_events(tmp_path / "second", lines)
    assert json.loads((tmp_path / "second" / "events.jsonl").read_text().splitlines()[0])["hash"] == lines[0]["hash"]
    with pytest.raises(BundleRuleError, match=r"events\.jsonl line 1: .*erased without a redaction event") as refused:
        await import_bundle(target.engine, tmp_path / "second")
    assert (refused.value.rule, refused.value.line) == ("modified", 1)
    await _unchanged(target)


async def _set_event(target: Ledger, position: int, payload: str, salt: Any, salts: Any, erased: Any) -> None:
    """What a DBA with the database can do: put an event's payload and opening back (the guards lifted)."""
    async with target.engine.begin() as conn:
        dialect = conn.dialect.name
        for table in ("ledger_events", "ledger_openings"):
            for statement in drop_guard_ddl(table, dialect):
                await conn.exec_driver_sql(statement)
        await conn.execute(
            text("UPDATE ledger_openings SET salt = :salt, salts = :salts, erased = :erased WHERE position = :p"),
            {"salt": salt, "salts": salts, "erased": erased, "p": position},
        )
        await conn.execute(
            text("UPDATE ledger_events SET payload = :t WHERE position = :p"), {"t": payload, "p": position}
        )
        for table in ("ledger_events", "ledger_openings"):
            for statement in guard_ddl(table, dialect):
                await conn.exec_driver_sql(statement)


async def _opened(target: Ledger, position: int) -> tuple[str, Any, Any, Any]:
    async with target.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT e.payload, o.salt, o.salts, o.erased FROM ledger_events e "
                    "JOIN ledger_openings o ON o.position = e.position WHERE e.position = :p"
                ),
                {"p": position},
            )
        ).one()
    return str(row[0]), None if row[1] is None else bytes(row[1]), row[2], row[3]


@pytest.mark.parametrize("blobs", ["database"])
async def test_a_redaction_held_here_but_undone_is_carried_over_again(
    source: Ledger, target: Ledger, tmp_path: Path
) -> None:
    """B holds the redaction event but its erasure was undone in the database (verify says so): the
    next import, whose bundle carries that redaction event too, erases the event again."""
    _x, _y, bundle = await _held_and_redacted(source, target, tmp_path)
    original = await _opened(target, 1)
    await import_bundle(target.engine, bundle)
    await _set_event(target, 1, *original)
    assert not (await target.verify()).ok
    async with source.manager() as m:
        await m.save(ArtifactIn(data={"name": "z"}))
    await export_ledger(source.engine, tmp_path / "whole")
    assert (await import_bundle(target.engine, tmp_path / "whole")).events_imported == 1
    await same_as_source(source, target, tmp_path, "again")


@pytest.mark.parametrize("blobs", ["database"])
async def test_a_held_event_erased_otherwise_here_is_refused(source: Ledger, target: Ledger, tmp_path: Path) -> None:
    """B's copy of an event the bundle holds erased was erased otherwise (by hand, more than the
    redaction names): the import does not take B's word or the bundle's, it refuses, naming the line."""
    _x, _y, _bundle = await _held_and_redacted(source, target, tmp_path)
    payload, salt, _, _ = await _opened(target, 1)
    by_hand, opening = chain_v2.redact(payload, chain_v2.Opening(salt), [EMAIL, '["data","name"]'])
    await _set_event(target, 1, by_hand, *opening_values(1, opening)[1:])
    await export_ledger(source.engine, tmp_path / "whole")
    with pytest.raises(ImportConflictError, match=r"events\.jsonl line 1 \(position 1\): the bundle holds event 1"):
        await import_bundle(target.engine, tmp_path / "whole")
    assert len(await payloads(target)) == 2


async def test_a_retention_run_that_deletes_what_a_kept_version_needs_is_refused(
    source: Ledger, target: Ledger, tmp_path: Path, blobs: str
) -> None:
    """A run deletes only what no kept version needs. A bundle whose retention event lists the blob
    of a version it does not expire (a forged ``deleted``, re-sealed so the chain holds) would make
    the import delete bytes the backup still needs: it is refused, and they stay."""
    async with source.manager() as m:
        kept = await m.save(ArtifactIn(data={"name": "kept", "content": b"needed bytes"}))
        old = await m.save(ArtifactIn(data={"name": "old", "content": b"old bytes"}))
        await m.save(ArtifactIn(id=old.id, data={"name": "old", "content": b"new bytes"}))
    await export_ledger(source.engine, tmp_path / "first")
    head = await source.head()
    await import_bundle(target.engine, tmp_path / "first")
    before = await stored_blobs(target, blobs, tmp_path / "target-blobs")
    await source.apply_retention(RetentionPolicy(keep_last=1), dry_run=False)
    await write_bundle(source.engine, tmp_path / "later", since=head)
    needed = hashlib.sha256(b"needed bytes").hexdigest()
    assert needed in before

    def forged(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for record in records:
            if record["type"] == "retention.applied":
                deleted = json.loads(record["payload"])["deleted"]
                record = with_payload(record, deleted=[*deleted, [needed, len(b"needed bytes")]])
            out.append(record)
        return out

    bundle = forge(tmp_path / "later", tmp_path / "forged", forged)
    # The run's plan, rebuilt from the target's log, keeps that blob: refused before anything is written.
    with pytest.raises(BundleRuleError, match=f"deleted blob {needed}, the content of a version its policy keeps"):
        await import_bundle(target.engine, bundle)
    assert await stored_blobs(target, blobs, tmp_path / "target-blobs") == before
    async with target.manager() as m:
        out = await m.find_by_id(kept.id)
        assert out is not None
        assert out.data["content"] == b"needed bytes"
    assert (await target.verify()).ok
    # the bundle as written imports
    await import_bundle(target.engine, tmp_path / "later")
    await same_as_source(source, target, tmp_path, "after")
