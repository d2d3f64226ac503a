"""The log's index of link events by source artifact (``store/link_index.py``).

A link write reads the links the log holds from the artifacts it looks at (the cycle walk, the
link's own stream) and holds ``ledger_links`` to them; this partial expression index on
``ledger_events`` makes that read a seek per artifact. It changes no row and no guard: the append-only
triggers stay as they are.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from artifact_ledger.store.link_index import create_link_index_ddl, drop_link_index_ddl

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(create_link_index_ddl(op.get_bind().dialect.name))  # IF NOT EXISTS: create_all made it already


def downgrade() -> None:
    op.execute(drop_link_index_ddl(op.get_bind().dialect.name))
