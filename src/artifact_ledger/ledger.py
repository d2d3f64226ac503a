"""The composition root: open a ledger, hand out managers, verify, rebuild, tail the log."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import integrity, queries
from .ambient import attribution
from .clock import Clock, system_clock
from .content import Keyring
from .errors import InvalidArgumentError
from .events import RecordedEvent
from .gc import TEMPORARIES_OLDER_THAN, GcReport, collect
from .group_commit import set_enabled as set_group_commit
from .ids import IdFactory, new_id
from .integrity import HeadDigest, VerifyReport
from .keys import resolve_keyring
from .manager import ArtifactManager, ArtifactRepository
from .namespaces import DEFAULT as DEFAULT_NAMESPACE
from .namespaces import check_name, list_namespaces, namespace_blobs, namespace_engine, namespace_settings
from .opening import not_found, prepare_schema
from .projections.rebuild import rebuild as replay
from .query.indexes import IndexInfo
from .replicas import ReplicaLag, check_ledger, open_standby
from .retention import RetentionPolicy, RetentionReport
from .schemas import ArtifactHierarchy
from .store.blob_dir import attach_blob_store, detach_blob_store, parse_blob_url
from .store.blobs import DATABASE, BlobStore, attach
from .store.engine import create_engine, sqlite_file_missing
from .store.errors import install as translate_errors_of
from .store.errors import translated
from .store.one_writer import connect, one_writer
from .store.recorder import Recorder, reading, recorder_for
from .store.session import LedgerSession

if TYPE_CHECKING:
    from .checkpoints import Checkpoint, CheckpointCheck, CheckpointSigner
    from .proofs import ConsistencyProof, InclusionProof, TreeHead

_T = TypeVar("_T")


_SHORTEST_KEY = 16
"""The fewest bytes a bytes ``secret=`` may have (a str is hashed to a 32-byte key)."""


def _check_secret(secret: object) -> None:
    """Refuse a ``secret=`` that cannot sign pickles before anything is created: a wrong type, an
    empty str (an unset variable read with a default of ``""``: every such ledger would share one
    key, and whoever knows it can forge signed pickles, which run code when read), or bytes
    shorter than 16."""
    if secret is None or isinstance(secret, Keyring):
        return
    if not isinstance(secret, str | bytes):
        raise InvalidArgumentError(
            f"secret must be a str, bytes or a Keyring (or None: the ledger's key file), not {type(secret).__name__}"
        )
    if isinstance(secret, str) and not secret:
        raise InvalidArgumentError("secret is an empty str; pass a real secret, or None to use the ledger's key file")
    if isinstance(secret, bytes) and len(secret) < _SHORTEST_KEY:
        raise InvalidArgumentError(
            f"secret has {len(secret)} bytes; a bytes pickle-signing key needs at least {_SHORTEST_KEY}"
        )


class Ledger:
    """An opened ledger: one engine, its key, clock and id factory.

    ``ledger_id``: the ledger's own id (a ULID stored in ``ledger_info`` when it was created); its
    pickle-signing key file is found by it (see :mod:`artifact_ledger.keys`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        keyring: Keyring,
        clock: Clock = system_clock,
        id_factory: IdFactory = new_id,
        owns_engine: bool = False,
        ledger_id: str | None = None,
        read_engine: AsyncEngine | None = None,
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine
        """The read replica's engine (``read_url``), or None: managers read there (see :meth:`manager`)."""
        self.keyring = keyring
        self.clock = clock
        self.new_id = id_factory
        self.ledger_id = ledger_id
        self._owns_engine = owns_engine
        self._owns_read_engine = False
        self.sessions = async_sessionmaker(engine, class_=LedgerSession, expire_on_commit=False)
        self.namespace = DEFAULT_NAMESPACE
        """The namespace this ledger is (``default`` unless opened with ``namespace=``)."""
        self._base = engine

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
        read_url: str | URL | AsyncEngine | None = None,
        blobs: str | os.PathLike[str] | None = None,
        group_commit: bool = True,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> AsyncIterator[Ledger]:
        """Open (and by default create) a ledger; the engine is disposed on exit if we made it.

        Every argument is checked before anything is created: ``create`` and ``group_commit`` must be
        bools, ``secret`` a non-empty str, bytes of at least 16 or a :class:`Keyring` (each else
        :class:`InvalidArgumentError`), and a malformed ``blobs`` URL is :class:`BlobStoreError`.

        ``create=False``: where there is no ledger (no SQLite file, or a database without any
        ledger table) raise :class:`LedgerNotFoundError` and create nothing: no file, no table, no
        key file. A ledger whose append-only guards are missing or altered is refused with
        :class:`SchemaTamperedError` (repair: ``artifact-ledger migrate --repair-guards``).

        ``lock_timeout``: seconds a write waits for the write lock (or any lock) another
        connection holds before it fails with ``LockTimeoutError``; default 30 s, ``math.inf``
        waits without limit. It configures the engine made from a URL; an engine passed in keeps
        its own settings (give ``create_engine(url, lock_timeout=...)`` the timeout instead).

        ``read_url``: a PostgreSQL hot standby that streams from ``url`` (or an engine on one).
        Managers read there unless they must see their own writes (see :meth:`manager`);
        :meth:`replica_lag` says how far behind it is. One that is not a standby of ``url`` (not
        in recovery, another cluster's, a database without this ledger, SQLite) is refused with
        :class:`NotAReplicaError`, and nothing stays open; one that cannot be reached, with
        :class:`ReplicaUnavailableError` naming it. Everything but the ledger id is checked before
        the ledger is created: such a refusal creates no table, file or blob directory.

        ``blobs``: where content bytes live. None (the default) keeps them in the database;
        ``"file:///absolute/path"`` keeps them as files named by their SHA-256 in that directory
        (created if missing, unless ``create=False``), each verified when read. Content saved in
        the database before stays readable. A URL that is not an absolute ``file:///`` path, or a
        directory that cannot be written, is refused with :class:`BlobStoreError`.

        ``group_commit``: whether single commands of managers running at the same time share one
        transaction and one lock (on by default; a command running alone does not wait). It
        applies to every manager on the ledger's engine. See the architecture page.

        ``namespace``: an independent ledger in the same database (its own chain, positions,
        write lock, ledger id and key; see :mod:`artifact_ledger.namespaces`). ``default`` is the
        ledger opened without one. With ``create=False`` an unknown namespace raises
        :class:`LedgerNotFoundError` and creates nothing; a bad name, ``InvalidArgumentError``.
        With ``read_url`` (a URL: an engine is ``InvalidArgumentError`` here) the namespace's reads
        go to its own tables on the standby, checked as for the default namespace.
        """
        for flag, value in (("group_commit", group_commit), ("create", create)):
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"{flag} must be True or False, not {value!r}")
        _check_secret(secret)
        if blobs is not None:
            parse_blob_url(blobs)  # a malformed blobs= is refused before any table or file is made
        if check_name(namespace) != DEFAULT_NAMESPACE and isinstance(read_url, AsyncEngine):
            raise InvalidArgumentError(
                f"read_url for namespace {namespace!r} must be the standby's URL, not an engine: the ledger makes "
                "the engine on the namespace's own tables there (an engine passed in reads the default namespace's)"
            )
        owns = not isinstance(url_or_engine, AsyncEngine)
        if isinstance(url_or_engine, AsyncEngine):
            if lock_timeout is not None:
                raise InvalidArgumentError(
                    "lock_timeout configures the engine Ledger.open makes from a URL; for an engine of your own "
                    "pass it to artifact_ledger.create_engine(url, lock_timeout=...)"
                )
            engine = url_or_engine
            if not create and namespace == DEFAULT_NAMESPACE and sqlite_file_missing(engine.url):
                raise not_found(engine.url)
            translate_errors_of(engine, None)  # storage errors on its connections arrive translated
        else:
            if not create and namespace == DEFAULT_NAMESPACE and sqlite_file_missing(url_or_engine):
                raise not_found(url_or_engine)
            engine = create_engine(url_or_engine, lock_timeout=lock_timeout)
        read_engine: AsyncEngine | None = None
        store: BlobStore = DATABASE
        owns_read = read_url is not None and not isinstance(read_url, AsyncEngine)
        base = engine
        try:
            if read_url is not None:
                # Refuse a read_url that is no standby of this primary before creating anything
                # (a namespace included): the namespace's schema is the same on the standby.
                settings = await namespace_settings(base, namespace)
                read_engine = await open_standby(base, read_url, lock_timeout, settings)
            if namespace != DEFAULT_NAMESPACE:
                engine = await namespace_engine(base, namespace, create=create)
                blobs = None if blobs is None else namespace_blobs(blobs, namespace)
            ledger_id = await prepare_schema(engine, create)
            set_group_commit(engine, group_commit)
            store = await attach_blob_store(engine, blobs, create=create)
            if read_engine is not None:
                await check_ledger(engine, read_engine, ledger_id)  # the id exists only now
                attach(read_engine, store)
            ledger = cls(
                engine,
                keyring=resolve_keyring(engine.url, secret, ledger_id=ledger_id),
                clock=clock or system_clock,
                id_factory=id_factory or new_id,
                owns_engine=owns or engine is not base,
                ledger_id=ledger_id,
                read_engine=read_engine,
            )
            ledger._owns_read_engine = owns_read
            ledger.namespace, ledger._base = namespace, base
            yield ledger
        finally:
            detach_blob_store(engine, store, read_engine)
            if owns_read and read_engine is not None:
                await read_engine.dispose()
            if engine is not base:
                await engine.dispose()
            if owns:
                await base.dispose()

    def repository(self, session: AsyncSession, *, consistent: bool = False) -> ArtifactRepository:
        return ArtifactRepository(
            session,
            secret=self.keyring,
            clock=self.clock,
            id_factory=self.new_id,
            read_engine=self.read_engine,
            consistent=consistent,
        )

    @asynccontextmanager
    async def manager(
        self, hierarchy: ArtifactHierarchy | None = None, *, consistent: bool = False
    ) -> AsyncIterator[ArtifactManager]:
        """An :class:`ArtifactManager` on a fresh session, closed on exit.

        With a read replica (``Ledger.open(url, read_url=...)``) its reads go to the replica
        until it writes: after its first command (even a failed one), inside a ``transaction()``
        and on a session in use they read the primary, so the manager always sees its own
        writes. ``consistent=True``: every read goes to the primary. Without a replica
        everything runs on the primary anyway.
        """
        async with self.sessions() as session:
            yield ArtifactManager(self.repository(session, consistent=consistent), hierarchy=hierarchy)

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
            async with connect(self.engine) as conn:  # in-memory SQLite: in turn with writers
                return await queries.events_after(conn, position, limit)

    async def apply_retention(
        self,
        policy: RetentionPolicy,
        dry_run: bool = True,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> RetentionReport:
        """Expire the content of every version ``policy`` does not keep (see :class:`RetentionPolicy`).

        ``dry_run`` (the default) only reports what would expire and appends nothing. A real run
        appends ``retention.applied`` events (the policy, the versions expired, the blobs deleted,
        at most about 1,000 items per event) and deletes those blobs, in one transaction. Reads of
        expired content raise :class:`ContentExpiredError`; data, history, diffs and ``verify`` stay.
        """
        async with self.manager() as manager:
            return await manager._retention.apply(policy, dry_run=dry_run, actor=actor, reason=reason)

    async def upgrade_chain(self, *, actor: str | None = None, reason: str | None = None) -> int:
        """Seal every later event under chain format 2 (salted commitments), so it can be redacted.

        One way: appends a ``ledger.chain_upgraded`` event, the last event sealed under format 1,
        and returns the position from which events are format 2 (the same, appending nothing, when
        the ledger is format 2 already). Earlier events keep verifying under format 1 and cannot be
        redacted. See docs/chain.md, "Format 2"."""
        async with self.manager() as manager:
            return await manager._redactions.upgrade_chain(actor=actor, reason=reason)

    async def gc(
        self,
        dry_run: bool = True,
        *,
        actor: str | None = None,
        reason: str | None = None,
        progress: Callable[[str, int, int | None], None] | None = None,
        list_blobs: bool = True,
        temporaries_older_than: timedelta = TEMPORARIES_OLDER_THAN,
    ) -> GcReport:
        """Delete the blobs no version references any more (expired content, chunks of failed
        streamed saves, orphan files), in the database and the blob directory; never content a
        live version references, also while writers run (the run holds the write lock).

        ``dry_run`` (the default) only reports them, per store. A real run appends
        ``retention.applied`` events that expire no version and list the blobs deleted, in one
        transaction. ``progress(stage, done, total)`` is told how far it got. ``list_blobs=False``:
        each store's count and bytes without every hash, in memory that does not grow with the blobs.
        A blob directory's temporary files older than ``temporaries_older_than`` (one day by
        default), which only a writer that died between writing and linking a file leaves, go too.
        """
        async with self.manager() as manager:
            return await collect(
                manager._retention,
                dry_run=dry_run,
                actor=actor,
                reason=reason,
                progress=progress,
                list_blobs=list_blobs,
                temporaries_older_than=temporaries_older_than,
            )

    async def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Replay the log into fresh projections in one transaction; returns the events replayed.

        A log that ``verify``'s checks of the log report as tampered (anything but projection drift) is
        :class:`ChainBrokenError` and nothing changes: a rebuild never resets the evidence of it."""
        with translated():
            # in-memory SQLite: its one connection is every writer's, so writers take turns with the replay
            async with one_writer(self.engine), self.engine.begin() as conn:
                applied = await replay(await recorder_for(conn), progress)
                from .query.indexes import recreate_indexes

                await recreate_indexes(conn)  # the recorded data-path indexes, in the same transaction
                return applied

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

    async def merkle_root(self, size: int | None = None) -> TreeHead:
        """The Merkle root (RFC 9162) of the log's first ``size`` events (default: all of them).

        A size beyond the log is :class:`ProofRangeError`.
        """
        from .proofs import tree_head

        return await self._proof(lambda driver: tree_head(driver, self.ledger_id, size))

    async def prove_inclusion(self, position: int, size: int | None = None) -> InclusionProof:
        """The audit path proving the event at ``position`` is in the tree of the first ``size`` events.

        O(log n) hashes from a handful of statements; check it with :meth:`InclusionProof.verify` or
        offline with ``verify_bundle.py --proof FILE``. A position past the size, or a size beyond
        the log, is :class:`ProofRangeError`.
        """
        from .proofs import inclusion

        return await self._proof(lambda driver: inclusion(driver, self.ledger_id, position, size))

    async def prove_consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """The proof that the log's first ``old_size`` events are a prefix of its first ``new_size``
        (default: all of them), with both roots: nothing before ``old_size`` was rewritten or dropped.

        ``old_size`` larger than ``new_size``, or either beyond the log, is :class:`ProofRangeError`.
        """
        from .proofs import consistency

        return await self._proof(lambda driver: consistency(driver, self.ledger_id, old_size, new_size))

    async def checkpoint(
        self, *, signers: Sequence[CheckpointSigner] | None = None, key_dir: str | os.PathLike[str] | None = None
    ) -> Checkpoint:
        """The log's Merkle root now, as a checkpoint signed by ``signers`` (default: the ledger's own
        Ed25519 key, ``<ledger id>.ed25519`` in ``key_dir`` or the key directory, made if missing;
        ``signers=[]``: unsigned). Write ``checkpoint.note()`` somewhere the database's writers
        cannot reach. Signing needs ``artifact-ledger[sign]``.
        """
        from .ledger_checkpoints import make_checkpoint

        return await make_checkpoint(self.merkle_root, self.ledger_id, signers=signers, key_dir=key_dir)

    async def verify_checkpoint(
        self,
        checkpoint: Checkpoint | str | bytes,
        *,
        verifier_keys: Sequence[str] = (),
        witness_keys: Sequence[str] = (),
    ) -> CheckpointCheck:
        """Whether the log still holds the history ``checkpoint`` (or its note) recorded: the root of
        its first ``size`` events must be the checkpoint's. A note of another ledger, whose signature by
        one of ``verifier_keys`` does not verify, or that lacks a valid co-signature by every one of
        ``witness_keys``, is :class:`InvalidCheckpointError`.

        The root is computed from the event hashes (one pass over the first ``size`` of them), never
        read from the stored Merkle subtrees: whoever rewrote events and their chain can put the old
        subtrees back, and a root taken from them would match the signed one again.
        """
        from .ledger_checkpoints import accepted, compared
        from .proofs import event_roots

        checked = accepted(self.ledger_id, checkpoint, verifier_keys=verifier_keys, witness_keys=witness_keys)
        log_size, roots = await self._proof(lambda driver: event_roots(driver, [checked.size]))
        return compared(checked, log_size, roots.get(checked.size))

    async def _proof(self, build: Callable[[Recorder], Awaitable[_T]]) -> _T:
        with translated():
            async with connect(self.engine) as conn, reading(conn) as driver:
                return await build(driver)

    async def create_index(self, path: str) -> str:
        """Add an expression index on ``data.<path>`` of the live artifacts (``find`` filters and
        orderings on that path then seek instead of scanning); returns its name. Idempotent.

        The index is on the projection table and recorded in ``ledger_indexes`` with it:
        ``rebuild`` makes every recorded index again, :meth:`indexes` lists them, ``drop_index``
        removes the index and its record. A path outside the grammar is :class:`InvalidQueryError`.
        """
        from .query.indexes import create_index

        with translated():
            return await create_index(self.engine, path)

    async def drop_index(self, path: str) -> str:
        """Remove the index :meth:`create_index` made on ``path`` (nothing if there is none); returns its name."""
        from .query.indexes import drop_index

        with translated():
            return await drop_index(self.engine, path)

    async def indexes(self) -> list[IndexInfo]:
        """The recorded data-path indexes (path, index name, created_at), ordered by path."""
        from .query.indexes import list_indexes

        with translated():
            return await list_indexes(self.engine)

    async def replica_lag(self) -> ReplicaLag | None:
        """How far the read replica is behind the primary (seconds as a staleness bound, WAL bytes,
        paused replay), or None when the ledger has no replica. Raises
        :class:`ReplicaUnavailableError` when the replica cannot be reached."""
        if self.read_engine is None:
            return None
        from .replicas import lag

        return await lag(self.engine, self.read_engine)

    async def namespaces(self) -> list[str]:
        """The namespaces of this ledger's database: ``default`` first, then the others by name."""
        return await list_namespaces(self._base)

    async def close(self) -> None:
        if self._owns_read_engine and self.read_engine is not None:
            await self.read_engine.dispose()
        if self._owns_engine:
            await self.engine.dispose()
