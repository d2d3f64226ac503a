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

from .guard_ddl import (
    APPEND_ONLY_TABLES,
    EXPIRY_GUARDED,
    GUARDED_TABLES,
    NO_REPLACE_TABLES,
    append_only_ddl,
    drop_append_only_ddl,
    drop_guard_ddl,
    expiry_guard_ddl,
    guard_ddl,
    no_replace_ddl,
)
from .log_indexes import create_log_indexes_ddl, drop_log_indexes_ddl

__all__ = [  # the tables, and the guard DDL (in guard_ddl.py) importable from here as before
    "APPEND_ONLY_TABLES",
    "CHAIN_FORMAT_2_KEY",
    "EXPIRY_GUARDED",
    "GUARDED_TABLES",
    "LEDGER_ID_KEY",
    "MERKLE_FRONTIER_ID",
    "NAMING",
    "NO_REPLACE_TABLES",
    "PROJECTORS",
    "ULID_LEN",
    "UtcDateTime",
    "aliases",
    "append_only_ddl",
    "artifacts",
    "blobs",
    "checkpoints",
    "closure",
    "drop_append_only_ddl",
    "drop_guard_ddl",
    "events",
    "expired_blobs",
    "expired_content",
    "expiry_guard_ddl",
    "guard_ddl",
    "holds",
    "indexes",
    "info",
    "links",
    "merkle_frontier",
    "merkle_nodes",
    "metadata",
    "no_replace_ddl",
    "openings",
    "parent_history",
    "stamp_reader",
    "table_names",
]


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
CHAIN_FORMAT_2_KEY = "chain_format_2_from"
"""The ``ledger_info`` key of the first position sealed under chain format 2 (absent: every event is
format 1). Written once, by the upgrade or when a new ledger is created; the writer reads it with the
head. A cache of what the log says: ``verify`` finds each event's format from its own opening."""

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


openings = Table(
    "ledger_openings",
    metadata,
    Column("position", BigInteger, nullable=False, autoincrement=False),
    Column("salt", LargeBinary(32)),
    Column("salts", Text),
    Column("erased", Text),
    PrimaryKeyConstraint("position"),
)
"""Revision 0007. What opens the commitment of each event sealed under chain format 2 (one row per
such event, written in its append transaction): ``salt`` the event salt while nothing of its payload is
erased; after a redaction ``salt`` is NULL and ``salts`` / ``erased`` hold, as JSON objects of leaf path
-> hex, the salt of each leaf that stays and the digest of each leaf erased (``chain_v2.Opening``)."""


def _assign_ledger_id(target: Table, connection: Connection, **_: object) -> None:
    """A new ledger gets its id as its ``ledger_info`` table is created, and seals chain format 2 from
    its first event."""
    from ..ids import new_id, ulid_str

    connection.execute(target.insert().values(key=LEDGER_ID_KEY, value=ulid_str(new_id())))
    # A new ledger seals every event under chain format 2 (salted commitments: redactable).
    connection.execute(target.insert().values(key=CHAIN_FORMAT_2_KEY, value="1"))


for _table in (events, blobs, info, openings):
    for _dialect in ("sqlite", "postgresql"):
        for _statement in guard_ddl(_table.name, _dialect):
            event.listen(_table, "after_create", _ddl(_statement).execute_if(dialect=_dialect))
        for _statement in drop_append_only_ddl(_table.name, _dialect):
            event.listen(_table, "before_drop", _ddl(_statement).execute_if(dialect=_dialect))
event.listen(info, "after_create", _assign_ledger_id)
for _dialect in ("sqlite", "postgresql"):  # revision 0008: the log's provenance indexes (log_indexes.py)
    for _statement in create_log_indexes_ddl(_dialect):
        event.listen(events, "after_create", _ddl(_statement).execute_if(dialect=_dialect))
    for _statement in drop_log_indexes_ddl(_dialect):
        event.listen(events, "before_drop", _ddl(_statement).execute_if(dialect=_dialect))


def table_names() -> list[str]:
    return [t.name for t in metadata.sorted_tables]
