"""The log's index of link events by source artifact (revision 0008).

A link's events live in a stream of the link's own, so the log's ``(artifact_id, version)`` key
cannot say which links start at an artifact; without this index only ``ledger_links`` (a cache)
could. The index is a partial expression index on ``ledger_events`` itself: the ``src_id`` of each
``link.added`` / ``link.removed`` payload. It adds nothing to trust (dropping it makes the link
write's log read a scan, not wrong); it makes "the links the log holds from these artifacts" one
seek per artifact. The expression is a ``CASE`` so a plan that scans never parses a payload of
another type, and is written as literal SQL so each backend's planner matches the statement that
reads it (:data:`SRC_OF_LINK`) to the index.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LINK_SRC_INDEX", "LINK_TYPES_SQL", "SRC_OF_LINK", "create_link_index_ddl", "drop_link_index_ddl"]

LINK_SRC_INDEX: Final = "ix_ledger_events_link_src"
LINK_TYPES_SQL: Final = "type IN ('link.added', 'link.removed')"
"""The partial index's predicate; the reading statement repeats it word for word."""

SRC_OF_LINK: Final = {
    "sqlite": f"CASE WHEN {LINK_TYPES_SQL} THEN json_extract(payload, '$.src_id') END",
    "postgresql": f"CASE WHEN {LINK_TYPES_SQL} THEN CAST(payload AS jsonb) ->> 'src_id' END",
}
"""The source artifact of a link event (NULL for any other event), per backend."""


def create_link_index_ddl(dialect: str) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS {LINK_SRC_INDEX} ON ledger_events (({SRC_OF_LINK[dialect]})) "
        f"WHERE {LINK_TYPES_SQL}"
    )


def drop_link_index_ddl(dialect: str) -> str:
    return f"DROP INDEX IF EXISTS {LINK_SRC_INDEX}"
