"""The two DataFrame formats: ``dataframe`` (our :class:`DataFrame`) and ``pandas``.

- ``dataframe``: an :class:`artifact_ledger.dataframe.DataFrame`, as canonical JSON
  ``{"columns", "data"}`` (chapkit's shape).
- ``pandas``: a ``pandas.DataFrame`` of JSON-able columns, as canonical JSON of its columns,
  index, dtypes and rows (``format`` 1). Datetimes and timedeltas are stored as int64 ticks,
  missing values as null; a frame JSON cannot carry exactly (attrs, a MultiIndex, NaN in an
  object column, other dtypes) encodes to None and is pickled instead.

pandas is imported only when a pandas frame is encoded or decoded.
"""

from __future__ import annotations

from typing import Any, Final

from artifact_ledger import codec as _canon
from artifact_ledger.dataframe import DataFrame

from .codecs import SCALARS, import_optional, json_bytes

__all__ = [
    "dataframe_bytes",
    "decode_dataframe",
    "decode_pandas",
    "is_dataframe_dict",
    "is_pandas_frame",
    "pandas_bytes",
]

_PANDAS_FORMAT: Final = 1
_INT64_MIN: Final = -(2**63)  # numpy's NaT as an int64
_NULLABLE_NAMES: Final = frozenset({"str", "string"})


def is_pandas_frame(value: object) -> bool:
    """Whether ``value`` is a ``pandas.DataFrame`` (told by its type's name: pandas is not imported)."""
    cls = type(value)
    return cls.__module__.startswith("pandas") and cls.__name__ == "DataFrame"


def is_dataframe_dict(value: object) -> bool:
    """Whether ``value`` is a dict of exactly list-valued ``columns`` and ``data`` (a DataFrame dumped)."""
    return (
        type(value) is dict
        and set(value) == {"columns", "data"}
        and type(value["columns"]) is list
        and type(value["data"]) is list
    )


# -- dataframe ----------------------------------------------------------------------------------


def dataframe_bytes(frame: DataFrame) -> bytes | None:
    """The ``dataframe`` codec's JSON, or None when a cell is not plain JSON."""
    return json_bytes(frame.model_dump())


def decode_dataframe(data: bytes) -> object:
    document = _canon.loads(data)
    if type(document) is not dict or set(document) != {"columns", "data"}:
        raise ValueError("expected an object with exactly 'columns' and 'data'")
    return DataFrame.model_validate(document, strict=True)


# -- pandas -------------------------------------------------------------------------------------


def pandas_bytes(frame: Any) -> bytes | None:
    """The pandas codec's JSON, or None when the frame holds something JSON cannot carry exactly."""
    pd = import_optional("pandas", "storing a pandas DataFrame")
    if frame.attrs or not frame.flags.allows_duplicate_labels:
        return None
    index = _encode_index(pd, frame.index)
    columns = _encode_index(pd, frame.columns)
    if index is None or columns is None:
        return None
    dtypes: list[str] = []
    values_by_column: list[list[Any]] = []
    for position in range(frame.shape[1]):
        encoded = _encode_series(pd, frame.iloc[:, position])
        if encoded is None:
            return None
        dtypes.append(encoded[0])
        values_by_column.append(encoded[1])
    if values_by_column:
        rows = [list(row) for row in zip(*values_by_column, strict=True)]
    else:  # no columns: keep one empty row per index entry so the row count stays explicit
        rows = [[] for _ in range(frame.shape[0])]
    document = {
        "format": _PANDAS_FORMAT,
        "columns": columns,
        "index": index,
        "dtypes": dtypes,
        "data": rows,
    }
    try:
        return _canon.dumps(document)
    except _canon.NotJSONError:  # NaN in an object column, infinities, huge integers
        return None


def _allowed_dtype(dtype: Any) -> bool:
    """object, str/string, bool, integers, floats, datetimes and timedeltas (tz-aware included)."""
    name = str(dtype)
    kind = getattr(dtype, "kind", "")
    return name == "object" or name in _NULLABLE_NAMES or (len(kind) == 1 and kind in "biufmM")


def _encode_series(pd: Any, series: Any) -> tuple[str, list[Any]] | None:
    dtype = series.dtype
    name = str(dtype)
    if not _allowed_dtype(dtype):
        return None
    try:
        if pd.api.types.pandas_dtype(name) != dtype:
            return None
    except (TypeError, ValueError):
        return None
    if dtype.kind in "mM":
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert(None)
        ints = series.to_numpy().view("i8").tolist()
        return name, [None if v == _INT64_MIN else v for v in ints]
    values = series.tolist()
    if name != "object":  # missing values (NaN, NA) become null; object columns keep None vs NaN apart
        missing = series.isna().to_numpy()
        if missing.any():
            values = [None if gone else v for v, gone in zip(values, missing.tolist(), strict=True)]
    if not all(type(v) in SCALARS for v in values):
        return None
    return name, values


def _encode_index(pd: Any, index: Any) -> dict[str, Any] | None:
    name = index.name
    if type(name) not in SCALARS or isinstance(index, pd.MultiIndex):
        return None
    if isinstance(index, pd.RangeIndex):
        return {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step, "name": name}
    encoded = _encode_series(pd, pd.Series(index, copy=False))
    if encoded is None:
        return None
    freq = getattr(index, "freqstr", None)
    return {"kind": "values", "dtype": encoded[0], "values": encoded[1], "name": name, "freq": freq}


def _decode_series(pd: Any, np: Any, dtype_name: str, values: list[Any]) -> Any:
    dtype = pd.api.types.pandas_dtype(dtype_name)
    if not _allowed_dtype(dtype):
        raise ValueError(f"dtype {dtype_name!r} is not one the pandas codec writes")
    if dtype.kind in "mM":
        ints = np.array([_INT64_MIN if v is None else v for v in values], dtype="int64")
        tz = getattr(dtype, "tz", None)
        unit = dtype.unit if tz is not None else np.datetime_data(dtype)[0]
        letter = "M" if dtype.kind == "M" else "m"
        series = pd.Series(ints.view(f"{letter}8[{unit}]"))
        if tz is not None:
            series = series.dt.tz_localize("UTC").dt.tz_convert(tz)
        return series
    return pd.Series(values, dtype=dtype)


def _decode_index(pd: Any, np: Any, spec: dict[str, Any]) -> Any:
    if spec["kind"] == "range":
        return pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec["name"])
    if spec["kind"] != "values":
        raise ValueError(f"unknown index kind {spec['kind']!r}")
    series = _decode_series(pd, np, spec["dtype"], spec["values"])
    if spec.get("freq") is not None:
        return (
            pd.DatetimeIndex(series, freq=spec["freq"], name=spec["name"])
            if series.dtype.kind == "M"
            else pd.TimedeltaIndex(series, freq=spec["freq"], name=spec["name"])
        )
    return pd.Index(series, dtype=series.dtype, name=spec["name"])


def decode_pandas(data: bytes) -> Any:
    pd = import_optional("pandas", "decoding a pandas DataFrame")
    np = import_optional("numpy", "decoding a pandas DataFrame")
    document = _canon.loads(data)
    if document.get("format") != _PANDAS_FORMAT:
        raise ValueError(f"unknown pandas codec format {document.get('format')!r}")
    dtypes: list[str] = document["dtypes"]
    rows: list[list[Any]] = document["data"]
    index = _decode_index(pd, np, document["index"])
    columns = _decode_index(pd, np, document["columns"])
    if any(len(row) != len(dtypes) for row in rows) or len(columns) != len(dtypes) or len(index) != len(rows):
        raise ValueError("rows, dtypes, columns and index disagree in size")
    by_column = [list(values) for values in zip(*rows, strict=True)] if rows else [[] for _ in dtypes]
    series = [_decode_series(pd, np, name, values) for name, values in zip(dtypes, by_column, strict=True)]
    frame = pd.DataFrame(dict(enumerate(series))) if series else pd.DataFrame(index=range(len(rows)))
    frame.index = index
    frame.columns = columns
    return frame
