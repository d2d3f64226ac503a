"""Move a chapkit database over: each row of its ``artifacts`` table becomes an ``artifact.created`` event.

chapkit stores an artifact's ``data`` as an unsigned pickle (SQLAlchemy ``PickleType``), so
reading it runs whatever code the pickle names: :func:`import_chapkit` refuses unless the
caller vouches for the source (``trust_source=True``, the CLI's ``--trust-source``). The
import keeps ids, parents, tags and creation times (each artifact's event is recorded at
its ``created_at``), writes parents before children, and records ``chapkit-import`` as the
actor. Artifacts whose id the ledger already holds are skipped, so a run that stopped
part-way can simply be run again. ``level`` is recomputed from the parents, as always.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, PickleType, String, Table, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .errors import LedgerError, UntrustedContentError
from .ledger import Ledger
from .manager import ArtifactManager, ArtifactRepository
from .schemas import ArtifactIn
from .store.errors import translated

__all__ = ["ACTOR", "ChapkitImportResult", "import_chapkit", "require_trust"]

ACTOR = "chapkit-import"
_BATCH = 500


@dataclass(frozen=True)
class ChapkitImportResult:
    imported: int
    skipped: int


def _source_table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", String(26), primary_key=True),
        Column("parent_id", String(26)),
        Column("data", PickleType(protocol=4)),
        Column("tags", JSON),
        Column("created_at", DateTime(timezone=True)),
    )


def _source_engine(url: str) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except Exception:
        raise LedgerError(f"not a database URL: {url!r}") from None
    if parsed.drivername == "sqlite+aiosqlite":
        if not parsed.database or not Path(parsed.database).is_file():
            raise LedgerError(f"no chapkit database file at {parsed.database!r}")
        return create_async_engine(parsed)
    if parsed.drivername == "postgresql+asyncpg":
        return create_async_engine(parsed)
    raise LedgerError(
        f"unsupported source URL scheme {parsed.drivername}://; use sqlite+aiosqlite:// or postgresql+asyncpg://"
    )


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _order(rows: list[tuple[str, str | None, datetime]]) -> Iterator[str]:
    """Ids by creation time, each parent before its children (a parent missing from the table is an error)."""
    parents = {i: p for i, p, _ in rows}
    done: set[str] = set()
    for start, _, _ in sorted(rows, key=lambda r: (r[2], r[0])):
        chain: list[str] = []
        current: str | None = start
        while current is not None and current not in done:
            if current not in parents:
                raise LedgerError(f"chapkit artifact {chain[-1]} names a parent {current} the table does not hold")
            if current in chain:
                raise LedgerError(f"chapkit artifacts {', '.join(chain)} form a parent cycle")
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
    imported = skipped = 0
    try:
        with translated():
            # Short reads, each on its own connection, never held across the ledger's writes.
            async with source.connect() as conn:
                result = await conn.execute(select(artifacts.c.id, artifacts.c.parent_id, artifacts.c.created_at))
                index = [(str(i), str(p) if p is not None else None, _utc(c)) for i, p, c in result]
            order = list(_order(index))
            created = {i: c for i, _, c in index}
            query = select(artifacts.c.id, artifacts.c.parent_id, artifacts.c.data, artifacts.c.tags)
            for start in range(0, len(order), _BATCH):
                ids = order[start : start + _BATCH]
                async with source.connect() as conn:
                    fetched = {str(r[0]): r for r in await conn.execute(query.where(artifacts.c.id.in_(ids)))}
                for artifact_id in ids:
                    done = await _save(ledger, artifact_id, fetched[artifact_id], created[artifact_id])
                    imported, skipped = imported + done, skipped + (not done)
                    if progress is not None:
                        progress(imported + skipped)
    finally:
        if owned:
            await source.dispose()
    return ChapkitImportResult(imported, skipped)


async def _save(ledger: Ledger, artifact_id: str, row: Any, created_at: datetime) -> bool:
    async with ledger.sessions() as session:
        repo = ArtifactRepository(session, secret=ledger.keyring, clock=lambda: created_at, id_factory=ledger.new_id)
        manager = ArtifactManager(repo)
        if await manager.exists_by_id(artifact_id):
            return False
        tags = [str(t) for t in row.tags] if isinstance(row.tags, list) else []
        parent = str(row.parent_id) if row.parent_id is not None else None
        await manager.save(
            ArtifactIn(id=artifact_id, parent_id=parent, data=row.data, tags=tags),
            actor=ACTOR,
            reason="imported from chapkit",
        )
        return True
