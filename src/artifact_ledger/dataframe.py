"""A small, JSON-shaped table: column names plus rows, with pandas conversion on demand.

``DataFrame(columns=[...], data=[[...], ...])`` is the shape chapkit builds and sends over
HTTP; ``model_dump()`` gives ``{"columns": [...], "data": [...]}``. pandas is imported only
by :meth:`DataFrame.from_pandas` and :meth:`DataFrame.to_pandas`.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self, overload

from pydantic import BaseModel, ConfigDict, model_validator

from artifact_ledger.errors import MissingExtraError

__all__ = ["DataFrame"]


def _import_pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError as exc:
        raise MissingExtraError(
            "pandas is needed to convert a DataFrame to or from pandas: "
            "pip install 'artifact-ledger[examples]' (or pip install pandas)"
        ) from exc


def _plain(value: Any) -> Any:
    """A cell from pandas as a plain Python value: missing values become None, timestamps ISO 8601."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    return value


class DataFrame(BaseModel):
    """Column names and rows; every row has one value per column."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str]
    data: list[list[Any]]

    @model_validator(mode="after")
    def _rows_match_columns(self) -> Self:
        width = len(self.columns)
        for number, row in enumerate(self.data):
            if len(row) != width:
                raise ValueError(f"row {number} has {len(row)} values but there are {width} columns {self.columns!r}")
        return self

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> Self:
        """Rows given as dicts; columns are the keys in first-seen order, absent keys become None."""
        columns: list[str] = []
        seen: set[str] = set()
        for record in records:
            for key in record:
                if key not in seen:
                    seen.add(key)
                    columns.append(key)
        return cls(columns=columns, data=[[record.get(c) for c in columns] for record in records])

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[Any]]) -> Self:
        """Columns given as ``{name: values}``; every column must have the same length."""
        columns = list(data)
        lengths = {name: len(values) for name, values in data.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns have different lengths: {lengths!r}")
        rows = [list(row) for row in zip(*(data[c] for c in columns), strict=True)]
        return cls(columns=columns, data=rows)

    @classmethod
    def from_pandas(cls, frame: Any) -> Self:
        """Copy a pandas DataFrame (index dropped): missing values become None, timestamps ISO strings."""
        pd = _import_pandas()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"from_pandas expects a pandas DataFrame, not {type(frame).__name__}")
        split = frame.to_dict(orient="split", index=False)
        rows = [[_plain(v) for v in row] for row in split["data"]]
        return cls(columns=[str(c) for c in split["columns"]], data=rows)

    # -- conversion ---------------------------------------------------------------------------

    def to_pandas(self) -> Any:
        """A new pandas DataFrame with these columns and rows (pandas infers the dtypes)."""
        pd = _import_pandas()
        return pd.DataFrame(self.data, columns=self.columns)

    @overload
    def to_dict(self, orient: Literal["dict"] = "dict") -> dict[str, dict[int, Any]]: ...
    @overload
    def to_dict(self, orient: Literal["list"]) -> dict[str, list[Any]]: ...
    @overload
    def to_dict(self, orient: Literal["records"]) -> list[dict[str, Any]]: ...

    def to_dict(
        self, orient: Literal["dict", "list", "records"] = "dict"
    ) -> dict[str, dict[int, Any]] | dict[str, list[Any]] | list[dict[str, Any]]:
        """Like pandas: ``dict`` -> {column: {row: value}}, ``list`` -> {column: [values]},
        ``records`` -> [{column: value}]."""
        if orient == "records":
            return [dict(zip(self.columns, row, strict=True)) for row in self.data]
        if orient == "list":
            return {c: [row[i] for row in self.data] for i, c in enumerate(self.columns)}
        if orient == "dict":
            return {c: {n: row[i] for n, row in enumerate(self.data)} for i, c in enumerate(self.columns)}
        raise ValueError(f"orient must be 'dict', 'list' or 'records', not {orient!r}")

    # -- shape --------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``."""
        return len(self.data), len(self.columns)

    @property
    def empty(self) -> bool:
        """True when there are no rows or no columns (as in pandas)."""
        return not self.data or not self.columns
