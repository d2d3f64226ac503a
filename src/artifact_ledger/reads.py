"""The read side: artifacts as they are now or were then, their history, diffs and the audit trail.

Present-state reads select projection rows through :mod:`queries`; reads of the past
(``version=``, ``as_of=``) go through the temporal closure (:mod:`temporal`); history, diff
and audit fold the log (:mod:`history`). Here the rows become models, in one pass per
listing, with content decoded from blobs fetched once per call and hierarchy labels added
to tree nodes. Inside a transaction each read first sends the batch's pending writes (the
``sync`` callable of the command side), so a transaction reads its own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from ulid import ULID

from . import arguments, codec, history_pages, queries, temporal, unavailable
from . import history as hist
from .content.encoding import verify_blob
from .content.streams import CHUNK_SIZE, StreamedContent
from .diffs import content_diff
from .errors import (
    ArtifactDeletedError,
    ArtifactNotFoundError,
    ContentNotFoundError,
    InvalidArgumentError,
    LedgerError,
    UntrustedContentError,
    VersionNotFoundError,
)
from .events import EVENT_TYPES, REDACTED_CODEC, ContentRef, expand_event_types
from .expiry import load_listed
from .ids import id_str, parse_id, ulid_from_text
from .query import find as finding
from .query.find import FindPage
from .repository import ArtifactRepository
from .schemas import (
    ArtifactDiff,
    ArtifactHierarchy,
    ArtifactOut,
    ArtifactTreeNode,
    ArtifactVersion,
    AuditPage,
    building,
    construct,
)
from .schemas.stored import outs_from_stored, unreadable
from .store.blob_bounds import logged_size
from .store.blobs import BlobStore
from .store.errors import translated
from .store.recorder import Recorder
from .store.tables import stamp_reader

__all__ = ["Reads"]


def redacted(aid: str, version: int) -> ContentNotFoundError:
    """The error of a read of content a redaction erased (:class:`RedactedError`)."""
    return unavailable.redacted(aid, version).error()


def _content_of(aid: str, read: history_pages.PageRead, version: int | None) -> ContentRef:
    """The content reference of ``version`` (the latest when None) of one artifact's stream, from
    the events its state is made of (:func:`history_pages.read_one`)."""
    if not read.total:
        raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
    folded = hist.fold_versions(read.events, skip=read.lead)
    if version is None:
        state = folded[-1][1]
        if state.deleted:
            raise ArtifactDeletedError(
                f"artifact {aid} is deleted (version {state.version}); pass version= to read the content "
                "of a version before that",
                artifact_id=aid,
            )
    else:
        if version > read.total:
            raise VersionNotFoundError(
                f"artifact {aid} has no version {version}; its latest is {read.total}", artifact_id=aid
            )
        state = folded[-1][1]
    ref: ContentRef | None = None if state.deleted else state.content
    if ref is not None and ref.codec == REDACTED_CODEC:
        raise redacted(aid, state.version)
    if ref is None:
        what = "is its deletion" if state.deleted else "has no content"
        raise ContentNotFoundError(f"artifact {aid} version {state.version} {what}", artifact_id=aid)
    return ref


OutT = TypeVar("OutT", bound=ArtifactOut)


class Reads:
    """The reads of one manager; ``hierarchy`` labels the tree nodes they return."""

    def __init__(
        self, repo: ArtifactRepository, hierarchy: ArtifactHierarchy | None, sync: Callable[[], Awaitable[None]]
    ) -> None:
        self.repo = repo
        self.hierarchy = hierarchy
        self._sync = sync

    # ---- the present, and the past by version or instant ----------------------------------------------
    async def find_by_id(
        self, id: ULID | str, *, include_content: bool, version: int | None, as_of: datetime | None
    ) -> ArtifactOut | None:
        aid = id_str(id)
        arguments.flag(include_content, "include_content")
        if version is not None and as_of is not None:
            raise InvalidArgumentError("pass version= or as_of=, not both")
        if version is not None:
            arguments.integer(version, "version", minimum=0, maximum=arguments.MAX_VERSION)
        as_of = arguments.instant(as_of, "as_of")
        if version is not None or as_of is not None:
            return await self._find_at(aid, version, as_of, include_content)

        async def one(rec: Recorder) -> ArtifactOut | None:
            row = await queries.by_id(rec, aid)
            return None if row is None else (await self._outs([row], include_content, rec, one=True))[0]

        await self._sync()
        with translated():
            return await self.repo.read(one)

    async def _find_at(
        self, aid: str, version: int | None, as_of: datetime | None, include_content: bool
    ) -> ArtifactOut | None:
        at = hist.point(version, as_of)
        await self._sync()
        with translated():
            async with self.repo.core_reads() as db:
                rows = await temporal.tree_at(db, await self.repo.dialect(), aid, **at, subtree=False)
                if not rows:
                    await hist.check_artifact_stream(db, aid, version)
                    return None
            return (await self._models(ArtifactOut, hist.tree_values(rows), include_content, one=True))[0]

    async def find_all(self, *, include_content: bool) -> list[ArtifactOut]:
        arguments.flag(include_content, "include_content")
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                return await self._outs(await queries.all_rows(rec), include_content, rec)

    async def iter_all(self, *, include_content: bool, page_size: int) -> AsyncGenerator[ArtifactOut, None]:
        arguments.flag(include_content, "include_content")
        arguments.integer(page_size, "page_size", minimum=1, maximum=arguments.MAX_COUNT)
        after: str | None = None
        while True:
            await self._sync()
            with translated():
                async with self.repo.reading() as rec:
                    rows = await queries.page_after(rec, after, page_size)
                    page = await self._outs(rows, include_content, rec)
            for out in page:
                yield out
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    async def find_paginated(self, page: int, size: int, *, include_content: bool) -> tuple[list[ArtifactOut], int]:
        arguments.integer(page, "page", minimum=1, maximum=arguments.MAX_COUNT)
        arguments.integer(size, "size", minimum=1, maximum=arguments.MAX_COUNT)
        arguments.flag(include_content, "include_content")
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                rows = await queries.all_rows(rec, offset=(page - 1) * size, limit=size)
                return await self._outs(rows, include_content, rec), await queries.count(rec)

    async def find_all_by_id(self, ids: Sequence[ULID | str], *, include_content: bool) -> list[ArtifactOut]:
        wanted = [str(parse_id(i)) for i in arguments.id_sequence(ids, "ids")]
        arguments.flag(include_content, "include_content")
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                return await self._outs(await queries.by_ids(rec, wanted), include_content, rec)

    async def count(self, where: Any = None, as_of: datetime | None = None) -> int:
        as_of = arguments.instant(as_of, "as_of")
        if where is None and as_of is None:
            await self._sync()
            with translated():
                async with self.repo.reading() as rec:
                    return await queries.count(rec)
        return await self._count_where(where, as_of)

    # ---- find: the filter language (query/) --------------------------------------------------------
    async def find(
        self,
        where: Any,
        *,
        order_by: Any,
        limit: Any,
        after: Any,
        as_of: datetime | None,
        include_content: bool,
    ) -> FindPage:
        arguments.flag(include_content, "include_content")
        as_of = arguments.instant(as_of, "as_of")
        plan = finding.plan(where, order_by=order_by, limit=limit, after=after, as_of=as_of)
        await self._sync()
        dialect = await self.repo.dialect()

        async def one(rec: Recorder) -> FindPage:
            rows, next_cursor, stored = await finding.page(rec, dialect, plan)
            items = await self._models(ArtifactOut, rows, include_content, stored=stored, rec=rec)
            return FindPage.model_construct(items=items, next_cursor=next_cursor)

        with translated():
            return await self.repo.read(one)  # one checkout of the read connection, not two steps

    async def _count_where(self, where: Any, as_of: datetime | None) -> int:
        finding.plan(where, order_by="id", limit=1, after=None, as_of=as_of)  # checked before any I/O
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                return await finding.count(rec, await self.repo.dialect(), where, as_of)

    async def exists_by_id(self, id: ULID | str) -> bool:
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                return await queries.exists(rec, str(parse_id(id)))

    # ---- trees --------------------------------------------------------------------------------------
    async def find_subtree(
        self, start_id: ULID | str, *, include_content: bool, as_of: datetime | None
    ) -> list[ArtifactTreeNode]:
        aid = str(parse_id(start_id))
        arguments.flag(include_content, "include_content")
        as_of = arguments.instant(as_of, "as_of")
        at = hist.point(None, as_of) if as_of is not None else None
        await self._sync()
        with translated():
            if at is None:
                async with self.repo.reading() as rec:
                    return await self._nodes(await queries.subtree(rec, aid), include_content, rec)
            async with self.repo.core_reads() as db:
                rows = await temporal.tree_at(db, await self.repo.dialect(), aid, **at, subtree=True)
                if not rows:
                    await hist.check_stream(db, aid)
                    return []
            return await self._models(ArtifactTreeNode, hist.tree_values(rows), include_content)

    async def build_tree(
        self, start_id: ULID | str, *, include_content: bool, as_of: datetime | None
    ) -> ArtifactTreeNode | None:
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
        out = await self.find_by_id(artifact_id, include_content=True, version=None, as_of=None)
        if out is None:
            return None
        node = ArtifactTreeNode.from_artifact(out)
        if self.hierarchy is not None:
            node.hierarchy = self.hierarchy.name
            node.level_label = self.hierarchy.label_for(out.level)
        node.children = None
        return node

    async def get_root_artifact(self, artifact_id: ULID | str) -> ArtifactOut | None:
        aid = str(parse_id(artifact_id))
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                row = await queries.root_of(rec, aid)
                if row is None:
                    return None
                return (await self._outs([row], True, rec, one=True))[0]

    # ---- history, diff, audit -----------------------------------------------------------------------
    async def history(self, id: ULID | str, *, include_content: bool) -> list[ArtifactVersion]:
        aid = str(parse_id(id))
        arguments.flag(include_content, "include_content")
        await self._sync()
        return (await self._history(aid, include_content))[0]

    async def history_paginated(
        self, id: ULID | str, page: int, size: int, *, include_content: bool
    ) -> tuple[list[ArtifactVersion], int]:
        aid = str(parse_id(id))
        arguments.integer(page, "page", minimum=1, maximum=arguments.MAX_COUNT)
        arguments.integer(size, "size", minimum=1, maximum=arguments.MAX_COUNT)
        arguments.flag(include_content, "include_content")
        await self._sync()
        return await self._history(aid, include_content, skip=(page - 1) * size, size=size)

    async def _history(
        self, aid: str, include_content: bool, *, skip: int = 0, size: int | None = None
    ) -> tuple[list[ArtifactVersion], int]:
        """Versions ``skip + 1`` to ``skip + size`` (all: ``size`` None) and how many there are. Only the
        page's events are folded, after the few earlier ones its first state is made of (``history_pages``),
        and entries are built for the page's alone."""
        with translated():
            async with self.repo.core_reads() as db:
                if size is None:
                    events = await queries.stream(db, aid)
                    read = history_pages.PageRead(events, 0, len(events), await queries.stream_erasures(db, aid))
                else:
                    read = await history_pages.read_page(db, aid, skip, size)
            if not read.total:
                raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
            folded = hist.fold_versions(read.events, read.erased, skip=read.lead)
            if include_content:
                await self._decode_versions(folded)
        return [v for v, _ in folded], read.total

    async def _decode_versions(self, folded: list[tuple[ArtifactVersion, Any]]) -> None:
        """Each version's content into its data; a redacted or expired one marked (see ``unavailable.py``)."""
        refs = {
            s.content.hash: s.content for _, s in folded if s.content is not None and s.content.codec != REDACTED_CODEC
        }
        listed = None
        if refs:
            async with self.repo.reading() as rec:
                listed = await load_listed(rec, refs)
        decoded: dict[str, Any] = {}
        for version, state in folded:
            ref = state.content
            if ref is None or not isinstance(state.data, dict):
                continue
            value: Any
            if ref.codec == REDACTED_CODEC:
                value = unavailable.redacted(state.id, version.version)
            else:
                assert listed is not None
                value = listed.unavailable(state.id, version.version, ref.hash)
                if value is None:
                    if ref.hash not in decoded:
                        decoded[ref.hash] = self.repo.decode(ref.codec, listed.raw[ref.hash], ref.hash)
                    value = decoded[ref.hash]
            version.data = {**state.data, "content": value}

    async def open_content(self, id: ULID | str, *, version: int | None) -> AsyncGenerator[bytes, None]:
        """The stored bytes of one version's content, a chunk at a time, each verified before it is yielded."""
        aid = str(parse_id(id))
        if version is not None:
            arguments.integer(version, "version", minimum=1, maximum=arguments.MAX_VERSION)
        await self._sync()
        with translated():
            async with self.repo.core_reads() as db:
                read = await history_pages.read_one(db, aid, version)
        ref = _content_of(aid, read, version)
        raw, store = await self._blob_and_store(ref.hash, ref.size)
        if ref.codec != "chunks":  # one blob row: its stored (encoded) bytes, checked whole first
            verify_blob(raw, ref.hash)
            for start in range(0, len(raw), CHUNK_SIZE):
                yield raw[start : start + CHUNK_SIZE]
            return
        verified = self.repo.decode(ref.codec, raw, ref.hash)
        assert isinstance(verified, StreamedContent)
        chunks = verified.chunks
        # Each chunk is checked against its hash in the manifest, and the manifest against the hash
        # the log holds, so every byte handed out is one the log commits to. The manifest's own
        # claim (the whole content's SHA-256 and size) is checked when it is made (a save hashes
        # the whole) or brought in (an import's bundle check), and by a full verify; a read does
        # not hash the content a second time.
        # A store that keeps blobs outside the database reads (and verifies) the next chunks on
        # threads while the caller handles this one; no connection is involved, so nothing the
        # caller does meanwhile can collide with it. A chunk it has no file of is read below.
        ahead = [_read_ahead(store, chunks, i) for i in range(READ_AHEAD)]
        try:
            for index, (digest, size) in enumerate(chunks):
                pending = ahead.pop(0)
                data = await pending if pending is not None else None
                ahead.append(_read_ahead(store, chunks, index + READ_AHEAD))
                if data is None:
                    data = await self._checked_blob(digest, what=f"chunk {index} of content {verified.sha256}")
                if len(data) != size:
                    raise UntrustedContentError(
                        f"chunk {index} ({digest}) of content {verified.sha256} holds {len(data)} bytes, not {size}"
                    )
                yield data
        finally:
            for pending in ahead:
                await _finish(pending)  # stopped early or failed: let the threads finish with the files

    async def _checked_blob(self, digest: str, *, what: str) -> bytes:
        """One blob, hashed once by its store and checked against ``digest`` (``what`` names it in errors)."""
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                return await rec.blobs.read_checked(rec, digest, what)

    async def _blob_and_store(self, digest: str, size: int) -> tuple[bytes, BlobStore]:
        """One blob's bytes as stored (unverified: the caller checks them), and the store it came from;
        ``size``, what the log lists for it, bounds the read."""
        await self._sync()
        with translated():
            async with self.repo.reading() as rec:
                return (await queries.load_blobs(rec, [digest], {digest: size}))[digest], rec.blobs

    async def diff(self, id: ULID | str, v1: int, v2: int | None, *, content: bool = True) -> ArtifactDiff:
        aid = str(parse_id(id))
        arguments.integer(v1, "v1", minimum=0, maximum=arguments.MAX_VERSION)
        if v2 is not None:
            arguments.integer(v2, "v2", minimum=0, maximum=arguments.MAX_VERSION)
        arguments.flag(content, "content")
        await self._sync()
        with translated():
            async with self.repo.core_reads() as db:
                result, (old, new) = await hist.diff(db, aid, v1, v2)
            if content and result.content is not None:
                result.content_diff = await content_diff(self.repo, old, new)
        return result

    async def audit(
        self,
        *,
        artifact_id: ULID | str | None,
        subtree_of: ULID | str | None,
        actor: str | Sequence[str] | None,
        event_type: str | Sequence[str] | None,
        since: datetime | None,
        until: datetime | None,
        after: int,
        limit: int,
    ) -> AuditPage:
        aid = str(parse_id(artifact_id)) if artifact_id is not None else None
        root = str(parse_id(subtree_of, what="subtree root id")) if subtree_of is not None else None
        actor = arguments.text_filter(actor, "actor")
        types = arguments.text_filter(event_type, "event_type")
        types = None if types is None else expand_event_types(types)
        unknown = sorted(set(types or ()) - EVENT_TYPES)
        if unknown:
            raise InvalidArgumentError(
                f"unknown event type {unknown[0]!r:.80}; known types: {', '.join(sorted(EVENT_TYPES))} "
                "(or a prefix pattern such as 'alias.*')"
            )
        since = arguments.instant(since, "since")
        until = arguments.instant(until, "until")
        if since is not None and until is not None and since > until:
            raise InvalidArgumentError(
                f"since {since.isoformat()} is after until {until.isoformat()}: no event is recorded in "
                "since <= recorded_at < until (were they swapped?)"
            )
        arguments.integer(after, "after", minimum=0, maximum=arguments.MAX_POSITION)
        arguments.integer(limit, "limit", minimum=1, maximum=hist.MAX_AUDIT_PAGE)
        await self._sync()
        with translated():
            async with self.repo.core_reads() as db:
                return await hist.audit(
                    db,
                    artifact_id=aid,
                    subtree_of=root,
                    actor=actor,
                    event_type=types,
                    since=since,
                    until=until,
                    after=after,
                    limit=limit,
                )

    # ---- rows to models -----------------------------------------------------------------------------
    async def _outs(
        self, rows: Sequence[Sequence[Any]], include_content: bool, rec: Recorder, *, one: bool = False
    ) -> list[ArtifactOut]:
        return await self._build(ArtifactOut, rows, include_content, rec, one=one)

    async def _nodes(
        self, rows: Sequence[Sequence[Any]], include_content: bool, rec: Recorder
    ) -> list[ArtifactTreeNode]:
        return await self._build(ArtifactTreeNode, rows, include_content, rec)

    async def _build(
        self, cls: type[OutT], rows: Sequence[Sequence[Any]], include_content: bool, rec: Recorder, *, one: bool = False
    ) -> list[OutT]:
        """One model per projection row (``REPLY_COLUMNS``): JSON and timestamps decoded in the same pass."""
        rows_ = cast(Sequence[hist.Values], rows)
        return await self._models(cls, rows_, include_content, stored=True, rec=rec, one=one)

    async def _models(
        self,
        cls: type[OutT],
        rows: Sequence[hist.Values],
        include_content: bool,
        *,
        stored: bool = False,
        rec: Recorder | None = None,
        one: bool = False,
    ) -> list[OutT]:
        """One model per row: :meth:`_models_of`; a stored row that cannot be read (SQLite keeps text in
        an integer or a time column, or a document that is no JSON, an UPDATE put there) is
        :class:`ProjectionDriftError` naming its artifact, never a bare ``ValueError``."""
        try:
            return await self._models_of(cls, rows, include_content, stored=stored, rec=rec, one=one)
        except LedgerError:
            raise
        except (ValueError, TypeError) as exc:
            if not stored:
                raise
            raise unreadable(rows) or exc from None

    async def _models_of(
        self,
        cls: type[OutT],
        rows: Sequence[hist.Values],
        include_content: bool,
        *,
        stored: bool = False,
        rec: Recorder | None = None,
        one: bool = False,
    ) -> list[OutT]:
        """One model per row (content decoded from blobs fetched once per call).

        ``stored``: the rows are projection rows as selected (``REPLY_COLUMNS``): data and
        tags still JSON text, timestamps as stored (``stamp_reader``); decoded here, in one pass.
        ``one``: a read of one artifact, which fails where its content was redacted or expired; a
        listing marks such an item's content instead (:mod:`~artifact_ledger.unavailable`).
        """
        if stored and not include_content and cls is ArtifactOut:
            with building(len(rows)):  # the listings' and find's common case: the lean loop
                return outs_from_stored(cls, rows)
        stamp = stamp_reader()
        # Stored rows: every row's data and tags decoded in one call (codec.loads_each), taken in order below.
        decoded = iter(codec.loads_each([cast(str, t) for r in rows for t in (r[4], r[7])]) if stored else ())
        raw: dict[str, bytes] = {}
        listed = None
        if include_content:
            hashes = {r[5] for r in rows if r[5]}
            if hashes:
                async with contextlib.nullcontext(rec) if rec is not None else self.repo.reading() as reader:
                    if one:  # the size the log lists bounds the read of the one blob
                        sizes = await _logged_sizes(reader, rows)
                        raw = await queries.load_blobs(reader, hashes, sizes)
                    else:
                        listed = await load_listed(reader, hashes)
                        raw = listed.raw
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
                    data, tags = next(decoded), next(decoded)
                    created, updated = stamp(created), stamp(updated)
                    if type(level) is not int or type(version) is not int:
                        raise TypeError(f"its level {level!r:.40} or version {version!r:.40} is not a whole number")
                if include_content and content_codec == REDACTED_CODEC:
                    if one:
                        raise redacted(aid, version)
                    if isinstance(data, dict):
                        data["content"] = unavailable.redacted(aid, version)
                elif include_content and content_hash and isinstance(data, dict):
                    assert content_codec is not None  # written together with the hash
                    gone = listed.unavailable(aid, version, content_hash) if listed is not None else None
                    data["content"] = gone or self.repo.decode(content_codec, raw[content_hash], content_hash)
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


async def _logged_sizes(rec: Recorder, rows: Sequence[hist.Values]) -> dict[str, int]:
    """The size the log lists for the content of each row that has one (a read of one artifact: one row)."""
    sizes: dict[str, int] = {}
    for r in rows:
        if r[5] and r[5] not in sizes:
            size = await logged_size(rec, str(r[0]), int(r[3]))
            if size is not None:
                sizes[r[5]] = size
    return sizes


READ_AHEAD = 2
"""Chunks a store outside the database reads ahead, each on a thread of its own: hashing a 4 MiB
chunk takes about twice as long as writing it to a file, so with one thread ahead a caller that
copies the content waited for every chunk (S1, 1 GiB read into a file with its fsync: 1.3-1.6 s
with two, 1.7-1.9 s with one, here); memory stays at three chunks."""


def _read_ahead(store: BlobStore, chunks: Sequence[tuple[str, int]], index: int) -> asyncio.Future[bytes | None] | None:
    """Chunk ``index`` read and verified on a thread, where ``store`` keeps blobs outside the database."""
    if not store.external or index >= len(chunks):
        return None
    # run_in_executor hands the read to a thread now; a task around to_thread would start it only
    # when the event loop next runs, which a caller writing the current chunk to a file delays.
    # The size the manifest lists bounds the read: a huge file planted under the hash is not read whole.
    return asyncio.get_running_loop().run_in_executor(None, store.read_outside, *chunks[index])


async def _finish(ahead: asyncio.Future[Any] | None) -> None:
    """Wait for a read ahead still running when a read ended early (its result, or error, dropped)."""
    if ahead is not None:
        await asyncio.wait([ahead])
        if not ahead.cancelled():
            ahead.exception()
