"""The Arrow codec's fast column comparison: exact where it answers, None where it leaves it to pandas."""

from __future__ import annotations

import enum

import numpy as np
import pandas as pd
import pytest

from artifact_ledger.content.arrow import arrow_bytes, decode_arrow, same_frame
from artifact_ledger.content.frame_compare import column_same


class Colour(enum.StrEnum):
    RED = "red"


def test_equal_columns_of_every_fast_kind_compare_same() -> None:
    frame = pd.DataFrame(
        {
            "i": np.arange(5, dtype=np.int64),
            "f": [1.0, np.nan, np.inf, -np.inf, 0.5],
            "b": [True, False, True, True, False],
            "n": pd.array([1, None, 3, None, 5], dtype="Int64"),
            "c": pd.Categorical(["x", "y", "x", "z", "y"]),
            "t": pd.date_range("2026-01-01", periods=5, freq="h", tz="Europe/Oslo"),
            "s": pd.Series(["a", "b", None, "d", "e"], dtype="string[pyarrow]"),
        }
    )
    decoded = decode_arrow(arrow_bytes(frame))
    for name in frame.columns:
        assert column_same(frame[name], decoded[name]) is True, name
    assert same_frame(frame, decoded)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (pd.Series([1, 2, 3]), pd.Series([1, 2, 4])),
        (pd.Series([1.0, np.nan]), pd.Series([1.0, 2.0])),
        (pd.Series(pd.array([1, None], dtype="Int64")), pd.Series(pd.array([1, 0], dtype="Int64"))),
        (pd.Series(pd.Categorical(["a", "b"])), pd.Series(pd.Categorical(["a", "b"], categories=["b", "a"]))),
        (pd.Series(pd.Categorical(["a", "b"])), pd.Series(pd.Categorical(["a", "a"], categories=["a", "b"]))),
        (
            pd.Series(pd.date_range("2026-01-01", periods=2, tz="UTC")),
            pd.Series(pd.date_range("2026-01-01", periods=2, tz="Europe/Oslo")),
        ),
        (pd.Series(["a", None], dtype="string[pyarrow]"), pd.Series(["a", "b"], dtype="string[pyarrow]")),
        (pd.Series(["a", "b"], dtype=object), pd.Series(["a", "c"], dtype=object)),
    ],
)
def test_a_difference_in_values_order_dtype_or_missing_values_is_not_same(left: pd.Series, right: pd.Series) -> None:
    assert column_same(left, right) is False


def test_object_columns_of_exact_str_compare_by_value() -> None:
    column = pd.Series(["a", "b"], dtype=object)
    assert column_same(column, column.copy()) is True


def test_object_columns_not_all_exact_str_are_left_to_the_slow_check() -> None:
    assert column_same(pd.Series(["a", None], dtype=object), pd.Series(["a", None], dtype=object)) is None
    assert column_same(pd.Series([Colour.RED], dtype=object), pd.Series(["red"], dtype=object)) is None


def test_a_str_subclass_arrow_would_turn_into_str_is_not_encoded_as_arrow() -> None:
    frame = pd.DataFrame({"colour": pd.Series([Colour.RED, "blue"], dtype=object)})
    assert arrow_bytes(frame) is None


def test_arrow_content_is_compressed_and_reads_back_exactly() -> None:
    import pyarrow as pa

    frame = pd.DataFrame({"x": np.zeros(100_000, dtype=np.int64), "c": pd.Categorical(["a", "b"] * 50_000)})
    data = arrow_bytes(frame)
    assert data is not None
    table = pa.Table.from_pandas(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert len(data) < len(sink.getvalue().to_pybytes()) // 10
    pd.testing.assert_frame_equal(decode_arrow(data), frame, check_exact=True)


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_arrow_streams_written_with_any_ipc_compression_read_back(compression: str | None) -> None:
    # Content saved by earlier versions (LZ4 record batches, or none) reads as it did.
    import pyarrow as pa

    frame = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "s": ["a", "b", "c"]})
    table = pa.Table.from_pandas(frame)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
        writer.write_table(table)
    pd.testing.assert_frame_equal(decode_arrow(sink.getvalue().to_pybytes()), frame, check_exact=True)
