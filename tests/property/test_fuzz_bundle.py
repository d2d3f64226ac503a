"""Fuzz: the bundle reader and the stdlib verifier, fed random files, raise only their documented errors.

``parse_manifest``/``parse_event`` raise ``BundleFormatError``; ``verify_bundle`` never raises
for what a bundle holds (it reports); ``load_bundle`` raises ``InvalidBundleError``. Random
mutations of a valid bundle must be reported, never accepted (unless they change nothing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifact_ledger import InvalidBundleError
from artifact_ledger.bundle import load_bundle
from artifact_ledger.verify_bundle import (
    EVENT_FIELDS,
    GENESIS_HEX,
    BundleFormatError,
    Event,
    event_hash,
    parse_event,
    parse_manifest,
    verify_bundle,
)

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
MANIFEST_KEYS = [
    "format",
    "format_version",
    "hash_algorithm",
    "first_position",
    "prev_hash",
    "head_position",
    "head_hash",
    "event_count",
    "events_sha256",
    "blob_count",
    "blob_bytes",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2**64)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["0" * 64, "ab" * 32, "artifact-ledger-bundle", "sha256", "2025-01-02T03:04:05.000000Z"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@FUZZ
@given(raw=st.binary(max_size=300) | st.dictionaries(st.sampled_from(MANIFEST_KEYS), values).map(json_bytes))
def test_parse_manifest(raw: bytes) -> None:
    with contextlib.suppress(BundleFormatError):
        parse_manifest(raw)


@FUZZ
@given(raw=st.binary(max_size=300) | st.dictionaries(st.sampled_from(list(EVENT_FIELDS)), values).map(json_bytes))
def test_parse_event(raw: bytes) -> None:
    with contextlib.suppress(BundleFormatError):
        parse_event(raw, "line 1")


files = st.fixed_dictionaries(
    {},
    optional={
        "manifest.json": st.binary(max_size=200)
        | st.dictionaries(st.sampled_from(MANIFEST_KEYS), values).map(json_bytes),
        "events.jsonl": st.binary(max_size=300),
        "blobs/ab/" + "ab" * 32: st.binary(max_size=20),
        "blobs/zz": st.binary(max_size=5),
    },
)


def write_files(directory: Path, contents: dict[str, bytes]) -> None:
    for name, data in contents.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@FUZZ
@given(contents=files)
def test_verify_and_load_random_directories(contents: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_files(Path(tmp), contents)
        report = verify_bundle(tmp)
        assert report.ok is False or "manifest.json" in contents
        with contextlib.suppress(InvalidBundleError):
            load_bundle(tmp)


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build(directory: Path) -> None:
    """Three chained events a writer could produce (a create, then two updates, the first with a blob);
    no informational manifest fields (all of it is checked)."""
    blob = b"blob bytes"
    digest = hashlib.sha256(blob).hexdigest()
    prev, lines = GENESIS_HEX, []
    for position in (1, 2, 3):
        content = (
            {"codec": "bytes", "hash": digest, "media_type": "application/octet-stream", "size": len(blob)}
            if position == 2
            else None
        )
        payload: dict[str, Any] = {"content": content, "data": {"p": position}, "tags": []}
        if position == 1:
            payload["parent_id"] = None
        event = Event(
            position,
            f"01J{position:023d}",
            "01K00000000000000000000000",
            position,
            "artifact.created" if position == 1 else "artifact.updated",
            1,
            canonical(payload).decode(),
            "2025-01-02T03:04:05.000000Z",
            "zoë",
            None,
            None,
            None,
            prev,
            "",
        )
        event = replace(event, hash=event_hash(event))
        lines.append(canonical(event.__dict__) + b"\n")
        prev = event.hash
    (directory / "blobs" / digest[:2]).mkdir(parents=True)
    (directory / "blobs" / digest[:2] / digest).write_bytes(blob)
    body = b"".join(lines)
    (directory / "events.jsonl").write_bytes(body)
    manifest = {
        "format": "artifact-ledger-bundle",
        "format_version": 1,
        "hash_algorithm": "sha256",
        "first_position": 1,
        "prev_hash": GENESIS_HEX,
        "head_position": 3,
        "head_hash": prev,
        "event_count": 3,
        "events_sha256": hashlib.sha256(body).hexdigest(),
        "blob_count": 1,
        "blob_bytes": len(blob),
    }
    (directory / "manifest.json").write_bytes(canonical(manifest) + b"\n")


VALID = Path(tempfile.mkdtemp(prefix="fuzz-bundle-"))
build(VALID)
assert verify_bundle(VALID).ok


@FUZZ
@given(
    target=st.sampled_from(["manifest.json", "events.jsonl", "blobs"]),
    offset=st.integers(0, 10_000),
    value=st.integers(0, 255),
)
def test_mutated_bundles_are_reported_or_unchanged(target: str, offset: int, value: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "b"
        shutil.copytree(VALID, copy)
        path = (
            next(p for p in sorted((copy / "blobs").rglob("*")) if p.is_file()) if target == "blobs" else copy / target
        )
        data = bytearray(path.read_bytes())
        index = offset % len(data)
        unchanged = data[index] == value
        data[index] = value
        path.write_bytes(bytes(data))
        report = verify_bundle(copy)
        trailing_space = target == "manifest.json" and index == len(data) - 1 and value in b" \t\r\n"
        assert report.ok is (unchanged or trailing_space), report
        try:
            load_bundle(copy)
        except InvalidBundleError:
            assert not report.ok
