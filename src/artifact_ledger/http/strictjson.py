"""JSON from a client, read strictly: an object that names a member twice is refused.

RFC 8259 leaves such an object's meaning open (``json.loads`` and orjson keep the last value, other
parsers the first or an error), so a body or ``where`` that names ``data`` twice could mean one thing
to a proxy that checked it and another to the ledger. Here it is an error naming the member.
"""

from __future__ import annotations

import json
from typing import Any


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


def loads_unique(text: str | bytes) -> Any:
    """``json.loads(text)``, refusing an object that names a member twice (:class:`DuplicateMemberError`).

    Its other errors are ``json.loads``'s: ``JSONDecodeError`` for text that is not JSON,
    ``UnicodeDecodeError`` for bytes that are not UTF-8, ``RecursionError`` for nesting deeper than
    the parser goes, ``ValueError`` for an integer of more digits than Python converts.
    """
    return json.loads(text, object_pairs_hook=_unique_members)
