"""``ArtifactRepository`` and ``ArtifactManager``: chapkit's API over the ledger.

The manager is a facade with chapkit's method names, signatures and docstrings; code
written for chapkit's ``ArtifactManager`` runs unchanged. It holds no logic of its own:

- writes go to the command side (:mod:`commands`), a unit of work around
  :class:`~artifact_ledger.writer.WriteBatch` (decide, record, project) that commits
  (the session's transaction, or one of its own when the session is idle) unless a
  ``transaction()`` is open, and rolls back on any error;
- reads go to the read side (:mod:`reads`): the present, the past by version or instant,
  trees, history, diffs and the audit trail;
- the session, keyring, clock and ids live in the repository (:mod:`repository`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from ulid import ULID

from . import patching
from .commands import MAX_TAG_LENGTH, MAX_TAGS, Commands
from .errors import ConcurrentUseError
from .exclusive import exclusive, exclusive_items, exclusive_step, settle
from .lifecycle import Hold, Retention
from .manager_provenance import ProvenanceCalls
from .provenance import Provenance
from .query.find import FindPage
from .reads import Reads
from .redact import Redaction, Redactions
from .repository import ArtifactRepository
from .schemas import (
    ArtifactDiff,
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactVersion,
    AuditPage,
)

__all__ = ["MAX_TAGS", "MAX_TAG_LENGTH", "ArtifactManager", "ArtifactRepository"]


class ArtifactManager(ProvenanceCalls):
    """Hierarchical artifacts with version history, on an append-only hash-chained log."""

    def __init__(self, repo: ArtifactRepository, hierarchy: ArtifactHierarchy | None = None) -> None:
        self.repository = repo
        self.repo = repo
        self._commands = Commands(repo)
        self._reads = Reads(repo, hierarchy, self._commands.sync)
        self._provenance = Provenance(self._commands, self._reads)
        self._retention = Retention(self._commands, self._reads)
        self._redactions = Redactions(self._commands)
        self._running: str | None = None  # the public call in progress (see exclusive.py)

    @property
    def hierarchy(self) -> ArtifactHierarchy | None:
        """Labels the levels of the tree nodes this manager returns (None: no labels)."""
        return self._reads.hierarchy

    @hierarchy.setter
    def hierarchy(self, hierarchy: ArtifactHierarchy | None) -> None:
        self._reads.hierarchy = hierarchy

    # ---- transactions -------------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ArtifactManager]:
        """Every write inside is one transaction: one lock, one commit, all or nothing."""
        inner = self._commands.transaction()
        await exclusive_step(self, "transaction", inner.__aenter__)
        try:
            yield self
        except BaseException as error:
            await settle(self)  # the session is free again before it rolls back
            rollback = functools.partial(inner.__aexit__, type(error), error, error.__traceback__)
            if not await exclusive_step(self, "transaction", rollback):
                raise
        else:
            stray = await settle(self)
            if stray is not None:  # another task's call was still running in this transaction: commit none of it
                refused = ConcurrentUseError("transaction", stray)
                await exclusive_step(self, "transaction", lambda: inner.__aexit__(ConcurrentUseError, refused, None))
                raise refused
            await exclusive_step(self, "transaction", lambda: inner.__aexit__(None, None, None))

    # ---- writes -------------------------------------------------------------------------------------
    async def save(
        self,
        data: ArtifactIn,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ArtifactOut:
        """Create the artifact, or update it when ``data.id`` exists; identical data appends nothing."""
        return await self._commands.save(data, expected_version=expected_version, actor=actor, reason=reason)

    async def save_all(
        self, items: Iterable[ArtifactIn], *, actor: str | None = None, reason: str | None = None
    ) -> list[ArtifactOut]:
        """Save many artifacts in one transaction; a child may name a parent saved earlier in the batch."""
        return await self._commands.save_all(items, actor=actor, reason=reason)

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
        return await self._commands.move(
            artifact_id, new_parent_id, expected_version=expected_version, actor=actor, reason=reason
        )

    async def delete_by_id(
        self,
        id: ULID | str,
        *,
        cascade: bool = False,
        expected_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Tombstone an artifact (its history stays); unknown or already deleted ids are a no-op.

        Raises :class:`ArtifactHasChildrenError` if it has live children, unless ``cascade=True``.
        The id of an alias's or a link's stream (the audit trail shows it as an ``artifact_id``) is
        not an artifact: :class:`ArtifactNotFoundError` naming what it is, as ``patch`` and ``move`` raise.
        """
        await self._commands.delete(id, cascade=cascade, expected_version=expected_version, actor=actor, reason=reason)

    async def restore(self, id: ULID | str, *, actor: str | None = None, reason: str | None = None) -> ArtifactOut:
        """Bring a deleted artifact back as it was when deleted (a new version)."""
        return await self._commands.restore(id, actor=actor, reason=reason)

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
        return await self._commands.revert(
            id, to_version=to_version, expected_version=expected_version, actor=actor, reason=reason
        )

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
        return await self._reads.find_by_id(id, include_content=include_content, version=version, as_of=as_of)

    def open_content(self, id: ULID | str, *, version: int | None = None) -> AsyncGenerator[bytes, None]:
        """The content of the artifact (or of ``version``) as its stored bytes, a chunk at a time.

        For content saved as a stream, and ``bytes`` content, those are the content itself; for
        other codecs, their encoded form (JSON text, ``.npy``, Arrow IPC, a signed pickle).
        Every chunk is checked against its SHA-256 before it is yielded, so no unverified byte
        is handed out: a chunk that fails raises :class:`UntrustedContentError` in its place,
        after the chunks before it. Errors about the id or version (``ArtifactNotFoundError``,
        ``ArtifactDeletedError``, ``VersionNotFoundError``, ``ContentNotFoundError``) are raised
        at the first step of the iteration. Memory stays at about one chunk.
        """
        return exclusive_items(self, self._reads.open_content(id, version=version), "open_content")

    async def find_all(self, *, include_content: bool = True) -> list[ArtifactOut]:
        """Every live artifact, ordered by id."""
        return await self._reads.find_all(include_content=include_content)

    def iter_all(self, *, include_content: bool = True, page_size: int = 1000) -> AsyncGenerator[ArtifactOut, None]:
        """Every live artifact, ordered by id, read ``page_size`` at a time: memory stays bounded.

        Each page is its own keyset query (``id > last``), so a listing of any size holds one
        page of rows and models at a time. Pages are separate reads: an artifact created
        during the iteration shows up if its id sorts after the current page.
        """
        return exclusive_items(self, self._reads.iter_all(include_content=include_content, page_size=page_size))

    async def find_paginated(
        self, page: int, size: int, *, include_content: bool = True
    ) -> tuple[list[ArtifactOut], int]:
        """Page ``page`` (from 1) of ``size`` artifacts ordered by id, and the total count."""
        return await self._reads.find_paginated(page, size, include_content=include_content)

    async def find_all_by_id(self, ids: Sequence[ULID | str], *, include_content: bool = True) -> list[ArtifactOut]:
        """The live artifacts among ``ids``, ordered by id (unknown and deleted ids are left out)."""
        return await self._reads.find_all_by_id(ids, include_content=include_content)

    async def count(self, where: dict[str, Any] | None = None, *, as_of: datetime | None = None) -> int:
        """How many artifacts are live (with ``where``: how many of them match it; see :meth:`find`).
        ``as_of``: how many were live (and matched) at that instant, moves and deletes included;
        before the first event, 0. Bad input raises :class:`InvalidQueryError` or
        :class:`InvalidArgumentError`."""
        return await self._reads.count(where, as_of)

    async def find(
        self,
        where: dict[str, Any] | None = None,
        *,
        order_by: str = "id",
        limit: int = 100,
        after: str | None = None,
        as_of: datetime | None = None,
        include_content: bool = False,
    ) -> FindPage:
        """One page of the live artifacts matching ``where``, ordered by ``order_by``.

        ``where`` is a dict: keys ``data.<dotted.path>``, ``tags``, ``parent_id``, ``level``,
        ``version``, ``created_at``, ``updated_at``, ``created_by``, ``updated_by``; a value is a
        literal (equality; for ``tags``, "has this tag") or a dict of operators (``eq ne lt lte gt
        gte in nin contains prefix exists``); ``$and``/``$or`` take lists of dicts, ``$not`` a dict;
        several keys mean AND. A path the data does not have matches no comparison. ``order_by``:
        ``id``, ``created_at``, ``updated_at`` or a data path, ``-`` in front for descending.
        ``after``: the previous page's ``next_cursor``. ``as_of``: the same question asked of the
        state at that instant. Blobs are never read unless ``include_content=True`` (then only the
        page's). Bad input raises :class:`InvalidQueryError`.
        """
        return await self._reads.find(
            where, order_by=order_by, limit=limit, after=after, as_of=as_of, include_content=include_content
        )

    async def patch(
        self,
        id: ULID | str,
        data: dict[str, Any],
        *,
        tags: Sequence[str] | None = None,
        expected_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> ArtifactOut:
        """Change part of an artifact's data: ``data`` is an RFC 7396 merge patch (a key set to None
        is removed, a dict merges into a dict, anything else replaces). The content is kept unless the
        patch sets ``content`` (None removes it); ``tags`` replaces the tags when given. A patch that
        changes nothing appends nothing. One transaction, under the write lock."""
        return await patching.patch(
            self._commands, id, data, tags=tags, expected_version=expected_version, actor=actor, reason=reason
        )

    async def exists_by_id(self, id: ULID | str) -> bool:
        """Whether a live artifact has this id."""
        return await self._reads.exists_by_id(id)

    async def find_subtree(
        self, start_id: ULID | str, *, include_content: bool = True, as_of: datetime | None = None
    ) -> list[ArtifactTreeNode]:
        """The artifact and all its live descendants, by depth then id (one closure-table query).

        With ``as_of=``, the subtree as it was at that instant (moves and deletes included), from
        the temporal closure; ``[]`` if the artifact did not exist then.
        """
        return await self._reads.find_subtree(start_id, include_content=include_content, as_of=as_of)

    async def build_tree(
        self, start_id: ULID | str, *, include_content: bool = True, as_of: datetime | None = None
    ) -> ArtifactTreeNode | None:
        """The subtree as nested nodes (children by id; leaves have ``children == []``); ``as_of=`` as in
        :meth:`find_subtree`."""
        return await self._reads.build_tree(start_id, include_content=include_content, as_of=as_of)

    async def expand_artifact(self, artifact_id: ULID | str) -> ArtifactTreeNode | None:
        """One artifact with hierarchy labels; ``children`` is None (not loaded)."""
        return await self._reads.expand_artifact(artifact_id)

    async def get_root_artifact(self, artifact_id: ULID | str) -> ArtifactOut | None:
        """The root of the tree the artifact is in (itself for a root); None for an unknown or deleted id."""
        return await self._reads.get_root_artifact(artifact_id)

    async def history(self, id: ULID | str, *, include_content: bool = False) -> list[ArtifactVersion]:
        """Every version of an artifact, oldest first (deleted artifacts included).

        Each entry has the state after that event (data, content hash/type/size, tags, parent) and
        its attribution. Blobs are never read unless ``include_content=True``, which decodes each
        version's content into ``data["content"]``.
        """
        return await self._reads.history(id, include_content=include_content)

    async def history_paginated(
        self, id: ULID | str, page: int, size: int, *, include_content: bool = False
    ) -> tuple[list[ArtifactVersion], int]:
        """Page ``page`` (from 1) of ``size`` entries of :meth:`history`, and how many versions there
        are. Only the events up to the page's last are read, so early pages of a long history are
        cheap. A page past the end is empty; an unknown artifact: :class:`ArtifactNotFoundError`."""
        return await self._reads.history_paginated(id, page, size, include_content=include_content)

    async def diff(self, id: ULID | str, v1: int, v2: int | None = None, *, content: bool = True) -> ArtifactDiff:
        """What changed from version ``v1`` to ``v2`` (default: the latest): data as JSON-patch
        operations, content hash/size, parent, level, tags. ``str(result)`` is a readable diff.
        ``content=False`` leaves out what changed inside the content (``content_diff`` is None), so
        no content is read: the diff of versions whose content expired or cannot be decoded."""
        return await self._reads.diff(id, v1, v2, content=content)

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
        return await self._reads.audit(
            artifact_id=artifact_id,
            subtree_of=subtree_of,
            actor=actor,
            event_type=event_type,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )

    # ---- holds (retention) ----------------------------------------------------------------------------
    async def hold(self, id: ULID | str, reason: str | None = None, *, actor: str | None = None) -> Hold:
        """Put artifact ``id`` on hold: no retention policy expires any of its versions' content until
        it is released. A ``hold.set`` event (who, why); ``reason`` is required (here or in
        ``ledger.context``). Unknown id: :class:`ArtifactNotFoundError`; already held: nothing appended."""
        return await self._retention.hold(id, release=False, actor=actor, reason=reason)

    async def release(self, id: ULID | str, reason: str | None = None, *, actor: str | None = None) -> Hold:
        """Release the hold on artifact ``id`` (a ``hold.released`` event; ``reason`` required).
        One that is not held: :class:`HoldNotFoundError`."""
        return await self._retention.hold(id, release=True, actor=actor, reason=reason)

    async def redact(
        self,
        id: ULID | str,
        *,
        version: int | None = None,
        fields: list[str] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Redaction:
        """Erase the content (``fields=None``) or the named top-level ``data`` fields of one version
        (``version``) or of every version of artifact ``id``, for good, while the chain still verifies.

        Appends an ``artifact.redacted`` event (who, why, which leaves of which events); ``reason`` is
        required (here or in ``ledger.context``). Only events sealed under chain format 2 can be
        redacted (``ledger.upgrade_chain()``; a format-1 event: :class:`InvalidArgumentError`).
        Erased content reads as :class:`RedactedError`; erased fields are absent from ``data``; the
        content's blob is deleted when no other version names it. Unknown artifact, version or
        field, or nothing left to erase: a specific error, and nothing is written."""
        return await self._redactions.redact(id, version=version, fields=fields, actor=actor, reason=reason)

    async def holds(self) -> list[str]:
        """The ids of the artifacts on hold now, in id order."""
        return await self._retention.held()


for _name, _member in [*vars(ProvenanceCalls).items(), *vars(ArtifactManager).items()]:
    if not _name.startswith("_") and inspect.iscoroutinefunction(_member):
        setattr(ProvenanceCalls if _name in vars(ProvenanceCalls) else ArtifactManager, _name, exclusive(_member))
