"""The one mapping between a stored ``ledger_events`` row and a :class:`RecordedEvent`.

A row is the table's columns in ``tables.events`` order, as every statement that selects
``events`` returns them (through the driver, or a SQLAlchemy ``Row``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .. import codec
from ..events import RecordedEvent, upcast
from .tables import events

EVENT_COLUMNS = tuple(str(column.name) for column in events.c)  # plain str: orjson refuses subclasses as keys
"""position, event_id, artifact_id, version, type, schema_version, payload, recorded_at, actor,
reason, correlation_id, causation_id, prev_hash, hash."""

POSITION, EVENT_ID, ARTIFACT_ID, VERSION, TYPE, SCHEMA_VERSION, PAYLOAD, RECORDED_AT = range(8)
ACTOR, REASON, CORRELATION_ID, CAUSATION_ID, PREV_HASH, HASH = range(8, 14)
"""Column indexes of an event row, for the few hot loops that read single columns."""


def as_stored(value: Any) -> Any:
    """Leaves a value as the driver returned it (for ``event_from_row``'s converters)."""
    return value


def event_values(event: RecordedEvent, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The bound values of one event row (``insert_event``'s order); ``ts`` stores the timestamp."""
    return (
        event.position,
        event.event_id,
        event.artifact_id,
        event.version,
        event.type,
        event.schema_version,
        (event.payload_json or codec.dumps_trusted(event.payload)).decode(),
        ts(event.recorded_at),
        event.actor,
        event.reason,
        event.correlation_id,
        event.causation_id,
        event.prev_hash,
        event.hash,
    )


def event_from_row(
    row: Sequence[Any],
    read_ts: Callable[[Any], datetime] = as_stored,
    read_bytes: Callable[[Any], bytes] = bytes,
) -> RecordedEvent:
    """A stored row as a :class:`RecordedEvent`, its payload upcast to the current schema version.

    ``read_ts`` turns the stored ``recorded_at`` into an aware datetime (the identity for rows
    read through SQLAlchemy, whose column type already did).
    """
    (
        position,
        event_id,
        artifact_id,
        version,
        type_,
        schema_version,
        payload,
        recorded_at,
        actor,
        reason,
        correlation_id,
        causation_id,
        prev_hash,
        digest,
    ) = row
    return RecordedEvent(
        int(position),
        event_id,
        artifact_id,
        int(version),
        type_,
        int(schema_version),
        upcast(type_, int(schema_version), codec.loads(payload)),
        read_ts(recorded_at),
        actor,
        reason,
        correlation_id,
        causation_id,
        read_bytes(prev_hash),
        read_bytes(digest),
    )
