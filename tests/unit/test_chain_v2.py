"""Chain format 2 (``chain_v2.py``): salted leaf commitments, erasure that keeps the hash, and the log's account of it.

The vectors are also re-derived here from the formulas in ``docs/chain.md`` with hashlib
and hmac alone, so the module cannot drift from the page without a test failing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger import chain, chain_v2
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.chain_v2 import Erasure, Opening, OpeningError

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "chain_v2.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
PAYLOAD = (
    '{"content":{"codec":"bytes","hash":"ab","size":2,"type":null},'
    '"data":{"consent":"no","email":"ada@example.org","name":"Ada"},"parent_id":null,"tags":["x"]}'
)
EMAIL = '["data","email"]'
CONSENT = '["data","consent"]'


def _by_doc(case: dict[str, Any]) -> tuple[bytes, bytes]:
    """Commitment and hash from the page's formulas, with nothing of chain_v2 but the vector's leaves."""
    salt = bytes.fromhex(case["event_salt"])
    parts = [b"artifact-ledger payload v2\x00"]
    for path in sorted(case["leaves"]):
        leaf_salt = hmac.new(salt, path.encode(), hashlib.sha256).digest()
        value = case["leaves"][path]["value"].encode()
        digest = hashlib.sha256(b"artifact-ledger leaf v2\x00" + leaf_salt + path.encode() + b"\x00" + value).digest()
        parts.append(path.encode() + b"\x00" + digest)
    commitment = hashlib.sha256(b"".join(parts)).digest()
    prev = bytes.fromhex(case["prev_hash"])
    return commitment, hashlib.sha256(prev + case["envelope"].encode() + b"\n\x00" + commitment).digest()


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vectors(case: dict[str, Any]) -> None:
    salt = bytes.fromhex(case["event_salt"])
    leaves = chain_v2.leaves(case["payload"])
    assert leaves == {path: leaf["value"] for path, leaf in case["leaves"].items()}
    opening, commitment = chain_v2.seal(case["payload"], lambda _: salt)
    assert commitment.hex() == case["commitment"]
    assert (commitment, chain_v2.event_hash(bytes(32), case["envelope"].encode(), commitment)) == (
        bytes.fromhex(case["commitment"]),
        bytes.fromhex(case["hash"]),
    )
    assert _by_doc(case) == (commitment, bytes.fromhex(case["hash"]))
    stored, after = chain_v2.redact(case["payload"], opening, case["erase"])
    if case["erase"]:
        assert stored == case["stored_payload"]
        assert {k: v.hex() for k, v in after.salts.items()} == case["kept_salts"]
        assert {k: v.hex() for k, v in after.erased.items()} == case["erased"]
    # the stored record as the vector gives it opens to the same commitment
    recorded = (
        Opening(
            None,
            {k: bytes.fromhex(v) for k, v in case["kept_salts"].items()},
            {k: bytes.fromhex(v) for k, v in case["erased"].items()},
        )
        if case["erase"]
        else Opening(salt)
    )
    assert chain_v2.commitment(case["stored_payload"], recorded).hex() == case["commitment"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_stdlib_verifier_agrees(case: dict[str, Any]) -> None:
    """verify_bundle.py restates the rules with the standard library: the same leaves, commitment and hash."""
    salt = bytes.fromhex(case["event_salt"])
    assert standalone.payload_leaves(case["payload"]) == chain_v2.leaves(case["payload"])
    sealed = standalone.payload_commitment(case["payload"], salt, {}, {})
    kept = {k: bytes.fromhex(v) for k, v in case["kept_salts"].items()}
    erased = {k: bytes.fromhex(v) for k, v in case["erased"].items()}
    stored = standalone.payload_commitment(case["stored_payload"], None if case["erase"] else salt, kept, erased)
    assert sealed.hex() == stored.hex() == case["commitment"]
    digest = standalone.chained_hash_v2(bytes.fromhex(case["prev_hash"]), case["envelope"].encode(), sealed)
    assert digest.hex() == case["hash"]
    if case["erase"] and case["stored_payload"] != "{}":
        tampered = case["stored_payload"].replace("first", "First").replace('"blob"', '"Blob"').replace(":1}", ":2}")
        assert tampered != case["stored_payload"]
        assert standalone.payload_commitment(tampered, None, kept, erased).hex() != case["commitment"]


@pytest.mark.parametrize(
    "payload",
    ['{"a":1,}', '{"a":1 }', "[1]", '{"a"}', '{"a":1,"a":2}', '{"data":{"k":1,"k":2}}', "", '{"a":}'],
)
def test_stdlib_verifier_refuses_malformed_payload(payload: str) -> None:
    with pytest.raises(standalone.BundleFormatError):
        standalone.payload_leaves(payload)


def test_stdlib_verifier_refuses_openings_that_do_not_fit() -> None:
    opening, _ = chain_v2.seal(PAYLOAD)
    stored, after = chain_v2.redact(PAYLOAD, opening, [EMAIL])
    with pytest.raises(standalone.BundleFormatError, match="both present and erased"):
        standalone.payload_commitment(PAYLOAD, None, after.salts, after.erased)
    with pytest.raises(standalone.BundleFormatError, match="no salt"):
        standalone.payload_commitment(stored, None, {}, after.erased)
    with pytest.raises(standalone.BundleFormatError, match="event salt and erased"):
        standalone.payload_commitment(stored, opening.salt, {}, after.erased)


def test_format_2_hash_differs_from_format_1_over_the_same_event() -> None:
    case = CASES[0]
    envelope = case["envelope"].encode()
    v1 = chain.event_hash(bytes(32), envelope, case["payload"].encode())
    assert v1.hex() != case["hash"]


def test_redaction_keeps_commitment_and_other_fields_verifiable() -> None:
    opening, commitment = chain_v2.seal(PAYLOAD)
    stored, after = chain_v2.redact(PAYLOAD, opening, [EMAIL])
    assert "ada@example.org" not in stored
    assert '"name":"Ada"' in stored
    assert chain_v2.commitment(stored, after) == commitment
    assert after.salt is None
    assert EMAIL not in after.salts
    assert set(after.erased) == {EMAIL}
    # a field that stayed still verifies: changing it breaks the commitment
    assert chain_v2.commitment(stored.replace('"Ada"', '"Bob"'), after) != commitment


def test_redact_twice_and_everything() -> None:
    opening, commitment = chain_v2.seal(PAYLOAD)
    stored, after = chain_v2.redact(PAYLOAD, opening, [EMAIL])
    again, twice = chain_v2.redact(stored, after, [EMAIL, '["content"]'])
    assert chain_v2.commitment(again, twice) == commitment
    assert '"content"' not in again
    empty, gone = chain_v2.redact(again, twice, ['["data"]', '["parent_id"]', '["tags"]'])
    assert empty == "{}"
    assert gone.salts == {}
    assert chain_v2.commitment(empty, gone) == commitment


def test_unknown_leaf_refused_naming_it_and_nothing_changes() -> None:
    opening, _ = chain_v2.seal(PAYLOAD)
    with pytest.raises(OpeningError, match=r'\["data","phone"\]'):
        chain_v2.redact(PAYLOAD, opening, [EMAIL, '["data","phone"]'])
    assert opening.salt is not None
    assert not opening.erased


def test_erased_value_cannot_be_guessed_from_what_remains() -> None:
    """Before erasure the salt lets anyone confirm a guess; afterwards nothing left does."""
    candidates = ['"yes"', '"no"', "true", "false", "null", '"ada@example.org"']
    opening, _ = chain_v2.seal(PAYLOAD)
    assert opening.salt is not None
    sealed_digest = chain_v2.digests(PAYLOAD, opening)[CONSENT]
    salt = chain_v2.leaf_salt(opening.salt, CONSENT)
    assert [c for c in candidates if chain_v2.leaf_digest(salt, CONSENT, c) == sealed_digest] == ['"no"']

    _stored, after = chain_v2.redact(PAYLOAD, opening, [CONSENT])
    target = after.erased[CONSENT]
    # every salt the redacted record still holds, and every key one could derive one from
    keys = [*after.salts.values(), *(chain_v2.leaf_salt(s, CONSENT) for s in after.salts.values())]
    hits = [(k, c) for k in keys for c in candidates if chain_v2.leaf_digest(k, CONSENT, c) == target]
    assert hits == []
    assert opening.salt not in keys
    assert salt not in keys


def test_tampering_is_seen() -> None:
    opening, commitment = chain_v2.seal(PAYLOAD)
    # a leaf dropped by hand, the event salt kept: no digest for it, so another commitment
    forged = PAYLOAD.replace('"email":"ada@example.org",', "")
    assert chain_v2.commitment(forged, opening) != commitment
    # a value altered in a redacted record
    stored, after = chain_v2.redact(PAYLOAD, opening, [EMAIL])
    assert chain_v2.commitment(stored.replace('"no"', '"yes"'), after) != commitment
    # an erased digest swapped for another value's digest
    other = chain_v2.leaf_digest(b"\x00" * 32, EMAIL, '"x@y.z"')
    assert chain_v2.commitment(stored, Opening(None, after.salts, {EMAIL: other})) != commitment
    # a leaf both present and erased, or no salt at all, cannot be opened
    with pytest.raises(OpeningError, match="both present and erased"):
        chain_v2.commitment(PAYLOAD, Opening(None, after.salts, after.erased))
    with pytest.raises(OpeningError, match="no salt"):
        chain_v2.commitment(PAYLOAD, Opening(None))


@pytest.mark.parametrize(
    "payload",
    ['{"a":1,}', '{"a":1 }', "[1]", '{"a"}', '{"a":1,"a":2}', '{"data":{"k":1,"k":2}}', "", '{"a":}'],
)
def test_malformed_payload_refused(payload: str) -> None:
    with pytest.raises(OpeningError):
        chain_v2.leaves(payload)


def test_the_log_must_account_for_every_erasure() -> None:
    opening, _ = chain_v2.seal(PAYLOAD)
    _, after = chain_v2.redact(PAYLOAD, opening, [EMAIL])
    covering = Erasure(position=9, target=4, paths=frozenset({EMAIL}))
    assert chain_v2.unjustified({4: after}, [covering]) == []
    # erased by hand: no redaction event names it
    assert chain_v2.unjustified({4: after}, []) == [(4, f"leaves {EMAIL} erased without a redaction event")]
    # a redaction event names more than was erased: the stale leaf is reported
    wider = Erasure(position=9, target=4, paths=frozenset({EMAIL, CONSENT}))
    assert chain_v2.unjustified({4: after}, [wider]) == [
        (4, f"redaction events at 9 name leaves still present: {CONSENT}")
    ]
    # a redaction event whose erasure did not happen at all
    assert chain_v2.unjustified({4: opening}, [covering]) == [
        (4, f"redaction events at 9 name leaves still present: {EMAIL}")
    ]
    # the event salt dropped with nothing erased and nothing recorded
    assert chain_v2.unjustified({4: Opening(None, after.salts)}, []) == [
        (4, "the event salt is gone without a redaction event")
    ]
    # a redaction event naming an event that has no payload record
    assert chain_v2.unjustified({}, [covering]) == [(4, "redaction events at 9 name an event with no payload")]
