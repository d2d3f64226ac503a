"""Canonical JSON and hashing: the only place that calls orjson.

Canonical bytes are orjson with sorted keys and no whitespace. For the value
types the ledger stores (str, int, float, bool, None, lists, str-keyed dicts)
they equal ``json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``,
which lets a standard-library verifier recompute every hash (``docs/chain.md`` states the
rules the hash chain relies on). Values canonical JSON cannot hold are refused with
:class:`NotJSONError` naming where they are, never written approximately: NaN and
infinities, integers beyond 64 bits (-2**63 to 2**64-1), and text holding a lone
surrogate (a code point UTF-8 cannot encode).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_CANONICAL_STRICT = _CANONICAL | orjson.OPT_PASSTHROUGH_SUBCLASS
_ORDERED_STRICT = _CANONICAL_STRICT & ~orjson.OPT_SORT_KEYS

GENESIS_HASH = bytes(32)
"""The ``prev_hash`` of the first event: 32 zero bytes."""


class NotJSONError(TypeError):
    """A value is not plain JSON; ``path`` says where (e.g. ``["metadata"]["started_at"]``)."""

    def __init__(self, path: str, value: object) -> None:
        self.path = path
        self.value_type = type(value).__name__
        self.shown = _shown(value)
        """How the value reads in a message: ``nan`` for a non-finite float, else e.g. ``a datetime``."""
        super().__init__(f"{path or 'value'} is {self.shown}, which is not JSON")


def _shown(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    if type(value) is int:
        return f"{value}, an integer beyond 64 bits"
    if type(value) is str:
        at = lone_surrogate(value)
        if at is not None:
            return f"text with a lone surrogate (U+{ord(value[at]):04X} at index {at}, which has no UTF-8 encoding)"
    return f"a {type(value).__name__}"


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (a code point UTF-8 cannot encode), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _refuse(value: object) -> Any:
    raise TypeError


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes of a plain-JSON value; raises :class:`NotJSONError` naming the bad path."""
    try:
        out = orjson.dumps(value, option=_CANONICAL_STRICT, default=_refuse)
    except TypeError:
        path, bad = _find_non_json(value, "") or ("", value)
        raise NotJSONError(path, bad) from None
    if b"null" in out:
        # orjson writes NaN and infinities as null, which would not round-trip.
        path_bad = _find_non_finite(value, "")
        if path_bad is not None:
            raise NotJSONError(path_bad[0], path_bad[1])
    return out


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON bytes or text.

    orjson reads an integer beyond 64 bits as a float. Nothing the ledger stores holds one:
    :func:`dumps` refuses it, and the bundle verifier refuses a bundle that holds one, so an
    import cannot bring one in either.
    """
    return orjson.loads(raw)


def sha256(data: bytes) -> bytes:
    """The SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def _find_non_json(value: Any, path: str) -> tuple[str, object] | None:
    """Where (path, value) ``value`` stops being plain JSON; the path of the root itself is ``""``."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        return path, value  # orjson refuses integers beyond 64 bits
    if type(value) is str and lone_surrogate(value) is not None:
        return path, value
    if value is None or type(value) in (str, int, float, bool):
        return None
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or lone_surrogate(key) is not None:
                return f"{path}[{key!r}] (key)", key
            found = _find_non_json(item, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if type(value) is list:
        for index, item in enumerate(value):
            found = _find_non_json(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return path, value


def _find_non_finite(value: Any, path: str) -> tuple[str, object] | None:
    if type(value) is float and not math.isfinite(value):
        return path, value
    if type(value) is dict:
        for key, item in value.items():
            found = _find_non_finite(item, f"{path}[{key!r}]")
            if found is not None:
                return found
    elif type(value) is list:
        for index, item in enumerate(value):
            found = _find_non_finite(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def dumps_trusted(value: Any) -> bytes:
    """Canonical JSON of a value already accepted by :func:`dumps` (no NaN walk: the hot path).

    A value it cannot write still raises :class:`NotJSONError` naming where.
    """
    try:
        return orjson.dumps(value, option=_CANONICAL_STRICT)
    except TypeError:
        found = _find_non_json(value, "")
        if found is None:
            raise
        raise NotJSONError(*found) from None


def dumps_ordered(value: dict[str, Any]) -> bytes:
    """Canonical JSON of a flat dict whose keys are already in canonical (sorted) order.

    Skips the sort: the hash chain's envelope is built in order. Raises orjson's
    :class:`TypeError` for a value it cannot write; the caller names the field.
    """
    return orjson.dumps(value, option=_ORDERED_STRICT)
