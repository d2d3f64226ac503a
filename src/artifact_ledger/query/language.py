"""The filter language of ``find``/``count``: a ``where`` dict parsed and checked into a small tree.

Nothing here touches a database. Every key, operator and value is checked before any SQL is
built, so a bad filter is an :class:`InvalidQueryError` naming what is wrong and what is
accepted, and what reaches the compiler is a tree of known fields, known operators and values
of the right type:

- ``where`` is a dict; several keys in one dict mean AND; ``$and``/``$or`` take a list of dicts,
  ``$not`` one dict.
- A key is ``data.<dotted.path>`` or a column: ``tags``, ``parent_id``, ``level``, ``version``,
  ``created_at``, ``updated_at``, ``created_by``, ``updated_by``.
- A value is a literal (equality) or a dict of operators (all must hold):
  ``eq ne lt lte gt gte in nin contains prefix exists``.
- A path segment is a key of letters, digits, ``_`` and ``-`` (at most 64 characters) or an array
  index (digits); at most 16 segments. Paths become part of the SQL text (so an expression index
  can match them), which is why their grammar leaves no room for a quote or a bracket.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from ulid import ULID

from ..clock import ensure_utc
from ..codec import lone_surrogate
from ..errors import InvalidQueryError

__all__ = [
    "COLUMNS",
    "OPERATORS",
    "And",
    "Compare",
    "Field",
    "Node",
    "Not",
    "Or",
    "Order",
    "parse_order",
    "parse_path",
    "parse_where",
]

OPERATORS: Final = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "nin", "contains", "prefix", "exists")
COLUMNS: Final = ("tags", "parent_id", "level", "version", "created_at", "updated_at", "created_by", "updated_by")
ORDER_FIELDS: Final = ("id", "created_at", "updated_at")
MAX_SEGMENTS: Final = 16
MAX_SEGMENT_LENGTH: Final = 64
MAX_LIST: Final = 1000
"""The most values an ``in``/``nin`` list may hold."""
MAX_NODES: Final = 200
"""The most conditions and combinators one filter may hold."""
MAX_DEPTH: Final = 16
"""How deeply ``$and``/``$or``/``$not`` may nest."""
MAX_TEXT: Final = 1000
"""The longest string a filter may compare with."""
MAX_VALUES: Final = 10_000
"""The most values one filter may hold in all (each ``in``/``nin`` list counts its values): every
value is a bound parameter, and the drivers take at most 32,767 per statement."""
_INT64 = 2**63

_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_INDEX = re.compile(r"[0-9]{1,9}")
_DIGITS = re.compile(r"[0-9]+")

Scalar = str | int | float | bool | None
Segment = str | int
Kind = Literal["data", "tags", "id", "int", "time", "text"]

_KINDS: dict[str, Kind] = {
    "tags": "tags",
    "parent_id": "id",
    "level": "int",
    "version": "int",
    "created_at": "time",
    "updated_at": "time",
    "created_by": "text",
    "updated_by": "text",
}
_ALLOWED: dict[Kind, tuple[str, ...]] = {
    "data": OPERATORS,
    "tags": ("eq", "ne", "contains", "in", "nin"),
    "id": ("eq", "ne", "in", "nin"),
    "int": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "nin"),
    "time": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "nin"),
    "text": ("eq", "ne", "in", "nin", "prefix"),
}


@dataclass(frozen=True, slots=True)
class Field:
    """What a condition reads: ``data`` at ``path``, or a column (``name``)."""

    name: str
    """``data`` or a column name."""
    kind: Kind
    path: tuple[Segment, ...] = ()

    def __str__(self) -> str:
        return ".".join([self.name, *(str(s) for s in self.path)])


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``: ``value`` is checked for ``op`` (a tuple for ``in``/``nin``, a bool for ``exists``)."""

    field: Field
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Node


Node = Compare | And | Or | Not
EVERYTHING: Final = And(())


@dataclass(frozen=True, slots=True)
class Order:
    """``order_by``: a field (``id``, ``created_at``, ``updated_at``) or a data path, and its direction."""

    field: Field | None
    """None: by id alone."""
    descending: bool
    text: str
    """As the caller wrote it (``-updated_at``)."""


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.80}"


def parse_path(text: Any, *, what: str = "path") -> tuple[Segment, ...]:
    """The segments of ``data.<dotted.path>`` (without ``data.``): keys as str, array indexes as int."""
    if not isinstance(text, str):
        raise InvalidQueryError(f"{what} must be a string such as 'data.metadata.status', not {_shown(text)}")
    parts = text.split(".")
    if parts[0] != "data" or len(parts) < 2:
        raise InvalidQueryError(
            f"{what} {text!r:.80} must start with 'data.' and name a key, e.g. 'data.metadata.status'"
        )
    segments: list[Segment] = []
    for part in parts[1:]:
        if _INDEX.fullmatch(part):
            segments.append(int(part))
        elif _DIGITS.fullmatch(part):  # digits index an array: never read as an object's key instead
            raise InvalidQueryError(f"{what} {text!r:.80}: array index {part:.40} is too large (at most 9 digits)")
        elif _KEY.fullmatch(part):
            segments.append(part)
        else:
            raise InvalidQueryError(
                f"{what} {text!r:.80}: segment {part!r:.80} is not a key (1 to {MAX_SEGMENT_LENGTH} letters, digits, "
                "'_' or '-') or an array index (digits)"
            )
    if len(segments) > MAX_SEGMENTS:
        raise InvalidQueryError(f"{what} {text!r:.80} has {len(segments)} segments; the most is {MAX_SEGMENTS}")
    if segments[0] == "content":
        raise InvalidQueryError(
            f"{what} {text!r:.80}: data.content is stored as a blob and is not searchable; "
            "filter on metadata beside it (e.g. data.content_type or data.metadata...)"
        )
    return tuple(segments)


def _field(key: str) -> Field:
    if key.startswith("data.") or key == "data":
        return Field("data", "data", parse_path(key, what="key"))
    kind = _KINDS.get(key)
    if kind is None:
        raise InvalidQueryError(
            f"unknown field {key!r:.80}: use data.<path> or one of {', '.join(COLUMNS)} "
            "(and $and, $or, $not to combine)"
        )
    return Field(key, kind)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidQueryError(f"{where} takes a string, not {_shown(value)}")
    if len(value) > MAX_TEXT:
        raise InvalidQueryError(f"{where}: a string of {len(value)} characters; the longest is {MAX_TEXT}")
    if "\x00" in value:
        raise InvalidQueryError(f"{where}: {value!r:.80} holds a NUL character, which no stored text holds")
    if lone_surrogate(value) is not None:
        raise InvalidQueryError(f"{where}: {value!r:.80} holds a lone surrogate (not valid text)")
    return value


def _scalar(value: Any, where: str) -> Scalar:
    """A JSON scalar a data value can be compared with."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise InvalidQueryError(f"{where}: {value} is beyond 64 bits, which no stored number holds")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidQueryError(f"{where}: {value!r} is not a finite number (JSON has no NaN or infinity)")
        return value
    if isinstance(value, str):
        return _text(value, where)
    raise InvalidQueryError(
        f"{where} takes a string, number, true, false or null, not {_shown(value)}"
        + (" (call .item() on a NumPy scalar)" if type(value).__module__ == "numpy" else "")
    )


def _list(value: Any, where: str) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidQueryError(f"{where} takes a list of values, not {_shown(value)}")
    if len(value) > MAX_LIST:
        raise InvalidQueryError(f"{where}: {len(value)} values; the most is {MAX_LIST}")
    return list(value)


def _id(value: Any, where: str) -> str:
    if isinstance(value, ULID):
        return str(value)
    text = _text(value, where)
    try:
        return str(ULID.from_str(text))
    except ValueError:
        raise InvalidQueryError(
            f"{where}: {text!r:.80} is not an artifact id (26 Crockford base32 characters)"
        ) from None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQueryError(f"{where} takes an int, not {_shown(value)}")
    if not -(2**31) <= value < 2**31:
        raise InvalidQueryError(f"{where}: {value} is out of range (32-bit)")
    return value


def _time(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidQueryError(
                f"{where}: {value!r:.80} is not an ISO 8601 time (e.g. 2026-03-01T09:00:00Z)"
            ) from None
    if not isinstance(value, datetime):
        raise InvalidQueryError(f"{where} takes a timezone-aware datetime or ISO 8601 text, not {_shown(value)}")
    if value.tzinfo is None:
        raise InvalidQueryError(f"{where}: {value.isoformat()} has no time zone; give one (e.g. +00:00 or Z)")
    try:
        return ensure_utc(value, what=where)
    except (ValueError, OverflowError):
        raise InvalidQueryError(f"{where}: {value.isoformat()} has no UTC equivalent") from None


def _one(kind: Kind, op: str, value: Any, where: str) -> Any:
    """One value checked for ``op`` on a field of ``kind``."""
    if kind == "data":
        if op in ("lt", "lte", "gt", "gte"):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidQueryError(f"{where} takes a number or a string, not {_shown(value)}")
            return _scalar(value, where)
        if op == "contains":
            if value is None:
                raise InvalidQueryError(f"{where} takes a string, number, true or false, not None")
            return _scalar(value, where)
        if op == "prefix":
            return _text(value, where)
        return _scalar(value, where)
    if kind == "tags":
        return _text(value, where)
    if kind == "id":
        return None if value is None and op in ("eq", "ne") else _id(value, where)
    if kind == "int":
        return _int(value, where)
    if kind == "time":
        return _time(value, where)
    if value is None and op in ("eq", "ne"):
        return None
    return _text(value, where)


def _condition(field: Field, op: str, value: Any) -> Compare:
    where = f"{field} {op}"
    if op not in OPERATORS:
        raise InvalidQueryError(f"unknown operator {op!r:.40} on {field}: use one of {', '.join(OPERATORS)}")
    if op not in _ALLOWED[field.kind]:
        raise InvalidQueryError(f"{field} does not take {op}: it takes {', '.join(_ALLOWED[field.kind])}")
    if op == "exists":
        if not isinstance(value, bool):
            raise InvalidQueryError(f"{where} takes true or false, not {_shown(value)}")
        return Compare(field, op, value)
    if op in ("in", "nin"):
        items = tuple(_one(field.kind, "eq" if field.kind == "data" else op, v, where) for v in _list(value, where))
        return Compare(field, op, items)
    return Compare(field, op, _one(field.kind, op, value, where))


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.values = 0

    def spend(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise InvalidQueryError(f"the filter has more than {MAX_NODES} conditions")

    def hold(self, condition: Compare) -> Compare:
        self.values += len(condition.value) if condition.op in ("in", "nin") else 1
        if self.values > MAX_VALUES:
            raise InvalidQueryError(
                f"the filter holds more than {MAX_VALUES} values in all (at {condition.field} {condition.op}); "
                "split it into several queries"
            )
        return condition


def _node(where: Any, budget: _Budget, depth: int) -> Node:
    if not isinstance(where, Mapping):
        raise InvalidQueryError(
            f"a filter must be a dict such as {{'data.metadata.status': 'published'}}, not {_shown(where)}"
        )
    if depth > MAX_DEPTH:
        raise InvalidQueryError(f"the filter nests $and/$or/$not more than {MAX_DEPTH} deep")
    parts: list[Node] = []
    for key, value in where.items():
        budget.spend()
        if not isinstance(key, str):
            raise InvalidQueryError(f"filter keys must be strings, not {_shown(key)}")
        if key in ("$and", "$or"):
            items = _list(value, key)
            if not items:
                raise InvalidQueryError(f"{key} takes a non-empty list of filter dicts")
            subs = tuple(_node(item, budget, depth + 1) for item in items)
            parts.append(And(subs) if key == "$and" else Or(subs))
        elif key == "$not":
            parts.append(Not(_node(value, budget, depth + 1)))
        elif key.startswith("$"):
            raise InvalidQueryError(f"unknown combinator {key!r:.40}: use $and, $or or $not")
        else:
            field = _field(key)
            if isinstance(value, Mapping):
                if not value:
                    raise InvalidQueryError(f"{key}: an empty operator dict; use e.g. {{'eq': ...}}")
                for op, operand in value.items():
                    budget.spend()
                    if not isinstance(op, str):
                        raise InvalidQueryError(f"{key}: operator keys must be strings, not {_shown(op)}")
                    parts.append(budget.hold(_condition(field, op, operand)))
            else:
                parts.append(budget.hold(_condition(field, "contains" if field.kind == "tags" else "eq", value)))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def parse_where(where: Any) -> Node:
    """``where`` (None or a dict) as a checked tree; ``InvalidQueryError`` names the first problem."""
    if where is None:
        return EVERYTHING
    return _node(where, _Budget(), 0)


def parse_order(order_by: Any) -> Order:
    """``order_by``: ``id``, ``created_at``, ``updated_at`` or ``data.<path>``, ``-`` in front for descending."""
    if not isinstance(order_by, str):
        raise InvalidQueryError(f"order_by must be a string such as '-updated_at', not {_shown(order_by)}")
    descending = order_by.startswith("-")
    name = order_by[1:] if descending else order_by
    if name == "id":
        return Order(None, descending, order_by)
    if name in ORDER_FIELDS:
        return Order(Field(name, "time"), descending, order_by)
    if name.startswith("data."):
        return Order(Field("data", "data", parse_path(name, what="order_by")), descending, order_by)
    raise InvalidQueryError(
        f"order_by {order_by!r:.80}: use id, created_at, updated_at or data.<path>, with '-' in front for descending"
    )
