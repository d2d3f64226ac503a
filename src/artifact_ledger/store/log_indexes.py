"""The log's indexes for provenance writes (revision 0008): link events by source artifact, alias
events by name (then position) and by target artifact.

A link's or an alias's events live in a stream of its own, so the log's ``(artifact_id, version)``
key cannot say which links start at an artifact, which stream holds an alias name or which aliases
point at an artifact; without these indexes only ``ledger_links`` and ``ledger_aliases`` (caches)
could. Each is a partial expression index on ``ledger_events`` itself: one member of the payload of
the events of some types. They add nothing to trust (dropping one makes a write's log read a scan,
not wrong); they make the log's answer one seek per key. Each expression is a ``CASE`` so a plan
that scans never parses a payload of another type, and is written as literal SQL so each backend's
planner matches the statements that read it (:func:`key_of`) to the index.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALIAS_NAME",
    "ALIAS_TARGET",
    "ALIAS_TYPES_SQL",
    "LINK_SRC",
    "LINK_SRC_INDEX",
    "LINK_TYPES_SQL",
    "LOG_INDEXES",
    "THEN_POSITION",
    "create_log_indexes_ddl",
    "drop_log_indexes_ddl",
    "key_of",
]

LINK_TYPES_SQL: Final = "type IN ('link.added', 'link.removed')"
ALIAS_TYPES_SQL: Final = "type IN ('alias.set', 'alias.removed', 'alias.protected')"
"""The partial indexes' predicates; the reading statements repeat them word for word."""

LINK_SRC: Final = (LINK_TYPES_SQL, "src_id")
ALIAS_NAME: Final = (ALIAS_TYPES_SQL, "name")
ALIAS_TARGET: Final = (ALIAS_TYPES_SQL, "artifact_id")

LOG_INDEXES: Final = {
    "ix_ledger_events_link_src": LINK_SRC,
    "ix_ledger_events_alias_name": ALIAS_NAME,
    "ix_ledger_events_alias_target": ALIAS_TARGET,
}
LINK_SRC_INDEX: Final = "ix_ledger_events_link_src"
THEN_POSITION: Final = frozenset({"ix_ledger_events_alias_name"})
"""The indexes keyed by their member and then the event's position: the newest alias event of a name is
the first entry read backwards, one seek however many times the alias was changed (keyed by the name
alone, equal keys are in no order a statement can use, and every event of the alias was read)."""


def key_of(dialect: str, key: tuple[str, str]) -> str:
    """The payload member ``key[1]`` of an event whose type ``key[0]`` admits (NULL for any other)."""
    types, member = key
    if dialect == "sqlite":
        return f"CASE WHEN {types} THEN json_extract(payload, '$.{member}') END"
    return f"CASE WHEN {types} THEN CAST(payload AS jsonb) ->> '{member}' END"


def create_log_indexes_ddl(dialect: str) -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {name} ON ledger_events "
        f"(({key_of(dialect, key)}){', position' if name in THEN_POSITION else ''}) WHERE {key[0]}"
        for name, key in LOG_INDEXES.items()
    ]


def drop_log_indexes_ddl(dialect: str) -> list[str]:
    return [f"DROP INDEX IF EXISTS {name}" for name in LOG_INDEXES]
