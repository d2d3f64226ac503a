"""chain_leaves.leaves_of cuts chain format 2's leaves from a payload value: the same mapping
chain_v2.leaves finds in the payload's canonical text, so a commitment sealed from either is the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_ledger import chain_v2, codec
from artifact_ledger.chain_leaves import leaves_of, leaves_of_text
from artifact_ledger.chain_v2 import OpeningError
from artifact_ledger.codec import NotJSONError

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)  # no lone surrogates: not text
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12
)
PAYLOADS = st.fixed_dictionaries(
    {"data": VALUES | st.dictionaries(TEXT, VALUES, max_size=6), "tags": st.lists(TEXT, max_size=3)},
    optional={"parent_id": st.none() | TEXT, "content": VALUES},
)


def _from_text(payload: dict[str, Any]) -> dict[str, str]:
    return chain_v2.leaves(codec.dumps_trusted(payload).decode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(PAYLOADS)
def test_leaves_of_value_equal_leaves_of_its_canonical_text(payload: dict[str, Any]) -> None:
    assert leaves_of(payload) == _from_text(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"data": {}, "parent_id": None, "tags": []},
        {"data": None, "tags": ["x"]},
        {"data": [1, {"b": 2, "a": 1}], "tags": []},
        {"data": {'q"\\\n\x01é😀/\u2028\x7f': 1e16, "b": -0.0, "a": 1.5e-7}, "tags": []},
        {"content": {"codec": "bytes", "hash": "ab", "size": 2, "type": None}, "data": {"z": {"y": [True]}}},
        {"from_parent_id": None, "to_parent_id": "01KZ0000000000000000000001"},
    ],
)
def test_shapes_the_ledger_writes(payload: dict[str, Any]) -> None:
    assert leaves_of(payload) == _from_text(payload)
    salt = bytes(range(32))
    text = codec.dumps_trusted(payload).decode("utf-8")
    assert chain_v2.seal_leaves(leaves_of(payload), lambda _: salt) == chain_v2.seal(text, lambda _: salt)


def test_a_value_that_is_not_json_raises_as_the_text_would() -> None:
    with pytest.raises(NotJSONError) as from_value:
        leaves_of({"data": {1: "a"}, "tags": []})
    with pytest.raises(NotJSONError) as from_text:
        codec.dumps_trusted({"data": {1: "a"}, "tags": []})
    assert str(from_value.value) == str(from_text.value)
    with pytest.raises(NotJSONError):
        leaves_of({"data": {"a": {1, 2}}, "tags": []})


@settings(max_examples=300, deadline=None)
@given(PAYLOADS)
def test_leaves_of_canonical_text_take_the_fast_path_and_agree(payload: dict[str, Any]) -> None:
    text = codec.dumps_trusted(payload).decode("utf-8")
    assert leaves_of_text(text) == chain_v2.leaves(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"data":{"a":1},"tags":[]}',
        '{"data":{"a":1.0e16},"tags":[]}',  # not the ledger's spelling of the number: cut from the text as stored
        '{"data":{"a":100000000000000000000000},"tags":[]}',  # beyond 64 bits: orjson would read a float
        '{"tags":[],"data":{"b":1,"a":2}}',  # members out of order
        '{"data":{"a":"\\u00e9"},"tags":[]}',  # an escape the ledger does not write
        '{"data":{"a":"\\ud800"}}',  # a lone surrogate's escape: orjson refuses it, the text is kept as it stands
    ],
)
def test_text_the_ledger_would_not_write_is_read_as_stored(text: str) -> None:
    assert leaves_of_text(text) == chain_v2.leaves(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"data":{"a":1,"a":2},"tags":[]}',  # a repeated member: orjson keeps the last, the text names it twice
        '{"data": {"a":1}}',  # whitespace: not compact
        '["data"]',
    ],
)
def test_text_chain_v2_refuses_is_refused(text: str) -> None:
    with pytest.raises(OpeningError) as from_fast:
        leaves_of_text(text)
    with pytest.raises(OpeningError) as from_text:
        chain_v2.leaves(text)
    assert str(from_fast.value) == str(from_text.value)


def test_canonical_text_is_not_parsed_member_by_member(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(_: str) -> dict[str, str]:
        raise AssertionError("chain_v2.leaves called for canonical text")

    text = codec.dumps_trusted({"data": {"b": [1, {"c": None}], "a": "é"}, "parent_id": None, "tags": []}).decode()
    expected = chain_v2.leaves(text)
    monkeypatch.setattr(chain_v2, "leaves", slow)
    assert leaves_of_text(text) == expected
