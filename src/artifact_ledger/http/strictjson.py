"""JSON from a client, read strictly: an object that names a member twice is refused, and a text of
more values than a budget is refused before it is parsed.

RFC 8259 leaves such an object's meaning open (``json.loads`` and orjson keep the last value, other
parsers the first or an error), so a body or ``where`` that names ``data`` twice could mean one thing
to a proxy that checked it and another to the ledger. Here it is an error naming the member.

A byte limit does not bound what a body costs once parsed: each JSON value becomes a Python object
of 30 to 250 bytes, and a write holds a few copies of the value, so 7 MiB of small objects took 1 GB.
:func:`value_count` bounds the values from the bytes alone, so a body over the budget is refused
before a single object is made.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

DEFAULT_MAX_JSON_VALUES: Final = 1_000_000
"""The most values (objects, arrays, strings, numbers, literals) a request body may hold."""

_KEPT: Final = b'",[{'
_DROPPED: Final = bytes(sorted(set(range(256)) - set(_KEPT)))
_STRING: Final = re.compile(rb'"[^"]*"')


class TooManyValuesError(ValueError):
    """A JSON text holds more values than ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the JSON holds more than {limit:,} values")
        self.limit = limit


def value_count(text: bytes) -> int:
    """An upper bound of the values of the JSON text ``text``, read from its bytes without parsing it.

    Every value but the outermost is an element or a member value of a container, and a container
    of ``n`` of them holds ``n - 1`` commas: so a text holds at most 1 + containers + commas values
    (exactly that many, less one for each empty container), counting the brackets and commas
    outside strings. A text that is not JSON gets some number, and the parser refuses it.

    Strings are skipped without a Python step per string, so the count takes time linear in the
    text. Escaped backslashes and quotes are dropped first: then every ``"`` left opens or closes a
    string, and a byte is inside a string exactly when an odd number of quotes stand before it.
    Then every byte but ``" , [ {`` is dropped, and every two quotes side by side (nearly all the
    strings, now empty): neither changes that number's parity for any byte left. Last the few
    strings that held brackets or commas go, and what is left is counted.
    """
    if b'"' in text:
        if b"\\" in text:
            text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
        text = text.translate(None, _DROPPED).replace(b'""', b"")
        text = _STRING.sub(b"", text)
    return text.count(b",") + text.count(b"[") + text.count(b"{") + 1


def check_value_count(text: bytes, limit: int) -> None:
    """:class:`TooManyValuesError` when ``text`` may hold more than ``limit`` values (:func:`value_count`).

    The bytes are counted as they stand first (one pass in C per character kind); only a text whose
    raw count passes ``limit`` is counted again with its strings skipped.
    """
    if text.count(b",") + text.count(b"[") + text.count(b"{") < limit:
        return
    if value_count(text) > limit:
        raise TooManyValuesError(limit)


class DuplicateMemberError(ValueError):
    """An object of the JSON names ``key`` more than once."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the member {key[:60]!r} appears twice in one object; JSON members must be unique")
        self.key = key


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateMemberError(key)
            seen.add(key)
    return value


def loads_unique(text: str | bytes, max_values: int | None = None) -> Any:
    """``json.loads(text)``, refusing an object that names a member twice (:class:`DuplicateMemberError`).

    Its other errors are ``json.loads``'s: ``JSONDecodeError`` for text that is not JSON,
    ``UnicodeDecodeError`` for bytes that are not UTF-8, ``RecursionError`` for nesting deeper than
    the parser goes, ``ValueError`` for an integer of more digits than Python converts.
    With ``max_values``, a text that may hold more values is refused first
    (:class:`TooManyValuesError`, before anything is parsed).
    """
    if max_values is not None:
        check_value_count(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"), max_values)
    return json.loads(text, object_pairs_hook=_unique_members)
