"""ULIDs: parsing with clear errors, and a monotonic factory so ids sort in creation order."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable

from ulid import ULID

from .errors import MalformedIdError

IdFactory = Callable[[], ULID]


class MonotonicULIDFactory:
    """Generates ULIDs that strictly increase, even within one millisecond.

    ``find_all`` is ordered by id, so ids must follow creation order; a plain
    ``ULID()`` draws fresh randomness each call and may sort two ids made in the
    same millisecond backwards.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next_int(self) -> int:
        with self._lock:
            millis = time.time_ns() // 1_000_000
            candidate = (millis << 80) | int.from_bytes(os.urandom(10), "big")
            if candidate <= self._last:
                candidate = self._last + 1
            self._last = candidate
            return candidate

    def __call__(self) -> ULID:
        return ULID.from_int(self.next_int())


new_id: IdFactory = MonotonicULIDFactory()

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CANONICAL = re.compile("[0-7][" + _CROCKFORD + "]{25}")


_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
"""Every 10-bit value as its two Crockford characters: 26 characters are 13 lookups."""
_SHIFTS = tuple(range(120, -1, -10))


def ulid_text(value: int) -> str:
    """The 26-character Crockford base32 text of a 128-bit ULID integer (~2x ``str(ULID)``'s speed)."""
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])


def ulid_str(ulid: ULID) -> str:
    """``str(ulid)``, faster: saves and moves turn every id they are given into text."""
    return ulid_text(int.from_bytes(ulid.bytes, "big"))


_FROM_CROCKFORD = bytes.maketrans(_CROCKFORD.encode(), b"0123456789abcdefghijklmnopqrstuv")


def ulid_from_text(text: str) -> ULID:
    """Parse a canonical (stored) ULID quickly: Crockford base32 mapped onto ``int(..., 32)``.

    ``bytes.translate`` is a C table lookup (``str.translate`` with a mapping is ~3x slower);
    listings parse two ids per row, so this is most of a node's id cost.
    """
    return ULID(int(text.encode("ascii").translate(_FROM_CROCKFORD), 32).to_bytes(16, "big"))


def id_text(factory: IdFactory) -> str:
    """A new id as text, skipping the ULID object when the factory can hand out integers."""
    if isinstance(factory, MonotonicULIDFactory):
        return ulid_text(factory.next_int())
    return str(factory())


def id_str(value: object, *, what: str = "artifact id") -> str:
    """``str(parse_id(value))`` without the round trip through a ULID for text already canonical
    (26 upper-case Crockford base32 characters, the first at most ``7``), as ids read per request are."""
    if type(value) is str and _CANONICAL.fullmatch(value):
        return value
    return str(parse_id(value, what=what))


def parse_id(value: object, *, what: str = "artifact id") -> ULID:
    """Accept a ULID, its 26-character string, or its 16 bytes; anything else is :class:`MalformedIdError`
    (an ``ArtifactNotFoundError`` that is also an ``InvalidArgumentError``) naming the value."""
    if isinstance(value, ULID):
        return value
    if isinstance(value, str):
        try:
            return ULID.from_str(value)
        except ValueError as exc:
            raise MalformedIdError(
                f"{what} {value!r} is not a valid ULID (26 Crockford base32 characters)", artifact_id=value
            ) from exc
    if isinstance(value, bytes | bytearray) and len(value) == 16:
        return ULID.from_bytes(bytes(value))
    raise MalformedIdError(f"{what} {value!r} is not a ULID", artifact_id=value)
