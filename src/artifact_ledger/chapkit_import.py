"""Move a chapkit database over: each row of its ``artifacts`` table becomes an ``artifact.created`` event.

chapkit stores an artifact's ``data`` as an unsigned pickle (SQLAlchemy ``PickleType``), so
reading it runs whatever code the pickle names: :func:`import_chapkit` refuses unless the
caller vouches for the source (``trust_source=True``, the CLI's ``--trust-source``).

Every row is read and checked before anything is written: an id that is not a ULID or that
two rows share, a parent the table does not hold or a parent cycle, ``data`` that is not a
pickle (or that the ledger would refuse), ``tags`` that are not a JSON list of strings, a
``created_at`` that is not a time or lies in the future: any of these raises
:class:`ChapkitRowError` naming the table and the row, and nothing is written.

Then each row is saved in a transaction of its own, parents before children, with
``chapkit-import`` as the actor; ids, parents, tags and data are kept and ``level`` is
recomputed. The event is recorded at the row's ``created_at`` where the log allows it; but
``recorded_at`` never goes backwards along the log, so a row older than the ledger's last
event (or than an artifact imported before it in the same run, a parent created after its
child say) is recorded at that later time, and a NULL ``created_at`` at the import's time.
The result counts those rows (:class:`ChapkitImportResult`), and every imported event's
``reason`` keeps the row's ``created_at`` as chapkit stored it. Ids the ledger already holds,
live or deleted, are skipped, so a run that stopped part-way can simply be run again.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import NullType

from . import queries
from .command_input import prepare
from .commands import Commands
from .errors import ArtifactNotFoundError, ChapkitRowError, LedgerError, UntrustedContentError
from .ids import parse_id, ulid_str
from .ledger import Ledger
from .manager import ArtifactRepository
from .schemas import ArtifactIn
from .store.errors import translated
from .store.tables import events

__all__ = ["ACTOR", "FUTURE_TOLERANCE", "ChapkitImportResult", "ChapkitRowError", "import_chapkit", "require_trust"]

ACTOR = "chapkit-import"
FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far past the ledger clock's now a row's ``created_at`` may lie (clock skew) before it is refused."""
_BATCH = 500


@dataclass(frozen=True)
class ChapkitImportResult:
    imported: int
    """Rows saved as new artifacts."""
    skipped: int
    """Rows whose id the ledger already held (live or deleted): not written again."""
    times_raised_by_ledger: int = 0
    """Imported rows recorded later than their ``created_at`` because the ledger already held a later event."""
    times_raised_by_import: int = 0
    """Imported rows recorded later than their ``created_at`` because a row imported before them in this
    run (a parent created after its child, say) is later: the log's time never goes backwards."""
    times_missing: int = 0
    """Imported rows whose ``created_at`` is NULL: recorded at the import's time."""


@dataclass(frozen=True)
class _Row:
    """What the check of one row keeps for the save (its data is read again then)."""

    source_id: Any
    artifact_id: str
    parent_id: str | None
    created_at: datetime | None
    tags: list[str]


def _shown(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _source_table(name: str) -> Table:
    # NullType: every value comes back as the driver gives it, and each row is checked here, so
    # a bad value names its row instead of failing the whole read.
    return Table(
        name,
        MetaData(),
        Column("id", String(26), primary_key=True),
        Column("parent_id", NullType()),
        Column("data", NullType()),
        Column("tags", NullType()),
        Column("created_at", NullType()),
    )


def _source_engine(url: str) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except Exception:
        # Not repeated: a URL that does not parse may still hold a password (u:secret@host:badport).
        raise LedgerError(
            "the chapkit source is not a database URL; write sqlite+aiosqlite:///path/to/chapkit.db "
            "or postgresql+asyncpg://user@host/dbname"
        ) from None
    if parsed.drivername == "sqlite+aiosqlite":
        if not parsed.database or not Path(parsed.database).is_file():
            raise LedgerError(f"no chapkit database file at {parsed.database!r}")
        return create_async_engine(parsed)
    if parsed.drivername == "postgresql+asyncpg":
        return create_async_engine(parsed)
    raise LedgerError(
        f"unsupported source URL scheme {parsed.drivername}://; use sqlite+aiosqlite:// or postgresql+asyncpg://"
    )


def _time_text(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _id(table: str, row_id: object, value: object, column: str) -> str:
    try:
        return ulid_str(parse_id(value, what=column))
    except LedgerError:
        raise ChapkitRowError(table, row_id, f"{column} {_shown(value)!r} is not a ULID") from None


def _created_at(table: str, row_id: object, value: object, now: datetime) -> datetime | None:
    """The row's ``created_at`` in UTC (a time without a zone is UTC, as chapkit wrote it); None for NULL."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ChapkitRowError(table, row_id, f"created_at {value!r:.60} is not a time") from None
    else:
        raise ChapkitRowError(table, row_id, f"created_at is {type(value).__name__} {value!r:.60}, not a time")
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if parsed > now + FUTURE_TOLERANCE:
        raise ChapkitRowError(
            table,
            row_id,
            f"created_at {_time_text(parsed)} is in the future (now is {_time_text(now)}): the ledger's time never "
            "goes backwards, so every later event would be recorded at that time; correct the row first",
        )
    return parsed


def _tags(table: str, row_id: object, value: object) -> list[str]:
    """The row's tags: a JSON list of strings (NULL is no tags)."""
    if value is None:
        return []
    found = value
    if isinstance(value, bytes | bytearray | memoryview):
        found = bytes(value).decode("utf-8", errors="replace")
    if isinstance(found, str):
        try:
            found = json.loads(found)
        except ValueError:
            raise ChapkitRowError(table, row_id, f"tags {found!r:.60} is not JSON") from None
    if not isinstance(found, list):
        raise ChapkitRowError(
            table, row_id, f"tags is a JSON {type(found).__name__} ({found!r:.60}), not a list of strings"
        )
    for index, tag in enumerate(found):
        if not isinstance(tag, str):
            raise ChapkitRowError(table, row_id, f"tag {index} is {type(tag).__name__} {tag!r:.60}, not a string")
    return list(found)


def _data(table: str, row_id: object, value: object) -> Any:
    """The row's ``data`` unpickled (NULL is None)."""
    if value is None:
        return None
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ChapkitRowError(
            table, row_id, f"data is stored as {type(value).__name__} ({value!r:.40}), not as pickled bytes"
        )
    try:
        return pickle.loads(bytes(value))  # the caller vouched for the source (trust_source)
    except Exception as exc:
        raise ChapkitRowError(table, row_id, f"data is not a readable pickle ({type(exc).__name__}: {exc})") from None


def _artifact_in(table: str, row: _Row, data: Any) -> ArtifactIn:
    try:
        return ArtifactIn(id=row.artifact_id, parent_id=row.parent_id, data=data, tags=row.tags)
    except ValidationError as exc:
        raise ChapkitRowError(table, row.source_id, f"not an artifact the ledger can hold ({exc})") from None


def _order(rows: list[tuple[str, str | None, datetime]], *, table: str = "artifacts") -> Iterator[str]:
    """Ids by creation time, each parent before its children (a parent missing from the table is an error)."""
    parents = {i: p for i, p, _ in rows}
    done: set[str] = set()
    for start, _, _ in sorted(rows, key=lambda r: (r[2], r[0])):
        chain: list[str] = []
        current: str | None = start
        while current is not None and current not in done:
            if current not in parents:
                raise ChapkitRowError(table, chain[-1], f"parent_id names a parent {current} the table does not hold")
            if current in chain:
                raise ChapkitRowError(table, current, f"rows {', '.join(chain)} form a parent cycle")
            chain.append(current)
            current = parents[current]
        for artifact_id in reversed(chain):
            done.add(artifact_id)
            yield artifact_id


def require_trust(trust_source: bool) -> None:
    """Refuse to read a chapkit source unless the caller vouches for it."""
    if not trust_source:
        raise UntrustedContentError(
            "chapkit stores artifact data as unsigned pickle, and unpickling runs code: pass --trust-source "
            "(trust_source=True) only for a database you control"
        )


async def _source_rows(source: AsyncEngine, artifacts: Table) -> AsyncIterator[Any]:
    query = select(artifacts.c.id, artifacts.c.parent_id, artifacts.c.tags, artifacts.c.created_at, artifacts.c.data)
    async with source.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=_BATCH))
        async for row in result:
            yield row


async def _checked(source: AsyncEngine, artifacts: Table, ledger: Ledger) -> list[_Row]:
    """Every row read and checked (data unpickled and checked as a save would check it), nothing written."""
    table = artifacts.name
    now = ledger.clock().astimezone(UTC)
    rows: list[_Row] = []
    seen: set[str] = set()
    async with ledger.sessions() as session:
        repo = ArtifactRepository(session, secret=ledger.keyring, clock=ledger.clock, id_factory=ledger.new_id)
        async for source_id, parent, tags, created_at, data in _source_rows(source, artifacts):
            artifact_id = _id(table, source_id, source_id, "id")
            if artifact_id in seen:
                raise ChapkitRowError(
                    table,
                    source_id,
                    f"id {artifact_id} is held by more than one row (the table has no primary key); "
                    "keep one of them first",
                )
            seen.add(artifact_id)
            row = _Row(
                source_id,
                artifact_id,
                None if parent is None else _id(table, source_id, parent, "parent_id"),
                _created_at(table, source_id, created_at, now),
                _tags(table, source_id, tags),
            )
            try:
                prepare(repo, {}, _artifact_in(table, row, _data(table, source_id, data)), None)
            except ChapkitRowError:
                raise
            except LedgerError as exc:
                raise ChapkitRowError(table, source_id, str(exc)) from None
            rows.append(row)
    return rows


async def _last_recorded_at(ledger: Ledger) -> datetime | None:
    async with ledger.engine.connect() as conn:
        stmt = select(events.c.recorded_at).order_by(events.c.position.desc()).limit(1)
        value: datetime | None = (await conn.execute(stmt)).scalar_one_or_none()
    return value


async def import_chapkit(
    source_url: str | AsyncEngine,
    ledger: Ledger,
    *,
    trust_source: bool = False,
    table: str = "artifacts",
    progress: Callable[[int], None] | None = None,
) -> ChapkitImportResult:
    """Copy every artifact of a chapkit ``artifacts`` table into ``ledger`` (see the module docstring)."""
    require_trust(trust_source)
    owned = not isinstance(source_url, AsyncEngine)
    source = _source_engine(source_url) if not isinstance(source_url, AsyncEngine) else source_url
    artifacts = _source_table(table)
    imported = skipped = by_ledger = by_import = missing = 0
    try:
        with translated():
            # Short reads, each on its own connection, never held across the ledger's writes.
            checked = await _checked(source, artifacts, ledger)
            last = await _last_recorded_at(ledger)
            # A NULL created_at sorts last: it is recorded at the import's time.
            never = datetime.max.replace(tzinfo=UTC)
            rows = {r.artifact_id: r for r in checked}
            order = list(_order([(r.artifact_id, r.parent_id, r.created_at or never) for r in checked], table=table))
            import_last: datetime | None = None  # the latest time this run recorded
            query = select(artifacts.c.id, artifacts.c.data)
            for start in range(0, len(order), _BATCH):
                batch = [rows[i] for i in order[start : start + _BATCH]]
                async with source.connect() as conn:
                    stmt = query.where(artifacts.c.id.in_([r.source_id for r in batch]))
                    fetched: dict[Any, Any] = {r[0]: r[1] for r in await conn.execute(stmt)}
                for row in batch:
                    try:  # checked above; only a source changed since then fails here
                        if row.source_id not in fetched:
                            raise ChapkitRowError(table, row.source_id, "the row left the table during the import")
                        item = _artifact_in(table, row, _data(table, row.source_id, fetched[row.source_id]))
                    except ChapkitRowError as exc:
                        raise ChapkitRowError(table, row.source_id, exc.problem, imported=imported) from None
                    try:
                        recorded = await _save(ledger, row, item, table)
                    except ArtifactNotFoundError as exc:
                        if row.parent_id is None or exc.artifact_id is None or str(exc.artifact_id) != row.parent_id:
                            raise
                        raise ChapkitRowError(
                            table,
                            row.source_id,
                            f"its parent {row.parent_id} was imported before and is deleted in the ledger now; "
                            "restore the parent there to import its children",
                            imported=imported,
                        ) from None
                    if recorded is None:
                        skipped += 1
                    else:
                        imported += 1
                        if row.created_at is None:
                            missing += 1
                        elif recorded > row.created_at:
                            # Raised to a time this run recorded (and not the ledger's own): by the import.
                            ours = (
                                import_last is not None
                                and recorded == import_last
                                and (last is None or recorded > last)
                            )
                            by_import, by_ledger = (by_import + 1, by_ledger) if ours else (by_import, by_ledger + 1)
                        import_last = recorded if import_last is None else max(import_last, recorded)
                    if progress is not None:
                        progress(imported + skipped)
    finally:
        if owned:
            await source.dispose()
    return ChapkitImportResult(imported, skipped, by_ledger, by_import, missing)


async def _save(ledger: Ledger, row: _Row, item: ArtifactIn, table: str) -> datetime | None:
    """Save one row in its own transaction: the time its event was recorded at, None when the ledger
    already has the id (live or deleted: a deleted artifact was imported before and deleted since)."""
    clock = ledger.clock if row.created_at is None else (lambda: row.created_at or ledger.clock())
    async with ledger.sessions() as session:
        repo = ArtifactRepository(session, secret=ledger.keyring, clock=clock, id_factory=ledger.new_id)
        if await queries.latest_version(session, row.artifact_id) is not None:
            return None
        written = "NULL" if row.created_at is None else _time_text(row.created_at)
        # A row's content is the value chapkit pickled: a pathlib.Path in it stays a path (a save
        # would stream the file it names, from this machine), so the save reads no stream.
        out = await Commands(repo).save(
            item,
            expected_version=None,
            actor=ACTOR,
            reason=f"imported from chapkit (table {table!r}, created_at {written})",
            streams=False,
        )
        return out.created_at
