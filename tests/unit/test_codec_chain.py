"""Canonical JSON, the hash chain, ids, clocks and JSON diffs: pure code, no database."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from artifact_ledger import codec
from artifact_ledger.chain import envelope_bytes, event_hash, format_time
from artifact_ledger.clock import FixedClock, ensure_utc
from artifact_ledger.errors import ArtifactNotFoundError
from artifact_ledger.ids import MonotonicULIDFactory, parse_id, ulid_from_text, ulid_str, ulid_text
from artifact_ledger.jsondiff import describe, json_patch

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(deadline=None)  # Hypothesis's 0.2 s per example: a loaded machine's pause is not a failure here
@given(json_values)
def test_canonical_json_matches_the_standard_library(value: object) -> None:
    # A stdlib-only verifier must be able to recompute every hash.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if isinstance(value, float) or "e" in expected.decode().lower():
        # float spelling differs between implementations (1e+16 vs 1e16); values stay equal
        assert json.loads(codec.dumps(value)) == value
    else:
        assert codec.dumps(value) == expected


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"metadata": {"started_at": datetime(2026, 1, 1, tzinfo=UTC)}}, "['metadata']['started_at']"),
        ({"a": [1, {2, 3}]}, "['a'][1]"),
        ({"a": object()}, "['a']"),
        ({1: "x"}, "[1] (key)"),
        ({"score": float("nan")}, "['score']"),
        ({"score": float("inf")}, "['score']"),
    ],
)
def test_non_json_values_are_refused_with_their_path(value: object, path: str) -> None:
    with pytest.raises(codec.NotJSONError) as info:
        codec.dumps(value)
    assert info.value.path == path


def test_a_key_that_is_no_string_is_named_as_a_key() -> None:
    with pytest.raises(codec.NotJSONError, match=r"\['a'\]\[1\] \(key\) is a key of type int \(1\)") as info:
        codec.dumps({"a": {1: 2}})
    assert info.value.value_type == "int"
    assert "64 bits" not in str(info.value)


def test_event_hash_is_sha256_of_prev_envelope_newline_payload() -> None:
    at = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    envelope = envelope_bytes(
        position=1,
        event_id="01J0000000000000000000000A",
        artifact_id="01J0000000000000000000000B",
        version=1,
        type="artifact.created",
        schema_version=1,
        recorded_at=at,
        actor="alice",
        reason=None,
        correlation_id=None,
        causation_id=None,
    )
    assert json.loads(envelope)["recorded_at"] == "2026-11-26T12:00:00.123456Z"
    assert list(json.loads(envelope)) == sorted(json.loads(envelope))
    payload = b'{"data":{}}'
    expected = hashlib.sha256(codec.GENESIS_HASH + envelope + b"\n" + payload).digest()
    assert event_hash(codec.GENESIS_HASH, envelope, payload) == expected
    assert event_hash(b"\x01" * 32, envelope, payload) != expected


def test_format_time_converts_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 1, 1, 14, 0, tzinfo=plus_two)) == "2026-01-01T12:00:00.000000Z"


def test_monotonic_ids_sort_in_creation_order() -> None:
    factory = MonotonicULIDFactory()
    ids = [factory() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


@settings(deadline=None)  # as above
@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_fast_ulid_text_conversions_agree_with_python_ulid(value: int) -> None:
    reference = ULID.from_int(value)
    assert ulid_text(value) == str(reference)
    assert ulid_str(reference) == str(reference)
    parsed = ulid_from_text(str(reference))
    assert parsed == reference
    assert parsed.bytes == reference.bytes


def test_parse_id_errors_name_the_value() -> None:
    with pytest.raises(ArtifactNotFoundError, match="'nope'"):
        parse_id("nope")
    with pytest.raises(ArtifactNotFoundError):
        parse_id(42)
    factory = MonotonicULIDFactory()
    ulid = factory()
    assert parse_id(str(ulid)) == ulid
    assert parse_id(ulid.bytes) == ulid


def test_fixed_clock_steps_and_refuses_naive_start() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC), step=timedelta(seconds=1))
    assert clock() == datetime(2026, 1, 1, tzinfo=UTC)
    assert clock() == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    clock.advance(timedelta(days=1))
    assert clock() == datetime(2026, 1, 2, 0, 0, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2026, 1, 1))


def test_json_patch_operations_and_description() -> None:
    old = {"metrics": {"f1": 0.7, "old": 1}, "name": "a", "rows": [1, 2]}
    new = {"metrics": {"f1": 0.75, "new": 2}, "name": "a", "rows": [1, 2, 3]}
    ops = json_patch(old, new)
    assert ops == [
        {"op": "remove", "path": "/metrics/old", "old": 1},
        {"op": "replace", "path": "/metrics/f1", "old": 0.7, "value": 0.75},
        {"op": "add", "path": "/metrics/new", "value": 2},
        {"op": "replace", "path": "/rows", "old": [1, 2], "value": [1, 2, 3]},
    ]
    assert describe(ops)[1] == "~ /metrics/f1: 0.7 -> 0.75"
    assert json_patch({"a/b": 1}, {"a/b": 2})[0]["path"] == "/a~1b"
    assert json_patch(1, True) == [{"op": "replace", "path": "", "old": 1, "value": True}]
    assert json_patch(old, old) == []
