"""Chain format 2: the ``ledger_openings`` table, and the guard of ``ledger_events`` that lets a
redaction, and only a redaction, rewrite the payload of an event sealed under format 2.

An existing ledger has no format-2 events, so the table starts empty and consistent; its events
keep chain format 1 until ``artifact-ledger upgrade-chain`` switches it (one way). A ledger with no
event yet (one the migrations are creating) seals format 2 from its first event, as ``create_all``
makes new ledgers do. DELETE and
TRUNCATE of ``ledger_events`` stay refused; an UPDATE passes only for an event whose opening has
already lost its event salt, and only if nothing but the payload changes
(``store/guard_ddl.py``, ``redaction_guard_ddl``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from artifact_ledger.errors import LedgerError
from artifact_ledger.store.tables import append_only_ddl, drop_guard_ddl, guard_ddl, no_replace_ddl

_KEY = "chain_format_2_from"  # store/tables.py CHAIN_FORMAT_2_KEY, as this revision wrote it

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def _record_switch(bind: sa.Connection) -> None:
    """Record where the writer seals format 2 from, unless the ledger says so already: the first
    event that has an opening; with none, the first event of an empty log. (An adopted ledger whose
    ``ledger_info`` was made again by revision 0002 has format-2 events but lost the row: without
    it the writer would seal the next event under format 1, and ``verify`` reports the gap.)"""
    known = bind.execute(sa.text("SELECT count(*) FROM ledger_info WHERE key = :k"), {"k": _KEY}).scalar_one()
    if known:
        return
    first = bind.execute(sa.text("SELECT min(position) FROM ledger_openings")).scalar_one()
    if first is None and bind.execute(sa.text("SELECT count(*) FROM ledger_events")).scalar_one() == 0:
        first = 1
    if first is not None:
        bind.execute(sa.text("INSERT INTO ledger_info (key, value) VALUES (:k, :v)"), {"k": _KEY, "v": str(first)})


def upgrade() -> None:
    bind = op.get_bind()
    if "ledger_openings" in set(sa.inspect(bind).get_table_names()):
        _record_switch(bind)  # made by create_all with the rest (and its guards), adopted at an older revision
        return
    op.create_table(
        "ledger_openings",
        sa.Column("position", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("salt", sa.LargeBinary(32)),
        sa.Column("salts", sa.Text),
        sa.Column("erased", sa.Text),
        sa.PrimaryKeyConstraint("position", name="pk_ledger_openings"),
    )
    dialect = bind.dialect.name
    for statement in [*drop_guard_ddl("ledger_events", dialect), *guard_ddl("ledger_events", dialect)]:
        op.execute(statement)
    for statement in guard_ddl("ledger_openings", dialect):
        op.execute(statement)
    # A ledger with no event yet (one being created by the migrations) seals format 2 from its first.
    _record_switch(bind)


def downgrade() -> None:
    bind = op.get_bind()
    found = bind.execute(sa.text("SELECT count(*) FROM ledger_openings")).scalar_one()
    if found and context.config.attributes.get("downgrade_to") != "base":  # base drops the log with it
        raise LedgerError(
            f"refusing to downgrade below revision 0007: the ledger holds {found} event(s) sealed under chain "
            "format 2, whose salts live in ledger_openings; without them those events could never be verified "
            "again. Nothing was changed. Export the ledger first (`artifact-ledger export DIR`) if you must"
        )
    dialect = bind.dialect.name
    for statement in [*drop_guard_ddl("ledger_events", dialect), *drop_guard_ddl("ledger_openings", dialect)]:
        op.execute(statement)
    for statement in [*append_only_ddl("ledger_events", dialect), *no_replace_ddl("ledger_events", dialect)]:
        op.execute(statement)
    op.drop_table("ledger_openings")
