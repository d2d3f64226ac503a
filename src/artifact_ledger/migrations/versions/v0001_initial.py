"""The ledger's first schema: events, blobs, projections, checkpoints, append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from artifact_ledger.store.tables import APPEND_ONLY_TABLES, append_only_ddl, drop_append_only_ddl

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ULID = sa.String(26)
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_events",
        sa.Column("position", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("event_id", ULID, nullable=False),
        sa.Column("artifact_id", ULID, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("recorded_at", UTC_TS, nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("reason", sa.Text),
        sa.Column("correlation_id", sa.String(255)),
        sa.Column("causation_id", sa.String(255)),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_ledger_events"),
        sa.UniqueConstraint("artifact_id", "version", name="uq_ledger_events_artifact_id_version"),
        sa.UniqueConstraint("event_id", name="uq_ledger_events_event_id"),
    )
    op.create_index("ix_ledger_events_recorded_at_position", "ledger_events", ["recorded_at", "position"])
    op.create_index("ix_ledger_events_artifact_id_position", "ledger_events", ["artifact_id", "position"])
    op.create_table(
        "ledger_blobs",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_ledger_blobs"),
    )
    op.create_table(
        "ledger_artifacts",
        sa.Column("id", ULID, nullable=False),
        sa.Column("parent_id", ULID),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(255)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("content_codec", sa.String(32)),
        sa.Column("content_type", sa.String(255)),
        sa.Column("content_size", sa.BigInteger),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("updated_by", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_artifacts"),
    )
    op.create_index("ix_ledger_artifacts_parent_id", "ledger_artifacts", ["parent_id"])
    op.create_index("ix_ledger_artifacts_level", "ledger_artifacts", ["level"])
    op.create_table(
        "ledger_artifact_closure",
        sa.Column("ancestor_id", ULID, nullable=False),
        sa.Column("descendant_id", ULID, nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("ancestor_id", "descendant_id", name="pk_ledger_artifact_closure"),
    )
    op.create_index(
        "ix_ledger_artifact_closure_descendant_id_depth", "ledger_artifact_closure", ["descendant_id", "depth"]
    )
    op.create_table(
        "ledger_artifact_parent_history",
        sa.Column("artifact_id", ULID, nullable=False),
        sa.Column("valid_from", sa.BigInteger, nullable=False),
        sa.Column("valid_to", sa.BigInteger),
        sa.Column("parent_id", ULID),
        sa.PrimaryKeyConstraint("artifact_id", "valid_from", name="pk_ledger_artifact_parent_history"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_ledger_artifact_parent_history_parent_id_valid_from",
        "ledger_artifact_parent_history",
        ["parent_id", "valid_from"],
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("projector", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("projector", name="pk_ledger_checkpoints"),
    )
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        for statement in append_only_ddl(table, dialect):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        for statement in drop_append_only_ddl(table, dialect):
            op.execute(statement)
    for table in (
        "ledger_checkpoints",
        "ledger_artifact_parent_history",
        "ledger_artifact_closure",
        "ledger_artifacts",
        "ledger_blobs",
        "ledger_events",
    ):
        op.drop_table(table)
