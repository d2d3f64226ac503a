"""The standard-library bundle verifier on chain format 2: redacted bundles pass, erasures the log does not name fail.

The bundles are built here event by event with ``chain_v2`` (the ledger does not write
format 2 yet), and checked both through ``verify_bundle`` and as a subprocess, the way an
auditor runs the one file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from artifact_ledger import chain, chain_v2, codec, redaction
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.chain_v2 import Opening

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "src" / "artifact_ledger" / "verify_bundle.py"
ARTIFACT = "01KZ0000000000000000000001"
EMAIL = '["data","email"]'
CONSENT = '["data","consent"]'
FIRST = {
    "content": {"codec": "bytes", "hash": hashlib.sha256(b"hi").hexdigest(), "size": 2, "type": None},
    "data": {"consent": "no", "email": "ada@example.org", "name": "Ada"},
    "parent_id": None,
    "tags": [],
}


def opening_record(opening: Opening) -> dict[str, Any]:
    return {
        "salt": None if opening.salt is None else opening.salt.hex(),
        "salts": {k: v.hex() for k, v in opening.salts.items()},
        "erased": {k: v.hex() for k, v in opening.erased.items()},
    }


class Log:
    """A format-2 log built by hand: events sealed with chain_v2, openings kept beside them."""

    def __init__(self, v1_events: int = 0) -> None:
        self.records: list[dict[str, Any]] = []
        self.openings: dict[int, tuple[str, Opening]] = {}
        for _ in range(v1_events):
            self.add(
                "artifact.created", {"content": None, "data": {"old": True}, "parent_id": None, "tags": []}, v2=False
            )

    def add(self, type: str, payload: dict[str, Any], *, v2: bool = True) -> int:
        position = len(self.records) + 1
        prev = bytes.fromhex(self.records[-1]["hash"]) if self.records else bytes(32)
        fields = {
            "position": position,
            "event_id": f"01JZ{position:022d}",
            "artifact_id": ARTIFACT,
            "version": position,
            "type": type,
            "schema_version": 1,
            "recorded_at": "2026-12-05T12:00:00.000000Z",
            "actor": "dpo",
            "reason": "ticket-7",
            "correlation_id": None,
            "causation_id": None,
        }
        envelope = chain.canonical_envelope(*(fields[n] for n in ARGUMENTS))
        text = codec.dumps_trusted(payload).decode()
        record: dict[str, Any] = {**fields, "payload": text, "prev_hash": prev.hex()}
        if v2:
            opening, commitment = chain_v2.seal(text)
            record["hash"] = chain_v2.event_hash(prev, envelope, commitment).hex()
            self.openings[position] = (text, opening)
            record["opening"] = opening_record(opening)
        else:
            record["hash"] = chain.event_hash(prev, envelope, text.encode()).hex()
        self.records.append(record)
        return position

    def erase(self, position: int, paths: list[str]) -> None:
        """What a redaction does to the stored event: the members and the event salt go, the digests stay."""
        text, opening = self.openings[position]
        stored, after = chain_v2.redact(text, opening, paths)
        self.openings[position] = (stored, after)
        self.records[position - 1]["payload"] = stored
        self.records[position - 1]["opening"] = opening_record(after)

    def redact(self, position: int, paths: list[str]) -> int:
        targets = [chain_v2.Erasure(0, position, frozenset(paths))]
        at = self.add(redaction.REDACTED, redaction.event_payload(targets, version=None, fields=None))
        self.erase(position, paths)
        return at

    def bundle(self, directory: Path) -> Path:
        directory.mkdir(parents=True)
        body = b"".join(json.dumps(r, ensure_ascii=True, sort_keys=True).encode() + b"\n" for r in self.records)
        (directory / "events.jsonl").write_bytes(body)
        manifest = {
            "format": standalone.FORMAT,
            "format_version": standalone.FORMAT_VERSION,
            "hash_algorithm": "sha256",
            "first_position": 1,
            "prev_hash": "0" * 64,
            "head_position": len(self.records),
            "head_hash": self.records[-1]["hash"],
            "event_count": len(self.records),
            "events_sha256": hashlib.sha256(body).hexdigest(),
            "blob_count": 0,
            "blob_bytes": 0,
        }
        (directory / "manifest.json").write_text(json.dumps(manifest))
        return directory


ARGUMENTS = (
    "position",
    "event_id",
    "artifact_id",
    "version",
    "type",
    "schema_version",
    "recorded_at",
    "actor",
    "reason",
    "correlation_id",
    "causation_id",
)


def redacted_log() -> tuple[Log, int, int]:
    log = Log(v1_events=2)
    target = log.add("artifact.created", {**FIRST, "content": None})
    log.add("artifact.updated", {**FIRST, "content": None, "data": {"name": "Ada L."}})
    at = log.redact(target, [EMAIL, CONSENT])
    log.add("artifact.updated", {**FIRST, "content": None, "data": {"name": "Ada Lovelace"}})
    return log, target, at


def test_a_redacted_bundle_verifies_with_the_one_file(tmp_path: Path) -> None:
    log, target, _ = redacted_log()
    stored = log.records[target - 1]["payload"]
    assert "ada@example.org" not in stored
    assert '"consent"' not in stored
    report = standalone.verify_bundle(log.bundle(tmp_path / "b"))
    assert report.ok, report
    assert report.events_checked == 6
    run = subprocess.run(
        [sys.executable, "-S", "-I", str(VERIFIER), str(tmp_path / "b")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_content_erased_needs_no_blob(tmp_path: Path) -> None:
    log = Log()
    target = log.add("artifact.created", FIRST)
    log.redact(target, ['["content"]'])
    report = standalone.verify_bundle(log.bundle(tmp_path / "b"))
    assert report.ok, report


def test_a_modified_redacted_payload_fails(tmp_path: Path) -> None:
    log, target, _ = redacted_log()
    record = log.records[target - 1]
    record["payload"] = record["payload"].replace('"Ada"', '"Eve"')
    report = standalone.verify_bundle(log.bundle(tmp_path / "b"))
    assert not report.ok
    assert report.broken_position == target


def test_erased_without_a_redaction_event_fails_naming_the_position(tmp_path: Path) -> None:
    log = Log(v1_events=1)
    target = log.add("artifact.created", FIRST)
    log.add("artifact.updated", FIRST)
    log.erase(target, [EMAIL])  # by hand: the hashes still match, the log names no redaction
    report = standalone.verify_bundle(log.bundle(tmp_path / "b"))
    assert not report.ok
    assert report.broken_position == target
    assert f"leaves {EMAIL} erased without a redaction event" in (report.problem or "")
    run = subprocess.run(
        [sys.executable, "-S", "-I", str(VERIFIER), str(tmp_path / "b")], capture_output=True, text=True
    )
    assert run.returncode == 1


def test_a_redaction_whose_erasure_did_not_happen_is_reported(tmp_path: Path) -> None:
    # the value put back into the redacted record: the opening no longer fits, the event is broken
    log = Log()
    target = log.add("artifact.created", FIRST)
    log.redact(target, [EMAIL])
    log.records[target - 1]["payload"] = codec.dumps_trusted(FIRST).decode()
    report = standalone.verify_bundle(log.bundle(tmp_path / "b"))
    assert not report.ok
    assert report.broken_position == target
    # a redaction event recorded, the sealed record left whole (value and event salt still there)
    clean = Log()
    kept = clean.add("artifact.created", FIRST)
    targets = [chain_v2.Erasure(0, kept, frozenset({EMAIL}))]
    named = clean.add(redaction.REDACTED, redaction.event_payload(targets, version=None, fields=None))
    report = standalone.verify_bundle(clean.bundle(tmp_path / "c"))
    assert not report.ok
    assert report.broken_position == kept
    assert f"redaction event(s) at {named} name leaves still present: {EMAIL}" in (report.problem or "")


def test_format_1_after_format_2_fails_and_format_1_cannot_be_redacted(tmp_path: Path) -> None:
    log = Log(v1_events=1)
    log.add("artifact.created", FIRST)
    log.add("artifact.updated", FIRST, v2=False)
    report = standalone.verify_bundle(log.bundle(tmp_path / "b"))
    assert not report.ok
    assert report.broken_position == 3
    assert "the switch goes one way" in (report.problem or "")
    old = Log(v1_events=1)
    targets = [chain_v2.Erasure(0, 1, frozenset({'["data","old"]'}))]
    old.add(redaction.REDACTED, redaction.event_payload(targets, version=None, fields=None))
    report = standalone.verify_bundle(old.bundle(tmp_path / "c"))
    assert not report.ok
    assert "sealed under chain format 1, which cannot be redacted" in (report.problem or "")


def test_malformed_openings_refused(tmp_path: Path) -> None:
    for number, bad in enumerate(
        [
            {"salt": "zz", "salts": {}, "erased": {}},
            {"salt": None, "salts": []},
            {"salt": "00" * 32, "salts": {}, "erased": {EMAIL: "00" * 32}},
            "x",
        ]
    ):
        log = Log()
        log.add("artifact.created", FIRST)
        log.records[0]["opening"] = bad
        report = standalone.verify_bundle(log.bundle(tmp_path / str(number)))
        assert not report.ok
        assert report.reason == standalone.MALFORMED
