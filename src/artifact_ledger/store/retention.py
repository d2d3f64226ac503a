"""The statements of holds and retention, built from ``tables.py`` and compiled per backend.

Kept beside the core statements (``statements.py``) and compiled with the same machinery
(:func:`statements.compile_for`), once per backend, as ``store/provenance.py`` does.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ClauseElement, String, bindparam, delete, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter

from ..events import ALIAS_EVENTS, HOLD_EVENTS, RETENTION_APPLIED, STATE_EVENTS
from .statement_parts import _in_ids
from .statements import ONE, ZERO, Statement, compile_for
from .tables import blobs, events, expired_blobs, expired_content, holds

__all__ = ["HOLD_COLUMNS", "GcStatements", "RetentionStatements", "gc_statements", "retention_statements"]

HOLD_COLUMNS = ("artifact_id", "stream_id", "stream_version", "held", "position", "updated_at", "updated_by")
"""The hold columns every hold statement selects or writes, in this order."""

PLAN_TYPES = tuple(sorted(STATE_EVENTS | ALIAS_EVENTS | HOLD_EVENTS | {RETENTION_APPLIED}))
"""The event types a retention plan reads from the log (states, aliases, holds, earlier runs)."""


def _p(name: str, type_: Any = None) -> BindParameter[Any]:
    return bindparam(name, type_=type_)


class RetentionStatements:
    """Every hold and retention statement for one backend, by attribute."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        h, x, b, e, bl = holds, expired_content, expired_blobs, events, blobs
        dialect_insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
        upsert_hold = dialect_insert(h).values({n: _p(n) for n in HOLD_COLUMNS})
        upsert_hold = upsert_hold.on_conflict_do_update(
            index_elements=[h.c.artifact_id],
            set_={n: upsert_hold.excluded[n] for n in HOLD_COLUMNS if n != "artifact_id"},
        )
        upsert_blob = dialect_insert(b).values(hash=_p("hash"), position=_p("position"))
        upsert_blob = upsert_blob.on_conflict_do_update(
            index_elements=[b.c.hash], set_={"position": upsert_blob.excluded.position}
        )
        hold_columns = [h.c[n] for n in HOLD_COLUMNS]

        # The hold row with the log's word on it: the version and payload of its stream's last event.
        def last(column: Any) -> Any:
            return (
                select(column)
                .where(e.c.artifact_id == h.c.stream_id)
                .order_by(e.c.version.desc())
                .limit(ONE)
                .offset(ZERO)
                .correlate(h)
                .scalar_subquery()
            )

        built: dict[str, tuple[ClauseElement, tuple[str, ...]]] = {
            "upsert_hold": (upsert_hold, HOLD_COLUMNS),
            "hold_checked": (
                select(*hold_columns, last(e.c.version), last(e.c.payload)).where(h.c.artifact_id == _p("artifact_id")),
                ("artifact_id",),
            ),
            "held_ids": (select(h.c.artifact_id).where(h.c.held == ONE).order_by(h.c.artifact_id), ()),
            "all_holds": (select(*hold_columns).order_by(h.c.artifact_id), ()),
            "insert_expired": (
                insert(x).values(
                    artifact_id=_p("artifact_id"), version=_p("version"), hash=_p("hash"), position=_p("position")
                ),
                ("artifact_id", "version", "hash", "position"),
            ),
            "upsert_expired_blob": (upsert_blob, ("hash", "position")),
            "all_expired": (
                select(x.c.artifact_id, x.c.version, x.c.hash, x.c.position).order_by(x.c.artifact_id, x.c.version),
                (),
            ),
            "all_expired_blobs": (select(b.c.hash, b.c.position).order_by(b.c.hash), ()),
            "expired_with_hashes": (
                select(x.c.artifact_id, x.c.version, x.c.hash, x.c.position)
                .where(_in_ids(dialect, x.c.hash))
                .order_by(x.c.position.desc(), x.c.artifact_id, x.c.version),
                ("ids",),
            ),
            "expired_version": (
                select(x.c.hash, x.c.position).where(
                    x.c.artifact_id == _p("artifact_id"), x.c.version == _p("version")
                ),
                ("artifact_id", "version"),
            ),
            "blob_sizes_in": (select(bl.c.hash, bl.c.size).where(_in_ids(dialect, bl.c.hash)), ("ids",)),
            "delete_blobs_in": (delete(bl).where(_in_ids(dialect, bl.c.hash)), ("ids",)),
            "plan_events": (
                select(e.c.position, e.c.artifact_id, e.c.version, e.c.type, e.c.recorded_at, e.c.payload)
                .where(
                    e.c.position > _p("position"), e.c.type.in_([literal_column(f"'{t}'", String) for t in PLAN_TYPES])
                )
                .order_by(e.c.position)
                .limit(_p("limit"))
                .offset(ZERO),
                ("position", "limit"),
            ),
            "delete_holds": (delete(h), ()),
            "delete_expired": (delete(x), ()),
            "delete_expired_blobs": (delete(b), ()),
        }
        for name, (construct, names) in built.items():
            setattr(self, name, compile_for(dialect, f"retention_{name}", construct, names))

    def __getattr__(self, name: str) -> Statement:  # only reached for names that are not statements
        raise AttributeError(f"no retention statement named {name!r}")


@cache
def retention_statements(dialect: str) -> RetentionStatements:
    """The hold and retention statements for ``dialect``, built once."""
    return RetentionStatements(dialect)


# ---- gc: what the log references, computed by the database ----------------------------------------------
_STATE_TYPES = ", ".join(f"'{t}'" for t in sorted(STATE_EVENTS))


def _live_content_sql(dialect: str, manifests_only: bool) -> str:
    """The content hashes (and codecs) of the versions whose content no ``retention.applied`` event
    expired, read from the log's own payloads, distinct and in hash order. An expired entry with a
    missing field never matches (the version stays live): a damaged record keeps content, never drops it."""
    if dialect == "sqlite":
        only = " AND json_extract(e.payload, '$.content.codec') = 'chunks'" if manifests_only else ""
        return (
            "SELECT DISTINCT json_extract(e.payload, '$.content.hash') AS h, "
            "json_extract(e.payload, '$.content.codec') AS c FROM ledger_events e "
            f"WHERE e.type IN ({_STATE_TYPES}) AND json_type(e.payload, '$.content') = 'object'{only} "
            "AND (e.artifact_id, e.version) NOT IN ("
            "SELECT json_extract(x.value, '$[0]'), json_extract(x.value, '$[1]') "
            "FROM ledger_events r, json_each(r.payload, '$.expired') x "
            f"WHERE r.type = '{RETENTION_APPLIED}' AND json_extract(x.value, '$[0]') IS NOT NULL "
            "AND json_extract(x.value, '$[1]') IS NOT NULL) ORDER BY 1"
        )
    only = " AND s.c ->> 'codec' = 'chunks'" if manifests_only else ""
    return (  # MATERIALIZED: each payload is parsed once, not once per use of its content (~20 % of the query)
        "WITH s AS MATERIALIZED (SELECT e.artifact_id, e.version, e.payload::jsonb -> 'content' AS c "
        f"FROM ledger_events e WHERE e.type IN ({_STATE_TYPES})) "
        f"SELECT DISTINCT s.c ->> 'hash' AS h, s.c ->> 'codec' AS c FROM s WHERE jsonb_typeof(s.c) = 'object'{only} "
        "AND NOT EXISTS (SELECT 1 FROM ledger_events r "
        "CROSS JOIN LATERAL jsonb_array_elements(r.payload::jsonb -> 'expired') x "
        f"WHERE r.type = '{RETENTION_APPLIED}' AND x ->> 0 = s.artifact_id AND (x ->> 1)::bigint = s.version) "
        "ORDER BY 1"
    )


class GcStatements:
    """The statements of a gc run for one backend: live content from the log, and the blob table's pages."""

    def __init__(self, dialect: str) -> None:
        mark = "?" if dialect == "sqlite" else "$1"
        limit = "?" if dialect == "sqlite" else "$2"
        self.live_content = Statement("gc_live_content", _live_content_sql(dialect, False), (), None)
        self.live_manifests = Statement("gc_live_manifests", _live_content_sql(dialect, True), (), None)
        self.blob_page = Statement(
            "gc_blob_page",
            f"SELECT hash, size FROM ledger_blobs WHERE hash > {mark} ORDER BY hash LIMIT {limit}",
            ("after", "limit"),
            None,
        )


@cache
def gc_statements(dialect: str) -> GcStatements:
    """The gc statements for ``dialect``, built once."""
    return GcStatements(dialect)
