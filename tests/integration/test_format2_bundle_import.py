"""A bundle of chain format 2 events built by hand: the stdlib verifier passes it, the ledger imports it
with its openings, verifies it, and seals what it appends after it under format 2 too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, chain, chain_v2, codec
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.errors import InvalidBundleError
from artifact_ledger.store.tables import events, openings
from artifact_ledger.transfer import import_bundle


def format_2_bundle(directory: Path) -> Path:
    payload = codec.dumps_trusted(
        {"content": None, "data": {"email": "ada@example.org"}, "parent_id": None, "tags": []}
    ).decode()
    opening, commitment = chain_v2.seal(payload)
    fields = {
        "position": 1,
        "event_id": "01JZ0000000000000000000001",
        "artifact_id": "01KZ0000000000000000000001",
        "version": 1,
        "type": "artifact.created",
        "schema_version": 1,
        "recorded_at": "2026-12-05T12:00:00.000000Z",
        "actor": None,
        "reason": None,
        "correlation_id": None,
        "causation_id": None,
    }
    envelope = chain.canonical_envelope(*fields.values())
    digest = chain_v2.event_hash(bytes(32), envelope, commitment).hex()
    assert opening.salt is not None
    record = {
        **fields,
        "payload": payload,
        "prev_hash": "0" * 64,
        "hash": digest,
        "opening": {"salt": opening.salt.hex(), "salts": {}, "erased": {}},
    }
    directory.mkdir(parents=True)
    body = json.dumps(record, sort_keys=True).encode() + b"\n"
    (directory / "events.jsonl").write_bytes(body)
    manifest = {
        "format": standalone.FORMAT,
        "format_version": standalone.FORMAT_VERSION,
        "hash_algorithm": "sha256",
        "first_position": 1,
        "prev_hash": "0" * 64,
        "head_position": 1,
        "head_hash": digest,
        "event_count": 1,
        "events_sha256": hashlib.sha256(body).hexdigest(),
        "blob_count": 0,
        "blob_bytes": 0,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


async def test_format_2_bundle_is_imported_with_its_openings(engine: AsyncEngine, tmp_path: Path) -> None:
    bundle = format_2_bundle(tmp_path / "b")
    report = standalone.verify_bundle(bundle)
    assert report.ok, report
    assert report.format_2_from == 1
    result = await import_bundle(engine, bundle)
    assert result.events_imported == 1
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(events)) == 1
        assert await conn.scalar(select(func.count()).select_from(openings)) == 1
    async with Ledger.open(engine) as ledger:
        assert (await ledger.verify()).ok
        async with ledger.manager() as m:
            saved = await m.save(ArtifactIn(data={"name": "after"}))
        report_after = await ledger.verify()
        assert report_after.ok, report_after.problem
        async with ledger.manager() as m:  # the imported event is format 2, so it can be redacted
            done = await m.redact("01KZ0000000000000000000001", fields=["email"], reason="erasure")
            assert done.erased == [(1, 1, ['["data","email"]'])]
        assert (await ledger.verify()).ok
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(openings)) == 3  # import, save, redaction
    del saved


async def test_a_bundle_whose_opening_lies_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    bundle = format_2_bundle(tmp_path / "b")
    record = json.loads((bundle / "events.jsonl").read_text())
    record["opening"]["salt"] = "00" * 32
    (bundle / "events.jsonl").write_text(json.dumps(record, sort_keys=True) + "\n")
    with pytest.raises(InvalidBundleError):
        await import_bundle(engine, bundle)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(events)) == 0
