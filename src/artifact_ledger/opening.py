"""Opening a ledger's database: create or check its schema, guards and id (the read replica: ``replicas.py``).

Everything :meth:`Ledger.open <artifact_ledger.ledger.Ledger.open>` checks before it hands out a
ledger lives here, so the composition root in ``ledger.py`` only wires the pieces together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import LedgerNotFoundError, SchemaOutOfDateError, SchemaTamperedError
from .store.errors import translated
from .store.guards import assign_ledger_id, guard_problems, read_ledger_id
from .store.tables import info, metadata, table_names

_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def _masked(url: str | URL) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<not a database URL>"


def not_found(url: str | URL) -> LedgerNotFoundError:
    """The error for a URL where there is no ledger (and ``create=False`` made none); the password masked."""
    where = _masked(url)
    return LedgerNotFoundError(
        f"no ledger at {where}: nothing was created. Check the URL or path, or create the ledger with "
        "`artifact-ledger migrate` (Ledger.open(url) creates it too)",
        where=where,
    )


@dataclass
class _Look:
    missing: list[str]
    revision: str | None
    lacking: list[str]
    guards: list[str]
    ledger_id: str | None


def _look(conn: Connection) -> _Look:
    """The ledger tables there are, the recorded revision, missing columns, guard problems, the id."""
    from . import migrate

    existing = set(inspect(conn).get_table_names())
    missing = [t for t in table_names() if t not in existing]
    revision = migrate.current_revision_of(conn) if migrate.VERSION_TABLE in existing else None
    lacking: list[str] = []
    if not missing and revision is None:
        for table in metadata.sorted_tables:
            have = {c["name"] for c in inspect(conn).get_columns(table.name)}
            lacking += [f"{table.name}.{c.name}" for c in table.columns if c.name not in have]
    guards = guard_problems(conn) if not missing and not lacking else []
    ledger_id = read_ledger_id(conn) if info.name in existing else None
    return _Look(missing, revision, lacking, guards, ledger_id)


async def prepare_schema(engine: AsyncEngine, create: bool) -> str:
    """Create the schema on an empty database (through the migrations), or check it is current and
    guarded; returns the ledger's id.

    Tables made by ``metadata.create_all`` (chapkit-style code never stamps) count as current when
    every ledger table and column is there; with ``create`` they are stamped at the head revision.
    """
    from . import migrate

    where = engine.url.render_as_string(hide_password=True)
    with translated():
        async with engine.connect() as conn:
            look = await conn.run_sync(_look)
    if migrate.is_newer(look.revision):
        raise migrate.unknown_revision_error(str(look.revision), where)
    if look.revision is not None and look.revision != migrate.HEAD_REVISION:
        raise SchemaOutOfDateError(
            f"the ledger schema at {where} is at revision {look.revision}; this artifact-ledger expects "
            f"{migrate.HEAD_REVISION}: run `artifact-ledger migrate`"
        )
    if len(look.missing) == len(table_names()) and look.revision is None:
        if not create:
            raise not_found(engine.url)
        await migrate.upgrade(engine)
        return await _ledger_id(engine, where)
    if look.missing:
        raise SchemaOutOfDateError(
            f"the database at {where} lacks the ledger tables {', '.join(look.missing)}; run `artifact-ledger migrate`"
        )
    if look.lacking:
        raise SchemaOutOfDateError(
            f"the ledger tables at {where} lack the columns {', '.join(look.lacking)}; run `artifact-ledger migrate`"
        )
    if look.guards:
        raise SchemaTamperedError(
            f"the ledger at {where} is not guarded: {'; '.join(look.guards)}. The database would accept changes "
            "to the log. Put the guards back with `artifact-ledger migrate --repair-guards`, then run "
            "`artifact-ledger verify`",
            problems=look.guards,
            where=where,
        )
    if look.revision is None and create:
        await migrate.stamp(engine)
    if look.ledger_id is None:
        if not create:
            raise SchemaOutOfDateError(
                f"the ledger at {where} has no ledger id yet; run `artifact-ledger migrate` "
                "(or open it with create=True)"
            )
        return await _ledger_id(engine, where, assign=True)
    return _checked_id(look.ledger_id, where)


async def _ledger_id(engine: AsyncEngine, where: str, *, assign: bool = False) -> str:
    with translated():
        async with engine.begin() as conn:
            found = await conn.run_sync(assign_ledger_id if assign else read_ledger_id)
    if found is None:  # pragma: no cover - the migrations always store one
        raise SchemaOutOfDateError(f"the ledger at {where} has no ledger id; run `artifact-ledger migrate`")
    return _checked_id(found, where)


def _checked_id(ledger_id: str, where: str) -> str:
    """A stored id must be a ULID: it names the key file, so anything else could point outside the key directory."""
    if not _ULID.fullmatch(ledger_id):
        raise SchemaTamperedError(
            f"the ledger at {where} holds {ledger_id!r} as its ledger id in ledger_info, not a ULID; "
            "someone changed it. Restore ledger_info from a backup",
            problems=[f"ledger_info.ledger_id is {ledger_id!r}"],
            where=where,
        )
    return ledger_id
