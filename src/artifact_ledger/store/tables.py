"""Every ledger table, in one MetaData. Alembic and ``create_all`` both build from here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.types import TypeDecorator


def _ddl(statement: str) -> DDL:
    return DDL(statement)  # type: ignore[no-untyped-call]  # DDL.__init__ lacks annotations


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

ULID_LEN = 26


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores SQLAlchemy's fixed-width
    text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), which sorts chronologically.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given where a UTC timestamp is needed")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stamp_reader() -> Callable[[str | datetime], datetime]:
    """Converts timestamps as the driver returns them (SQLite's stored text, asyncpg's datetime)
    to aware UTC, as :class:`UtcDateTime` does.

    Text is parsed once per distinct value: the rows of one transaction share one timestamp,
    so a listing of a batch-written tree parses a handful of strings, not two per row.
    """
    seen: dict[str, datetime] = {}

    def read(value: str | datetime) -> datetime:
        if isinstance(value, str):
            found = seen.get(value)
            if found is None:
                found = seen[value] = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return found
        if value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    return read


events = Table(
    "ledger_events",
    metadata,
    Column("position", BigInteger, nullable=False, autoincrement=False),
    Column("event_id", String(ULID_LEN), nullable=False),
    Column("artifact_id", String(ULID_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("schema_version", SmallInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("actor", String(255)),
    Column("reason", Text),
    Column("correlation_id", String(255)),
    Column("causation_id", String(255)),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("position"),
    # Optimistic concurrency: two writers can never both append version n of one stream.
    UniqueConstraint("artifact_id", "version"),
    UniqueConstraint("event_id"),
    # Point-in-time reads turn an instant into a position: the last (recorded_at, position) <= t is one seek.
    Index(None, "recorded_at", "position"),
    # "The last event of this stream at or before position p" (as_of reads, audit by artifact): one seek.
    Index(None, "artifact_id", "position"),
)

blobs = Table(
    "ledger_blobs",
    metadata,
    Column("hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("hash"),
)

artifacts = Table(
    "ledger_artifacts",
    metadata,
    Column("id", String(ULID_LEN), nullable=False),
    Column("parent_id", String(ULID_LEN)),
    Column("level", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(255)),
    Column("data", Text, nullable=False),
    Column("content_hash", String(64)),
    Column("content_codec", String(32)),
    Column("content_type", String(255)),
    Column("content_size", BigInteger),
    Column("tags", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("created_by", String(255)),
    Column("updated_by", String(255)),
    PrimaryKeyConstraint("id"),
    Index(None, "parent_id"),
    Index(None, "level"),
)

closure = Table(
    "ledger_artifact_closure",
    metadata,
    Column("ancestor_id", String(ULID_LEN), nullable=False),
    Column("descendant_id", String(ULID_LEN), nullable=False),
    Column("depth", Integer, nullable=False),
    PrimaryKeyConstraint("ancestor_id", "descendant_id"),
    Index(None, "descendant_id", "depth"),
)

parent_history = Table(
    "ledger_artifact_parent_history",
    metadata,
    Column("artifact_id", String(ULID_LEN), nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_to", BigInteger),
    Column("parent_id", String(ULID_LEN)),
    PrimaryKeyConstraint("artifact_id", "valid_from"),
    Index(None, "parent_id", "valid_from"),
    sqlite_with_rowid=False,  # small rows: the primary key is the table (one B-tree less to write)
)
"""Every parent link there ever was: ``artifact_id`` was a live child of ``parent_id`` (NULL: a root)
for log positions ``valid_from <= p < valid_to`` (``valid_to`` NULL: still). Written by the closure
projector in the append transaction; point-in-time trees and subtree audits read it. See
docs/decisions.md, "Point-in-time reads", for why links and not a temporal closure.
"""

aliases = Table(
    "ledger_aliases",
    metadata,
    Column("name", String(200), nullable=False),
    Column("stream_id", String(ULID_LEN), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("artifact_id", String(ULID_LEN)),
    Column("version", Integer),
    Column("protected", SmallInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(255)),
    PrimaryKeyConstraint("name"),
    UniqueConstraint("stream_id"),
    # "Which aliases point at this artifact?" (aliases(id), the delete check): one seek.
    Index(None, "artifact_id"),
)
"""Revision 0004. One row per alias name ever set: its own event stream (``stream_id``) and the state
its last event left (``artifact_id``/``version`` NULL: removed). Written by the artifacts projector."""

links = Table(
    "ledger_links",
    metadata,
    Column("stream_id", String(ULID_LEN), nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_to", BigInteger),
    Column("kind", String(64), nullable=False),
    Column("src_id", String(ULID_LEN), nullable=False),
    Column("src_version", Integer, nullable=False),
    Column("dst_id", String(ULID_LEN), nullable=False),
    Column("dst_version", Integer, nullable=False),
    PrimaryKeyConstraint("stream_id", "valid_from"),
    # Lineage walks one hop per statement in either direction: downstream by dst_id, upstream by src_id.
    Index(None, "src_id", "valid_from"),
    Index(None, "dst_id", "valid_from"),
)
"""Revision 0004. Every lineage link there ever was, read "src kind dst": held for log positions
``valid_from <= p < valid_to`` (``valid_to`` NULL: still). One stream of events per link."""

checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("projector", String(64), nullable=False),
    Column("position", BigInteger, nullable=False),
    PrimaryKeyConstraint("projector"),
)

PROJECTORS = ("artifacts", "closure")
"""One checkpoint row per projector, advanced in the same transaction as the append.

The ``closure`` projector writes ``ledger_artifact_closure`` and ``ledger_artifact_parent_history``."""

info = Table(
    "ledger_info",
    metadata,
    Column("key", String(64), nullable=False),
    Column("value", String(255), nullable=False),
    PrimaryKeyConstraint("key"),
)
"""Facts about the ledger itself, one row each. ``ledger_id``: a ULID made when the ledger is
created (``create_all`` or the migrations); the pickle-signing key file is found by it."""

LEDGER_ID_KEY = "ledger_id"

indexes = Table(
    "ledger_indexes",
    metadata,
    Column("path", String(300), nullable=False),
    Column("name", String(63), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("path"),
    UniqueConstraint("name"),
)
"""Revision 0003. The expression indexes ``Ledger.create_index`` made on data paths, one row each
(``path`` as parsed, ``name`` the index's); ``rebuild`` and ``upgrade`` make every one listed here
again, ``drop_index`` deletes its row with the index."""

merkle_frontier = Table(
    "ledger_merkle_frontier",
    metadata,
    Column("id", SmallInteger, nullable=False, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("roots", LargeBinary, nullable=False),
    PrimaryKeyConstraint("id"),
)
"""Revision 0005. One row (``id`` 1): the Merkle tree's size (the head's position) and its frontier, the
roots of the complete right-edge subtrees, one 32-byte hash per bit set in ``size``, largest first
(``merkle.Frontier``). Rewritten by every append transaction, once per batch."""

merkle_nodes = Table(
    "ledger_merkle_nodes",
    metadata,
    Column("level", SmallInteger, nullable=False, autoincrement=False),
    Column("idx", BigInteger, nullable=False, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("level", "idx"),
    sqlite_with_rowid=False,
)
"""Revision 0005. The complete aligned subtrees of ``2**merkle.STORED_LEVEL`` leaves or more, written as an
append completes them (never changed): ``2**level`` leaves from leaf ``idx * 2**level``. Proofs read
these, and hash the event hashes below that level."""

MERKLE_FRONTIER_ID = 1

holds = Table(
    "ledger_holds",
    metadata,
    Column("artifact_id", String(ULID_LEN), nullable=False),
    Column("stream_id", String(ULID_LEN), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("held", SmallInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(255)),
    PrimaryKeyConstraint("artifact_id"),
    UniqueConstraint("stream_id"),
)
"""Revision 0006. One row per artifact ever held: its hold stream and the state its last event left
(``held`` 1: held, 0: released). Written by the artifacts projector (``projections/retention.py``)."""

expired_content = Table(
    "ledger_expired_content",
    metadata,
    Column("artifact_id", String(ULID_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("position", BigInteger, nullable=False),
    PrimaryKeyConstraint("artifact_id", "version"),
    # "Which versions had this content?" (the message of a read of expired content): one seek.
    Index(None, "hash"),
)
"""Revision 0006. Every version whose content a ``retention.applied`` event (at ``position``) expired."""

expired_blobs = Table(
    "ledger_expired_blobs",
    metadata,
    Column("hash", String(64), nullable=False),
    Column("position", BigInteger, nullable=False),
    PrimaryKeyConstraint("hash"),
)
"""Revision 0006. Every blob a ``retention.applied`` event deleted (the last such event's position).
The guard on ``ledger_blobs`` lets a DELETE through only for a hash listed here; ``verify`` does not
trust this table: it accepts a missing blob only where the log's own retention event deleted it."""

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
    extra = [f"DROP FUNCTION IF EXISTS {table}_expired_only() CASCADE"] if table == "ledger_blobs" else []
    return [f"DROP FUNCTION IF EXISTS {table}_append_only() CASCADE", *extra]


# Revision 0002. SQLite's REPLACE conflict resolution (INSERT OR REPLACE, REPLACE INTO) deletes the
# row in the way without firing DELETE triggers, so on SQLite a BEFORE INSERT trigger also refuses a
# row whose key is taken. An upsert's DO UPDATE fires the UPDATE triggers (both backends); PostgreSQL
# has no REPLACE. A plain INSERT of a taken key fails here instead of at the unique index: the
# (artifact_id, version) message keeps the words of SQLite's own, so it still reads as a concurrent
# append (store/error_codes.py). A blob row may be written again with the same bytes (an import's
# ON CONFLICT DO NOTHING of content already stored): that changes nothing.
NO_REPLACE_TABLES = ("ledger_events", "ledger_blobs", "ledger_info")
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
}
GUARDED_TABLES = ("ledger_events", "ledger_blobs", "ledger_info")
"""Every table whose rows are never updated or deleted, by triggers (0001: events, blobs; 0002: info)."""


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


def guard_ddl(table: str, dialect: str) -> list[str]:
    """Every guard statement of ``table`` at the head revision (``create_all`` and ``repair_guards`` run these)."""
    if table == EXPIRY_GUARDED:
        return [*expiry_guard_ddl(dialect), *no_replace_ddl(table, dialect)]
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
            else []
        )
        return [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            *drop_append_only_ddl(table, dialect),
            *expiry,
        ]
    return []


def _assign_ledger_id(target: Table, connection: Connection, **_: object) -> None:
    """A new ledger gets its id as its ``ledger_info`` table is created."""
    from ..ids import new_id, ulid_str

    connection.execute(target.insert().values(key=LEDGER_ID_KEY, value=ulid_str(new_id())))


for _table in (events, blobs, info):
    for _dialect in ("sqlite", "postgresql"):
        for _statement in guard_ddl(_table.name, _dialect):
            event.listen(_table, "after_create", _ddl(_statement).execute_if(dialect=_dialect))
        for _statement in drop_append_only_ddl(_table.name, _dialect):
            event.listen(_table, "before_drop", _ddl(_statement).execute_if(dialect=_dialect))
event.listen(info, "after_create", _assign_ledger_id)


def table_names() -> list[str]:
    return [t.name for t in metadata.sorted_tables]
