"""Retention: the ``ledger_holds``, ``ledger_expired_content`` and ``ledger_expired_blobs``
projections, and the guard of ``ledger_blobs`` that lets retention, and only retention, delete.

The three tables are written by the artifacts projector from ``hold.*`` and
``retention.applied`` events, so an existing ledger (which has none yet) starts with them empty
and consistent. ``ledger_blobs`` keeps refusing UPDATE and TRUNCATE; a DELETE passes only for a
hash ``ledger_expired_blobs`` lists (``store/tables.py``, ``expiry_guard_ddl``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from artifact_ledger.migrate import refuse_losing_events
from artifact_ledger.store.tables import (
    UtcDateTime,
    append_only_ddl,
    drop_guard_ddl,
    guard_ddl,
    no_replace_ddl,
)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = ("ledger_holds", "ledger_expired_content", "ledger_expired_blobs")
_EVENTS = ("hold.set", "hold.released", "retention.applied")  # events.py, as this revision projects them


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    if all(t in existing for t in _TABLES):
        return  # made by create_all with the rest (and its guards), adopted at an older revision
    op.create_table(
        "ledger_holds",
        sa.Column("artifact_id", sa.String(26), nullable=False),
        sa.Column("stream_id", sa.String(26), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("held", sa.SmallInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(255)),
        sa.PrimaryKeyConstraint("artifact_id", name="pk_ledger_holds"),
        sa.UniqueConstraint("stream_id", name="uq_ledger_holds_stream_id"),
    )
    op.create_table(
        "ledger_expired_content",
        sa.Column("artifact_id", sa.String(26), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", "version", name="pk_ledger_expired_content"),
    )
    op.create_index("ix_ledger_expired_content_hash", "ledger_expired_content", ["hash"])
    op.create_table(
        "ledger_expired_blobs",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_ledger_expired_blobs"),
    )
    dialect = bind.dialect.name
    for statement in [*drop_guard_ddl("ledger_blobs", dialect), *guard_ddl("ledger_blobs", dialect)]:
        op.execute(statement)


def downgrade() -> None:
    # The three tables are the projections of the log's hold and retention events.
    loss = (
        "the holds would be gone (a retention run could then expire held content) "
        "and expired content would read as missing"
    )
    refuse_losing_events(op.get_bind(), "0006", _EVENTS, "hold and retention", loss)
    dialect = op.get_bind().dialect.name
    for statement in drop_guard_ddl("ledger_blobs", dialect):
        op.execute(statement)
    # The guards of revisions 0001 and 0002: no update, no delete, no replace.
    for statement in [*append_only_ddl("ledger_blobs", dialect), *no_replace_ddl("ledger_blobs", dialect)]:
        op.execute(statement)
    op.drop_table("ledger_expired_blobs")
    op.drop_index("ix_ledger_expired_content_hash", table_name="ledger_expired_content")
    op.drop_table("ledger_expired_content")
    op.drop_table("ledger_holds")
