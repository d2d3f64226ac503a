"""One proof document, read by the library (``InclusionProof`` / ``ConsistencyProof``) and by the stdlib
verifier (``verify_bundle.py --proof``): both accept or both refuse, by the same strict rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from artifact_ledger import merkle
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.proofs import ConsistencyProof, InclusionProof

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "merkle.json").read_text(encoding="utf-8"))
_INC = next(c for c in VECTORS["inclusion"] if c["hashes"])
INCLUSION: dict[str, Any] = {
    "kind": "inclusion",
    "ledger_id": "01TEST",
    **_INC,
    "leaf_hash": merkle.leaf_hash(bytes.fromhex(_INC["event_hash"])).hex(),
}
CONSISTENCY: dict[str, Any] = {
    "kind": "consistency",
    "ledger_id": None,
    **next(c for c in VECTORS["consistency"] if c["hashes"] and c["old_size"]),
}


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != key}


def _spaced(value: str) -> str:
    return " ".join(value[i : i + 2] for i in range(0, len(value), 2))


REFUSED = {
    "inclusion position '5'": {**INCLUSION, "position": str(INCLUSION["position"])},
    "inclusion position 5.0": {**INCLUSION, "position": float(INCLUSION["position"])},
    "inclusion position true": {**INCLUSION, "position": True},
    "inclusion size -1": {**INCLUSION, "size": -1},
    "inclusion uppercase root": {**INCLUSION, "root": INCLUSION["root"].upper()},
    "inclusion spaced event_hash": {**INCLUSION, "event_hash": _spaced(INCLUSION["event_hash"])},
    "inclusion root with a newline": {**INCLUSION, "root": INCLUSION["root"] + "\n"},
    "inclusion uppercase path hash": {**INCLUSION, "hashes": [h.upper() for h in INCLUSION["hashes"]]},
    "inclusion no leaf_hash": _without(INCLUSION, "leaf_hash"),
    "inclusion no kind": _without(INCLUSION, "kind"),
    "inclusion no ledger_id": _without(INCLUSION, "ledger_id"),
    "inclusion ledger_id 7": {**INCLUSION, "ledger_id": 7},
    "consistency old_size true": {**CONSISTENCY, "old_size": True},
    "consistency new_size '20'": {**CONSISTENCY, "new_size": str(CONSISTENCY["new_size"])},
    "consistency no kind": _without(CONSISTENCY, "kind"),
    "consistency uppercase old_root": {**CONSISTENCY, "old_root": CONSISTENCY["old_root"].upper()},
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_malformed_proof_is_refused_by_both(name: str) -> None:
    raw = json.dumps(REFUSED[name])
    model = InclusionProof if name.startswith("inclusion") else ConsistencyProof
    with pytest.raises(ValidationError):
        model.model_validate_json(raw)
    with pytest.raises(standalone.BundleFormatError):
        standalone.parse_proof(raw)


@pytest.mark.parametrize("document", [INCLUSION, CONSISTENCY], ids=["inclusion", "consistency"])
def test_a_well_formed_proof_is_read_alike_and_verifies_in_both(document: dict[str, Any]) -> None:
    raw = json.dumps({**document, "comment": "other members are ignored"})
    model = InclusionProof if document["kind"] == "inclusion" else ConsistencyProof
    assert model.model_validate_json(raw).verify()
    assert standalone.check_proof(standalone.parse_proof(raw)).ok
    swapped = json.dumps({**document, "hashes": [*document["hashes"][::-1], document["hashes"][0]]})
    assert not model.model_validate_json(swapped).verify()
    assert not standalone.check_proof(standalone.parse_proof(swapped)).ok
