"""The log's indexes for provenance writes (``store/log_indexes.py``): link events by source
artifact, alias events by name and by target artifact.

A link or alias write reads what the log holds (the links from the artifacts a cycle walk reaches,
the stream of an alias name, the aliases of an artifact being deleted) and holds ``ledger_links``
and ``ledger_aliases`` to it; these partial expression indexes on ``ledger_events`` make each of
those reads a seek. They change no row and no guard: the append-only triggers stay as they are.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from artifact_ledger.store.log_indexes import create_log_indexes_ddl, drop_log_indexes_ddl

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    for statement in create_log_indexes_ddl(op.get_bind().dialect.name):  # IF NOT EXISTS: create_all made them
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_log_indexes_ddl(op.get_bind().dialect.name):
        op.execute(statement)
