"""Verify and export with a blob directory while a redaction or a retention run commits.

A blob directory's files have no snapshot: a run that commits between the chain pass (which reads
the log in the snapshot) and the blob pass deletes files the snapshot still references. Neither a
verify nor a bundle may then report the blob missing: verify asks the log as committed after its
pass, export starts again from a new snapshot. A file deleted by hand stays a finding.

Deterministic: a hook runs the erasure exactly between the two passes (``BlobCheck.run`` for
verify, ``bundle._write_blobs`` for export), on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger import ArtifactIn, Ledger, LedgerError, RetentionPolicy
from artifact_ledger import bundle as bundle_module
from artifact_ledger.blob_check import BlobCheck
from artifact_ledger.blob_files import TRASH
from artifact_ledger.content import streams
from artifact_ledger.drift import Finding
from artifact_ledger.integrity import BLOB_MISSING
from artifact_ledger.transfer import export_ledger
from artifact_ledger.verify_bundle import verify_bundle
from ledger_support import SECRET

Step = Callable[[], Awaitable[object]]


@pytest.fixture
async def ledger(url: str, tmp_path: Path) -> AsyncIterator[Ledger]:
    async with Ledger.open(url, secret=SECRET, blobs=f"file://{tmp_path / 'blobs'}") as opened:
        yield opened


def _file(tmp_path: Path, content: bytes) -> Path:
    digest = hashlib.sha256(content).hexdigest()
    return tmp_path / "blobs" / digest[:2] / digest[2:4] / digest


def _between_verify_passes(monkeypatch: pytest.MonkeyPatch, steps: list[Step]) -> list[int]:
    """Run ``steps`` (one per verify run, in turn) after the chain pass, before the blob pass."""
    original = BlobCheck.run
    calls: list[int] = []

    async def run(self: BlobCheck, *, every: bool) -> Finding | None:
        if len(calls) < len(steps):
            await steps[len(calls)]()
        calls.append(1)
        return await original(self, every=every)

    monkeypatch.setattr(BlobCheck, "run", run)
    return calls


def _between_export_passes(monkeypatch: pytest.MonkeyPatch, steps: list[Step]) -> list[int]:
    """Run ``steps`` (one per export snapshot, in turn) after the events are written, before the blobs."""
    original = bundle_module._write_blobs
    calls: list[int] = []

    async def write_blobs(*args: Any) -> Any:
        if len(calls) < len(steps):
            await steps[len(calls)]()
        calls.append(1)
        return await original(*args)

    monkeypatch.setattr(bundle_module, "_write_blobs", write_blobs)
    return calls


async def _redact(ledger: Ledger, artifact_id: Any) -> None:
    async with ledger.manager() as m:
        done = await m.redact(artifact_id, reason="erasure request")
    assert done.blobs_deleted  # the file is gone from the directory


async def _two_versions(ledger: Ledger) -> Any:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "a", "content": b"old bytes"}))
        await m.save(ArtifactIn(id=a.id, data={"name": "a", "content": b"new bytes"}))
        await m.save(ArtifactIn(data={"name": "b", "content": b"other bytes"}))
    return a


async def _retention(ledger: Ledger) -> None:
    report = await ledger.apply_retention(RetentionPolicy(keep_last=1), dry_run=False, reason="budget")
    assert report.blobs  # the old file is gone from the directory


# ---- verify ------------------------------------------------------------------------------------


async def test_verify_passes_when_a_redaction_erases_content_during_the_run(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "scan", "content": b"patient record"}))
        await m.save(ArtifactIn(data={"name": "kept", "content": b"kept bytes"}))
    calls = _between_verify_passes(monkeypatch, [lambda: _redact(ledger, a.id)])
    report = await ledger.verify()
    assert calls == [1]
    assert not _file(tmp_path, b"patient record").exists()  # the snapshot's content is gone for real
    assert report.ok, report.problem
    assert (await ledger.verify()).ok


async def test_verify_passes_when_a_retention_run_deletes_content_during_the_run(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _two_versions(ledger)
    calls = _between_verify_passes(monkeypatch, [lambda: _retention(ledger)])
    report = await ledger.verify()
    assert calls == [1]
    assert not _file(tmp_path, b"old bytes").exists()
    assert report.ok, report.problem


async def test_verify_reads_a_file_a_run_set_aside_before_it_committed(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between setting a file aside and committing, the log as committed still needs the blob: its
    bytes are read from the set-aside copy (what the snapshot references)."""
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"name": "scan", "content": b"pending erasure"}))
    path = _file(tmp_path, b"pending erasure")

    async def set_aside() -> None:
        os.replace(path, path.with_name(TRASH + path.name))

    _between_verify_passes(monkeypatch, [set_aside])
    report = await ledger.verify()
    assert report.ok, report.problem
    assert report.blobs_checked >= 1


async def test_a_file_deleted_by_hand_is_still_missing(ledger: Ledger, tmp_path: Path) -> None:
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"name": "scan", "content": b"deleted by hand"}))
    path = _file(tmp_path, b"deleted by hand")
    path.unlink()
    report = await ledger.verify()
    assert not report.ok
    assert report.reason == BLOB_MISSING
    assert report.blob_hash == path.name


async def test_a_file_deleted_by_hand_is_reported_though_a_redaction_erased_another(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "scan", "content": b"patient record"}))
        await m.save(ArtifactIn(data={"name": "lost", "content": b"deleted by hand"}))
    lost = _file(tmp_path, b"deleted by hand")

    async def both() -> None:
        await _redact(ledger, a.id)
        lost.unlink()

    _between_verify_passes(monkeypatch, [both])
    report = await ledger.verify()
    assert not report.ok
    assert report.reason == BLOB_MISSING
    assert report.blob_hash == lost.name  # not the erased one, though its event comes first
    assert report.broken_position == 2


async def test_verify_passes_when_a_redaction_erases_streamed_content_during_the_run(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "CHUNK_SIZE", 1024)
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "scan", "content": io.BytesIO(_bytes(3000))}))
    _between_verify_passes(monkeypatch, [lambda: _redact(ledger, a.id)])
    report = await ledger.verify()
    assert report.ok, report.problem


def _bytes(size: int) -> bytes:
    return b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(size // 32 + 1))[:size]


# ---- export ------------------------------------------------------------------------------------


async def test_export_starts_again_when_a_redaction_erases_content_meanwhile(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "scan", "content": b"patient record"}))
        await m.save(ArtifactIn(data={"name": "kept", "content": b"kept bytes"}))
    calls = _between_export_passes(monkeypatch, [lambda: _redact(ledger, a.id)])
    out = tmp_path / "bundle"
    manifest = await export_ledger(ledger.engine, out)
    report = verify_bundle(out)
    assert report.ok, report.problem
    assert calls == [1, 1]  # the first snapshot lost a blob: a second one was exported
    assert manifest.head_position == (await ledger.head()).position  # the redaction is in the bundle


async def test_export_starts_again_when_a_retention_run_deletes_content_meanwhile(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _two_versions(ledger)
    calls = _between_export_passes(monkeypatch, [lambda: _retention(ledger)])
    out = tmp_path / "bundle"
    await export_ledger(ledger.engine, out)
    report = verify_bundle(out)
    assert report.ok, report.problem
    assert calls == [1, 1]


async def test_export_starts_again_when_a_redaction_erases_streamed_content_meanwhile(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "CHUNK_SIZE", 1024)
    async with ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "scan", "content": io.BytesIO(_bytes(3000))}))
        await m.save(ArtifactIn(data={"name": "kept", "content": io.BytesIO(_bytes(2500)[::-1])}))
    calls = _between_export_passes(monkeypatch, [lambda: _redact(ledger, a.id)])
    out = tmp_path / "bundle"
    manifest = await export_ledger(ledger.engine, out)
    report = verify_bundle(out)
    assert report.ok, report.problem
    assert calls == [1, 1]
    assert manifest.blob_count == 1 + 3  # the kept stream's manifest and chunks; the erased one's are gone


async def test_export_that_keeps_losing_blobs_fails_and_writes_nothing(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ledger.manager() as m:
        erased = [await m.save(ArtifactIn(data={"n": n, "content": f"record {n}".encode()})) for n in range(3)]
    steps: list[Step] = [lambda a=a: _redact(ledger, a.id) for a in erased]  # one per snapshot
    calls = _between_export_passes(monkeypatch, steps)
    out = tmp_path / "bundle"
    with pytest.raises(LedgerError, match=r"the ledger changed during the export .* Run the export again"):
        await export_ledger(ledger.engine, out)
    assert calls == [1, 1, 1]
    assert not out.exists()  # the export made the directory, and took it away with what it wrote


async def test_export_into_an_empty_directory_that_fails_leaves_it_empty(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ledger.manager() as m:
        erased = [await m.save(ArtifactIn(data={"n": n, "content": f"record {n}".encode()})) for n in range(3)]
    _between_export_passes(monkeypatch, [lambda a=a: _redact(ledger, a.id) for a in erased])
    out = tmp_path / "bundle"
    out.mkdir()
    with pytest.raises(LedgerError, match="changed during the export"):
        await export_ledger(ledger.engine, out)
    assert out.is_dir()
    assert not any(out.iterdir())


async def test_export_of_a_file_deleted_by_hand_shows_it_missing(ledger: Ledger, tmp_path: Path) -> None:
    """No retry for a blob the log still needs: the bundle shows the ledger as it is."""
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"name": "scan", "content": b"deleted by hand"}))
    path = _file(tmp_path, b"deleted by hand")
    path.unlink()
    out = tmp_path / "bundle"
    await export_ledger(ledger.engine, out)
    report = verify_bundle(out)
    assert not report.ok
    assert report.reason == "blob_missing"
    assert path.name in (report.problem or "")
