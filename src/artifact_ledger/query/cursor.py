"""Keyset cursors for ``find``: opaque text that says where the next page starts.

A cursor is base64url of a small JSON object: the format version, a fingerprint of the query it
belongs to (filter, ordering, ``as_of``), the sort key of the last row returned (its ordering
values and its id), and a checksum over all of it. It is not a secret and not signed: it holds
nothing the caller could not see, and every value in it is checked and bound as a parameter, so
an edited cursor can at worst start a page elsewhere. The checksum and the checks make an edited,
truncated or foreign cursor an :class:`InvalidQueryError` rather than a silently different page.

The next page is "rows whose sort key comes after this one", found by an index range where
there is an index: a page deep in a result costs what the first one does, and rows written
between pages neither shift nor repeat the rows that follow.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from .. import codec
from ..errors import InvalidQueryError

__all__ = ["KEY_KINDS", "decode", "encode", "fingerprint"]

VERSION: Final = 1
MAX_CURSOR: Final = 200_000
KEY_KINDS: Final = ("id", "time", "rank", "number", "text")
_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_MAX_EXPONENT: Final = 400
"""The largest decimal exponent a number key may have (a double's reach: 1e308 up, 5e-324 down)."""
_REMEDY = "pass the next_cursor of the previous page of the same query, or start again without after="


def fingerprint(*parts: str) -> str:
    """A short digest of the query a cursor belongs to."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _checksum(body: bytes) -> str:
    return hashlib.sha256(b"artifact-ledger cursor\n" + body).hexdigest()[:12]


def encode(query: str, values: Sequence[Any]) -> str:
    """The cursor after a row whose sort key is ``values`` (JSON-able: str and int)."""
    body = codec.dumps({"v": VERSION, "q": query, "k": list(values)})
    sealed = codec.dumps({"b": body.decode(), "c": _checksum(body)})
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def decode(cursor: Any, query: str, kinds: Sequence[str]) -> list[Any]:
    """The sort key a cursor carries, checked: each value of the kind ``kinds`` names (``time`` as a
    datetime, ``number`` as decimal text)."""
    if not isinstance(cursor, str):
        raise InvalidQueryError(f"after must be a cursor string (a page's next_cursor), not {type(cursor).__name__}")
    if not cursor or len(cursor) > MAX_CURSOR:
        raise InvalidQueryError(f"after: {cursor!r:.60} is not a cursor find() returned; {_REMEDY}")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sealed = codec.loads(raw)
        body = sealed["b"].encode()
        if sealed["c"] != _checksum(body):
            raise ValueError("checksum")
        payload = codec.loads(body)
        version, owner, values = payload["v"], payload["q"], payload["k"]
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        raise InvalidQueryError(
            f"after: {cursor!r:.60} is not a cursor find() returned (damaged or edited); {_REMEDY}"
        ) from None
    if version != VERSION:
        raise InvalidQueryError(
            f"after: the cursor is from another version of the cursor format ({version!r:.20}); {_REMEDY}"
        )
    if owner != query:
        raise InvalidQueryError(
            f"after: the cursor belongs to another query (a different where, order_by or as_of); {_REMEDY}"
        )
    if not isinstance(values, list) or len(values) != len(kinds):
        raise InvalidQueryError(f"after: the cursor does not fit this ordering; {_REMEDY}")
    return [_value(kind, value) for kind, value in zip(kinds, values, strict=True)]


def _value(kind: str, value: Any) -> Any:
    bad = InvalidQueryError(f"after: the cursor holds a {kind} key that is not valid ({value!r:.60}); {_REMEDY}")
    if kind == "id":
        if not isinstance(value, str) or not _ULID.fullmatch(value):
            raise bad
        return value
    if kind == "time":
        if not isinstance(value, str):
            raise bad
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise bad
            parsed.astimezone(UTC)  # an offset that moves it past year 1 or 9999 cannot be compared
        except (ValueError, OverflowError):
            raise bad from None
        return parsed
    if kind == "rank":
        if isinstance(value, bool) or value not in (0, 1, 2, 3):
            raise bad
        return value
    if kind == "number":
        # As the ledger writes it (``JsonSql.number_text``): plain ASCII decimal text, within a
        # double's range, which both backends can bind and compare (Decimal alone takes "1_000",
        # other scripts' digits and exponents no database column holds).
        if not isinstance(value, str) or len(value) > 400 or not _NUMBER.fullmatch(value):
            raise bad
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise bad from None
        if not number.is_finite() or math.isinf(float(number)) or abs(number.adjusted()) > _MAX_EXPONENT:
            raise bad
        return value
    if kind == "text":
        if not isinstance(value, str) or "\x00" in value:
            raise bad
        return value
    raise bad
