"""The write path, in one place: command -> decide -> append -> project (-> commit by the unit of work).

A :class:`WriteBatch` is one transaction. Its first command takes the ledger's
write lock and reads the head; every command is then decided against the
current state (database plus what this batch already did), sealed into the
hash chain and applied to the projections' overlay. ``flush`` sends events,
blobs, projection rows and checkpoints with one statement per table where it
can. The unit of work around the batch commits (``repository.unit``): the session, or
``flush(commit=True)`` when the batch's recorder owns its transaction.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import codec
from . import writer_structural as structural
from .chunk_claims import check_claims
from .clock import Clock
from .content import EncodedContent
from .content.streams import decode_manifest
from .decide import (
    ArtifactState,
    MoveArtifact,
    RevertArtifact,
    SaveArtifact,
    decide_save,
    with_unset_kept,
)
from .errors import CorruptBlobError, InvalidArtifactDataError
from .events import Attribution, NewEvent, RecordedEvent
from .ids import IdFactory
from .projections.crosscheck import check_ancestry, check_row, log_says_live
from .projections.projector import Projector
from .projections.rows import state_columns
from .store.event_store import (
    HEAD_WIDTH,
    Head,
    head_from_rows,
    seal,
    stream_heads,
)
from .store.recorder import Recorder, Step


@dataclass(slots=True)
class WriteBatch:
    driver: Recorder
    clock: Clock
    new_id: IdFactory
    projector: Projector = field(init=False)
    head: Head | None = None
    pending: list[RecordedEvent] = field(default_factory=list)
    blobs: dict[str, EncodedContent] = field(default_factory=dict)
    checked_blobs: set[str] = field(default_factory=set)
    """Content hashes looked up in ledger_blobs in this batch (and verified if a row was there)."""
    stored_blobs: set[str] = field(default_factory=set)
    """Content hashes whose bytes ledger_blobs holds, verified or written in this batch."""
    versions: dict[str, int] = field(default_factory=dict)
    """Latest version of every stream this batch touched or looked up (live or deleted)."""
    no_stream: set[str] = field(default_factory=set)
    """Ids known to have no events at all (looked up in this batch)."""
    touched: set[str] = field(default_factory=set)
    """Ids this batch appended events to: their overlay rows come from those events, not the tables."""
    appended: int = 0
    now: datetime | None = None
    _probed: tuple[str, Sequence[Sequence[Any]]] | None = None
    """The ancestry ``_begin`` read for a move's new parent, until the command that asked for it uses it."""
    replied: set[str] = field(default_factory=set)
    """Ids whose row a reply of this batch was built from (see ``Commands._reply``)."""
    aborted: str | None = None
    """Why the batch can no longer commit (a command failed after appending part of itself)."""

    def __post_init__(self) -> None:
        self.projector = Projector(self.driver, checked=True)

    def _transaction_time(self) -> datetime:
        """One clock reading per transaction: every event of a batch carries the same ``recorded_at``."""
        if self.now is None:
            self.now = self.clock()
        return self.now

    async def _begin(
        self,
        preload: Sequence[str | None] = (),
        *,
        target: str | None = None,
        ancestry_of: str | None = None,
        blob: EncodedContent | None = None,
    ) -> Head:
        """Take the write lock and read the head once per batch; load ``preload`` rows on the way.

        Every row loaded is checked against the log (``projections.crosscheck``); ``target``'s
        state too. ``ancestry_of``: an artifact whose ancestors the command will check a move
        against; on the batch's first command they are read in the same round trip as the head.
        ``blob``: content the command may store, checked against a stored row of its hash on the way.
        """
        if self.head is not None:
            await self.projector.load((i for i in preload if i is not None), target=target)
            return self.head
        sql = self.driver.sql
        wanted = [i for i in dict.fromkeys(preload) if i is not None and i not in self.projector.rows]
        ids = self.driver.id_list(wanted)
        folded = ancestry_of is not None and bool(wanted)  # the ancestry as a column of the head read
        steps: list[Step] = [
            (sql.head_artifacts_ancestry, (ids, target, ancestry_of), False)
            if folded
            else (sql.head_and_artifacts, (ids, target), False)
            if wanted
            else (sql.head, (), False)
        ]
        if ancestry_of is not None and not folded:
            steps.append((sql.ancestry_by_log, (ancestry_of,), False))
        if blob is not None:
            steps.append((sql.blob_digests_in, (self.driver.id_list([blob.hash]),), False))
        rows, *more = await self.driver.locked(steps)
        if blob is not None:
            self._check_blobs({blob.hash: blob}, more.pop())
        if folded:
            assert ancestry_of is not None
            found = rows[0][-1]  # JSON text, or already decoded where the driver decodes json (asyncpg here)
            self._probed = (
                ancestry_of,
                [] if found is None else codec.loads(found) if isinstance(found, str) else found,
            )
            rows = [r[:-1] for r in rows]
        elif ancestry_of is not None:
            self._probed = (ancestry_of, more.pop())
        if not wanted:
            self.head = head_from_rows(self.driver, rows)
            return self.head
        self.head = head_from_rows(self.driver, [r[:HEAD_WIDTH] for r in rows[:1]])
        self.projector.loaded(wanted, [r[HEAD_WIDTH:] for r in rows if r[HEAD_WIDTH] is not None], target=target)
        return self.head

    def _check_blobs(self, wanted: dict[str, EncodedContent], stored: Sequence[Sequence[Any]]) -> None:
        """Trust a stored blob row only once its bytes hash to its key: else refuse the write.

        Content is deduplicated by hash, so a row planted under the hash of content saved later
        would otherwise stand in for it, and the real bytes would be lost.
        """
        for digest, size, hashed in stored:
            expected = wanted.get(digest)
            if expected is None:
                continue
            actual = self.driver.blob_digest(hashed)
            if actual != digest or int(size) != expected.size:
                raise CorruptBlobError(
                    f"ledger_blobs already holds a row for content {digest}, but its bytes hash to {actual} "
                    f"({size} bytes, expected {expected.size}): the row was not written by the ledger. Nothing "
                    "was saved; find the damage with `artifact-ledger verify` and restore the database from a backup"
                )
            self.stored_blobs.add(digest)
        self.checked_blobs.update(wanted)

    async def _commit_events(self, decided: Sequence[NewEvent], who: Attribution) -> list[RecordedEvent]:
        head = await self._begin()
        start = head.position
        try:
            sealed = seal(head, [(e, who) for e in decided], clock=self._transaction_time, new_id=self.new_id)
            for event in sealed:
                await self.projector.apply(event)
                self.versions[event.artifact_id] = event.version
                self.touched.add(event.artifact_id)
        except BaseException as exc:
            # The head (and maybe the overlay) moved on for events that will never be appended:
            # what follows in this batch would chain on them and leave a gap in the log.
            if head.position != start:
                self.aborted = f"{type(exc).__name__}: {exc}"
            raise
        self.pending.extend(sealed)
        return sealed

    async def _state(
        self, artifact_id: str, *, with_state: bool = False, with_parent: bool = False
    ) -> ArtifactState | None:
        """Live state from the overlay/database; a deleted stream as a deleted state (for its version).

        ``with_state``: the decision uses the row's data, content and tags; ``with_parent``: its
        parent. Each is compared with the log unless that happened when the row was loaded (as
        the command's target) or an event of this batch wrote it.
        """
        row = await self.projector.get(artifact_id)
        if row is not None:
            state = with_state and artifact_id not in self.projector.state_checked
            parent = with_parent and artifact_id not in self.projector.parent_checked
            if state or parent:
                await self._check_state(artifact_id, state=state)
            return row.state()
        if artifact_id not in self.versions and artifact_id not in self.no_stream:
            await self._lookup_streams([artifact_id])
        version = self.versions.get(artifact_id)
        if version is None:
            return None
        return ArtifactState(artifact_id, None, version, None, None, (), deleted=True)

    async def _check_state(self, artifact_id: str, *, state: bool) -> None:
        """Compare the overlay row's parent (and with ``state`` its data, content and tags) with the
        artifact's last structural (and state) event in the log.

        Only rows loaded without that check get here. The row's parent is compared only when no
        structural event of this batch set it, so the log's last one is still the one to match;
        its state only when no state event of this batch rewrote it (a move changes no state).
        """
        row = self.projector.rows[artifact_id]
        assert row is not None
        found = (await self.driver.pipeline([(self.driver.sql.log_state, (artifact_id,), False)]))[-1]
        payload, log_parent = found[0] if found else (None, None)
        stored = state_columns(row.data, row.content, row.tags)
        check_row(
            (row.id, row.parent_id, row.level, row.version, *stored),
            (row.version, None, log_parent, payload if state else None),
            check_parent=artifact_id not in self.projector.parent_checked,
        )
        self.projector.parent_checked.add(artifact_id)
        if state:
            self.projector.state_checked.add(artifact_id)

    async def _lookup_streams(self, ids: Sequence[str]) -> None:
        """Versions of the streams of ``ids`` (ids without a live row), in one query per 5,000.

        A stream the log says is live has lost its row: refused, never treated as new or deleted.
        """
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            found = await stream_heads(self.driver, chunk)
            for artifact_id in chunk:
                head = found.get(artifact_id)
                if head is None:
                    self.no_stream.add(artifact_id)
                    continue
                if artifact_id not in self.touched:
                    log_says_live(artifact_id, head)
                self.versions.setdefault(artifact_id, head[0])

    async def _live(self, artifact_id: str | None) -> bool:
        """Whether ``artifact_id`` (a parent) is live; None (the root) is. A parent whose row is
        missing while the log says it is live is drift, not "not found"."""
        if artifact_id is None:
            return True
        if await self.projector.get(artifact_id) is not None:
            return True
        if artifact_id not in self.touched and artifact_id not in self.versions and artifact_id not in self.no_stream:
            await self._lookup_streams([artifact_id])
        return False

    async def _in_subtree(self, root_id: str, candidate_id: str | None) -> bool:
        """Whether ``candidate_id`` lies in ``root_id``'s subtree, by the closure table checked
        against the log: the candidate's ancestors must form a chain of live parent links in the
        log, so a removed or planted closure row cannot let a cycle into it."""
        if candidate_id is None:
            return False
        probed, self._probed = self._probed, None
        if probed is not None and probed[0] == candidate_id:
            rows = probed[1]  # read with the head, before anything of this batch was written
        else:
            await self.flush()  # the batch's own events and rows must be in the tables compared
            rows = (await self.driver.pipeline([(self.driver.sql.ancestry_by_log, (candidate_id,), False)]))[-1]
        return root_id in check_ancestry(candidate_id, rows)

    async def prefetch(self, ids: Sequence[str], *, streams: Sequence[str] = ()) -> None:
        """Load the rows of ``ids``, and the stream versions of those of ``streams`` without a live row."""
        await self._begin()
        await self.projector.load(ids)
        unknown = [
            i
            for i in streams
            if self.projector.rows.get(i) is None and i not in self.versions and i not in self.no_stream
        ]
        await self._lookup_streams(unknown)

    # ---- commands -------------------------------------------------------------------------
    async def save(
        self, cmd: SaveArtifact, who: Attribution, content: EncodedContent | None, *, fresh_id: bool
    ) -> list[RecordedEvent]:
        if fresh_id:
            await self._begin([cmd.parent_id], blob=content)
            self.projector.known_new(cmd.artifact_id)
            current = None
        else:
            await self._begin([cmd.artifact_id, cmd.parent_id], target=cmd.artifact_id, blob=content)
            current = await self._state(cmd.artifact_id, with_state=True, with_parent=True)
            cmd = with_unset_kept(cmd, current)
        parent_live = await self._live(cmd.parent_id)
        in_subtree = False
        if parent_live and current is not None and not current.deleted and cmd.parent_id != current.parent_id:
            in_subtree = await self._in_subtree(cmd.artifact_id, cmd.parent_id)
        decided = decide_save(cmd, current, parent_live=parent_live, parent_in_subtree=in_subtree)
        if decided and content is not None:
            if content.codec == "chunks" and content.hash not in self.stored_blobs:
                await self._store_chunks(content)
            self.blobs[content.hash] = content
        return await self._commit_events(decided, who)

    async def _stored_among(self, hashes: Sequence[str]) -> set[str]:
        """Which of ``hashes`` ledger_blobs holds (each row checked: its bytes hash to its key)."""
        found: set[str] = set()
        wanted = [h for h in dict.fromkeys(hashes) if h not in self.stored_blobs]
        for start in range(0, len(wanted), 2000):
            part = wanted[start : start + 2000]
            stored = await self.driver.fetch(self.driver.sql.blob_digests_in, self.driver.id_list(part))
            for digest, _size, hashed in stored:
                actual = self.driver.blob_digest(hashed)
                if actual != digest:
                    raise CorruptBlobError(
                        f"ledger_blobs already holds a row for chunk {digest}, but its bytes hash to {actual}: "
                        "the row was not written by the ledger. Nothing was saved; find the damage with "
                        "`artifact-ledger verify` and restore the database from a backup"
                    )
                found.add(digest)
            found |= await self.driver.blobs.has(self.driver, part) if self.driver.blobs.external else set()
        return found | (set(hashes) & self.stored_blobs)

    async def _store_chunks(self, content: EncodedContent) -> None:
        """Write the chunks of content saved as a stream, one row per chunk not stored yet.

        Each chunk read again from the source must hash to what the first pass recorded
        (:class:`StreamChangedError` otherwise). Content whose source is gone (a
        ``StreamedContent`` saved again) must already be stored here, chunks and all; one whose
        manifest is new (a caller built it) is held to its chunks' bytes (:func:`check_claims`).
        A failure part-way leaves chunk rows in this transaction: the batch is marked aborted,
        so they roll back with it and are never committed.
        """
        streamed = decode_manifest(content.data)
        known = bool(await self._stored_among([content.hash]))
        if known:
            self.stored_blobs.add(content.hash)
            if not self.driver.blobs.external:
                return  # rows of the database store are not deleted behind the ledger's back (its guard)
            # A directory store's chunk files can go missing (damage, a hand-made clean-up): the same
            # bytes saved again must not be taken for stored while a chunk is gone, or the new version
            # could not be read either. Missing chunks are written again from the source, below.
        present = await self._stored_among([h for h, _ in streamed.chunks])
        if content.source is None:
            missing = [h for h, _ in streamed.chunks if h not in present]
            if missing:
                raise InvalidArtifactDataError(
                    f"streamed content {streamed.sha256} ({streamed.size} bytes) is not stored in this ledger "
                    f"({len(missing)} of its {len(streamed.chunks)} chunks are missing, the first {missing[0]}): "
                    "save the bytes themselves (a path, a file object or an async iterator)"
                )
            if not known:  # a manifest the caller built: its sizes and whole hash, against the bytes
                await check_claims(self.driver, streamed)
            self.stored_blobs.update(present)
            return
        if all(h in present for h, _ in streamed.chunks):  # every chunk stored already: nothing to read again
            self.stored_blobs.update(present)
            return
        source = content.source
        store: object = self.driver.blobs
        if source.stager is not None and source.stager is store:
            # written to the store's temporary files on the first pass: link them into place
            staged = dict(source.staged)
            if all(h in present or h in staged for h, _ in streamed.chunks):
                try:
                    await self.driver.blobs.settle_staged([(h, p) for h, p in staged.items() if h not in present])
                except BaseException as exc:
                    self.aborted = f"{type(exc).__name__}: {exc}"
                    raise
                self.stored_blobs.update(h for h, _ in streamed.chunks)
                return
            # a chunk stored at the first pass is gone since (gc): read the source again, as below

        async def unstored() -> AsyncGenerator[tuple[str, int, bytes], None]:
            # the source checks each chunk against the first pass (StreamChangedError), hashing it once
            async with aclosing(source.verified(streamed)) as chunks:
                async for _index, digest, data in chunks:
                    if digest not in present:
                        present.add(digest)
                        yield digest, len(data), data

        try:
            async with aclosing(unstored()) as rows:
                await self.driver.blobs.put_stream(self.driver, rows)
        except BaseException as exc:
            self.aborted = f"{type(exc).__name__}: {exc}"
            raise
        self.stored_blobs.update(present)

    async def move(self, cmd: MoveArtifact, who: Attribution) -> list[RecordedEvent]:
        return await structural.move(self, cmd, who)

    async def delete(
        self, artifact_id: str, who: Attribution, *, cascade: bool, expected_version: int | None
    ) -> list[RecordedEvent]:
        return await structural.delete(self, artifact_id, who, cascade=cascade, expected_version=expected_version)

    async def restore(self, artifact_id: str, who: Attribution) -> list[RecordedEvent]:
        return await structural.restore(self, artifact_id, who)

    async def revert(self, cmd: RevertArtifact, who: Attribution) -> list[RecordedEvent]:
        return await structural.revert(self, cmd, who)

    # ---- write ------------------------------------------------------------------------------
    async def flush(self, *, commit: bool = False) -> None:
        """Send everything decided so far in one pipeline; with ``commit``, end the recorder's own
        transaction with it (see :meth:`Recorder.commit_after`). Otherwise the caller commits."""
        await structural.flush(self, commit=commit)
