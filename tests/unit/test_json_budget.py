"""The JSON value budget: a bound of a text's values read from its bytes, before any parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifact_ledger.http.strictjson import TooManyValuesError, check_value_count, loads_unique, value_count


def values(value: Any) -> int:
    if isinstance(value, list):
        return 1 + sum(values(item) for item in value)
    if isinstance(value, dict):
        return 1 + sum(values(item) for item in value.values())
    return 1


def empty_containers(value: Any) -> int:
    if isinstance(value, list):
        return (not value) + sum(empty_containers(item) for item in value)
    if isinstance(value, dict):
        return (not value) + sum(empty_containers(item) for item in value.values())
    return 0


# Strings made of the characters that matter to the count: quotes, backslashes, brackets, commas.
tricky_text = st.text(alphabet=st.sampled_from(list('ab",:[]{}\\ \n\x00é😀')), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(tricky_text, inner, max_size=5),
    max_leaves=40,
)


# no per-example deadline (Hypothesis's default, 0.2 s): a loaded machine's pause is not a failure here
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.booleans(), st.sampled_from([None, 0, 2]))
def test_the_count_is_the_values_plus_one_per_empty_container(value: Any, ascii_only: bool, indent: int | None) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    assert value_count(text) == values(value) + empty_containers(value)


def test_a_string_is_one_value_whatever_it_holds() -> None:
    text = json.dumps({"csv": "a,b,[c],{d}," * 10_000, "quoted": 'say "x,y" \\', "n": [1, 2]}).encode()
    assert value_count(text) == 6
    check_value_count(text, 6)  # nothing raised: the raw count is over, the exact one is not


def test_over_the_budget_is_refused_before_parsing() -> None:
    text = b"[" + b",".join([b"1"] * 11) + b"]"  # 12 values
    check_value_count(text, 12)
    with pytest.raises(TooManyValuesError, match="more than 11 values"):
        check_value_count(text, 11)
    with pytest.raises(TooManyValuesError):
        loads_unique(text, max_values=11)
    assert loads_unique(text, max_values=12) == [1] * 11


def test_text_that_is_not_json_still_gets_a_number() -> None:
    for text in (b'"unterminated, [', b"]]],,,", b'\\"\\\\"', b""):
        assert value_count(text) >= 1
