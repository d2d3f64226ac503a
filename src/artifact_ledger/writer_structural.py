"""The write path's structural commands (move, delete, restore, revert) and the flush of a batch.

Each takes the :class:`~artifact_ledger.writer.WriteBatch` the command runs in, which calls it
(``batch.move(...)`` and so on): the rows a decision rests on are loaded and checked against
the log there (``WriteBatch._begin``, ``_state``, ``_in_subtree``), decided here, and sealed
and projected by the batch. :func:`flush` sends what the batch decided, in one pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .decide import (
    ArtifactState,
    MoveArtifact,
    RevertArtifact,
    decide_delete,
    decide_move,
    decide_restore,
    decide_revert,
    fold,
)
from .events import Attribution, RecordedEvent
from .projections.crosscheck import check_row, check_subtree
from .projections.projector import checkpoint_step
from .projections.rows import row_from_db
from .store.blobs import insert_steps
from .store.event_store import insert_events_step, insert_openings_steps, merkle_steps, read_stream
from .store.recorder import Step
from .store.rows import event_from_row
from .store.tables import artifacts

if TYPE_CHECKING:
    from .writer import WriteBatch

__all__ = ["delete", "flush", "move", "restore", "revert"]


async def move(batch: WriteBatch, cmd: MoveArtifact, who: Attribution) -> list[RecordedEvent]:
    await batch._begin([cmd.artifact_id, cmd.new_parent_id], target=cmd.artifact_id, ancestry_of=cmd.new_parent_id)
    current = await batch._state(cmd.artifact_id, with_parent=True)
    parent_live = await batch._live(cmd.new_parent_id)
    in_subtree = False
    if parent_live and current is not None and not current.deleted:
        in_subtree = await batch._in_subtree(cmd.artifact_id, cmd.new_parent_id)
    decided = decide_move(cmd, current, parent_live=parent_live, parent_in_subtree=in_subtree)
    return await batch._commit_events(decided, who)


async def delete(
    batch: WriteBatch, artifact_id: str, who: Attribution, *, cascade: bool, expected_version: int | None
) -> list[RecordedEvent]:
    await batch._begin([artifact_id])
    row = await batch.projector.get(artifact_id)
    subtree: list[ArtifactState] = []
    if row is not None:
        sql = batch.driver.sql
        steps = [
            *batch.projector.steps(),
            (sql.subtree_rows, (artifact_id,), False),
            (sql.children_in_subtree, (artifact_id,), False),
        ]
        *_, rows, children = await batch.driver.pipeline(steps)
        width = len(artifacts.c)
        for r in rows:
            if r[0] not in batch.touched:  # rows of this batch's own (not yet appended) events are its own
                check_row(r[:width], r[width:])
        # Each member with its parent by the log (its row's own for this batch's rows, checked above
        # otherwise): a member the log puts outside the subtree is refused, whatever the projections say.
        parents = {r[0]: r[1] if r[0] in batch.touched else r[width + 2] for r in rows}
        check_subtree(artifact_id, parents, [c[0] for c in children])
        subtree_rows = [row_from_db(batch.driver, r[:width]) for r in rows]
        for sub in subtree_rows:
            batch.projector.rows[sub.id] = sub
        subtree = [sub.state() for sub in subtree_rows]
    decided = decide_delete(row.state() if row else None, subtree, cascade=cascade, expected_version=expected_version)
    return await batch._commit_events(decided, who)


async def restore(batch: WriteBatch, artifact_id: str, who: Attribution) -> list[RecordedEvent]:
    await batch._begin()
    await batch.flush()
    state = fold(await read_stream(batch.driver, artifact_id))
    parent_live = True
    if state is not None and state.deleted and state.parent_id is not None:
        parent_live = await batch._live(state.parent_id)
    decided = decide_restore(state, artifact_id, parent_live=parent_live)
    return await batch._commit_events(decided, who)


async def revert(batch: WriteBatch, cmd: RevertArtifact, who: Attribution) -> list[RecordedEvent]:
    aid = cmd.artifact_id
    await batch._begin([aid], target=aid)
    current = await batch._state(aid, with_state=True, with_parent=True)
    target: ArtifactState | None = None
    if current is not None and not current.deleted and 1 <= cmd.to_version <= current.version:
        await batch.flush()  # this batch's own events must be readable from the log
        rows = await batch.driver.fetch(batch.driver.sql.stream_events_upto, aid, cmd.to_version)
        target = fold([event_from_row(r, batch.driver.read_ts, batch.driver.read_bytes) for r in rows])
    parent_live, in_subtree = True, False
    if current is not None and target is not None and target.parent_id != current.parent_id:
        parent_live = await batch._live(target.parent_id)
        if parent_live:
            in_subtree = await batch._in_subtree(aid, target.parent_id)
    decided = decide_revert(cmd, current, target, parent_live=parent_live, parent_in_subtree=in_subtree)
    return await batch._commit_events(decided, who)


async def flush(batch: WriteBatch, *, commit: bool = False) -> None:
    """Send everything decided so far in one pipeline; with ``commit``, end the recorder's own
    transaction with it (see :meth:`~.store.recorder.Recorder.commit_after`). Otherwise the caller commits."""
    steps: list[Step] = []
    if batch.blobs:
        unchecked = {h: b for h, b in batch.blobs.items() if h not in batch.checked_blobs}
        for start in range(0, len(unchecked), 2000):
            chunk = list(unchecked)[start : start + 2000]
            stored = await batch.driver.fetch(batch.driver.sql.blob_digests_in, batch.driver.id_list(chunk))
            batch._check_blobs({h: unchecked[h] for h in chunk}, stored)
        rows = [(b.hash, b.size, b.data) for b in batch.blobs.values() if b.hash not in batch.stored_blobs]
        rows = await batch.driver.blobs.divert(rows)  # a directory store writes its files now
        if rows:
            steps.extend(await insert_steps(batch.driver, rows))
        batch.stored_blobs.update(batch.blobs)
        batch.blobs.clear()
    if batch.pending:
        steps.append(insert_events_step(batch.driver, batch.pending))
        steps.extend(insert_openings_steps(batch.driver, batch.pending))
        assert batch.head is not None
        steps.extend(merkle_steps(batch.driver, batch.head))
        steps.extend(batch.projector.steps())
        steps.append(checkpoint_step(batch.driver, batch.pending[-1].position))
        batch.appended += len(batch.pending)
        batch.pending = []
    else:
        steps.extend(batch.projector.steps())
    if commit:
        await batch.driver.commit_after(steps)
    else:
        await batch.driver.pipeline(steps)
