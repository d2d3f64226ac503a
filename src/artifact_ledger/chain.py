"""The hash chain: ``hash = sha256(prev_hash ‖ canonical bytes of every other field)``.

Pure and dependency-free apart from :mod:`codec`, so the verifier, the append
path and the standalone bundle checker compute exactly the same bytes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from . import codec

_last_time: tuple[datetime, str] | None = None


def format_time(value: datetime) -> str:
    """The canonical text of a timestamp: UTC, microseconds, ``Z`` suffix."""
    global _last_time
    if _last_time is not None and _last_time[0] == value:
        return _last_time[1]  # a batch stamps every event with one time: format it once
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _last_time = (value, text)
    return text


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
    """Canonical JSON of every envelope field except the payload and the hashes."""
    return codec.dumps_trusted(
        {
            "position": position,
            "event_id": event_id,
            "artifact_id": artifact_id,
            "version": version,
            "type": type,
            "schema_version": schema_version,
            "recorded_at": format_time(recorded_at),
            "actor": actor,
            "reason": reason,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
        }
    )


def event_hash(prev_hash: bytes, envelope: bytes, payload: bytes) -> bytes:
    """The chained hash of one event."""
    digest = hashlib.sha256(prev_hash)
    digest.update(envelope)
    digest.update(b"\n")
    digest.update(payload)
    return digest.digest()
