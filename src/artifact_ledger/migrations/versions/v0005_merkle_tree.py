"""The Merkle tree over the log: ``ledger_merkle_frontier`` and ``ledger_merkle_nodes``.

An existing log gets its tree here: the event hashes are read in order, a page at a time, and
the frontier and the stored subtrees computed from them (``merkle.py``), as ``rebuild`` does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from artifact_ledger.merkle import Frontier, Node
from artifact_ledger.store.tables import MERKLE_FRONTIER_ID, events, merkle_frontier, merkle_nodes

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_PAGE = 10_000


def upgrade() -> None:
    bind = op.get_bind()
    if "ledger_merkle_frontier" in set(sa.inspect(bind).get_table_names()):
        return  # made by create_all with the rest, adopted at an older revision
    op.create_table(
        "ledger_merkle_frontier",
        sa.Column("id", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("roots", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_merkle_frontier"),
    )
    op.create_table(
        "ledger_merkle_nodes",
        sa.Column("level", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("idx", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_merkle_nodes"),
        sqlite_with_rowid=False,
    )
    frontier = Frontier()
    position = 0
    while True:
        rows = bind.execute(
            sa.select(events.c.position, events.c.hash)
            .where(events.c.position > position)
            .order_by(events.c.position)
            .limit(_PAGE)
        ).all()
        if not rows:
            break
        nodes: list[Node] = []
        frontier.extend((bytes(r[1]) for r in rows), nodes)
        if nodes:
            bind.execute(sa.insert(merkle_nodes), [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes])
        position = int(rows[-1][0])
    if frontier.size:
        bind.execute(
            sa.insert(merkle_frontier).values(id=MERKLE_FRONTIER_ID, size=frontier.size, roots=frontier.packed())
        )


def downgrade() -> None:
    op.drop_table("ledger_merkle_nodes")
    op.drop_table("ledger_merkle_frontier")
