"""Alembic migrations for the ledger tables, from Python: ``upgrade``, ``downgrade``, ``migrate_to``,
``repair_guards``, ``current_revision``.

The scripts live in ``artifact_ledger/migrations`` (shipped in the wheel) and record their
revision in ``ledger_alembic_version``, so they share a database with the host application's
own Alembic history. Every upgrade or downgrade first takes a migration lock, so two processes
starting at once run the migration once: the second waits, then finds the schema current.

Ledger tables made by ``metadata.create_all`` carry no revision: ``upgrade`` adopts them (stamps
the revision their tables show, then runs what is newer). A downgrade to ``base`` drops the
log, so it is refused while the log holds events (``discard_log=True`` from Python only); a
downgrade that would drop the projections of events the log holds (holds and retention below
0006, aliases and links below 0004) is refused by those revisions. A database at a revision this
version does not ship (a newer version migrated it) is refused before Alembic runs.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, bindparam, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .errors import InvalidArgumentError, LedgerError, LedgerUnavailableError, SchemaOutOfDateError
from .store.engine import create_engine
from .store.errors import translated
from .store.guards import assign_ledger_id, guard_problems
from .store.guards import repair_guards as _repair_guards
from .store.log_indexes import create_log_indexes_ddl
from .store.one_writer import one_writer
from .store.recorder import recorder_for
from .store.tables import aliases, events, holds, indexes, info, merkle_frontier, metadata

T = TypeVar("T")

HEAD_REVISION = "0008"
"""The newest revision this version of artifact-ledger ships; ``Ledger.open`` expects the database there."""

REVISIONS = (None, "0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008")
"""Every revision in order (``None``: base, nothing of the ledger)."""

VERSION_TABLE = "ledger_alembic_version"
SCRIPT_LOCATION = Path(__file__).parent / "migrations"

SQLITE_ATTEMPTS = 6
"""How often a migration on SQLite is tried when another process holds the new file's locks."""

_engine_locks: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


async def lock(conn: AsyncConnection) -> None:
    """Take the migration lock in ``conn``'s transaction (released when it commits or rolls back)."""
    await (await recorder_for(conn)).migration_lock()


def config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the ledger's scripts (``connection``: run on it rather than open one)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def current_revision_of(connection: Connection) -> str | None:
    """The recorded revision, read on a synchronous connection (``None``: none recorded)."""
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def is_newer(revision: str | None) -> bool:
    """Whether ``revision`` is one a later version of artifact-ledger ships (numbered past the head)."""
    return revision is not None and len(revision) == 4 and revision.isdigit() and revision > HEAD_REVISION


def unknown_revision_error(revision: str, where: str) -> SchemaOutOfDateError:
    """The error for a database whose recorded revision this version does not ship."""
    cause = (
        "a newer version of artifact-ledger migrated it. Nothing was changed; use that version (or a later one), "
        "or restore the backup taken before its migration"
        if is_newer(revision)
        else "it was not written by artifact-ledger's migrations. Nothing was changed; check that the URL names "
        f"the right database, and the {VERSION_TABLE} table in it"
    )
    known = ", ".join(r for r in REVISIONS if r is not None)
    return SchemaOutOfDateError(
        f"the ledger schema at {where} is at revision {revision!r}, which this artifact-ledger does not know "
        f"(it knows {known}): {cause}"
    )


def _known_revision(connection: Connection) -> str | None:
    """The recorded revision; one this version does not ship is :class:`SchemaOutOfDateError`, before
    Alembic, which knows only the scripts here, fails on it with an error of its own."""
    revision = current_revision_of(connection)
    if revision not in REVISIONS:
        raise unknown_revision_error(str(revision), connection.engine.url.render_as_string(hide_password=True))
    return revision


async def _locked(url_or_engine: str | URL | AsyncEngine, work: Callable[[Connection], None]) -> None:
    owns = not isinstance(url_or_engine, AsyncEngine)
    engine = url_or_engine if isinstance(url_or_engine, AsyncEngine) else create_engine(url_or_engine)
    try:
        # One engine can hand two coroutines the same connection (SQLite in memory): take turns in-process first,
        # with other migrations and (one_writer) with the ledger's writers, whose half-done transaction this
        # connection's commit or rollback would otherwise end.
        async with _engine_locks.setdefault(engine.sync_engine, asyncio.Lock()), one_writer(engine):
            for attempt in range(SQLITE_ATTEMPTS):
                try:
                    with translated():
                        async with engine.connect() as conn:
                            await lock(conn)
                            await conn.run_sync(work)
                            await conn.commit()
                    return
                except LedgerUnavailableError:
                    # Two processes opening a brand-new SQLite file race to switch it to WAL while
                    # it is still in rollback-journal mode; SQLite breaks that lock cycle by failing
                    # one of them at once (no busy wait). The migration is transactional and
                    # idempotent, so the loser simply tries again.
                    if engine.dialect.name != "sqlite" or attempt == SQLITE_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.05 * 2**attempt)
    finally:
        if owns:
            await engine.dispose()


async def upgrade(url_or_engine: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Bring the ledger tables to ``revision`` (default the newest); a no-op where they are there already.

    Tables made by ``create_all`` without a recorded revision are adopted first; a ledger without
    an id gets one.
    """

    def work(connection: Connection) -> None:
        _known_revision(connection)
        _adopt(connection)
        command.upgrade(config(connection), revision)
        if current_revision_of(connection) == HEAD_REVISION:
            assign_ledger_id(connection)

    await _locked(url_or_engine, work)


def _adopt(connection: Connection) -> None:
    """Stamp ledger tables made by ``create_all`` (no revision recorded) with the revision they are at."""
    if current_revision_of(connection) is not None:
        return
    existing = set(inspect(connection).get_table_names())
    if events.name not in existing:
        return
    revision = (
        "0001"
        if info.name not in existing
        else HEAD_REVISION
        if holds.name in existing
        else "0005"
        if merkle_frontier.name in existing
        else "0004"
        if aliases.name in existing
        else "0003"
        if indexes.name in existing
        else "0002"
    )
    command.stamp(config(connection), revision)
    if revision == HEAD_REVISION:
        _log_indexes(connection)


def _log_indexes(connection: Connection) -> None:
    """The indexes revision 0008 adds, on tables stamped at the head without running it (``create_all``
    made them only from 0008 on; without them a link or alias write's log read scans the log)."""
    for statement in create_log_indexes_ddl(connection.dialect.name):
        connection.execute(text(statement))


def refuse_losing_events(connection: Connection, below: str, types: Sequence[str], what: str, loss: str) -> None:
    """For a revision's downgrade, which drops the projections of the log's events of ``types``: refused
    (:class:`LedgerError` counting them) while the log holds any, since an upgrade would make those
    tables again empty and ``loss`` would follow. A downgrade to ``base`` drops the log with them and
    has its own check."""
    if context.config.attributes.get("downgrade_to") == "base":
        return
    query = text("SELECT type, count(*) FROM ledger_events WHERE type IN :types GROUP BY type ORDER BY type")
    found = connection.execute(query.bindparams(bindparam("types", expanding=True)), {"types": list(types)}).all()
    if found:
        counts = ", ".join(f"{n} {kind}" for kind, n in found)
        raise LedgerError(
            f"refusing to downgrade below revision {below}: the log holds {what} events ({counts}), which the "
            f"revision before it has no tables for; upgrading again would make those tables empty, so {loss}. "
            "Nothing was changed"
        )


def _log_size(connection: Connection) -> int:
    if events.name not in set(inspect(connection).get_table_names()):
        return 0
    return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


async def downgrade(
    url_or_engine: str | URL | AsyncEngine, revision: str = "base", *, discard_log: bool = False
) -> None:
    """Take the ledger tables back to ``revision``; ``"base"`` drops them all, the version table too.

    Going to ``base`` drops the log: refused with :class:`LedgerError` while the log holds events,
    unless ``discard_log`` (export the ledger first: ``artifact-ledger export``). Going below
    revision 0002 forgets the ledger's id (see the operations guide about its key file).
    """

    def work(connection: Connection) -> None:
        _known_revision(connection)
        if revision == "base" and not discard_log and (count := _log_size(connection)):
            raise LedgerError(
                f"refusing to downgrade to base: that drops the ledger's log, and it holds {count} "
                f"event{'s' if count != 1 else ''}. "
                "Export it first (`artifact-ledger export DIR`); to drop it anyway, call "
                "artifact_ledger.migrate.downgrade(url, 'base', discard_log=True)"
            )
        settings = config(connection)
        settings.attributes["downgrade_to"] = revision  # revision 0007 lets a drop of everything through
        command.downgrade(settings, revision)
        if revision == "base":
            connection.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))

    await _locked(url_or_engine, work)


def checked_revision(revision: str) -> str | None:
    """The revision ``revision`` names (``head``: the newest; ``base``: ``None``); an unknown one is
    :class:`InvalidArgumentError`."""
    target = HEAD_REVISION if revision == "head" else None if revision == "base" else revision
    if target not in REVISIONS:
        known = ", ".join(r for r in REVISIONS if r is not None)
        raise InvalidArgumentError(f"unknown revision {revision!r}: use head, base or one of {known}")
    return target


async def migrate_to(url_or_engine: str | URL | AsyncEngine, revision: str = "head") -> str | None:
    """Upgrade or downgrade to ``revision`` (``head``, ``base``, ``0001``...), whichever way it lies.

    Returns the revision reached (``None`` for base). An unknown revision is :class:`InvalidArgumentError`;
    a database at a revision this version does not ship (a newer version migrated it) is
    :class:`SchemaOutOfDateError`, and nothing is changed.
    """
    target = checked_revision(revision)
    current = await current_revision(url_or_engine)
    if current not in REVISIONS:
        where = url_or_engine.url if isinstance(url_or_engine, AsyncEngine) else make_url(url_or_engine)
        raise unknown_revision_error(str(current), where.render_as_string(hide_password=True))
    if REVISIONS.index(target) >= REVISIONS.index(current):
        await upgrade(url_or_engine, target or "base")
    else:
        await downgrade(url_or_engine, target or "base")
    return target


async def repair_guards(url_or_engine: str | URL | AsyncEngine) -> list[str]:
    """Create the append-only guards again, exactly as this version defines them.

    Returns what was missing or altered before (empty: nothing was wrong; they are made again
    anyway). The schema must be at the head revision (else :class:`SchemaOutOfDateError`). The
    log is not checked here: run ``verify`` afterwards, since whoever removed a guard could have
    changed rows meanwhile.
    """
    found: list[str] = []

    def work(connection: Connection) -> None:
        _known_revision(connection)
        _adopt(connection)
        revision = current_revision_of(connection)
        if revision != HEAD_REVISION:
            raise SchemaOutOfDateError(
                f"the ledger schema is at revision {revision or 'base'}, not {HEAD_REVISION}: "
                "run `artifact-ledger migrate` (it creates every guard)"
            )
        found.extend(_repair_guards(connection))
        assign_ledger_id(connection)

    await _locked(url_or_engine, work)
    return found


async def check_guards(url_or_engine: str | URL | AsyncEngine) -> list[str]:
    """What is missing or altered among the append-only guards (empty: all present as created)."""
    owns = not isinstance(url_or_engine, AsyncEngine)
    engine = url_or_engine if isinstance(url_or_engine, AsyncEngine) else create_engine(url_or_engine)
    try:
        with translated():
            async with engine.connect() as conn:
                return await conn.run_sync(guard_problems)
    finally:
        if owns:
            await engine.dispose()


async def stamp(url_or_engine: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Record ``revision`` without running it, unless a revision is recorded already (tables made by ``create_all``)."""

    def work(connection: Connection) -> None:
        if current_revision_of(connection) is None:
            command.stamp(config(connection), revision)
            if revision in ("head", HEAD_REVISION) and events.name in inspect(connection).get_table_names():
                _log_indexes(connection)

    await _locked(url_or_engine, work)


def _unrelated_tables(connection: Connection) -> list[str] | None:
    existing = inspect(connection).get_table_names()
    if events.name in existing or current_revision_of(connection) is not None:
        return None
    ours = {*metadata.tables, VERSION_TABLE}
    return sorted(t for t in existing if t not in ours)


async def unrelated_tables(url_or_engine: str | URL | AsyncEngine) -> list[str] | None:
    """The tables of a database that holds no ledger yet that are not the ledger's (``[]``: an empty
    database); ``None`` when it holds a ledger already. ``artifact-ledger migrate`` names them: it
    creates the ledger's tables beside them, which a mistyped URL could point at."""
    return await _look(url_or_engine, _unrelated_tables)


async def current_revision(url_or_engine: str | URL | AsyncEngine) -> str | None:
    """The revision recorded in ``ledger_alembic_version``, or ``None`` (no version table, or no row)."""
    return await _look(url_or_engine, current_revision_of)


async def _look(url_or_engine: str | URL | AsyncEngine, look: Callable[[Connection], T]) -> T:
    """``look`` run on a connection of ``url_or_engine`` (an engine made for a URL is disposed after)."""
    owns = not isinstance(url_or_engine, AsyncEngine)
    engine = url_or_engine if isinstance(url_or_engine, AsyncEngine) else create_engine(url_or_engine)
    try:
        with translated():
            async with engine.connect() as conn:
                return await conn.run_sync(look)
    finally:
        if owns:
            await engine.dispose()
