"""``ArtifactRepository``: one ``AsyncSession`` and what comes with it.

The session, the pickle-signing keyring (resolved lazily from the session's database URL),
the clock and id factory, the backend's dialect name, units of work and reads on the
session's connection or on a pooled one of their own (see ``_idle_engine``). The command
side (:mod:`commands`) and the read side (:mod:`reads`) both work through one repository;
:mod:`manager` re-exports it under its chapkit name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from . import logs
from .clock import Clock, system_clock
from .content import Keyring, decode_content
from .errors import ConnectionLostError, ReplicaUnavailableError
from .group_commit import committer_for
from .ids import IdFactory, new_id
from .keys import resolve_keyring
from .store.blobs import store_of
from .store.errors import translate
from .store.one_writer import connect, engine_of, one_writer
from .store.recorder import Recorder, autocommit_reads, own_transaction, read_once, recorder_for
from .writer import WriteBatch

if TYPE_CHECKING:
    from .content.streams import ChunkStager

__all__ = ["ArtifactRepository"]

T = TypeVar("T")


class ArtifactRepository:
    """Data access for artifacts on one ``AsyncSession`` (chapkit-compatible constructor).

    ``keyring``/``secret``, ``clock`` and ``id_factory`` are optional; see
    :mod:`artifact_ledger.keys` for where the pickle-signing key comes from.
    """

    def __init__(
        self,
        session: AsyncSession,
        *,
        secret: str | bytes | Keyring | None = None,
        clock: Clock | None = None,
        id_factory: IdFactory | None = None,
        read_engine: AsyncEngine | None = None,
        consistent: bool = False,
    ) -> None:
        self.session = session
        self.read_engine = read_engine
        """A read replica's engine (``Ledger.open(url, read_url=...)``); see :meth:`_reads_engine`."""
        self.consistent = consistent
        """Every read goes to the primary (``ledger.manager(consistent=True)``)."""
        self.wrote = False
        """A command of this repository has written (or tried to): its reads go to the primary from now on."""
        self.clock: Clock = clock or system_clock
        self.new_id: IdFactory = id_factory or new_id
        self._secret = secret
        self._keyring: Keyring | None = secret if isinstance(secret, Keyring) else None
        self._dialect: str | None = None

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            bind = self.session.bind
            url = bind.engine.url if bind is not None else None
            self._keyring = resolve_keyring(url, self._secret)
        return self._keyring

    async def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: the few reads written differently per backend need it."""
        if self._dialect is None:
            bind = self.session.bind  # an engine or connection knows its dialect without a checkout
            self._dialect = (bind if bind is not None else await self.session.connection()).dialect.name
        return self._dialect

    async def batch(self) -> WriteBatch:
        """A batch on the session's connection, in the session's transaction (the caller commits)."""
        self.wrote = True
        connection = await self.session.connection()
        return WriteBatch(await recorder_for(connection), self.clock, self.new_id)

    def _idle_engine(self) -> AsyncEngine | None:
        """The session's engine when the session holds nothing (no transaction, no pending objects).

        A command or a read then runs on a pooled connection of its own, through the store's
        recorder alone, instead of beginning (and ending) a transaction on the session: the same
        result, without the session's bookkeeping and round trips. A session that is in use (a
        ``transaction()`` block, the caller's own pending work, a session bound to a connection)
        is always used as it is, so its caller sees and commits what it expects.
        """
        session = self.session
        bind = session.bind
        if not isinstance(bind, AsyncEngine) or session.in_transaction():
            return None
        sync = session.sync_session
        if sync.new or sync.dirty or sync.deleted:
            return None
        return bind

    async def unit(
        self, action: Callable[[WriteBatch], Awaitable[T]], *, whole: bool = True, group: bool = False
    ) -> tuple[WriteBatch, T]:
        """One command's unit of work: ``action`` on a new batch, committed after it, all rolled back
        on any error. Returns the batch and what ``action`` returned.

        ``whole``: on an idle session the command (its reads, decision, writes and commit) runs
        where its recorder runs it cheapest (:meth:`Recorder.whole`: on SQLite in one hop to the
        connection's own thread); False for a command that awaits anything else (a stream).
        ``group``: on an idle session, a whole command may share its transaction with the
        commands of other managers running at the same time (:mod:`~artifact_ledger.group_commit`).
        """
        self.wrote = True
        engine = self._idle_engine()
        if engine is not None and group and whole:
            committer = committer_for(engine)
            if committer.enabled:
                return await committer.submit(action, self.clock, self.new_id)
        if engine is None:
            async with one_writer(engine_of(self.session)):  # in-memory SQLite: one writer at a time
                batch = await self.batch()
                try:
                    result = await action(batch)
                    await batch.flush()
                    await self.session.commit()
                except BaseException:
                    await self.session.rollback()
                    raise
                return batch, result
        async with own_transaction(engine) as recorder:
            batch = WriteBatch(recorder, self.clock, self.new_id)

            async def command() -> T:
                result = await action(batch)
                await batch.flush(commit=True)
                return result

            return batch, await (recorder.whole(command) if whole else command())

    @asynccontextmanager
    async def core_reads(self) -> AsyncIterator[AsyncSession | AsyncConnection]:
        """Where SQLAlchemy Core reads run (history, audit, point-in-time): the session when it is
        in use, else a connection of their own (on the read replica where there is one, see
        :meth:`_reads_engine`), so a read never leaves the session in a transaction."""
        engine = self._reads_engine()
        with logs.span("read"):
            if engine is None:
                yield self.session
                return
            with self._replica_errors(engine):
                async with connect(engine) as connection:  # in-memory SQLite: in turn with writers
                    yield connection

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Recorder]:
        """A recorder for reads: on the session's connection when it is in use, else on a pooled one
        (of the read replica where there is one, see :meth:`_reads_engine`)."""
        engine = self._reads_engine()
        with logs.span("read"):
            if engine is None:
                recorder = await recorder_for(await self.session.connection())
                await recorder.join()
                yield recorder
                return
            with self._replica_errors(engine):
                async with autocommit_reads(engine) as recorder:
                    yield recorder

    async def read(self, body: Callable[[Recorder], Awaitable[T]]) -> T:
        """``body`` on the recorder :meth:`reading` would yield, for a read of one or two statements.

        Where :meth:`reading` runs on a pooled connection, this checks it out and back in within
        one greenlet entry instead of two (:func:`~.store.recorder.read_once`): the same rows and
        the same connection rules, ~50 µs less per read here, which is a third of a get by id.
        """
        engine = self._reads_engine()
        with logs.span("read"):
            if engine is None:
                recorder = await recorder_for(await self.session.connection())
                await recorder.join()
                return await body(recorder)
            with self._replica_errors(engine):
                return await read_once(engine, body)

    def _reads_engine(self) -> AsyncEngine | None:
        """Where a read runs: None for the session (in use: a transaction, pending objects), else an engine.

        The rule for a ledger with a read replica: a read goes to the replica unless the caller
        must see its own writes, that is unless this repository has written (any command, even
        one that failed), its session is in a transaction, or it was made ``consistent``; those
        read the primary. The replica may lag (``Ledger.replica_lag``); the primary never does.
        """
        engine = self._idle_engine()
        if engine is None or self.read_engine is None or self.consistent or self.wrote:
            return engine
        return self.read_engine

    @contextmanager
    def _replica_errors(self, engine: AsyncEngine) -> Iterator[None]:
        """A replica that cannot be reached fails the read with ``ReplicaUnavailableError`` (no fallback)."""
        if engine is not self.read_engine:
            yield
            return
        try:
            yield
        except Exception as error:
            if _unreachable(error):
                from .replicas import masked, unavailable

                raise unavailable(masked(engine.url), error) from error
            raise

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    def chunk_stager(self) -> ChunkStager | None:
        """The blob store this repository writes to, when it takes the chunks of streamed content
        before the write transaction (a blob directory); None for the database."""
        bind = self.session.bind
        store = store_of(bind) if bind is not None else None
        return cast("ChunkStager", store) if store is not None and store.stages_chunks else None

    def decode(self, content_codec: str, raw: bytes, digest: str) -> Any:
        """A blob of this database as the object it was saved as.

        Only a pickle consults the keyring, so only a pickle resolves it (which may create a
        key file); other codecs never look at the key they are given.
        """
        keyring = self.keyring if content_codec == "pickle" else _PLAIN
        return decode_content(content_codec, raw, digest, keyring)


def _unreachable(error: BaseException) -> bool:
    """The server went away or could not be reached (refused, shut down, connection lost)."""
    if isinstance(error, ReplicaUnavailableError):
        return False
    return isinstance(error, OSError | ConnectionLostError) or isinstance(translate(error), ConnectionLostError)


_PLAIN = Keyring.generate()
"""Passed to decoders of codecs that never consult a key (everything but pickle)."""
