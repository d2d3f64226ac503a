"""Chain format 2 over arbitrary payloads (hypothesis): any set of leaves erased, in one step or two,
keeps the commitment; what stays is unchanged and still bound; nothing else verifies; the log's
account (chain_v2.unjustified) sees an erasure no redaction event names."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_ledger import chain_v2, codec
from artifact_ledger.chain_v2 import Erasure, Opening

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False)
VALUES = st.recursive(
    SCALARS | TEXT, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
PAYLOADS = st.fixed_dictionaries(
    {"data": st.dictionaries(TEXT, VALUES, max_size=6) | VALUES, "tags": st.lists(TEXT, max_size=2)},
    optional={"parent_id": st.none() | TEXT, "content": VALUES},
)


def _text(payload: dict[str, Any]) -> str:
    return codec.dumps_trusted(payload).decode("utf-8")


@settings(max_examples=200, deadline=None)
@given(PAYLOADS, st.data())
def test_any_erasure_keeps_the_commitment_and_the_rest(payload: dict[str, Any], data: st.DataObject) -> None:
    text = _text(payload)
    opening, commitment = chain_v2.seal(text)
    present = chain_v2.leaves(text)
    first = data.draw(st.sets(st.sampled_from(sorted(present))), label="first")
    second = data.draw(st.sets(st.sampled_from(sorted(present))), label="second")

    once, after_once = chain_v2.redact(text, opening, first | second)
    stepped, after_first = chain_v2.redact(text, opening, first)
    twice, after_twice = chain_v2.redact(stepped, after_first, second)  # already erased leaves may be named again

    for stored, after in ((once, after_once), (twice, after_twice)):
        assert chain_v2.commitment(stored, after) == commitment
        assert after.salt is None
        assert not set(after.salts) & set(after.erased)
        kept = chain_v2.leaves(stored)
        assert all(present[p] == v for p, v in kept.items())  # what stays is the text it was
        assert set(kept).isdisjoint(after.erased)
    assert (once, chain_v2.commitment(once, after_once)) == (twice, chain_v2.commitment(twice, after_twice))
    assert set(after_once.erased) == set(after_twice.erased)


@settings(max_examples=150, deadline=None)
@given(PAYLOADS, st.data())
def test_a_changed_leaf_or_a_dropped_digest_does_not_verify(payload: dict[str, Any], data: st.DataObject) -> None:
    text = _text(payload)
    opening, commitment = chain_v2.seal(text)
    present = sorted(chain_v2.leaves(text))
    erase = data.draw(st.sets(st.sampled_from(present), min_size=1), label="erase")
    stored, after = chain_v2.redact(text, opening, erase)
    # the log names every erased leaf: nothing to report; leave one out: its event is reported
    named = Erasure(position=9, target=7, paths=frozenset(after.erased))
    assert chain_v2.unjustified({7: after}, [named]) == []
    missing = data.draw(st.sampled_from(sorted(after.erased)), label="unnamed")
    partial = Erasure(position=9, target=7, paths=frozenset(after.erased) - {missing})
    assert [p for p, _ in chain_v2.unjustified({7: after}, [partial])] == [7]
    # a kept value altered, or an erased digest dropped, no longer opens to the commitment
    forged = dict(after.erased)
    del forged[missing]
    assert chain_v2.commitment(stored, Opening(None, after.salts, forged)) != commitment
    kept = chain_v2.leaves(stored)
    if kept:
        path = data.draw(st.sampled_from(sorted(kept)), label="altered")
        altered = dict(after.salts)
        altered[path] = bytes(32)  # a wrong salt for one kept leaf
        assert chain_v2.commitment(stored, Opening(None, altered, after.erased)) != commitment
