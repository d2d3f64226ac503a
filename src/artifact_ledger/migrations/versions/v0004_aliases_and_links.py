"""Aliases and lineage links: the ``ledger_aliases`` and ``ledger_links`` projections.

Both are written by the artifacts projector from ``alias.*`` and ``link.*`` events, so an
existing ledger (which has no such events yet) starts with them empty and consistent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from artifact_ledger.migrate import refuse_losing_events
from artifact_ledger.store.tables import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "ledger_aliases" in existing and "ledger_links" in existing:
        return  # made by create_all with the rest, adopted at an older revision
    op.create_table(
        "ledger_aliases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("stream_id", sa.String(26), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("artifact_id", sa.String(26)),
        sa.Column("version", sa.Integer),
        sa.Column("protected", sa.SmallInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(255)),
        sa.PrimaryKeyConstraint("name", name="pk_ledger_aliases"),
        sa.UniqueConstraint("stream_id", name="uq_ledger_aliases_stream_id"),
    )
    op.create_index("ix_ledger_aliases_artifact_id", "ledger_aliases", ["artifact_id"])
    op.create_table(
        "ledger_links",
        sa.Column("stream_id", sa.String(26), nullable=False),
        sa.Column("valid_from", sa.BigInteger, nullable=False),
        sa.Column("valid_to", sa.BigInteger),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("src_id", sa.String(26), nullable=False),
        sa.Column("src_version", sa.Integer, nullable=False),
        sa.Column("dst_id", sa.String(26), nullable=False),
        sa.Column("dst_version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "valid_from", name="pk_ledger_links"),
    )
    op.create_index("ix_ledger_links_src_id_valid_from", "ledger_links", ["src_id", "valid_from"])
    op.create_index("ix_ledger_links_dst_id_valid_from", "ledger_links", ["dst_id", "valid_from"])


_EVENTS = ("alias.set", "alias.removed", "alias.protected", "link.added", "link.removed")  # as events.py names them


def downgrade() -> None:
    # The two tables are the projections of the log's alias and link events.
    refuse_losing_events(op.get_bind(), "0004", _EVENTS, "alias and link", "the aliases and links would be lost")
    op.drop_table("ledger_links")
    op.drop_table("ledger_aliases")
