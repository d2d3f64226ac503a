"""``ArtifactRepository`` and ``ArtifactManager``: chapkit's API over the ledger.

Writes go through :class:`~artifact_ledger.writer.WriteBatch` (decide, append,
project) and commit the session unless a ``transaction()`` is open; reads use
:mod:`queries`. Code written for chapkit's ``ArtifactManager`` runs unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from . import codec, queries, temporal
from . import history as hist
from .ambient import current as current_attribution
from .clock import Clock, system_clock
from .content import EncodedContent, Keyring, decode_content, encode_content
from .decide import MoveArtifact, RevertArtifact, SaveArtifact
from .errors import (
    ArtifactNotFoundError,
    DataNotSerializableError,
    InvalidArtifactDataError,
    LedgerError,
    TransactionAbortedError,
)
from .events import ContentRef
from .ids import IdFactory, new_id, parse_id, ulid_from_text, ulid_str
from .keys import resolve_keyring
from .projections.rows import ArtifactRow
from .schemas import (
    ArtifactDiff,
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactVersion,
    AuditPage,
    building,
    check_typed_data,
    construct,
)
from .store.dialect import driver_for, translated
from .store.tables import stamp_reader
from .writer import WriteBatch

T = TypeVar("T")
OutT = TypeVar("OutT", bound=ArtifactOut)

MAX_TAGS = 64
MAX_TAG_LENGTH = 255

_NO_CONTENT = object()


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
    ) -> None:
        self.session = session
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
            self._dialect = (await self.session.connection()).dialect.name
        return self._dialect

    async def batch(self) -> WriteBatch:
        connection = await self.session.connection()
        return WriteBatch(await driver_for(connection), self.clock, self.new_id)

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class ArtifactManager:
    """Hierarchical artifacts with version history, on an append-only hash-chained log."""

    def __init__(self, repo: ArtifactRepository, hierarchy: ArtifactHierarchy | None = None) -> None:
        self.repository = repo
        self.repo = repo
        self.hierarchy = hierarchy
        self._batch: WriteBatch | None = None
        self._ulids: dict[str, ULID] = {}
        """ULID objects of the artifacts being saved, so replies need not re-parse their text."""

    # ---- transactions -------------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ArtifactManager]:
        """Every write inside is one transaction: one lock, one commit, all or nothing."""
        if self._batch is not None:
            yield self
            return
        with translated():
            self._batch = await self.repo.batch()
        try:
            yield self
            if self._batch.aborted is not None:
                raise TransactionAbortedError(
                    f"the transaction was not committed: an earlier write in it failed part-way "
                    f"({self._batch.aborted}); nothing in it was written"
                )
            with translated():
                await self._batch.flush()
                await self.repo.commit()
        except BaseException:
            await self.repo.rollback()
            raise
        finally:
            self._batch = None

    async def _write(self, action: Callable[[WriteBatch], Awaitable[T]]) -> T:
        batch = self._batch
        if batch is not None:
            if batch.aborted is not None:
                raise TransactionAbortedError(
                    f"this transaction was aborted by an earlier error ({batch.aborted}); "
                    "leave the transaction block and start a new one"
                )
            sealed = batch.appended + len(batch.pending)
            try:
                with translated():
                    return await action(batch)
            except BaseException as exc:
                # The whole transaction must go when the command sealed some of its events
                # before failing (save_all item k would leave half of itself in the batch),
                # or when the database itself failed (PostgreSQL refuses every later statement
                # of a failed transaction). A rule refused by decide() writes nothing: keep going.
                from_database = isinstance(exc, LedgerError) and exc.driver_error is not None
                if batch.appended + len(batch.pending) != sealed or from_database:
                    batch.aborted = f"{type(exc).__name__}: {exc}"
                raise
        try:
            with translated():
                batch = await self.repo.batch()
                result = await action(batch)
                await batch.flush()
                await self.repo.commit()
            return result
        except BaseException:
            await self.repo.rollback()
            raise

    async def _sync(self) -> None:
        """Inside a transaction, send pending writes so reads see them."""
        if self._batch is not None:
            with translated():
                await self._batch.flush()

    # ---- writes -------------------------------------------------------------------------------------
    def _prepare(
        self, item: ArtifactIn, expected_version: int | None
    ) -> tuple[SaveArtifact, EncodedContent | None, Any, bool]:
        fresh = item.id is None
        ulid = self.repo.new_id() if item.id is None else item.id
        artifact_id = ulid_str(ulid)
        self._ulids[artifact_id] = ulid
        parent_id = None
        if item.parent_id is not None:
            parent_id = ulid_str(item.parent_id)
            self._ulids[parent_id] = item.parent_id
        data = item.data
        check_typed_data(data, artifact_id)
        content: Any = _NO_CONTENT
        encoded: EncodedContent | None = None
        rest = data
        if isinstance(data, dict) and data.get("content") is not None:
            content = data["content"]
            rest = {k: v for k, v in data.items() if k != "content"}
            declared = data.get("content_type") if isinstance(data.get("content_type"), str) else None
            try:
                encoded = encode_content(content, declared, self.repo.keyring)
            except InvalidArtifactDataError as exc:
                raise type(exc)(f"artifact {artifact_id}: {exc}") from None
        try:
            # The command keeps its own copy: inside a transaction the batch compares later
            # saves with it, so a caller changing its dict (or a reply) afterwards must not reach it.
            rest = codec.loads(codec.dumps(rest))
        except codec.NotJSONError as exc:
            raise DataNotSerializableError(
                f"artifact {artifact_id}: data{exc.path} is {exc.shown}, which is not JSON. Metadata must "
                "be plain JSON (str, int, float, bool, None, lists, dicts with str keys); put Python objects "
                "(models, arrays, DataFrames) in data['content'], and timestamps as ISO strings"
            ) from None
        tags = tuple(item.tags)
        if len(tags) > MAX_TAGS or any(not isinstance(t, str) or len(t) > MAX_TAG_LENGTH for t in tags):
            raise InvalidArtifactDataError(
                f"artifact {artifact_id}: tags must be at most {MAX_TAGS} strings of at most "
                f"{MAX_TAG_LENGTH} characters"
            )
        ref = ContentRef(encoded.hash, encoded.codec, encoded.media_type, encoded.size) if encoded else None
        cmd = SaveArtifact(artifact_id, parent_id, rest, ref, tags, expected_version)
        return cmd, encoded, content, fresh

    async def save(
        self,
        data: ArtifactIn,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ArtifactOut:
        """Create the artifact, or update it when ``data.id`` exists; identical data appends nothing."""
        self._ulids.clear()
        cmd, encoded, content, fresh = self._prepare(data, expected_version)
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> ArtifactOut:
            await batch.save(cmd, who, encoded, fresh_id=fresh)
            row = await batch.projector.get(cmd.artifact_id)
            assert row is not None
            return self._out_from_row(row, content)

        return await self._write(action)

    async def save_all(
        self, items: Iterable[ArtifactIn], *, actor: str | None = None, reason: str | None = None
    ) -> list[ArtifactOut]:
        """Save many artifacts in one transaction; a child may name a parent saved earlier in the batch."""
        self._ulids.clear()
        items = list(items)
        with building(len(items)):
            prepared = [self._prepare(item, None) for item in items]
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> list[ArtifactOut]:
            client_ids = [cmd.artifact_id for cmd, _, _, fresh in prepared if not fresh]
            known = {*client_ids, *(cmd.parent_id for cmd, _, _, _ in prepared if cmd.parent_id is not None)}
            await batch.prefetch(sorted(known), streams=client_ids)
            outs: list[ArtifactOut] = []
            # Deciding, sealing and projecting is in-memory work once the rows are prefetched
            # (the loop awaits the database only for what prefetch could not know).
            with building(len(prepared)):
                for cmd, encoded, _content, fresh in prepared:
                    await batch.save(cmd, who, encoded, fresh_id=fresh)
                for cmd, _, content, _ in prepared:
                    row = await batch.projector.get(cmd.artifact_id)
                    assert row is not None
                    outs.append(self._out_from_row(row, content))
            return outs

        return await self._write(action)

    async def move(
        self,
        artifact_id: ULID | str,
        new_parent_id: ULID | str | None,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ArtifactOut:
        """Reparent an artifact (and with it its subtree); levels below are recomputed."""
        aid = str(parse_id(artifact_id))
        parent = str(parse_id(new_parent_id, what="parent id")) if new_parent_id is not None else None
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> ArtifactOut:
            await batch.move(MoveArtifact(aid, parent, expected_version), who)
            return await self._written(batch, aid)

        return await self._write(action)

    async def delete_by_id(
        self,
        id: ULID | str,
        *,
        cascade: bool = False,
        expected_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Tombstone an artifact (its history stays); unknown ids are a no-op.

        Raises :class:`ArtifactHasChildrenError` if it has live children, unless ``cascade=True``.
        """
        aid = str(parse_id(id))
        who = current_attribution(actor=actor, reason=reason)
        await self._write(lambda batch: batch.delete(aid, who, cascade=cascade, expected_version=expected_version))

    async def restore(self, id: ULID | str, *, actor: str | None = None, reason: str | None = None) -> ArtifactOut:
        """Bring a deleted artifact back as it was when deleted (a new version)."""
        aid = str(parse_id(id))
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> ArtifactOut:
            await batch.restore(aid, who)
            return await self._written(batch, aid)

        return await self._write(action)

    async def revert(
        self,
        id: ULID | str,
        *,
        to_version: int,
        expected_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ArtifactOut:
        """Make version ``to_version``'s data, content, tags and parent the newest version.

        Appends one ``artifact.reverted`` event recording ``to_version`` (history is never
        rewritten), or nothing when that state is already the current one.
        """
        aid = str(parse_id(id))
        if isinstance(to_version, bool) or not isinstance(to_version, int):
            raise TypeError(f"to_version must be an int, not {type(to_version).__name__}")
        cmd = RevertArtifact(aid, to_version, expected_version)
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> ArtifactOut:
            await batch.revert(cmd, who)
            return await self._written(batch, aid)

        return await self._write(action)

    async def _written(self, batch: WriteBatch, artifact_id: str) -> ArtifactOut:
        """The artifact as this transaction left it (from the batch's own rows: no later writer shows)."""
        row = await batch.projector.get(artifact_id)
        if row is None:
            raise ArtifactNotFoundError(f"artifact {artifact_id} not found", artifact_id=artifact_id)
        content: Any = _NO_CONTENT
        if row.content is not None:
            await batch.flush()  # the blob may have been written earlier in this transaction
            digest = row.content.hash
            raw = await queries.load_blobs(self.repo.session, [digest])
            content = self._decode(row.content.codec, raw[digest], digest)
        return self._out_from_row(row, content)

    # ---- reads --------------------------------------------------------------------------------------
    async def find_by_id(
        self,
        id: ULID | str,
        *,
        include_content: bool = True,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> ArtifactOut | None:
        """The live artifact, or None; with ``version=`` or ``as_of=``, the artifact exactly as it was then.

        A past read returns None when the artifact did not exist yet, or was deleted, at that
        point, and raises ``ArtifactNotFoundError`` for an id with no history at all and
        ``VersionNotFoundError`` for a version the artifact never had.
        """
        aid = str(parse_id(id))
        if version is not None or as_of is not None:
            return await self._find_at(aid, version, as_of, include_content)
        await self._sync()
        with translated():
            row = await queries.by_id(self.repo.session, aid)
            if row is None:
                return None
            return (await self._outs([row], include_content))[0]

    async def _find_at(
        self, aid: str, version: int | None, as_of: datetime | None, include_content: bool
    ) -> ArtifactOut | None:
        at = hist.point(version, as_of)
        await self._sync()
        with translated():
            rows = await temporal.tree_at(self.repo.session, await self.repo.dialect(), aid, **at, subtree=False)
            if not rows:
                await hist.check_stream(self.repo.session, aid, version)
                return None
            return (await self._models(ArtifactOut, hist.tree_values(rows), include_content))[0]

    async def find_all(self, *, include_content: bool = True) -> list[ArtifactOut]:
        """Every live artifact, ordered by id."""
        await self._sync()
        with translated():
            return await self._outs(await queries.all_rows(self.repo.session), include_content)

    async def iter_all(
        self, *, include_content: bool = True, page_size: int = 1000
    ) -> AsyncGenerator[ArtifactOut, None]:
        """Every live artifact, ordered by id, read ``page_size`` at a time: memory stays bounded.

        Each page is its own keyset query (``id > last``), so a listing of any size holds one
        page of rows and models at a time. Pages are separate reads: an artifact created
        during the iteration shows up if its id sorts after the current page.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be positive (got {page_size})")
        after: str | None = None
        while True:
            await self._sync()
            with translated():
                rows = await queries.page_after(self.repo.session, after, page_size)
                page = await self._outs(rows, include_content)
            for out in page:
                yield out
            if len(rows) < page_size:
                return
            after = rows[-1].id

    async def find_paginated(
        self, page: int, size: int, *, include_content: bool = True
    ) -> tuple[list[ArtifactOut], int]:
        """Page ``page`` (from 1) of ``size`` artifacts ordered by id, and the total count."""
        if page < 1 or size < 1:
            raise ValueError(f"page and size must be positive (got page={page}, size={size})")
        await self._sync()
        with translated():
            rows = await queries.all_rows(self.repo.session, offset=(page - 1) * size, limit=size)
            return await self._outs(rows, include_content), await queries.count(self.repo.session)

    async def find_all_by_id(self, ids: Sequence[ULID | str], *, include_content: bool = True) -> list[ArtifactOut]:
        wanted = [str(parse_id(i)) for i in ids]
        await self._sync()
        with translated():
            return await self._outs(await queries.by_ids(self.repo.session, wanted), include_content)

    async def count(self) -> int:
        await self._sync()
        with translated():
            return await queries.count(self.repo.session)

    async def exists_by_id(self, id: ULID | str) -> bool:
        await self._sync()
        with translated():
            return await queries.exists(self.repo.session, str(parse_id(id)))

    async def find_subtree(
        self, start_id: ULID | str, *, include_content: bool = True, as_of: datetime | None = None
    ) -> list[ArtifactTreeNode]:
        """The artifact and all its live descendants, by depth then id (one closure-table query).

        With ``as_of=``, the subtree as it was at that instant (moves and deletes included), from
        the temporal closure; ``[]`` if the artifact did not exist then.
        """
        aid = str(parse_id(start_id))
        at = hist.point(None, as_of) if as_of is not None else None
        await self._sync()
        with translated():
            if at is None:
                return await self._nodes(await queries.subtree(self.repo.session, aid), include_content)
            rows = await temporal.tree_at(self.repo.session, await self.repo.dialect(), aid, **at, subtree=True)
            if not rows:
                await hist.check_stream(self.repo.session, aid)
                return []
            return await self._models(ArtifactTreeNode, hist.tree_values(rows), include_content)

    async def build_tree(
        self, start_id: ULID | str, *, include_content: bool = True, as_of: datetime | None = None
    ) -> ArtifactTreeNode | None:
        """The subtree as nested nodes (children by id; leaves have ``children == []``); ``as_of=`` as in
        :meth:`find_subtree`."""
        nodes = await self.find_subtree(start_id, include_content=include_content, as_of=as_of)
        if not nodes:
            return None
        by_id: dict[ULID, ArtifactTreeNode] = {}
        for node in nodes:
            node.children = []
            by_id[node.id] = node
        for node in nodes[1:]:
            if node.parent_id is not None and node.parent_id in by_id:
                children = by_id[node.parent_id].children
                assert children is not None
                children.append(node)
        return nodes[0]

    async def expand_artifact(self, artifact_id: ULID | str) -> ArtifactTreeNode | None:
        """One artifact with hierarchy labels; ``children`` is None (not loaded)."""
        out = await self.find_by_id(artifact_id)
        if out is None:
            return None
        node = self._node(out)
        node.children = None
        return node

    async def get_root_artifact(self, artifact_id: ULID | str) -> ArtifactOut | None:
        aid = str(parse_id(artifact_id))
        await self._sync()
        with translated():
            row = await queries.root_of(self.repo.session, aid)
            if row is None:
                return None
            return (await self._outs([row], True))[0]

    async def history(self, id: ULID | str, *, include_content: bool = False) -> list[ArtifactVersion]:
        """Every version of an artifact, oldest first (deleted artifacts included).

        Each entry has the state after that event (data, content hash/type/size, tags, parent) and
        its attribution. Blobs are never read unless ``include_content=True``, which decodes each
        version's content into ``data["content"]``.
        """
        aid = str(parse_id(id))
        await self._sync()
        with translated():
            events = await queries.stream(self.repo.session, aid)
            if not events:
                raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
            folded = hist.fold_versions(events)
            if include_content:
                await self._decode_versions(folded)
        return [v for v, _ in folded]

    async def _decode_versions(self, folded: list[tuple[ArtifactVersion, Any]]) -> None:
        refs = {s.content.hash: s.content for _, s in folded if s.content is not None}
        if not refs:
            return
        raw = await queries.load_blobs(self.repo.session, refs)
        decoded = {h: self._decode(ref.codec, raw[h], h) for h, ref in refs.items()}
        for version, state in folded:
            if state.content is not None and isinstance(state.data, dict):
                version.data = {**state.data, "content": decoded[state.content.hash]}

    async def diff(self, id: ULID | str, v1: int, v2: int | None = None) -> ArtifactDiff:
        """What changed from version ``v1`` to ``v2`` (default: the latest): data as JSON-patch
        operations, content hash/size, parent, level, tags. ``str(result)`` is a readable diff."""
        aid = str(parse_id(id))
        await self._sync()
        with translated():
            return await hist.diff(self.repo.session, aid, v1, v2)

    async def audit(
        self,
        *,
        artifact_id: ULID | str | None = None,
        subtree_of: ULID | str | None = None,
        actor: str | Sequence[str] | None = None,
        event_type: str | Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> AuditPage:
        """Events matching every filter given, in position order, one keyset page at a time.

        ``subtree_of`` keeps events of artifacts that were in that subtree when they happened;
        ``since <= recorded_at < until``; ``after`` is the position to continue from (the
        previous page's ``next_after``).
        """
        aid = str(parse_id(artifact_id)) if artifact_id is not None else None
        root = str(parse_id(subtree_of, what="subtree root id")) if subtree_of is not None else None
        await self._sync()
        with translated():
            return await hist.audit(
                self.repo.session,
                artifact_id=aid,
                subtree_of=root,
                actor=actor,
                event_type=event_type,
                since=since,
                until=until,
                after=after,
                limit=limit,
            )

    # ---- mapping ------------------------------------------------------------------------------------
    def _node(self, out: ArtifactOut) -> ArtifactTreeNode:
        node = ArtifactTreeNode.from_artifact(out)
        if self.hierarchy is not None:
            node.hierarchy = self.hierarchy.name
            node.level_label = self.hierarchy.label_for(out.level)
        return node

    def _ulid(self, text: str) -> ULID:
        found = self._ulids.get(text)
        return found if found is not None else ULID.from_str(text)

    def _out_from_row(self, row: ArtifactRow, content: Any) -> ArtifactOut:
        data = row.data
        if isinstance(data, (dict, list)):
            # A deep copy: the reply must not alias the batch's row (a caller editing its reply
            # inside a transaction would otherwise change what later saves are compared with).
            data = codec.loads(codec.dumps_trusted(data))
            if content is not _NO_CONTENT and isinstance(data, dict):
                data["content"] = content
        values = {
            "id": self._ulid(row.id),
            "parent_id": self._ulid(row.parent_id) if row.parent_id else None,
            "level": row.level,
            "data": data,
            "tags": list(row.tags),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "version": row.version,
            "created_by": row.created_by,
            "updated_by": row.updated_by,
        }
        return construct(ArtifactOut, values)

    async def _outs(self, rows: Sequence[Row[Any]], include_content: bool) -> list[ArtifactOut]:
        return await self._build(ArtifactOut, rows, include_content)

    async def _nodes(self, rows: Sequence[Row[Any]], include_content: bool) -> list[ArtifactTreeNode]:
        return await self._build(ArtifactTreeNode, rows, include_content)

    async def _build(self, cls: type[OutT], rows: Sequence[Row[Any]], include_content: bool) -> list[OutT]:
        """One model per projection row (``queries._COLUMNS``): JSON and timestamps decoded in the same pass."""
        return await self._models(cls, cast(Sequence[hist.Values], rows), include_content, stored=True)

    def _decode(self, content_codec: str, raw: bytes, digest: str) -> Any:
        keyring = self.repo.keyring if content_codec == "pickle" else _PLAIN
        return decode_content(content_codec, raw, digest, keyring)

    async def _models(
        self, cls: type[OutT], rows: Sequence[hist.Values], include_content: bool, *, stored: bool = False
    ) -> list[OutT]:
        """One model per row (content decoded from blobs fetched once per call).

        ``stored``: the rows are projection rows as selected (``queries._COLUMNS``): data and
        tags still JSON text, timestamps raw (see ``RAW_STAMP``); decoded here, in one pass.
        """
        loads = codec.loads
        stamp = stamp_reader()
        raw: dict[str, bytes] = {}
        if include_content:
            hashes = {r[5] for r in rows if r[5]}
            if hashes:
                raw = await queries.load_blobs(self.repo.session, hashes)
        tree = cls is ArtifactTreeNode
        hierarchy = self.hierarchy if tree else None
        name = hierarchy.name if hierarchy is not None else None
        labels: dict[int, str | None] = {}
        ulids: dict[str, ULID] = {}
        outs: list[OutT] = []
        with building(len(rows)):
            for (
                aid,
                parent_id,
                level,
                version,
                data,
                content_hash,
                content_codec,
                tags,
                created,
                updated,
                by,
                upd,
            ) in rows:
                if stored:
                    data, tags = loads(data), loads(cast(str, tags))
                    created, updated = stamp(created), stamp(updated)
                if include_content and content_hash and isinstance(data, dict):
                    assert content_codec is not None  # written together with the hash
                    data["content"] = self._decode(content_codec, raw[content_hash], content_hash)
                ulid = ulids[aid] = ulid_from_text(aid)
                parent = None
                if parent_id is not None:
                    parent = ulids.get(parent_id) or ulid_from_text(parent_id)
                values: dict[str, Any] = {
                    "id": ulid,
                    "parent_id": parent,
                    "level": level,
                    "data": data,
                    "tags": tags,
                    "created_at": created,
                    "updated_at": updated,
                    "version": version,
                    "created_by": by,
                    "updated_by": upd,
                }
                if tree:
                    if level not in labels:
                        labels[level] = hierarchy.label_for(level) if hierarchy is not None else None
                    values["level_label"] = labels[level]
                    values["hierarchy"] = name
                    values["children"] = None
                outs.append(construct(cls, values))
        return outs


_PLAIN = Keyring.generate()
"""Passed to decoders of codecs that never consult a key (everything but pickle)."""
