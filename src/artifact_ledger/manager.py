"""``ArtifactRepository`` and ``ArtifactManager``: chapkit's API over the ledger.

Writes go through :class:`~artifact_ledger.writer.WriteBatch` (decide, append,
project) and commit the session unless a ``transaction()`` is open; reads use
:mod:`queries`. Code written for chapkit's ``ArtifactManager`` runs unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from . import codec, queries
from .attribution import current as current_attribution
from .clock import Clock, system_clock
from .content import EncodedContent, Keyring, decode_content, encode_content
from .decide import MoveArtifact, SaveArtifact
from .errors import (
    ArtifactNotFoundError,
    DataNotSerializableError,
    InvalidArtifactDataError,
    TransactionAbortedError,
)
from .events import ContentRef
from .ids import IdFactory, new_id, parse_id, ulid_from_text
from .keys import resolve_keyring
from .projections.rows import ArtifactRow
from .schemas import (
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactVersion,
    check_typed_data,
    construct,
)
from .store.dialect import driver_for, translated
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

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            bind = self.session.bind
            url = bind.engine.url if bind is not None else None
            self._keyring = resolve_keyring(url, self._secret)
        return self._keyring

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
            appended = batch.head.position if batch.head is not None else 0
            try:
                with translated():
                    return await action(batch)
            except BaseException as exc:
                # A command that failed after appending some of its events (save_all item k)
                # would leave half of itself in the batch: the whole transaction must go.
                if batch.head is not None and batch.head.position != appended:
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
        artifact_id = str(ulid)
        self._ulids[artifact_id] = ulid
        if item.parent_id is not None:
            self._ulids[str(item.parent_id)] = item.parent_id
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
            codec.dumps(rest)
        except codec.NotJSONError as exc:
            raise DataNotSerializableError(
                f"artifact {artifact_id}: data{exc.path} is {exc.value_type}, which is not JSON. Metadata must "
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
        parent_id = str(item.parent_id) if item.parent_id is not None else None
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
        prepared = [self._prepare(item, None) for item in items]
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> list[ArtifactOut]:
            client_ids = [cmd.artifact_id for cmd, _, _, fresh in prepared if not fresh]
            known = {*client_ids, *(cmd.parent_id for cmd, _, _, _ in prepared if cmd.parent_id is not None)}
            await batch.prefetch(sorted(known), streams=client_ids)
            outs: list[ArtifactOut] = []
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
        await self._write(lambda batch: batch.move(MoveArtifact(aid, parent, expected_version), who))
        out = await self.find_by_id(aid)
        assert out is not None
        return out

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
        await self._write(lambda batch: batch.restore(aid, who))
        out = await self.find_by_id(aid)
        assert out is not None
        return out

    # ---- reads --------------------------------------------------------------------------------------
    async def find_by_id(self, id: ULID | str, *, include_content: bool = True) -> ArtifactOut | None:
        aid = str(parse_id(id))
        await self._sync()
        with translated():
            row = await queries.by_id(self.repo.session, aid)
            if row is None:
                return None
            return (await self._outs([row], include_content))[0]

    async def find_all(self, *, include_content: bool = True) -> list[ArtifactOut]:
        """Every live artifact, ordered by id."""
        await self._sync()
        with translated():
            return await self._outs(await queries.all_rows(self.repo.session), include_content)

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

    async def find_subtree(self, start_id: ULID | str, *, include_content: bool = True) -> list[ArtifactTreeNode]:
        """The artifact and all its live descendants, by depth then id (one closure-table query)."""
        aid = str(parse_id(start_id))
        await self._sync()
        with translated():
            return await self._nodes(await queries.subtree(self.repo.session, aid), include_content)

    async def build_tree(self, start_id: ULID | str, *, include_content: bool = True) -> ArtifactTreeNode | None:
        """The subtree as nested nodes (children by id; leaves have ``children == []``)."""
        nodes = await self.find_subtree(start_id, include_content=include_content)
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

    async def history(self, id: ULID | str) -> list[ArtifactVersion]:
        """Every version of an artifact, oldest first (deleted artifacts included)."""
        aid = str(parse_id(id))
        await self._sync()
        with translated():
            events = await queries.stream(self.repo.session, aid)
        if not events:
            raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
        from .decide import evolve

        versions: list[ArtifactVersion] = []
        state = None
        for event in events:
            state = evolve(state, event)
            c = state.content
            versions.append(
                ArtifactVersion.model_construct(
                    artifact_id=ULID.from_str(aid),
                    version=event.version,
                    event_type=event.type,
                    position=event.position,
                    parent_id=ULID.from_str(state.parent_id) if state.parent_id else None,
                    data=state.data,
                    content_hash=c.hash if c else None,
                    content_type=c.media_type if c else None,
                    content_size=c.size if c else None,
                    tags=list(state.tags),
                    deleted=state.deleted,
                    recorded_at=event.recorded_at,
                    actor=event.actor,
                    reason=event.reason,
                    correlation_id=event.correlation_id,
                )
            )
        return versions

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
        if isinstance(data, dict):  # a copy: the reply never aliases the caller's input
            data = {**data, "content": content} if content is not _NO_CONTENT else dict(data)
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
        """One model per row (content decoded from blobs fetched once per call)."""
        raw: dict[str, bytes] = {}
        if include_content:
            hashes = {r.content_hash for r in rows if r.content_hash}
            if hashes:
                raw = await queries.load_blobs(self.repo.session, hashes)
        hierarchy = self.hierarchy if cls is ArtifactTreeNode else None
        tree = cls is ArtifactTreeNode
        name = hierarchy.name if hierarchy is not None else None
        ulids: dict[str, ULID] = {}
        outs: list[OutT] = []
        for r in rows:
            data = codec.loads(r.data)
            if include_content and r.content_hash and isinstance(data, dict):
                keyring = self.repo.keyring if r.content_codec == "pickle" else _PLAIN
                data["content"] = decode_content(r.content_codec, raw[r.content_hash], r.content_hash, keyring)
            ulid = ulids[r.id] = ulid_from_text(r.id)
            parent = None
            if r.parent_id is not None:
                parent = ulids.get(r.parent_id) or ulid_from_text(r.parent_id)
            values: dict[str, Any] = {
                "id": ulid,
                "parent_id": parent,
                "level": r.level,
                "data": data,
                "tags": codec.loads(r.tags),
                "created_at": r.created_at,
                "updated_at": r.updated_at,
                "version": r.version,
                "created_by": r.created_by,
                "updated_by": r.updated_by,
            }
            if tree:
                values["level_label"] = hierarchy.label_for(r.level) if hierarchy is not None else None
                values["hierarchy"] = name
                values["children"] = None
            outs.append(construct(cls, values))
        return outs


_PLAIN = Keyring.generate()
"""Passed to decoders of codecs that never consult a key (everything but pickle)."""
