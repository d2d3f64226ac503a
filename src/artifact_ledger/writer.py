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

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import Clock
from .content import EncodedContent
from .decide import (
    ArtifactState,
    MoveArtifact,
    RevertArtifact,
    SaveArtifact,
    decide_delete,
    decide_move,
    decide_restore,
    decide_revert,
    decide_save,
    fold,
    with_unset_kept,
)
from .errors import CorruptBlobError
from .events import Attribution, NewEvent, RecordedEvent
from .ids import IdFactory
from .projections.projector import Projector, checkpoint_step
from .projections.rows import row_from_db
from .store.event_store import (
    Head,
    head_from_rows,
    insert_events_step,
    read_stream,
    seal,
    stream_versions,
)
from .store.recorder import Recorder, Step
from .store.rows import event_from_row


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
    appended: int = 0
    now: datetime | None = None
    _probed: tuple[tuple[str, str | None] | None, bool] | None = None
    """The answer to ``_begin``'s subtree probe, until the command that asked for it uses it."""
    aborted: str | None = None
    """Why the batch can no longer commit (a command failed after appending part of itself)."""

    def __post_init__(self) -> None:
        self.projector = Projector(self.driver)

    def _transaction_time(self) -> datetime:
        """One clock reading per transaction: every event of a batch carries the same ``recorded_at``."""
        if self.now is None:
            self.now = self.clock()
        return self.now

    async def _begin(
        self,
        preload: Sequence[str | None] = (),
        *,
        probe: tuple[str, str | None] | None = None,
        blob: EncodedContent | None = None,
    ) -> Head:
        """Take the write lock and read the head once per batch; load ``preload`` rows on the way.

        ``probe``: (root, candidate) whose "is candidate in root's subtree" the command will ask;
        on the batch's first command it is answered in the same round trip as the head. ``blob``:
        content the command may store, checked against a stored row of its hash on the way.
        """
        if self.head is not None:
            await self.projector.load(i for i in preload if i is not None)
            return self.head
        sql = self.driver.sql
        wanted = [i for i in dict.fromkeys(preload) if i is not None and i not in self.projector.rows]
        probing = probe is not None and probe[1] is not None
        steps: list[Step] = []
        if not wanted:
            steps.append((sql.head, (), False))
        elif probing:
            assert probe is not None
            steps.append((sql.head_artifacts_probe, (self.driver.id_list(wanted), *probe), False))
        else:
            steps.append((sql.head_and_artifacts, (self.driver.id_list(wanted),), False))
        if probing and not wanted:
            steps.append((sql.is_descendant, probe, False))
        if blob is not None:
            steps.append((sql.blob_digests_in, (self.driver.id_list([blob.hash]),), False))
        rows, *more = await self.driver.locked(steps)
        if blob is not None:
            self._check_blobs({blob.hash: blob}, more.pop())
        if not wanted:
            self.head = head_from_rows(self.driver, rows)
            if probing:
                self._probed = (probe, bool(more[0]))
            return self.head
        if probing:
            self._probed = (probe, bool(rows[0][-1]))
            rows = [r[:-1] for r in rows]
        self.head = head_from_rows(self.driver, [r[:3] for r in rows[:1] if r[0] is not None])
        self.projector.loaded(wanted, [r[3:] for r in rows if r[3] is not None])
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
        sealed = seal(head, [(e, who) for e in decided], clock=self._transaction_time, new_id=self.new_id)
        for event in sealed:
            await self.projector.apply(event)
            self.versions[event.artifact_id] = event.version
        self.pending.extend(sealed)
        return sealed

    async def _state(self, artifact_id: str) -> ArtifactState | None:
        """Live state from the overlay/database; a deleted stream as a deleted state (for its version)."""
        row = await self.projector.get(artifact_id)
        if row is not None:
            return row.state()
        if artifact_id not in self.versions and artifact_id not in self.no_stream:
            await self._lookup_streams([artifact_id])
        version = self.versions.get(artifact_id)
        if version is None:
            return None
        return ArtifactState(artifact_id, None, version, None, None, (), deleted=True)

    async def _lookup_streams(self, ids: Sequence[str]) -> None:
        """Versions of the streams of ``ids`` (ids without a live row), in one query per 5,000."""
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            found = await stream_versions(self.driver, chunk)
            for artifact_id in chunk:
                if artifact_id in found:
                    self.versions.setdefault(artifact_id, found[artifact_id])
                else:
                    self.no_stream.add(artifact_id)

    async def _in_subtree(self, root_id: str, candidate_id: str | None) -> bool:
        if candidate_id is None:
            return False
        probed, self._probed = self._probed, None
        if probed is not None and probed[0] == (root_id, candidate_id):
            return probed[1]  # asked with the head, before anything of this batch was written
        steps = [*self.projector.steps(), (self.driver.sql.is_descendant, (root_id, candidate_id), False)]
        return bool((await self.driver.pipeline(steps))[-1])

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
        await self._begin([cmd.parent_id] if fresh_id else [cmd.artifact_id, cmd.parent_id], blob=content)
        if fresh_id:
            self.projector.known_new(cmd.artifact_id)
            current = None
        else:
            current = await self._state(cmd.artifact_id)
            cmd = with_unset_kept(cmd, current)
        parent_live = cmd.parent_id is None or await self.projector.get(cmd.parent_id) is not None
        in_subtree = False
        if current is not None and not current.deleted and cmd.parent_id != current.parent_id:
            in_subtree = await self._in_subtree(cmd.artifact_id, cmd.parent_id)
        decided = decide_save(cmd, current, parent_live=parent_live, parent_in_subtree=in_subtree)
        if decided and content is not None:
            self.blobs[content.hash] = content
        return await self._commit_events(decided, who)

    async def move(self, cmd: MoveArtifact, who: Attribution) -> list[RecordedEvent]:
        await self._begin([cmd.artifact_id, cmd.new_parent_id], probe=(cmd.artifact_id, cmd.new_parent_id))
        current = await self._state(cmd.artifact_id)
        parent_live = cmd.new_parent_id is None or await self.projector.get(cmd.new_parent_id) is not None
        in_subtree = await self._in_subtree(cmd.artifact_id, cmd.new_parent_id)
        decided = decide_move(cmd, current, parent_live=parent_live, parent_in_subtree=in_subtree)
        return await self._commit_events(decided, who)

    async def delete(
        self, artifact_id: str, who: Attribution, *, cascade: bool, expected_version: int | None
    ) -> list[RecordedEvent]:
        await self._begin([artifact_id])
        row = await self.projector.get(artifact_id)
        subtree: list[ArtifactState] = []
        if row is not None:
            steps = [*self.projector.steps(), (self.driver.sql.subtree_rows, (artifact_id,), False)]
            rows = (await self.driver.pipeline(steps))[-1]
            subtree_rows = [row_from_db(self.driver, r) for r in rows]
            for sub in subtree_rows:
                self.projector.rows[sub.id] = sub
            subtree = [sub.state() for sub in subtree_rows]
        decided = decide_delete(
            row.state() if row else None, subtree, cascade=cascade, expected_version=expected_version
        )
        return await self._commit_events(decided, who)

    async def restore(self, artifact_id: str, who: Attribution) -> list[RecordedEvent]:
        await self._begin()
        await self.flush()
        state = fold(await read_stream(self.driver, artifact_id))
        parent_live = True
        if state is not None and state.deleted and state.parent_id is not None:
            parent_live = await self.projector.get(state.parent_id) is not None
        decided = decide_restore(state, artifact_id, parent_live=parent_live)
        return await self._commit_events(decided, who)

    async def revert(self, cmd: RevertArtifact, who: Attribution) -> list[RecordedEvent]:
        aid = cmd.artifact_id
        await self._begin([aid])
        current = await self._state(aid)
        target: ArtifactState | None = None
        if current is not None and not current.deleted and 1 <= cmd.to_version <= current.version:
            await self.flush()  # this batch's own events must be readable from the log
            rows = await self.driver.fetch(self.driver.sql.stream_events_upto, aid, cmd.to_version)
            target = fold([event_from_row(r, self.driver.read_ts, self.driver.read_bytes) for r in rows])
        parent_live, in_subtree = True, False
        if current is not None and target is not None and target.parent_id != current.parent_id:
            parent_live = target.parent_id is None or await self.projector.get(target.parent_id) is not None
            in_subtree = await self._in_subtree(aid, target.parent_id)
        decided = decide_revert(cmd, current, target, parent_live=parent_live, parent_in_subtree=in_subtree)
        return await self._commit_events(decided, who)

    # ---- write ------------------------------------------------------------------------------
    async def flush(self, *, commit: bool = False) -> None:
        """Send everything decided so far in one pipeline; with ``commit``, end the recorder's own
        transaction with it (see :meth:`Recorder.commit_after`). Otherwise the caller commits."""
        steps: list[Step] = []
        if self.blobs:
            unchecked = {h: b for h, b in self.blobs.items() if h not in self.checked_blobs}
            for start in range(0, len(unchecked), 2000):
                chunk = list(unchecked)[start : start + 2000]
                stored = await self.driver.fetch(self.driver.sql.blob_digests_in, self.driver.id_list(chunk))
                self._check_blobs({h: unchecked[h] for h in chunk}, stored)
            rows = [(b.hash, b.size, b.data) for b in self.blobs.values() if b.hash not in self.stored_blobs]
            if rows:
                sql = self.driver.sql.insert_new_blob
                steps.append((sql, rows[0], False) if len(rows) == 1 else (sql, rows, True))
            self.stored_blobs.update(self.blobs)
            self.blobs.clear()
        if self.pending:
            steps.append(insert_events_step(self.driver, self.pending))
            steps.extend(self.projector.steps())
            steps.append(checkpoint_step(self.driver, self.pending[-1].position))
            self.appended += len(self.pending)
            self.pending = []
        else:
            steps.extend(self.projector.steps())
        if commit:
            await self.driver.commit_after(steps)
        else:
            await self.driver.pipeline(steps)
