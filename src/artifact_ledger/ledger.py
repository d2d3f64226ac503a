"""The composition root: open a ledger, hand out managers, verify, rebuild, tail the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import queries
from .attribution import attribution
from .chain import envelope_bytes, event_hash
from .clock import Clock, system_clock
from .codec import GENESIS_HASH
from .content import Keyring
from .events import RecordedEvent
from .ids import IdFactory, new_id
from .keys import resolve_keyring
from .manager import ArtifactManager, ArtifactRepository
from .projections.rebuild import rebuild as replay
from .schemas import ArtifactHierarchy
from .store.dialect import driver_for, translated
from .store.engine import create_engine
from .store.tables import metadata, table_names


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found: OK, or the first broken position and why."""

    events_checked: int
    ok: bool
    broken_position: int | None = None
    problem: str | None = None
    head_position: int = 0
    head_hash: str = field(default=GENESIS_HASH.hex())


class Ledger:
    """An opened ledger: one engine, its key, clock and id factory."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        keyring: Keyring,
        clock: Clock = system_clock,
        id_factory: IdFactory = new_id,
        owns_engine: bool = False,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock
        self.new_id = id_factory
        self._owns_engine = owns_engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url_or_engine: str | URL | AsyncEngine,
        *,
        secret: str | bytes | Keyring | None = None,
        clock: Clock | None = None,
        id_factory: IdFactory | None = None,
        create: bool = True,
    ) -> AsyncIterator[Ledger]:
        """Open (and by default create) a ledger; the engine is disposed on exit if we made it."""
        owns = not isinstance(url_or_engine, AsyncEngine)
        engine = create_engine(url_or_engine) if not isinstance(url_or_engine, AsyncEngine) else url_or_engine
        ledger = cls(
            engine,
            keyring=resolve_keyring(engine.url, secret),
            clock=clock or system_clock,
            id_factory=id_factory or new_id,
            owns_engine=owns,
        )
        try:
            await ledger._prepare_schema(create)
            yield ledger
        finally:
            if owns:
                await engine.dispose()

    async def _prepare_schema(self, create: bool) -> None:
        with translated():
            async with self.engine.begin() as conn:
                existing = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
                missing = [t for t in table_names() if t not in existing]
                if missing and create:
                    await conn.run_sync(metadata.create_all)
                elif missing:
                    from .errors import SchemaOutOfDateError

                    raise SchemaOutOfDateError(
                        f"the database at {self.engine.url.render_as_string(hide_password=True)} lacks the ledger "
                        f"tables {', '.join(missing)}; run `artifact-ledger migrate`"
                    )

    def repository(self, session: AsyncSession) -> ArtifactRepository:
        return ArtifactRepository(session, secret=self.keyring, clock=self.clock, id_factory=self.new_id)

    @asynccontextmanager
    async def manager(self, hierarchy: ArtifactHierarchy | None = None) -> AsyncIterator[ArtifactManager]:
        """An :class:`ArtifactManager` on a fresh session, closed on exit."""
        async with self.sessions() as session:
            yield ArtifactManager(self.repository(session), hierarchy=hierarchy)

    @asynccontextmanager
    async def transaction(self, hierarchy: ArtifactHierarchy | None = None) -> AsyncIterator[ArtifactManager]:
        """A manager whose writes all commit together at the end of the block, or not at all."""
        async with self.manager(hierarchy) as manager, manager.transaction():
            yield manager

    @staticmethod
    def context(
        *,
        actor: str | None = None,
        reason: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> attribution:
        """Attribute every write inside the block (``with`` or ``async with``); see :class:`attribution`."""
        return attribution(actor=actor, reason=reason, correlation_id=correlation_id, causation_id=causation_id)

    async def events_since(self, position: int, *, limit: int = 1000) -> list[RecordedEvent]:
        """Events after ``position``, in position order (at most ``limit``), for downstream consumers."""
        with translated():
            async with self.engine.connect() as conn:
                return await queries.events_after(conn, position, limit)

    async def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Replay the log into fresh projections in one transaction; returns the events replayed."""
        with translated():
            async with self.engine.begin() as conn:
                return await replay(await driver_for(conn), progress)

    async def verify(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        """Recompute the hash chain over the whole log; report the first position that breaks it."""
        checked = 0
        prev = GENESIS_HASH
        expected_position = 1
        with translated():
            async with self.engine.connect() as conn:
                position = 0
                while True:
                    batch = await queries.raw_events_after(conn, position, 5000)
                    if not batch:
                        break
                    for row in batch:
                        problem = _check_event(row._mapping, prev, expected_position)
                        if problem is not None:
                            return VerifyReport(checked, False, expected_position, problem)
                        prev = bytes(row.hash)
                        expected_position += 1
                        checked += 1
                    position = batch[-1].position
                    if progress is not None:
                        progress(checked)
        return VerifyReport(checked, True, head_position=checked, head_hash=prev.hex())

    async def close(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()


def _check_event(e: Any, prev: bytes, expected_position: int) -> str | None:
    """Why the stored row ``e`` breaks the chain at ``expected_position``, or None."""
    if e["position"] != expected_position:
        return f"position {expected_position} is missing (next stored position is {e['position']})"
    if bytes(e["prev_hash"]) != prev:
        return f"event {e['position']} does not chain to its predecessor (reordered, inserted or deleted event)"
    envelope = envelope_bytes(
        position=e["position"],
        event_id=e["event_id"],
        artifact_id=e["artifact_id"],
        version=e["version"],
        type=e["type"],
        schema_version=e["schema_version"],
        recorded_at=e["recorded_at"],
        actor=e["actor"],
        reason=e["reason"],
        correlation_id=e["correlation_id"],
        causation_id=e["causation_id"],
    )
    if event_hash(prev, envelope, e["payload"].encode()) != bytes(e["hash"]):
        return f"event {e['position']} was modified: its fields no longer match its hash"
    return None
