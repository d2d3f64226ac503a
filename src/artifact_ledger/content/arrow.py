"""The ``arrow`` codec: a pandas DataFrame as an Arrow IPC stream (the ``[arrow]`` extra, pyarrow).

Arrow keeps what the JSON ``pandas`` format cannot: categoricals, nullable integer and boolean
columns with their NA, infinities, a MultiIndex, non-string column labels, and it reads large
frames without parsing text. The frame is written with pandas' metadata (dtypes, index and
column labels), so decoding gives back the same frame; every encode is checked by turning its
Arrow table back into a frame, as a read does, and comparing (values exactly, dtypes, index, column
labels, and the kind of each missing value in object columns), and a frame Arrow would change is
not encoded (None), so the caller
falls back to signed pickle. ``attrs`` are not carried by Arrow: a frame with attrs is pickled.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from .codecs import ARROW_MEDIA_TYPE, import_optional
from .frame_compare import column_same

__all__ = ["ARROW_MEDIA_TYPE", "arrow_bytes", "available", "decode_arrow", "same_frame"]

_EXTRA: Final = "pip install 'artifact-ledger[arrow]' (or pip install pyarrow)"


def _pyarrow(purpose: str) -> Any:
    try:
        pa = import_optional("pyarrow", purpose)
        import_optional("pyarrow.ipc", purpose)
    except ImportError as exc:
        from artifact_ledger.errors import MissingExtraError

        raise MissingExtraError(f"{purpose} needs pyarrow: {_EXTRA}") from exc
    return pa


def available() -> bool:
    """Whether pyarrow can be imported here (frames JSON cannot carry then go to Arrow before pickle)."""
    try:
        _pyarrow("checking for pyarrow")
    except ImportError:
        return False
    return True


def _write_options(pa: Any) -> Any:
    """Zstandard-compressed record batches (LZ4 where pyarrow lacks zstd; both are part of the IPC
    format, and every pyarrow reader decodes either). For the benchmark's 1,000,000-row frame:
    47 MB uncompressed, 25 MB with LZ4, 14 MB with zstd, written as fast as LZ4 and read in about
    the same time once hashing and fetching the extra bytes are counted (docs/benchmarks.md, S2).
    Content saved with LZ4 by earlier versions reads as before."""
    for codec, name in (("zstd", "zstd"), ("lz4_frame", "lz4")):
        if pa.Codec.is_available(codec):
            return pa.ipc.IpcWriteOptions(compression=name)
    return pa.ipc.IpcWriteOptions()


def arrow_bytes(frame: Any) -> bytes | None:
    """The frame as an Arrow IPC stream, or None when Arrow would not give back the same frame."""
    if frame.attrs or not frame.flags.allows_duplicate_labels:
        return None
    pa = _pyarrow("storing a pandas DataFrame as Arrow")
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
        # The IPC stream carries the table exactly (Arrow's format: schema, pandas metadata and
        # buffers as they are), so what a read gives back is this table's to_pandas(): check that
        # without decompressing the stream again. A large table is turned back into a frame on a
        # thread while this one compresses and writes the stream (both release the GIL for most of it).
        if table.nbytes < _BESIDE_BYTES:
            data = _stream(pa, table)
            decoded = table.to_pandas()
        else:
            with ThreadPoolExecutor(1, thread_name_prefix="artifact-ledger-arrow") as pool:
                decoding = pool.submit(table.to_pandas)
                data = _stream(pa, table)
                decoded = decoding.result()
    except (pa.ArrowException, TypeError, ValueError, KeyError, AttributeError, ArithmeticError):
        return None  # (ArithmeticError: Arrow's OverflowError for a Python int beyond 64 bits in an object column)
    return data if same_frame(frame, decoded) else None


_BESIDE_BYTES = 4 << 20
"""Tables from this size on are decoded for the round-trip check beside the stream's writing."""


def _stream(pa: Any, table: Any) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_write_options(pa)) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def decode_arrow(data: bytes) -> Any:
    pa = _pyarrow("decoding an Arrow DataFrame")
    import_optional("pandas", "decoding an Arrow DataFrame")
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        table = reader.read_all()
    return table.to_pandas()


def same_frame(original: Any, decoded: Any) -> bool:
    """Whether ``decoded`` is ``original`` exactly: values, dtypes, index, labels and missing values."""
    pd = import_optional("pandas", "comparing pandas DataFrames")
    if type(decoded) is not type(original) or original.shape != decoded.shape:
        return False
    if original.flags.allows_duplicate_labels != decoded.flags.allows_duplicate_labels:
        return False
    slow: list[int] = []
    for position in range(original.shape[1]):
        same = column_same(original.iloc[:, position], decoded.iloc[:, position])
        if same is False:
            return False
        if same is None:
            slow.append(position)
    try:
        pd.testing.assert_index_equal(decoded.columns, original.columns, exact=True, check_names=True, check_exact=True)
        # the columns column_same could not answer for, and the index (compared with no column too)
        pd.testing.assert_frame_equal(
            decoded.iloc[:, slow],
            original.iloc[:, slow],
            check_exact=True,
            check_dtype=True,
            check_index_type=True,
            check_column_type=True,
            check_names=True,
            check_freq=True,
            check_flags=True,
            check_categorical=True,
        )
    except (AssertionError, TypeError, ValueError):
        return False
    # assert_frame_equal takes None and NaN for one another in object columns: Arrow does not.
    for position in slow:
        column = original.iloc[:, position]
        if column.dtype == object:
            again = decoded.iloc[:, position]
            if [type(v) for v in column.tolist()] != [type(v) for v in again.tolist()]:
                return False
    for level in range(original.index.nlevels):
        values = original.index.get_level_values(level)
        if values.dtype == object:
            again = decoded.index.get_level_values(level)
            if [type(v) for v in values.tolist()] != [type(v) for v in again.tolist()]:
                return False
    return True
