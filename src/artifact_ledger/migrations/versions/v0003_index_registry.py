"""The index registry: ``ledger_indexes`` records the expression indexes made on data paths.

``Ledger.create_index`` writes a row per path with the index; ``rebuild`` makes every recorded
index again. The indexes themselves live on ``ledger_artifacts`` and are left alone by both
directions of this revision (a downgrade forgets which paths were indexed, not the indexes).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from artifact_ledger.store.tables import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if "ledger_indexes" in set(sa.inspect(op.get_bind()).get_table_names()):
        return  # made by create_all with the rest, adopted at an older revision
    op.create_table(
        "ledger_indexes",
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_ledger_indexes"),
        sa.UniqueConstraint("name", name="uq_ledger_indexes_name"),
    )


def downgrade() -> None:
    op.drop_table("ledger_indexes")
