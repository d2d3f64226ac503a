"""The bundle format and its stdlib verifier, on bundles built here byte by byte (no database).

Every byte of events.jsonl, manifest.json and the blobs is flipped in turn: the verifier must
notice, at the position of the line that holds the byte.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger import InvalidBundleError
from artifact_ledger.bundle import load_bundle
from artifact_ledger.verify_bundle import (
    GENESIS_HEX,
    BundleFormatError,
    Event,
    event_hash,
    main,
    parse_event,
    parse_manifest,
    verify_bundle,
)

BLOBS = {"alpha": b"alpha bytes", "beta": b"\x00\x01beta"}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_events(count: int = 5, *, first: int = 1, prev: str = GENESIS_HEX) -> list[Event]:
    """A chain of ``count`` events; the first and third reference blobs, the first has every attribution field."""
    events: list[Event] = []
    refs = {0: BLOBS["alpha"], 2: BLOBS["beta"]}
    for i in range(count):
        blob = refs.get(i)
        content = None
        if blob is not None:
            content = {"codec": "bytes", "hash": sha(blob), "media_type": "application/octet-stream", "size": len(blob)}
        payload = {"content": content, "data": {"i": i, "name": "zoë ✓"}, "parent_id": None, "tags": []}
        event = Event(
            position=first + i,
            event_id=f"01J{first + i:023d}",
            artifact_id=f"01K{i:023d}",
            version=1,
            type="artifact.created",
            schema_version=1,
            payload=canonical(payload),
            recorded_at=f"2025-01-02T03:04:05.{i:06d}Z",
            actor="zoë" if i == 0 else None,
            reason="why?" if i == 0 else None,
            correlation_id="corr" if i == 0 else None,
            causation_id="cause" if i == 0 else None,
            prev_hash=prev,
            hash="",
        )
        event = replace(event, hash=event_hash(event))
        events.append(event)
        prev = event.hash
    return events


def sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def line(event: Event) -> bytes:
    return canonical(event.__dict__).encode() + b"\n"


def write(directory: Path, events: list[Event], *, informational: bool = True, **manifest: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = b"".join(line(e) for e in events)
    (directory / "events.jsonl").write_bytes(body)
    for data in BLOBS.values():
        path = directory / "blobs" / sha(data)[:2] / sha(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    first = events[0].position if events else 1
    fields = {
        "format": "artifact-ledger-bundle",
        "format_version": 1,
        "hash_algorithm": "sha256",
        "first_position": first,
        "prev_hash": events[0].prev_hash if events else GENESIS_HEX,
        "head_position": first + len(events) - 1,
        "head_hash": events[-1].hash if events else GENESIS_HEX,
        "event_count": len(events),
        "events_sha256": sha(body),
        "blob_count": len(BLOBS),
        "blob_bytes": sum(len(b) for b in BLOBS.values()),
    }
    if informational:
        fields |= {"created_at": "2025-01-02T03:04:05.000000Z", "generator": "tests"}
    (directory / "manifest.json").write_bytes(canonical({**fields, **manifest}).encode() + b"\n")
    return directory


def verdict(directory: Path) -> tuple[int | None, str | None]:
    report = verify_bundle(directory)
    assert not report.ok, report
    assert report.problem
    return report.broken_position, report.reason


def test_a_well_formed_bundle_verifies(tmp_path: Path) -> None:
    events = make_events()
    report = verify_bundle(write(tmp_path, events))
    assert report.ok, report
    assert (report.events_checked, report.blobs_checked) == (5, 2)
    assert (report.head_position, report.head_hash) == (5, events[-1].hash)
    assert report.manifest["generator"] == "tests"
    bundle = load_bundle(tmp_path)
    assert list(bundle.events()) == events
    assert bundle.blob(sha(BLOBS["beta"])) == BLOBS["beta"]
    assert bundle.manifest.event_count == 5


def test_an_empty_bundle_and_a_bundle_that_starts_later(tmp_path: Path) -> None:
    assert verify_bundle(write(tmp_path / "empty", [], blob_count=0, blob_bytes=0)).ok is False  # stray blob files
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "events.jsonl").write_bytes(b"")
    fields = parse_manifest(write(tmp_path / "x", make_events(1)).joinpath("manifest.json").read_bytes())
    assert fields.event_count == 1
    later = make_events(3, first=11, prev="ab" * 32)
    report = verify_bundle(write(tmp_path / "later", later))
    assert report.ok, report
    assert (report.head_position, report.events_checked) == (13, 3)
    assert verify_bundle(tmp_path / "later", trusted_head=(10, "ab" * 32)).ok
    assert verify_bundle(tmp_path / "later", trusted_head=(12, later[1].hash)).ok
    wrong = verify_bundle(tmp_path / "later", trusted_head=(12, "cd" * 32))
    assert (wrong.broken_position, wrong.reason) == (12, "modified")
    beyond = verify_bundle(tmp_path / "later", trusted_head=(20, "cd" * 32))
    assert (beyond.broken_position, beyond.reason) == (14, "deleted")


def line_of(offset: int, body: bytes) -> int:
    return body[:offset].count(b"\n") + 1


def test_every_byte_flip_in_the_events_is_found_at_its_line(tmp_path: Path) -> None:
    directory = write(tmp_path, make_events())
    path = directory / "events.jsonl"
    body = path.read_bytes()
    for offset in range(len(body)):
        changed = bytearray(body)
        changed[offset] ^= 1
        path.write_bytes(bytes(changed))
        position, reason = verdict(directory)
        assert position == line_of(offset, body), (offset, chr(body[offset]), reason)
    path.write_bytes(body)
    assert verify_bundle(directory).ok


def test_every_byte_flip_in_the_manifest_and_the_blobs_is_found(tmp_path: Path) -> None:
    directory = write(tmp_path, make_events(), informational=False)
    manifest = directory / "manifest.json"
    original = manifest.read_bytes()
    for offset in range(len(original)):
        changed = bytearray(original)
        changed[offset] ^= 1
        manifest.write_bytes(bytes(changed))
        assert not verify_bundle(directory).ok, (offset, chr(original[offset]))
    manifest.write_bytes(original)
    for position, name in ((1, "alpha"), (3, "beta")):
        path = directory / "blobs" / sha(BLOBS[name])[:2] / sha(BLOBS[name])
        for offset in range(len(BLOBS[name])):
            changed = bytearray(BLOBS[name])
            changed[offset] ^= 1
            path.write_bytes(bytes(changed))
            assert verdict(directory) == (position, "blob_corrupted")
        path.write_bytes(BLOBS[name] + b"!")
        assert verdict(directory) == (position, "blob_corrupted")
        path.unlink()
        assert verdict(directory) == (position, "blob_missing")
        path.write_bytes(BLOBS[name])
    assert verify_bundle(directory).ok


def rewrite(directory: Path, lines: list[bytes]) -> None:
    (directory / "events.jsonl").write_bytes(b"".join(lines))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda ls: ls[:2] + ls[3:], (3, "deleted")),
        (lambda ls: ls[:4], (5, "deleted")),
        (lambda ls: [ls[1], ls[0], *ls[2:]], (1, "reordered")),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], (2, "reordered")),
        (lambda ls: [ls[0], ls[4], ls[2], ls[3], ls[1]], (2, "reordered")),
        (lambda ls: [*ls[:3], ls[2], *ls[3:]], (4, "inserted")),
        (lambda ls: [*ls, ls[4]], (6, "inserted")),
        (lambda ls: [*ls[:-1], ls[-1][:-10]], (5, "malformed")),
        (lambda ls: [*ls[:-1], ls[-1][:-1]], (5, "malformed")),
        (lambda ls: [ls[0], b"\n", *ls[1:]], (2, "malformed")),
        (lambda ls: [ls[0], b"[]\n", *ls[1:]], (2, "malformed")),
    ],
)
def test_lines_deleted_swapped_duplicated_or_cut(tmp_path: Path, edit: Any, expected: tuple[int, str]) -> None:
    directory = write(tmp_path, make_events())
    rewrite(directory, edit((directory / "events.jsonl").read_bytes().splitlines(keepends=True)))
    assert verdict(directory) == expected


def test_a_forged_line_chained_in_is_found_where_it_was_inserted(tmp_path: Path) -> None:
    events = make_events()
    forged = replace(
        events[2], event_id="01JFORGED00000000000000000", payload='{"forged":true}', prev_hash=events[1].hash
    )
    forged = replace(forged, hash=event_hash(forged))
    later = [replace(e, position=e.position + 1) for e in events[2:]]
    directory = write(tmp_path, [*events[:2], forged, *later])
    assert verdict(directory) == (3, "inserted")
    directory = write(tmp_path / "kept", [*events[:2], forged, *events[2:]])
    assert verdict(directory) == (3, "inserted")


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        ({"format": "zip"}, "format is 'zip'"),
        ({"format_version": 2}, "format_version 2"),
        ({"hash_algorithm": "md5"}, "hash_algorithm"),
        ({"head_position": -1}, "head_position must be an integer >= 0"),
        ({"first_position": 9}, "is before first_position"),
        ({"event_count": 0}, "must end where it starts"),
        ({"first_position": 0}, "first_position must be an integer >= 1"),
        ({"prev_hash": "ab" * 32}, "genesis prev_hash"),
        ({"head_hash": "AB" * 32}, "64 lowercase hex"),
        ({"blob_count": "2"}, "blob_count must be an integer"),
    ],
)
def test_malformed_manifests(tmp_path: Path, manifest: dict[str, Any], fragment: str) -> None:
    directory = write(tmp_path, make_events(), **manifest)
    report = verify_bundle(directory)
    assert (report.ok, report.reason, report.broken_position) == (False, "malformed", None)
    assert fragment in str(report.problem)
    with pytest.raises(InvalidBundleError, match="malformed") as err:
        load_bundle(directory)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("manifest", "expected", "fragment"),
    [
        ({"head_hash": "cd" * 32}, (5, "modified"), "manifest's head hash"),
        ({"events_sha256": "cd" * 32}, (None, "modified"), "SHA-256"),
        ({"blob_count": 3}, (None, "modified"), "the manifest says 3"),
        ({"event_count": 4}, (None, "modified"), "the manifest says 4"),
        ({"event_count": 6, "head_position": 6}, (6, "deleted"), "the manifest says 6"),
        ({"event_count": 4, "head_position": 4, "head_hash": "cd" * 32}, (5, "inserted"), "ends at 4"),
    ],
)
def test_manifest_that_disagrees_with_the_files(
    tmp_path: Path, manifest: dict[str, Any], expected: tuple[int | None, str], fragment: str
) -> None:
    directory = write(tmp_path, make_events(), **manifest)
    report = verify_bundle(directory)
    assert (report.broken_position, report.reason) == expected
    assert fragment in str(report.problem)


def test_missing_files_and_stray_files(tmp_path: Path) -> None:
    directory = write(tmp_path, make_events())
    (directory / "blobs" / "zz").mkdir()
    (directory / "blobs" / "zz" / "note.txt").write_text("hi")
    assert verdict(directory) == (None, "inserted")
    (directory / "blobs" / "zz" / "note.txt").unlink()
    (directory / "blobs" / "zz").rmdir()
    beta = directory / "blobs" / sha(BLOBS["beta"])[:2] / sha(BLOBS["beta"])
    beta.unlink()
    os.symlink(tmp_path / "elsewhere", beta)
    (tmp_path / "elsewhere").write_bytes(BLOBS["beta"])
    assert verdict(directory) == (3, "blob_corrupted")
    beta.unlink()
    beta.write_bytes(BLOBS["beta"])
    (directory / "events.jsonl").unlink()
    assert verdict(directory) == (1, "deleted")
    (directory / "manifest.json").unlink()
    report = verify_bundle(directory)
    assert (report.reason, report.broken_position) == ("malformed", None)
    assert "no manifest.json" in str(report.problem)
    with pytest.raises(FileNotFoundError):
        verify_bundle(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{", "not valid JSON"),
        (b"\xff", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"position": NaN}', "not valid JSON"),
        (b'{"a":1,"a":2}', "duplicate key"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'{"position":1}', "wrong fields"),
    ],
)
def test_parse_event_refuses_malformed_lines(raw: bytes, fragment: str) -> None:
    with pytest.raises(BundleFormatError) as err:
        parse_event(raw, "line 1")
    assert fragment in str(err.value)


def test_parse_event_checks_every_field_type() -> None:
    good = json.loads(line(make_events(1)[0]))
    for key, bad in [
        ("position", True),
        ("version", 0),
        ("schema_version", "1"),
        ("payload", {}),
        ("recorded_at", "2025-01-02 03:04:05.000000"),
        ("actor", 5),
        ("prev_hash", "00"),
        ("hash", None),
        ("event_id", None),
    ]:
        with pytest.raises(BundleFormatError, match=key):
            parse_event(canonical({**good, key: bad}).encode(), "line 1")


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = make_events()
    directory = write(tmp_path / "b", events)
    assert main([str(directory)]) == 0
    assert f"OK: 5 events and 2 blobs verified; head 5:{events[-1].hash}" in capsys.readouterr().out
    assert main([str(directory), "--head", f"3:{events[2].hash}"]) == 0
    capsys.readouterr()
    assert main([str(directory), "--head", f"3:{events[1].hash}", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["broken_position"], report["reason"]) == (False, 3, "modified")
    assert main([str(directory), "--head", "3:xyz"]) == 2
    assert "not a head digest" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "no bundle directory" in capsys.readouterr().err
    (directory / "events.jsonl").write_bytes(b"")
    assert main([str(directory)]) == 1
    assert capsys.readouterr().out.startswith("BROKEN at position 1 (deleted)")


def test_load_bundle_raises_invalid_bundle_error(tmp_path: Path) -> None:
    directory = write(tmp_path, make_events())
    with pytest.raises(InvalidBundleError, match="no bundle at"):
        load_bundle(tmp_path / "missing")
    with pytest.raises(InvalidBundleError, match=r"fails verification at position 3 \(modified\)"):
        load_bundle(directory, trusted_head=f"3:{'ab' * 32}")
    bundle = load_bundle(directory)
    with pytest.raises(InvalidBundleError, match="not a blob hash"):
        bundle.blob("../../etc/passwd")
    with pytest.raises(InvalidBundleError, match="no readable blob"):
        bundle.blob("ab" * 32)
    beta = directory / "blobs" / sha(BLOBS["beta"])[:2] / sha(BLOBS["beta"])
    beta.write_bytes(b"changed after loading")
    with pytest.raises(InvalidBundleError, match="does not match its SHA-256"):
        bundle.blob(sha(BLOBS["beta"]))
    (directory / "events.jsonl").write_bytes(b"{}")
    with pytest.raises(InvalidBundleError, match="changed while it was read"):
        list(bundle.events())
