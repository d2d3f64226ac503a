"""The guard triggers' DDL, per table and dialect: what keeps the log append-only in the database.

Pure text builders: the triggers that refuse UPDATE and DELETE on the log and blobs, refuse a
REPLACE of a taken key (SQLite), and let retention delete only the blobs it expired.
:mod:`artifact_ledger.store.tables` attaches them to ``create_all``, the migrations run them,
and :mod:`artifact_ledger.store.guards` checks and repairs them.
"""

from __future__ import annotations

from ..chain import ENVELOPE_FIELDS

# The log is append-only in the database itself, not only in this code: these
# triggers refuse UPDATE and DELETE on events and blobs for every client.
APPEND_ONLY_TABLES = ("ledger_events", "ledger_blobs")
_APPEND_ONLY = "artifact-ledger: {table} is append-only; events and blobs are never updated or deleted"


def append_only_ddl(table: str, dialect: str) -> list[str]:
    """The statements that make ``table`` append-only on ``dialect`` (``create_all`` and the migrations run these)."""
    msg = _APPEND_ONLY.format(table=table)
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} BEGIN SELECT RAISE(ABORT, '{msg}'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{msg}' USING ERRCODE = 'restrict_violation'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
        ]
    return []


def drop_append_only_ddl(table: str, dialect: str) -> list[str]:
    """What undoes :func:`append_only_ddl` before ``table`` is dropped (SQLite drops triggers with the table)."""
    if dialect != "postgresql":
        return []
    extra = {
        "ledger_blobs": [f"DROP FUNCTION IF EXISTS {table}_expired_only() CASCADE"],
        "ledger_events": [f"DROP FUNCTION IF EXISTS {table}_redacted_only() CASCADE"],
        "ledger_openings": [f"DROP FUNCTION IF EXISTS {table}_redacted_only() CASCADE"],
    }.get(table, [])
    return [f"DROP FUNCTION IF EXISTS {table}_append_only() CASCADE", *extra]


# Revision 0002. SQLite's REPLACE conflict resolution (INSERT OR REPLACE, REPLACE INTO) deletes the
# row in the way without firing DELETE triggers, so on SQLite a BEFORE INSERT trigger also refuses a
# row whose key is taken. An upsert's DO UPDATE fires the UPDATE triggers (both backends); PostgreSQL
# has no REPLACE. A plain INSERT of a taken key fails here instead of at the unique index: the
# (artifact_id, version) message keeps the words of SQLite's own, so it still reads as a concurrent
# append (store/error_codes.py). A blob row may be written again with the same bytes (an import's
# ON CONFLICT DO NOTHING of content already stored): that changes nothing.
NO_REPLACE_TABLES = ("ledger_events", "ledger_blobs", "ledger_info", "ledger_openings")
_TAKEN = "artifact-ledger: {table} already holds a row with this {key}; its rows are never replaced"
_NO_REPLACE_CHECKS: dict[str, list[tuple[str, str, str]]] = {
    # (condition on the stored row, the key named in the message, message prefix)
    "ledger_events": [
        (
            "artifact_id = NEW.artifact_id AND version = NEW.version",
            "artifact_id and version",
            "UNIQUE constraint failed: ledger_events.artifact_id, ledger_events.version: ",
        ),
        ("position = NEW.position", "position", ""),
        ("event_id = NEW.event_id", "event_id", ""),
    ],
    "ledger_blobs": [("hash = NEW.hash AND (size IS NOT NEW.size OR data IS NOT NEW.data)", "hash", "")],
    "ledger_info": [("key = NEW.key AND value IS NOT NEW.value", "key", "")],
    "ledger_openings": [("position = NEW.position", "position", "")],
}
GUARDED_TABLES = ("ledger_events", "ledger_blobs", "ledger_info", "ledger_openings")
"""Every table whose rows are never deleted, and updated only as a redaction or retention needs, by
triggers (0001: events, blobs; 0002: info; 0007: openings)."""


def no_replace_ddl(table: str, dialect: str) -> list[str]:
    """Revision 0002's guard on ``table``: SQLite refuses an insert whose key is taken (see above)."""
    if dialect != "sqlite":
        return []
    raises = " ".join(
        f"SELECT RAISE(ABORT, '{prefix}{_TAKEN.format(table=table, key=key)}') "
        f"WHERE EXISTS (SELECT 1 FROM {table} WHERE {condition});"
        for condition, key, prefix in _NO_REPLACE_CHECKS[table]
    )
    return [f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} BEGIN {raises} END"]


# Revision 0006. Retention deletes blob rows, and only those: a DELETE on ledger_blobs passes for a
# hash ledger_expired_blobs lists (the retention projector writes that row in the same transaction
# as the retention.applied event, before the delete), and is refused for any other. UPDATE and
# TRUNCATE stay refused. The row is a cache like every projection: verify accepts a missing blob
# only where the log's own retention event deleted it, so a row planted here buys nothing.
EXPIRY_GUARDED = "ledger_blobs"
_EXPIRED_ONLY = _APPEND_ONLY.format(table=EXPIRY_GUARDED) + " (but by retention, for a blob it expired)"


def expiry_guard_ddl(dialect: str) -> list[str]:
    """Revision 0006's guards of ``ledger_blobs``: updates refused, deletes only of expired blobs."""
    t = EXPIRY_GUARDED
    if dialect == "sqlite":
        return [
            append_only_ddl(t, dialect)[0],  # BEFORE UPDATE: refused
            f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} WHEN NOT EXISTS "
            f"(SELECT 1 FROM ledger_expired_blobs WHERE hash = OLD.hash) "
            f"BEGIN SELECT RAISE(ABORT, '{_EXPIRED_ONLY}'); END",
        ]
    if dialect == "postgresql":
        function, _ = append_only_ddl(t, dialect)
        return [
            function,
            f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR TRUNCATE "
            f"ON {t} FOR EACH STATEMENT EXECUTE FUNCTION {t}_append_only()",
            f"CREATE OR REPLACE FUNCTION {t}_expired_only() RETURNS trigger AS $$ "
            f"BEGIN IF NOT EXISTS (SELECT 1 FROM ledger_expired_blobs WHERE hash = OLD.hash) THEN "
            f"RAISE EXCEPTION '{_EXPIRED_ONLY}' USING ERRCODE = 'restrict_violation'; END IF; RETURN OLD; END $$ "
            "LANGUAGE plpgsql",
            f"CREATE TRIGGER {t}_expired_only BEFORE DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_expired_only()",
        ]
    return []


# Revision 0007. A redaction rewrites the payload of the events it erases (chain format 2: the hash
# covers a commitment, not the payload text, so it still verifies). An UPDATE of ledger_events passes
# only where the event's opening has already lost its event salt (the redaction writes the opening
# first, in the same transaction) and only the payload changes; any other UPDATE, every DELETE and
# TRUNCATE stay refused. The opening row is not trusted either: verify holds every erasure to a
# redaction event in the log, so a row edited here to let an update through buys nothing.
REDACTION_GUARDED = ("ledger_events", "ledger_openings")
_REDACTED_ONLY = _APPEND_ONLY + " (but by a redaction, of what it erases)"
_FIXED_COLUMNS = (*ENVELOPE_FIELDS, "prev_hash", "hash")
"""Every column of an event but its payload: what no redaction may change."""
_ERASED = "EXISTS (SELECT 1 FROM ledger_openings WHERE position = OLD.position AND salt IS NULL)"


def _refused_update(table: str, dialect: str) -> str:
    """The condition under which an UPDATE of a row of ``table`` is refused."""
    if table == "ledger_openings":  # an opening only ever loses its event salt, in place
        moved = (
            "NEW.position IS NOT OLD.position" if dialect == "sqlite" else "NEW.position IS DISTINCT FROM OLD.position"
        )
        return f"{moved} OR NEW.salt IS NOT NULL"
    if dialect == "sqlite":
        return f"NOT {_ERASED} OR " + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FIXED_COLUMNS)
    new = ", ".join(f"NEW.{c}" for c in _FIXED_COLUMNS)
    old = ", ".join(f"OLD.{c}" for c in _FIXED_COLUMNS)
    return f"NOT {_ERASED} OR ({new}) IS DISTINCT FROM ({old})"


def redaction_guard_ddl(table: str, dialect: str) -> list[str]:
    """Revision 0007's guards of ``ledger_events`` and ``ledger_openings``: deletes refused, updates only
    as a redaction makes them (an erased event's payload; an opening losing its event salt)."""
    message = _REDACTED_ONLY.format(table=table)
    refused = _refused_update(table, dialect)
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} WHEN {refused} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
            append_only_ddl(table, dialect)[1],  # BEFORE DELETE: refused
        ]
    if dialect == "postgresql":
        function, _ = append_only_ddl(table, dialect)
        return [
            function,
            f"CREATE TRIGGER {table}_append_only BEFORE DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
            f"CREATE OR REPLACE FUNCTION {table}_redacted_only() RETURNS trigger AS $$ "
            f"BEGIN IF {refused} THEN "
            f"RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_redacted_only BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_redacted_only()",
        ]
    return []


def guard_ddl(table: str, dialect: str) -> list[str]:
    """Every guard statement of ``table`` at the head revision (``create_all`` and ``repair_guards`` run these)."""
    if table == EXPIRY_GUARDED:
        return [*expiry_guard_ddl(dialect), *no_replace_ddl(table, dialect)]
    if table in REDACTION_GUARDED:
        return [*redaction_guard_ddl(table, dialect), *no_replace_ddl(table, dialect)]
    return [*append_only_ddl(table, dialect), *no_replace_ddl(table, dialect)]


def drop_guard_ddl(table: str, dialect: str) -> list[str]:
    """What removes every guard of ``table`` (before ``guard_ddl`` puts them back)."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete", "replace")]
    if dialect == "postgresql":
        expiry = (
            [
                f"DROP TRIGGER IF EXISTS {table}_expired_only ON {table}",
                f"DROP FUNCTION IF EXISTS {table}_expired_only()",
            ]
            if table == EXPIRY_GUARDED
            else [
                f"DROP TRIGGER IF EXISTS {table}_redacted_only ON {table}",
                f"DROP FUNCTION IF EXISTS {table}_redacted_only()",
            ]
            if table in REDACTION_GUARDED
            else []
        )
        return [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            *drop_append_only_ddl(table, dialect),
            *expiry,
        ]
    return []
