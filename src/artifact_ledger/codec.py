"""Canonical JSON and hashing: the only place that calls orjson.

Canonical bytes are orjson with sorted keys and no whitespace. For the value
types the ledger stores (str, int, float, bool, None, lists, str-keyed dicts)
they equal ``json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``,
which lets a standard-library verifier recompute every hash.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_CANONICAL_STRICT = _CANONICAL | orjson.OPT_PASSTHROUGH_SUBCLASS

GENESIS_HASH = bytes(32)
"""The ``prev_hash`` of the first event: 32 zero bytes."""


class NotJSONError(TypeError):
    """A value is not plain JSON; ``path`` says where (e.g. ``["metadata"]["started_at"]``)."""

    def __init__(self, path: str, value: object) -> None:
        self.path = path
        self.value_type = type(value).__name__
        self.shown = repr(value) if isinstance(value, float) else f"a {self.value_type}"
        """How the value reads in a message: ``nan`` for a non-finite float, else ``a datetime``."""
        super().__init__(f"{path or 'value'} is {self.shown}, which is not JSON")


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
    """Parse JSON bytes or text."""
    return orjson.loads(raw)


def sha256(data: bytes) -> bytes:
    """The SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def _find_non_json(value: Any, path: str) -> tuple[str, object] | None:
    """Where (path, value) ``value`` stops being plain JSON; the path of the root itself is ``""``."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        return path, value  # orjson refuses integers beyond 64 bits
    if value is None or type(value) in (str, int, float, bool):
        return None
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
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
    """Canonical JSON of a value already accepted by :func:`dumps` (no NaN walk: the hot path)."""
    return orjson.dumps(value, option=_CANONICAL_STRICT)
