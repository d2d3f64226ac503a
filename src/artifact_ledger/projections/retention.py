"""Apply hold and retention events to ``ledger_holds``, ``ledger_expired_content`` and ``ledger_expired_blobs``.

A hold event carries the hold's whole state: its row is upserted from the payload. A
``retention.applied`` event inserts a row per version it expired and upserts a row per blob it
deleted (the guard on ``ledger_blobs`` lets the run's DELETE through for those hashes only).
"""

from __future__ import annotations

from typing import Any

from ..events import HOLD_EVENTS, RETENTION_APPLIED, RecordedEvent
from ..store.recorder import Recorder
from ..store.retention import retention_statements
from ..store.statements import Statement

__all__ = ["retention_ops"]


def retention_ops(driver: Recorder, event: RecordedEvent) -> list[tuple[Statement, tuple[Any, ...]]]:
    """The row operations one hold or retention event makes (queued by the projector like its own)."""
    sql = retention_statements(driver.sql.dialect)
    p = event.payload
    if event.type in HOLD_EVENTS:
        values = (
            p["artifact_id"],
            event.artifact_id,
            event.version,
            1 if p["held"] else 0,
            event.position,
            driver.ts(event.recorded_at),
            event.actor,
        )
        return [(sql.upsert_hold, values)]
    if event.type == RETENTION_APPLIED:
        ops: list[tuple[Statement, tuple[Any, ...]]] = [
            (sql.insert_expired, (aid, version, digest, event.position)) for aid, version, digest in p["expired"]
        ]
        ops.extend((sql.upsert_expired_blob, (digest, event.position)) for digest, _ in p["deleted"])
        return ops
    raise ValueError(f"event {event.position} ({event.type}) is no hold or retention event")
