"""The composition root: open a ledger, hand out managers, verify, rebuild, tail the log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import Connection, inspect
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import integrity, queries
from .ambient import attribution
from .clock import Clock, system_clock
from .content import Keyring
from .errors import LedgerError
from .events import RecordedEvent
from .ids import IdFactory, new_id
from .integrity import HeadDigest, VerifyReport
from .keys import resolve_keyring
from .manager import ArtifactManager, ArtifactRepository
from .projections.rebuild import rebuild as replay
from .schemas import ArtifactHierarchy
from .store.engine import create_engine
from .store.errors import install as translate_errors_of
from .store.errors import translated
from .store.recorder import recorder_for
from .store.session import LedgerSession
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
        self.sessions = async_sessionmaker(engine, class_=LedgerSession, expire_on_commit=False)

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
        lock_timeout: float | None = None,
    ) -> AsyncIterator[Ledger]:
        """Open (and by default create) a ledger; the engine is disposed on exit if we made it.

        ``lock_timeout``: seconds a write waits for the write lock (or any lock) another
        connection holds before it fails with ``LockTimeoutError``; default 30 s, ``math.inf``
        waits without limit. It configures the engine made from a URL; an engine passed in keeps
        its own settings (give ``create_engine(url, lock_timeout=...)`` the timeout instead).
        """
        owns = not isinstance(url_or_engine, AsyncEngine)
        if isinstance(url_or_engine, AsyncEngine):
            if lock_timeout is not None:
                raise LedgerError(
                    "lock_timeout configures the engine Ledger.open makes from a URL; for an engine of your own "
                    "pass it to artifact_ledger.create_engine(url, lock_timeout=...)"
                )
            engine = url_or_engine
            translate_errors_of(engine, None)  # storage errors on its connections arrive translated
        else:
            engine = create_engine(url_or_engine, lock_timeout=lock_timeout)
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
        """Create the schema on an empty database (through the migrations), or check it is current.

        Tables made by ``metadata.create_all`` (chapkit-style code never stamps) count as current when
        every ledger column is there; with ``create`` they are stamped at the head revision.
        """
        from . import migrate
        from .errors import SchemaOutOfDateError

        def look(conn: Connection) -> tuple[list[str], str | None, list[str]]:
            existing = set(inspect(conn).get_table_names())
            missing = [t for t in table_names() if t not in existing]
            revision = migrate.current_revision_of(conn) if migrate.VERSION_TABLE in existing else None
            lacking: list[str] = []
            if not missing and revision is None:
                for table in metadata.sorted_tables:
                    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
                    lacking += [f"{table.name}.{c.name}" for c in table.columns if c.name not in have]
            return missing, revision, lacking

        where = self.engine.url.render_as_string(hide_password=True)
        with translated():
            async with self.engine.connect() as conn:
                missing, revision, lacking = await conn.run_sync(look)
        if revision is not None and revision != migrate.HEAD_REVISION:
            raise SchemaOutOfDateError(
                f"the ledger schema at {where} is at revision {revision}; this artifact-ledger expects "
                f"{migrate.HEAD_REVISION}: run `artifact-ledger migrate`"
            )
        if len(missing) == len(table_names()) and revision is None and create:
            await migrate.upgrade(self.engine)
        elif missing:
            raise SchemaOutOfDateError(
                f"the database at {where} lacks the ledger tables {', '.join(missing)}; run `artifact-ledger migrate`"
            )
        elif lacking:
            raise SchemaOutOfDateError(
                f"the ledger tables at {where} lack the columns {', '.join(lacking)}; run `artifact-ledger migrate`"
            )
        elif revision is None and create:
            await migrate.stamp(self.engine)

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
                return await replay(await recorder_for(conn), progress)

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
