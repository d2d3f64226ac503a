"""Apply alias and link events to ``ledger_aliases`` and ``ledger_links`` (the artifacts projector's).

An alias event carries the alias's whole state: its row is upserted from the payload. A
``link.added`` opens a row of the link's history (``valid_from`` = its position), a
``link.removed`` closes the open one (``valid_to``), as the parent links' history does.
"""

from __future__ import annotations

from typing import Any

from ..events import ALIAS_EVENTS, LEDGER_EVENTS, LINK_ADDED, LINK_REMOVED, RETENTION_EVENTS, RecordedEvent
from ..store.provenance import provenance_statements
from ..store.recorder import Recorder
from ..store.statements import Statement
from .retention import retention_ops

__all__ = ["provenance_ops"]


def provenance_ops(driver: Recorder, event: RecordedEvent) -> list[tuple[Statement, tuple[Any, ...]]]:
    """The row operations one alias or link event makes (queued by the projector like its own)."""
    if event.type in RETENTION_EVENTS:  # holds and retention runs: projections/retention.py
        return retention_ops(driver, event)
    if event.type in LEDGER_EVENTS:  # a redaction's rows are rewritten by the command itself (redact.py)
        return []
    sql = provenance_statements(driver.sql.dialect)
    p = event.payload
    if event.type in ALIAS_EVENTS:
        values = (
            p["name"],
            event.artifact_id,
            event.version,
            p["artifact_id"],
            p["version"],
            1 if p["protected"] else 0,
            event.position,
            driver.ts(event.recorded_at),
            event.actor,
        )
        return [(sql.upsert_alias, values)]
    if event.type == LINK_ADDED:
        link = (
            event.artifact_id,
            event.position,
            None,
            p["kind"],
            p["src_id"],
            p["src_version"],
            p["dst_id"],
            p["dst_version"],
        )
        return [(sql.open_link, link)]
    if event.type == LINK_REMOVED:
        return [(sql.close_link, (event.position, event.artifact_id))]
    raise ValueError(f"event {event.position} ({event.type}) is no alias or link event")
