"""The hash chain: the one definition of the bytes an event's hash covers.

``hash = SHA-256(prev_hash ‖ envelope ‖ "\\n" ‖ payload)``: ``prev_hash`` is the previous
event's hash (32 zero bytes before position 1), ``envelope`` the canonical JSON of every
other field but the payload, ``payload`` the stored payload text. ``docs/chain.md`` states
the rules for someone writing their own verifier, and ``tests/vectors`` pins them.

The append path (``seal``) and ``Ledger.verify`` both call the functions here; the
standalone bundle verifier (``verify_bundle.py``) imports nothing from the package, so it
restates the same rules in its own file and the shared golden vectors prove the two agree.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Final

from . import codec
from .errors import InvalidArtifactDataError, InvalidAttributionError

ENVELOPE_FIELDS: Final = (
    "actor",
    "artifact_id",
    "causation_id",
    "correlation_id",
    "event_id",
    "position",
    "reason",
    "recorded_at",
    "schema_version",
    "type",
    "version",
)
"""The envelope's members, in the order they are written (sorted by name)."""

ATTRIBUTION_FIELDS: Final = frozenset(("actor", "reason", "correlation_id", "causation_id"))
"""The envelope members that are attribution: text or null; everything else is always set."""

INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**64 - 1
"""The integers canonical JSON can hold; beyond them a value is refused, never rounded to a float."""

TIME_TEXT_LENGTH: Final = len("YYYY-MM-DDTHH:MM:SS.ffffffZ")

_TIME_TEXT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_last_time: tuple[datetime, str] = (_EPOCH, "1970-01-01T00:00:00.000000Z")
"""The last time formatted and its text, as one immutable pair.

A batch stamps every event with one time, so the next call usually asks for the same
one. The pair is read once per call and replaced whole, never updated in place: a thread
that reads it sees a time together with that time's own text, whatever other threads
store meanwhile, so no lock is needed and no call can return another time's text.
"""


def format_time(value: datetime) -> str:
    """The canonical text of a timestamp: UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, fixed width.

    The year always has four digits (``0999``, not ``999``), the fraction six. A naive
    datetime, or one whose UTC instant falls outside the years 1 to 9999, is refused
    (:class:`ValueError`). Safe to call from any thread.
    """
    last = _last_time
    if last[0] == value:  # aware datetimes are equal when they are the same instant: the same text
        return last[1]
    return _format_time(value)


def _format_time(value: datetime) -> str:
    global _last_time
    if not isinstance(value, datetime):
        raise TypeError(f"a ledger time must be a datetime, not {type(value).__name__}")
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            raise ValueError(f"the time {value.isoformat()} is naive: a ledger time must be timezone-aware")
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError(
                f"the time {value.isoformat()} is outside the years 1 to 9999 in UTC, which a ledger time cannot be"
            ) from None
    text = _TIME_TEXT % (value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)
    _last_time = (value, text)  # one new pair, published whole
    return text


def stored_time_text(stored: str) -> str:
    """The canonical text of a UTC time stored as ``YYYY-MM-DD HH:MM:SS.ffffff`` (how SQLite holds it).

    Derived textually, character for character, so verifying a row hashes what is stored.
    Anything else is refused (:class:`ValueError`); the digits are not checked, since a
    stored text that is no real time derives a text no sealed hash covers.
    """
    if type(stored) is str and len(stored) == TIME_TEXT_LENGTH - 1 and stored[10] == " ":
        return f"{stored[:10]}T{stored[11:]}Z"
    raise ValueError(f"the stored time {stored!r} is not YYYY-MM-DD HH:MM:SS.ffffff")


def canonical_envelope(
    position: int,
    event_id: str,
    artifact_id: str,
    version: int,
    type: str,
    schema_version: int,
    recorded_at: str,
    actor: str | None,
    reason: str | None,
    correlation_id: str | None,
    causation_id: str | None,
) -> bytes:
    """The canonical envelope bytes, from the fields as they are hashed (``recorded_at`` as its text).

    The verifier's hot path: positional, and the dictionary is built in the canonical
    member order so no sorting is needed. A text holding a lone surrogate (no UTF-8
    encoding) is refused with :class:`InvalidAttributionError` for an attribution field,
    :class:`InvalidArtifactDataError` for the others, as is an integer beyond 64 bits.
    """
    envelope = {
        "actor": actor,
        "artifact_id": artifact_id,
        "causation_id": causation_id,
        "correlation_id": correlation_id,
        "event_id": event_id,
        "position": position,
        "reason": reason,
        "recorded_at": recorded_at,
        "schema_version": schema_version,
        "type": type,
        "version": version,
    }
    try:
        return codec.dumps_ordered(envelope)
    except TypeError:
        raise _refusal(envelope) from None


def _refusal(envelope: dict[str, Any]) -> Exception:
    """Why ``envelope`` has no canonical bytes, as the error to raise."""
    for name, value in envelope.items():
        error = InvalidAttributionError if name in ATTRIBUTION_FIELDS else InvalidArtifactDataError
        if type(value) is str:
            surrogate = codec.lone_surrogate(value)
            if surrogate is not None:
                return error(
                    f"{name} {value[:40]!r} is not valid Unicode text: it holds a lone surrogate "
                    f"(U+{ord(value[surrogate]):04X} at index {surrogate}), which has no UTF-8 encoding"
                )
        elif type(value) is int and not INT_MIN <= value <= INT_MAX:
            return error(f"{name} {value} is beyond 64 bits: canonical JSON holds integers from -2**63 to 2**64-1")
        elif value is not None and type(value) is not int:
            return TypeError(f"envelope field {name} is a {type(value).__name__}, not text, an integer or null")
    return TypeError("the envelope has no canonical JSON")  # pragma: no cover - every refusal is named above


def envelope_bytes(
    *,
    position: int,
    event_id: str,
    artifact_id: str,
    version: int,
    type: str,
    schema_version: int,
    recorded_at: datetime,
    actor: str | None,
    reason: str | None,
    correlation_id: str | None,
    causation_id: str | None,
) -> bytes:
    """Canonical JSON of every envelope field except the payload and the hashes (see :func:`canonical_envelope`)."""
    return canonical_envelope(
        position,
        event_id,
        artifact_id,
        version,
        type,
        schema_version,
        format_time(recorded_at),
        actor,
        reason,
        correlation_id,
        causation_id,
    )


def event_hash(prev_hash: bytes, envelope: bytes, payload: bytes) -> bytes:
    """The chained hash of one event: ``SHA-256(prev_hash ‖ envelope ‖ "\\n" ‖ payload)``."""
    return hashlib.sha256(prev_hash + envelope + b"\n" + payload).digest()
