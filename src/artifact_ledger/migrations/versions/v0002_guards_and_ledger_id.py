"""Guards against replacing rows (SQLite), and the ledger's own id.

SQLite's ``INSERT OR REPLACE`` deletes a row in the way without firing DELETE triggers; a
BEFORE INSERT trigger on ``ledger_events`` and ``ledger_blobs`` now refuses a row whose key
is taken. ``ledger_info`` holds the ledger's id (a ULID made here for an existing ledger), by
which the pickle-signing key file is found; its rows are guarded like the log's.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from artifact_ledger.store.guards import assign_ledger_id
from artifact_ledger.store.tables import append_only_ddl, drop_append_only_ddl, no_replace_ddl

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "ledger_info",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_ledger_info"),
    )
    assign_ledger_id(op.get_bind())
    for statement in append_only_ddl("ledger_info", dialect):
        op.execute(statement)
    for table in ("ledger_events", "ledger_blobs", "ledger_info"):
        for statement in no_replace_ddl(table, dialect):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in ("ledger_events", "ledger_blobs"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
    for statement in drop_append_only_ddl("ledger_info", dialect):
        op.execute(statement)
    op.drop_table("ledger_info")
