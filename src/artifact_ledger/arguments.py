"""Keyword arguments of the public API, checked before anything reaches the database.

A value of the wrong type or out of range raises :class:`InvalidArgumentError` naming the
argument and the value, the same on every backend: nothing is left for a driver to refuse
(PostgreSQL) or to take silently (SQLite), and no bare ``TypeError``/``OverflowError`` escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .clock import ensure_utc
from .codec import lone_surrogate
from .errors import InvalidArgumentError

__all__ = [
    "MAX_COUNT",
    "MAX_FILTER_VALUES",
    "MAX_POSITION",
    "MAX_VERSION",
    "flag",
    "id_sequence",
    "instant",
    "integer",
    "text_filter",
    "whole_number",
]

MAX_VERSION = 2**31 - 1
"""Versions are stored as 32-bit integers."""
MAX_POSITION = 2**63 - 1
"""Log positions are stored as 64-bit integers."""
MAX_COUNT = 2**31 - 1
"""The largest page number, page size or limit a read accepts."""
MAX_FILTER_VALUES = 10_000
"""The most distinct values one :func:`text_filter` takes (each is a bound parameter: PostgreSQL
takes at most 32,767 in a statement, SQLite 32,766; more was a database error, not bad input)."""

_WHOLE = re.compile(r"-?[0-9]{1,40}")  # re's [0-9] is ASCII only, unlike str.isdigit() and int()


def whole_number(text: str, low: int, high: int) -> int | None:
    """The number ``text`` (a parameter, a header, a command-line option) writes as plain ASCII digits,
    ``-`` in front only if ``low`` is negative, when it is from ``low`` to ``high``; None otherwise.

    ``int()`` also reads ``1_0`` (10), `` 1``, ``+1`` and other scripts' digits (``١``).
    """
    if _WHOLE.fullmatch(text) is None or (text.startswith("-") and low >= 0):
        return None
    number = int(text)
    return number if low <= number <= high else None


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.80}"


def integer(value: Any, name: str, *, minimum: int, maximum: int) -> int:
    """``value`` if it is an ``int`` (not a bool) from ``minimum`` to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, not {_shown(value)}")
    if not minimum <= value <= maximum:
        raise InvalidArgumentError(f"{name} must be an int from {minimum} to {maximum} (got {value})")
    return value


def flag(value: Any, name: str) -> bool:
    """``value`` if it is a bool (a string such as ``"no"`` would read as true)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, not {_shown(value)}")
    return value


def instant(value: Any, name: str) -> datetime | None:
    """``value`` in UTC if it is a timezone-aware datetime, None for None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{name} must be a datetime (timezone-aware), not {_shown(value)}")
    try:
        return ensure_utc(value, what=name)
    except ValueError as exc:  # naive
        raise InvalidArgumentError(str(exc)) from None
    except OverflowError:  # datetime.min at UTC+1, datetime.max at UTC-1: no UTC instant
        raise InvalidArgumentError(f"{name} {value.isoformat()} has no UTC equivalent (out of range)") from None


def text_filter(value: Any, name: str) -> list[str] | None:
    """A string or a sequence of strings to filter by, as a list; None for None.

    Each must be text the ledger could have stored: no NUL character (PostgreSQL refuses one
    in a query; SQLite would just match nothing) and no lone surrogate. Repeats count once; more
    than :data:`MAX_FILTER_VALUES` distinct values are refused.
    """
    if value is None:
        return None
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, bytes | bytearray | dict) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{name} must be a string or a sequence of strings, not {_shown(value)}")
    else:
        items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgumentError(f"{name} must be a string or a sequence of strings; {_shown(item)} is not")
        if "\x00" in item:
            raise InvalidArgumentError(f"{name} {item!r:.80} holds a NUL character, which no stored text holds")
        at = lone_surrogate(item)
        if at is not None:
            raise InvalidArgumentError(f"{name} {item!r:.80} holds a lone surrogate at index {at} (not valid text)")
    distinct = list(dict.fromkeys(items))
    if len(distinct) > MAX_FILTER_VALUES:
        raise InvalidArgumentError(
            f"{name} holds {len(distinct):,} distinct values; one filter takes at most {MAX_FILTER_VALUES:,}"
        )
    return distinct


def id_sequence(value: Any, name: str) -> list[Any]:
    """A sequence of ids as a list (a single id given on its own is refused: a string is not a list of ids)."""
    if isinstance(value, str | bytes | bytearray | dict) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{name} must be a sequence of ids, not {_shown(value)}")
    return list(value)
