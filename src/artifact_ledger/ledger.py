"""The composition root: open a ledger, hand out managers, verify, rebuild, tail the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import inspect
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import integrity, queries
from .ambient import attribution
from .clock import Clock, system_clock
from .content import Keyring
from .events import RecordedEvent
from .ids import IdFactory, new_id
from .integrity import HeadDigest, VerifyReport
from .keys import resolve_keyring
from .manager import ArtifactManager, ArtifactRepository
from .projections.rebuild import rebuild as replay
from .schemas import ArtifactHierarchy
from .store.dialect import driver_for, translated
from .store.engine import create_engine
from .store.tables import metadata, table_names


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

    async def verify(
        self,
        progress: Callable[[int], None] | None = None,
        *,
        since: HeadDigest | tuple[int, str | bytes] | str | None = None,
        trusted_head: HeadDigest | tuple[int, str | bytes] | str | None = None,
        blobs: bool = True,
        projections: bool | None = None,
    ) -> VerifyReport:
        """Check the hash chain, checkpoints, blobs and projections; report the first problem (see ``integrity``).

        ``since``: verify incrementally from a trusted ``(position, hash)`` checkpoint;
        ``trusted_head``: a head recorded earlier that the log must still hold unchanged.
        """
        return await integrity.verify(
            self.engine,
            since=since,
            trusted_head=trusted_head,
            blobs=blobs,
            projections=projections,
            progress=progress,
        )

    async def head(self) -> HeadDigest:
        """``(position, hash)`` of the last event: record it elsewhere, pass it to ``verify`` later."""
        return await integrity.head(self.engine)

    async def close(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()
