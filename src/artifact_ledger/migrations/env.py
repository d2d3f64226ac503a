"""Alembic environment for the ledger tables (async; its own version table ``ledger_alembic_version``).

``artifact_ledger.migrate`` hands a connection in through ``config.attributes["connection"]``
(already locked, in a transaction it commits itself). Run by the ``alembic`` command instead,
it opens its own async engine from ``sqlalchemy.url`` or ``ARTIFACT_LEDGER_URL``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from artifact_ledger.migrate import VERSION_TABLE, lock
from artifact_ledger.store.engine import DEFAULT_URL, create_engine
from artifact_ledger.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy-and-move
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await lock(conn)  # the same migration lock as artifact_ledger.migrate.upgrade
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("artifact-ledger migrations run online only (the triggers differ per database)")
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("ARTIFACT_LEDGER_URL", DEFAULT_URL)
    asyncio.run(_run_standalone(url))


main()
