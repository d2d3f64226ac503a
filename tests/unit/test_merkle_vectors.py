"""The Merkle tree's golden vectors (``tests/vectors/merkle.json``) against the library (``merkle.py``) and the
standard-library verifier (``verify_bundle.py``), and a property test: every proof of random trees verifies in
both, and flipping any bit of a proof makes both refuse it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_ledger import merkle
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.proofs import ConsistencyProof, InclusionProof

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "merkle.json").read_text(encoding="utf-8"))
EVENTS = [bytes.fromhex(h) for h in VECTORS["event_hashes"]]


def _b(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_leaf_and_node_hashing_are_rfc_9162() -> None:
    event = EVENTS[0]
    assert merkle.leaf_hash(event) == hashlib.sha256(b"\x00" + event).digest() == standalone.merkle_leaf(event)
    a, b = EVENTS[1], EVENTS[2]
    assert merkle.node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest() == standalone.merkle_node(a, b)
    assert [merkle.leaf_hash(e).hex() for e in EVENTS] == VECTORS["leaf_hashes"]


def test_roots_of_every_size() -> None:
    expected = [r["root"] for r in VECTORS["roots"]]
    assert expected[0] == hashlib.sha256(b"").hexdigest()
    assert expected[1] == VECTORS["leaf_hashes"][0]
    assert standalone.merkle_roots(VECTORS["event_hashes"]) == expected
    frontier = merkle.Frontier()
    for size, root in enumerate(expected):
        assert frontier.root().hex() == root, size
        assert merkle.root_of([merkle.leaf_hash(e) for e in EVENTS[:size]]).hex() == root
        if size < len(EVENTS):
            frontier.append(EVENTS[size])


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['position']}of{c['size']}")
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    index, size = case["position"] - 1, case["size"]
    leaves = [merkle.leaf_hash(e) for e in EVENTS[:size]]
    computed = [merkle.root_of(leaves[a:b]).hex() for a, b in merkle.inclusion_ranges(index, size)]
    assert computed == case["hashes"]
    leaf, path, root = (
        merkle.leaf_hash(bytes.fromhex(case["event_hash"])),
        _b(case["hashes"]),
        bytes.fromhex(case["root"]),
    )
    assert merkle.verify_inclusion(index, size, leaf, path, root)
    assert standalone.verify_inclusion(index, size, leaf, path, root)
    document = {"kind": "inclusion", "ledger_id": None, "leaf_hash": leaf.hex(), **case}
    assert standalone.check_proof(standalone.parse_proof(json.dumps(document))).ok
    assert InclusionProof(**document).verify()
    # the same path for the neighbouring leaf does not verify
    if path and index ^ 1 < size:
        assert not merkle.verify_inclusion(index ^ 1, size, leaf, path, root)
        assert not standalone.verify_inclusion(index ^ 1, size, leaf, path, root)


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['old_size']}to{c['new_size']}")
def test_consistency_vectors(case: dict[str, Any]) -> None:
    old, new = case["old_size"], case["new_size"]
    leaves = [merkle.leaf_hash(e) for e in EVENTS[:new]]
    assert [merkle.root_of(leaves[a:b]).hex() for a, b in merkle.consistency_ranges(old, new)] == case["hashes"]
    args = (old, new, bytes.fromhex(case["old_root"]), bytes.fromhex(case["new_root"]), _b(case["hashes"]))
    assert merkle.verify_consistency(*args)
    assert standalone.verify_consistency(*args)
    document = {"kind": "consistency", "ledger_id": None, **case}
    assert standalone.check_proof(standalone.parse_proof(json.dumps(document))).ok
    assert ConsistencyProof(**document).verify()
    if 0 < old < new:  # another old root is not consistent
        other = bytes.fromhex(VECTORS["roots"][old - 1]["root"])
        assert not merkle.verify_consistency(old, new, other, *args[3:])
        assert not standalone.verify_consistency(old, new, other, *args[3:])


def _flips(data: bytes) -> list[bytes]:
    return [data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :] for i in range(len(data)) for bit in range(8)]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=140))
def test_random_trees_every_proof_verifies_and_no_flipped_bit_does(data: st.DataObject, n: int) -> None:
    events = [hashlib.sha256(b"random %d" % i).digest() for i in range(n)]
    leaves = [merkle.leaf_hash(e) for e in events]
    frontier, nodes = merkle.Frontier(), []  # type: ignore[var-annotated]
    frontier.extend(events, nodes)
    assert frontier.root() == merkle.root_of(leaves)
    stored = {(level, idx): digest for level, idx, digest in nodes}
    for (level, idx), digest in stored.items():
        assert digest == merkle.root_of(leaves[idx << level : (idx + 1) << level])
    m = data.draw(st.integers(min_value=0, max_value=n), label="old size")
    index = data.draw(st.integers(min_value=0, max_value=n - 1), label="leaf")
    by_leaf = dict(enumerate(leaves))
    root, old_root = merkle.root_of(leaves), merkle.root_of(leaves[:m])
    # inclusion: from stored nodes and leaves as the database path computes it, equal to the definition
    ranges = merkle.inclusion_ranges(index, n)
    path = [merkle.range_hash(a, b, stored, by_leaf) for a, b in ranges]
    assert path == [merkle.root_of(leaves[a:b]) for a, b in ranges]
    assert merkle.verify_inclusion(index, n, leaves[index], path, root)
    assert standalone.verify_inclusion(index, n, leaves[index], path, root)
    # consistency
    cpath = [merkle.root_of(leaves[a:b]) for a, b in merkle.consistency_ranges(m, n)]
    assert merkle.verify_consistency(m, n, old_root, root, cpath)
    assert standalone.verify_consistency(m, n, old_root, root, cpath)
    # every single flipped bit of a proof hash, of the leaf or of a root is refused by both
    for i, h in enumerate(path):
        for bad in _flips(h):
            broken = [*path[:i], bad, *path[i + 1 :]]
            assert not merkle.verify_inclusion(index, n, leaves[index], broken, root)
            assert not standalone.verify_inclusion(index, n, leaves[index], broken, root)
    for bad in _flips(leaves[index])[::7]:
        assert not standalone.verify_inclusion(index, n, bad, path, root)
    for i, h in enumerate(cpath):
        for bad in _flips(h):
            broken = [*cpath[:i], bad, *cpath[i + 1 :]]
            assert not merkle.verify_consistency(m, n, old_root, root, broken)
            assert not standalone.verify_consistency(m, n, old_root, root, broken)
    for bad in _flips(root)[::5]:
        assert not merkle.verify_inclusion(index, n, leaves[index], path, bad)
        if 0 < m < n:  # from the empty tree every root is consistent: there is nothing to contradict
            assert not standalone.verify_consistency(m, n, old_root, bad, cpath)
    # a proof with a hash dropped, or one extra, is refused
    if path:
        assert not standalone.verify_inclusion(index, n, leaves[index], path[:-1], root)
    assert not standalone.verify_inclusion(index, n, leaves[index], [*path, root], root)
    if cpath:
        assert not standalone.verify_consistency(m, n, old_root, root, cpath[:-1])


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ("[]", "not a JSON object"),
        ('{"kind": "audit", "hashes": []}', "neither"),
        ('{"kind": "inclusion", "hashes": "ab"}', "hashes are not a list"),
        ('{"kind": "inclusion", "hashes": ["zz"], "position": 1, "size": 1}', "64-digit"),
        ('{"kind": "inclusion", "hashes": [], "position": -1, "size": 1}', "position is not a whole number"),
        ('{"kind": "consistency", "hashes": [], "old_size": 1, "new_size": 2, "old_root": "00"}', "old_root"),
        ("{", "not JSON"),
    ],
)
def test_malformed_proofs_are_refused_by_name(document: str, words: str) -> None:
    with pytest.raises(standalone.BundleFormatError, match=words):
        standalone.parse_proof(document)


def test_a_position_past_the_size_never_verifies() -> None:
    leaf = merkle.leaf_hash(EVENTS[0])
    assert not merkle.verify_inclusion(3, 3, leaf, [], leaf)
    assert not standalone.verify_inclusion(3, 3, leaf, [], leaf)
    assert not merkle.verify_consistency(4, 3, leaf, leaf, [])
    assert not standalone.verify_consistency(4, 3, leaf, leaf, [])
    with pytest.raises(ValueError, match="leaf 3 is not in a tree of 3 leaves"):
        merkle.inclusion_ranges(3, 3)
