"""Planning a redaction (``redaction.py``): what a request erases, what it refuses, and the event that records it."""

from __future__ import annotations

from typing import Any

import pytest

from artifact_ledger import chain_v2, codec, redaction
from artifact_ledger.chain_v2 import Erasure
from artifact_ledger.errors import (
    ArtifactNotFoundError,
    ContentNotFoundError,
    InvalidArgumentError,
    VersionNotFoundError,
)
from artifact_ledger.redaction import StoredVersion

ID = "01KZ0000000000000000000001"
CONTENT = '["content"]'
EMAIL = '["data","email"]'


def payload(data: dict[str, Any], content: bool = True) -> dict[str, Any]:
    ref = {"codec": "bytes", "hash": "ab" * 32, "size": 2, "type": None} if content else None
    return {"content": ref, "data": data, "parent_id": None, "tags": []}


STREAM = [
    StoredVersion(3, 1, payload({"email": "a@b.c", "name": "Ada"}), 2),
    StoredVersion(7, 2, payload({"name": "Ada"}, content=False), 2),
    StoredVersion(9, 3, payload({"email": "x@y.z", "address": {"street": "Main"}}), 2),
]


def test_content_of_every_version_that_has_some() -> None:
    assert redaction.plan(ID, STREAM) == [Erasure(0, 3, frozenset({CONTENT})), Erasure(0, 9, frozenset({CONTENT}))]


def test_a_field_of_one_version_and_of_all() -> None:
    assert redaction.plan(ID, STREAM, version=1, fields=["email"]) == [Erasure(0, 3, frozenset({EMAIL}))]
    assert redaction.plan(ID, STREAM, fields=["email", "name"]) == [
        Erasure(0, 3, frozenset({EMAIL, '["data","name"]'})),
        Erasure(0, 7, frozenset({'["data","name"]'})),
        Erasure(0, 9, frozenset({EMAIL})),
    ]


def test_unknown_artifact_version_field_and_content_are_refused_naming_them() -> None:
    with pytest.raises(ArtifactNotFoundError, match=ID):
        redaction.plan(ID, [])
    with pytest.raises(VersionNotFoundError, match=rf"{ID} has no version 4 \(it has versions 1 to 3\)"):
        redaction.plan(ID, STREAM, version=4, fields=["email"])
    with pytest.raises(InvalidArgumentError, match=rf"{ID} has no data field 'phone' in version 1"):
        redaction.plan(ID, STREAM, version=1, fields=["email", "phone"])
    with pytest.raises(InvalidArgumentError, match="has no data field 'email' in version 2"):
        redaction.plan(ID, STREAM, version=2, fields=["email"])
    with pytest.raises(ContentNotFoundError, match=rf"{ID} has no content in version 2"):
        redaction.plan(ID, STREAM, version=2)


def test_nested_field_refused_not_widened() -> None:
    with pytest.raises(InvalidArgumentError, match="Only top-level members of data can be redacted"):
        redaction.plan(ID, STREAM, fields=["address.street"])
    assert redaction.plan(ID, STREAM, fields=["address"]) == [Erasure(0, 9, frozenset({'["data","address"]'}))]


@pytest.mark.parametrize("fields", [[], "email", [""], [3]])
def test_bad_field_lists_refused(fields: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        redaction.plan(ID, STREAM, fields=fields)


@pytest.mark.parametrize("version", [0, -1, True, "1"])
def test_bad_versions_refused(version: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="version must be a positive integer"):
        redaction.plan(ID, STREAM, version=version)


def test_format_1_events_cannot_be_redacted() -> None:
    old = [StoredVersion(2, 1, payload({"email": "a@b.c"}), 1)]
    with pytest.raises(InvalidArgumentError, match=r"position 2\) was sealed under chain format 1"):
        redaction.plan(ID, old, fields=["email"])


def test_redacting_twice_erases_only_what_is_left_then_refuses() -> None:
    once = [
        StoredVersion(3, 1, payload({"name": "Ada"}), 2, frozenset({EMAIL})),
        *STREAM[1:],
    ]
    assert redaction.plan(ID, once, fields=["email"]) == [Erasure(0, 9, frozenset({EMAIL}))]
    with pytest.raises(InvalidArgumentError, match="already redacted; nothing was written"):
        redaction.plan(ID, once, version=1, fields=["email"])
    gone = [StoredVersion(3, 1, {"data": {}, "parent_id": None, "tags": []}, 2, frozenset({CONTENT}))]
    with pytest.raises(InvalidArgumentError, match="the content of version 1 is already redacted"):
        redaction.plan(ID, gone, version=1)


def test_the_event_round_trips_and_accounts_for_a_real_erasure() -> None:
    text = codec.dumps_trusted(STREAM[0].payload).decode()
    opening, commitment = chain_v2.seal(text)
    targets = redaction.plan(ID, STREAM, version=1, fields=["email"])
    recorded = redaction.event_payload(targets, version=1, fields=["email"])
    assert recorded == {"erased": [[3, [EMAIL]]], "fields": ["email"], "version": 1}
    erasures = redaction.erasures_of(12, codec.loads(codec.dumps(recorded)))
    assert erasures == [Erasure(12, 3, frozenset({EMAIL}))]
    stored, after = chain_v2.redact(text, opening, erasures[0].paths)
    assert chain_v2.commitment(stored, after) == commitment
    assert chain_v2.unjustified({3: after}, erasures) == []
    assert chain_v2.unjustified({3: opening}, erasures) == [
        (3, f"redaction events at 12 name leaves still present: {EMAIL}")
    ]


@pytest.mark.parametrize(
    "recorded",
    [
        {},
        {"erased": "x"},
        {"erased": [[3]]},
        {"erased": [[12, [EMAIL]]]},
        {"erased": [[3, []]]},
        {"erased": [["3", [EMAIL]]]},
    ],
)
def test_malformed_redaction_events_refused(recorded: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="position 12"):
        redaction.erasures_of(12, recorded)
