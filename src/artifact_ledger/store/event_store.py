"""The event log: append under the write lock, and read back.

``append`` is the only writer of ``ledger_events``; nothing anywhere updates or
deletes an event (the database triggers in ``tables`` refuse it too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import codec
from ..chain import envelope_bytes, event_hash
from ..clock import Clock, ensure_utc
from ..events import CURRENT_SCHEMA_VERSION, Attribution, NewEvent, RecordedEvent
from ..ids import IdFactory, id_text
from .recorder import Recorder, Step
from .rows import event_from_row, event_values


@dataclass(slots=True)
class Head:
    """The last event of the log: where the next one goes and what it chains to."""

    position: int
    hash: bytes
    recorded_at: datetime | None


async def read_head(driver: Recorder) -> Head:
    """The head of the log; call it only while holding the write lock."""
    return head_from_rows(driver, await driver.fetch(driver.sql.head))


def head_from_rows(driver: Recorder, rows: Sequence[Sequence[Any]]) -> Head:
    """The head from the rows of the ``head`` statement."""
    if not rows:
        return Head(0, codec.GENESIS_HASH, None)
    position, digest, recorded_at = rows[0]
    return Head(int(position), driver.read_bytes(digest), driver.read_ts(recorded_at))


def seal(
    head: Head,
    decided: Sequence[tuple[NewEvent, Attribution]],
    *,
    clock: Clock,
    new_id: IdFactory,
) -> list[RecordedEvent]:
    """Give decided events their positions, time, ids and chained hashes; advances ``head``.

    ``recorded_at`` never goes backwards along the log, even if the clock does,
    so point-in-time reads by time and by position agree.
    """
    now = ensure_utc(clock(), what="the ledger clock's reading")  # a custom clock may return another zone
    if head.recorded_at is not None and now < head.recorded_at:
        now = head.recorded_at
    sealed: list[RecordedEvent] = []
    for new, who in decided:
        position = head.position + 1
        event_id = id_text(new_id)
        envelope = envelope_bytes(
            position=position,
            event_id=event_id,
            artifact_id=new.artifact_id,
            version=new.version,
            type=new.type,
            schema_version=CURRENT_SCHEMA_VERSION,
            recorded_at=now,
            actor=who.actor,
            reason=who.reason,
            correlation_id=who.correlation_id,
            causation_id=who.causation_id,
        )
        payload = codec.dumps_trusted(new.payload)
        digest = event_hash(head.hash, envelope, payload)
        sealed.append(
            RecordedEvent(
                position,
                event_id,
                new.artifact_id,
                new.version,
                new.type,
                CURRENT_SCHEMA_VERSION,
                new.payload,
                now,
                who.actor,
                who.reason,
                who.correlation_id,
                who.causation_id,
                head.hash,
                digest,
                payload,
            )
        )
        head.position, head.hash, head.recorded_at = position, digest, now
    return sealed


def insert_events_step(driver: Recorder, sealed: Sequence[RecordedEvent]) -> Step:
    """The statement appending ``sealed`` to the log."""
    if len(sealed) == 1:
        return (driver.sql.insert_event, event_values(sealed[0], driver.ts), False)
    return (driver.sql.insert_event, [event_values(e, driver.ts) for e in sealed], True)


async def read_stream(driver: Recorder, artifact_id: str) -> list[RecordedEvent]:
    """Every event of one artifact, oldest first."""
    rows = await driver.fetch(driver.sql.stream_events, artifact_id)
    return [event_from_row(r, driver.read_ts, driver.read_bytes) for r in rows]


async def stream_heads(driver: Recorder, artifact_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(version, type) of the last event of each stream that exists in the log (live or deleted)."""
    if not artifact_ids:
        return {}
    rows = await driver.fetch(driver.sql.stream_heads, driver.id_list(artifact_ids))
    return {r[0]: (int(r[1]), r[2]) for r in rows}
