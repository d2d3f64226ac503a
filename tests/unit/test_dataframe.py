"""The JSON-shaped DataFrame: construction, validation, dict forms and pandas conversion."""

from __future__ import annotations

import sys

import pytest

from artifact_ledger.dataframe import DataFrame
from artifact_ledger.errors import MissingExtraError


def test_constructor_and_model_dump_are_the_chapkit_shape() -> None:
    frame = DataFrame(columns=["a", "b"], data=[[1, "x"], [2, "y"]])
    assert frame.model_dump() == {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}
    assert frame.shape == (2, 2)
    assert not frame.empty


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match=r"row 1 has 1 values but there are 2 columns"):
        DataFrame(columns=["a", "b"], data=[[1, 2], [3]])


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="index"):
        DataFrame(columns=["a"], data=[[1]], index=[0])  # type: ignore[call-arg]  # the point of the test


@pytest.mark.parametrize(
    ("frame", "empty"),
    [
        (DataFrame(columns=[], data=[]), True),
        (DataFrame(columns=["a"], data=[]), True),
        (DataFrame(columns=[], data=[[], []]), True),
        (DataFrame(columns=["a"], data=[[None]]), False),
    ],
)
def test_empty(frame: DataFrame, empty: bool) -> None:
    assert frame.empty is empty


def test_from_records_keeps_first_seen_column_order_and_fills_gaps_with_none() -> None:
    frame = DataFrame.from_records([{"b": 1, "a": 2}, {"a": 3, "c": 4}])
    assert frame.columns == ["b", "a", "c"]
    assert frame.data == [[1, 2, None], [None, 3, 4]]
    assert DataFrame.from_records([]).shape == (0, 0)


def test_from_dict_and_to_dict_orients() -> None:
    frame = DataFrame.from_dict({"x": [1, 2], "y": ["a", "b"]})
    assert frame.model_dump() == {"columns": ["x", "y"], "data": [[1, "a"], [2, "b"]]}
    assert frame.to_dict() == {"x": {0: 1, 1: 2}, "y": {0: "a", 1: "b"}}
    assert frame.to_dict("list") == {"x": [1, 2], "y": ["a", "b"]}
    assert frame.to_dict(orient="records") == [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]
    assert DataFrame.from_records(frame.to_dict("records")) == frame


def test_from_dict_refuses_columns_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        DataFrame.from_dict({"x": [1, 2], "y": [1]})


def test_to_dict_refuses_an_unknown_orient() -> None:
    frame = DataFrame(columns=["a"], data=[[1]])
    with pytest.raises(ValueError, match="orient"):
        frame.to_dict("split")  # type: ignore[call-overload]  # the point of the test


def test_pandas_round_trip() -> None:
    pd = pytest.importorskip("pandas")
    frame = DataFrame(columns=["n", "f", "s", "b"], data=[[1, 1.5, "a", True], [2, 2.5, "b", False]])
    pandas_frame = frame.to_pandas()
    assert list(pandas_frame.columns) == ["n", "f", "s", "b"]
    assert pandas_frame["n"].dtype == "int64"
    assert isinstance(pandas_frame, pd.DataFrame)
    assert DataFrame.from_pandas(pandas_frame) == frame


def test_from_pandas_gives_plain_values() -> None:
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    source = pd.DataFrame(
        {
            "f": [1.0, np.nan],
            "t": pd.to_datetime(["2024-01-02T03:04:05", None]),
            "i": pd.array([7, None], dtype="Int64"),
            0: ["x", "y"],
        }
    )
    frame = DataFrame.from_pandas(source)
    assert frame.columns == ["f", "t", "i", "0"]
    assert frame.data == [[1.0, "2024-01-02T03:04:05", 7, "x"], [None, None, None, "y"]]
    assert type(frame.data[0][2]) is int


def test_from_pandas_refuses_other_objects() -> None:
    pytest.importorskip("pandas")
    with pytest.raises(TypeError, match="pandas DataFrame"):
        DataFrame.from_pandas({"a": [1]})


def test_without_pandas_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` raise ImportError
    frame = DataFrame(columns=["a"], data=[[1]])
    with pytest.raises(MissingExtraError, match=r"artifact-ledger\[examples\]"):
        frame.to_pandas()
    with pytest.raises(MissingExtraError, match="pandas"):
        DataFrame.from_pandas(object())
