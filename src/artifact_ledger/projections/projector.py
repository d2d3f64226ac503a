"""Apply events to ``ledger_artifacts``, ``ledger_artifact_closure`` and the parent links' history, set-based.

The projector keeps an overlay of the rows it has touched in this transaction
and queues row operations per table; consecutive operations of one kind go to
the database as one ``executemany``. Creates and updates only queue; a move is
a barrier (it flushes the queues, then rewrites the subtree's paths and levels
with set-based statements) because its SQL reads the closure table.

``ledger_artifact_parent_history`` keeps every parent link with the log
positions it held between (``valid_from <= p < valid_to``): creates and restores
open the artifact's link, deletes close it, a move closes one and opens another.
Its open rows always equal the ``parent_id`` of ``ledger_artifacts``. Point-in-time
trees read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import LedgerError
from ..events import (
    CREATED,
    DELETED,
    MOVED,
    PROVENANCE_EVENTS,
    RESTORED,
    REVERTED,
    UPDATED,
    RecordedEvent,
    content_of,
)
from ..store.recorder import Recorder, Step
from ..store.statements import Statement
from ..store.tables import artifacts
from .crosscheck import check_row
from .provenance import provenance_ops
from .rows import ArtifactRow, row_from_db

_Op = tuple[Statement, tuple[Any, ...]]
_MAX_CACHED_DEPTH = 64
"""Deeper artifacts' paths are not kept (their children's closure rows are read in SQL instead)."""


class ProjectionError(LedgerError):
    """An event cannot be applied to the projections (a bug or a damaged database); the write fails."""


class Projector:
    def __init__(self, driver: Recorder, *, checked: bool = False) -> None:
        self.driver = driver
        self.checked = checked
        """Check every row loaded against the log (the write path); rebuild and import replay
        events ahead of the tables, so their loads are not checked."""
        self.rows: dict[str, ArtifactRow | None] = {}
        self.applied: set[str] = set()
        """Ids this batch applied events to: a row of theirs read back from the tables (a move
        drops its subtree's cached rows) holds this batch's events, which the log has not yet."""
        self.state_checked: set[str] = set()
        """Ids whose row's data, content and tags are known to equal the log's: compared when
        loaded, or written by a state event of this batch."""
        self.parent_checked: set[str] = set()
        """Ids whose row's ``parent_id`` is known to equal the log's: compared when loaded as the
        command's target, or set by a structural event of this batch."""
        self._created: dict[str, tuple[datetime, str | None]] = {}
        self._paths: dict[str, tuple[str, ...]] = {}
        """Root-first ancestors (itself last) of artifacts created in this batch: their children's
        closure rows are then plain inserts, not an ``INSERT … SELECT`` per artifact."""
        self._ordered: list[Step] = []
        """Statements that must run before the queued operations (a move's, in order)."""
        self._artifact_ops: list[_Op] = []
        self._closure_ops: list[_Op] = []
        self._history_ops: list[_Op] = []
        self._provenance_ops: list[_Op] = []
        """Alias and link rows (``projections/provenance.py``)."""

    # ---- reads through the overlay -------------------------------------------------
    async def load(self, ids: Iterable[str], *, target: str | None = None) -> None:
        """Fetch the rows of ``ids`` not yet in the overlay, in one query (``target``: see :meth:`loaded`)."""
        missing = [i for i in dict.fromkeys(ids) if i not in self.rows]
        if not missing:
            return
        sql = self.driver.sql
        for chunk_start in range(0, len(missing), 5000):
            chunk = missing[chunk_start : chunk_start + 5000]
            # Queued writes go first, in the same round trip: the rows read must include them.
            load: Step = (
                (sql.load_checked, (self.driver.id_list(chunk), target), False)
                if self.checked
                else (sql.load_artifacts, (self.driver.id_list(chunk),), False)
            )
            self.loaded(chunk, (await self.driver.pipeline([*self.steps(), load]))[-1], target=target)

    def loaded(self, ids: Iterable[str], rows: Iterable[Sequence[Any]], *, target: str | None = None) -> None:
        """Record the result of loading ``ids``: rows found, the rest known absent.

        A checked projector's rows carry the log's columns after the table's (``load_checked``):
        each row is compared with the log first (:func:`crosscheck.check_row`), its parent and
        state too when it is the statement's ``target``.
        """
        for i in ids:
            self.rows[i] = None
        width = len(artifacts.c)
        for r in rows:
            if self.checked and r[0] not in self.applied:
                is_target = r[0] == target
                if check_row(r[:width], r[width:], check_parent=is_target):
                    self.state_checked.add(r[0])
                if is_target:
                    self.parent_checked.add(r[0])
            row = row_from_db(self.driver, r[:width])
            self.rows[row.id] = row

    async def get(self, artifact_id: str) -> ArtifactRow | None:
        if artifact_id not in self.rows:
            await self.load([artifact_id])
        return self.rows[artifact_id]

    def known_new(self, artifact_id: str) -> None:
        """Record that ``artifact_id`` has no row (a freshly generated id): saves a lookup."""
        self.rows.setdefault(artifact_id, None)

    # ---- apply ------------------------------------------------------------------------
    async def apply(self, event: RecordedEvent) -> None:
        if event.type in PROVENANCE_EVENTS:  # an alias's or a link's stream, not an artifact's
            self._provenance_ops.extend(provenance_ops(self.driver, event))
            return
        self.applied.add(event.artifact_id)
        if event.type in (CREATED, UPDATED, RESTORED, REVERTED):
            self.state_checked.add(event.artifact_id)  # the row now holds this event's state
        if event.type in (CREATED, MOVED, RESTORED, REVERTED):
            self.parent_checked.add(event.artifact_id)  # ... and this event's parent
        handler = {
            CREATED: self._created_or_restored,
            RESTORED: self._created_or_restored,
            UPDATED: self._updated,
            MOVED: self._moved,
            DELETED: self._deleted,
            REVERTED: self._reverted,
        }.get(event.type)
        if handler is None:
            raise ProjectionError(f"event {event.position} has unknown type {event.type!r}")
        await handler(event)

    async def _parent_level(self, event: RecordedEvent, parent_id: str | None) -> int:
        if parent_id is None:
            return 0
        parent = await self.get(parent_id)
        if parent is None:
            raise ProjectionError(
                f"event {event.position} ({event.type} of {event.artifact_id}) names parent {parent_id}, "
                "which has no live row"
            )
        return parent.level + 1

    async def _created_or_restored(self, event: RecordedEvent) -> None:
        p = event.payload
        aid = event.artifact_id
        if event.type == CREATED:
            created_at, created_by = event.recorded_at, event.actor
            self._created[aid] = (created_at, created_by)
        else:
            created_at, created_by = await self._creation_of(aid)
        row = ArtifactRow(
            aid,
            p["parent_id"],
            await self._parent_level(event, p["parent_id"]),
            event.version,
            p["data"],
            content_of(p),
            tuple(p["tags"]),
            created_at,
            event.recorded_at,
            created_by,
            event.actor,
        )
        self.rows[aid] = row
        self._artifact_ops.append((self.driver.sql.insert_artifact, row.insert_values(self.driver)))
        self._insert_paths(aid, row.parent_id)
        self._history_ops.append((self.driver.sql.open_parent_link, (aid, event.position, row.parent_id)))

    def _insert_paths(self, aid: str, parent_id: str | None) -> None:
        """Queue a new artifact's closure rows: computed when its parent's path is known, else read in SQL."""
        sql = self.driver.sql
        path = (aid,) if parent_id is None else self._paths.get(parent_id)
        if path is None:
            self._closure_ops.append((sql.insert_closure_for, (aid, parent_id)))
            return
        if parent_id is not None:
            path = (*path, aid)
        if len(path) <= _MAX_CACHED_DEPTH:
            self._paths[aid] = path
        depth = len(path)
        self._closure_ops.extend(
            (sql.insert_closure_row, (ancestor, aid, depth - i)) for i, ancestor in enumerate(path, 1)
        )

    async def _creation_of(self, artifact_id: str) -> tuple[datetime, str | None]:
        if artifact_id in self._created:
            return self._created[artifact_id]
        rows = await self.driver.fetch(self.driver.sql.stream_events, artifact_id)
        if not rows:
            raise ProjectionError(f"artifact {artifact_id} has no created event")
        first = rows[0]
        return self.driver.read_ts(first[7]), first[8]

    async def _live(self, event: RecordedEvent) -> ArtifactRow:
        row = await self.get(event.artifact_id)
        if row is None:
            raise ProjectionError(
                f"event {event.position} ({event.type}) targets {event.artifact_id}, which has no live row"
            )
        return row

    async def _updated(self, event: RecordedEvent) -> None:
        p = event.payload
        row = replace(
            await self._live(event),
            version=event.version,
            data=p["data"],
            content=content_of(p),
            tags=tuple(p["tags"]),
            updated_at=event.recorded_at,
            updated_by=event.actor,
        )
        self.rows[row.id] = row
        self._artifact_ops.append((self.driver.sql.update_artifact, row.update_values(self.driver)))

    async def _moved(self, event: RecordedEvent) -> None:
        await self._move(event, await self._live(event), event.payload["to_parent_id"])

    async def _move(self, event: RecordedEvent, row: ArtifactRow, new_parent: str | None) -> None:
        """Reparent ``row`` (set-based: closure paths and levels; its parent link), as of ``event``."""
        new_level = await self._parent_level(event, new_parent)
        d, sql, aid, pos = self.driver, self.driver.sql, row.id, event.position
        steps = self.steps()
        # The link closes before the new one opens; the closure's paths go before new ones come.
        # The artifact's own row and the levels below it are separate columns: either order.
        # Written last, the statements that bind only ids and integers can travel together
        # (PostgreSQL sends them in one round trip with the COMMIT; see postgres.py).
        steps.append((sql.close_parent_link, (pos, aid), False))
        steps.append((sql.move_artifact, (new_parent, event.version, d.ts(event.recorded_at), event.actor, aid), False))
        steps.append((sql.open_parent_link, (aid, pos, new_parent), False))
        steps.append((sql.move_closure_detach, (aid, new_parent), False))
        if new_parent is not None:
            steps.append((sql.move_closure_attach, (new_parent, aid), False))
        if new_level != row.level:
            steps.append((sql.shift_levels, (new_level - row.level, aid), False))
        # Sent with the next statements this batch runs (every read of the projections takes the
        # queued writes with it), so a move alone costs no round trip of its own.
        self._ordered = steps
        self._paths.clear()  # the moved subtree's ancestors changed
        # Levels below the moved artifact changed in the database: forget cached rows, but
        # keep the moved row itself, whose new state is known (the reply is built from it).
        self.rows.clear()
        row.parent_id, row.level, row.version = new_parent, new_level, event.version
        row.updated_at, row.updated_by = event.recorded_at, event.actor
        self.rows[aid] = row

    async def _reverted(self, event: RecordedEvent) -> None:
        """The state of an earlier version: a move when its parent differs, then an update."""
        row = await self._live(event)
        if event.payload["parent_id"] != row.parent_id:
            await self._move(event, row, event.payload["parent_id"])
        await self._updated(event)

    async def _deleted(self, event: RecordedEvent) -> None:
        await self._live(event)
        self.rows[event.artifact_id] = None
        self._paths.pop(event.artifact_id, None)
        self._artifact_ops.append((self.driver.sql.delete_artifact, (event.artifact_id,)))
        self._closure_ops.append((self.driver.sql.delete_closure_of, (event.artifact_id,)))
        self._history_ops.append((self.driver.sql.close_parent_link, (event.position, event.artifact_id)))

    def forget(self) -> None:
        """Drop the overlay (after a flush the database holds the same rows)."""
        self.rows.clear()
        self._created.clear()
        self._paths.clear()

    # ---- write ------------------------------------------------------------------------
    def steps(self) -> list[Step]:
        """Take the queued operations as statements: one ``executemany`` per run of identical ones."""
        steps: list[Step] = self._ordered
        self._ordered = []
        for ops in (self._artifact_ops, self._closure_ops, self._history_ops, self._provenance_ops):
            steps.extend(_coalesce(ops))
            ops.clear()
        return steps

    async def flush(self) -> None:
        """Send the queued operations."""
        await self.driver.pipeline(self.steps())


def _coalesce(ops: Sequence[_Op]) -> list[Step]:
    steps: list[Step] = []
    start = 0
    while start < len(ops):
        sql = ops[start][0]
        end = start + 1
        while end < len(ops) and ops[end][0] == sql:
            end += 1
        if end - start == 1:
            steps.append((sql, ops[start][1], False))
        else:
            steps.append((sql, [op[1] for op in ops[start:end]], True))
        start = end
    return steps


def checkpoint_step(driver: Recorder, position: int) -> Step:
    """Advance every projector's checkpoint to ``position`` (same transaction as the events)."""
    return (driver.sql.upsert_checkpoint, (position,), False)


async def write_checkpoints(driver: Recorder, position: int) -> None:
    await driver.pipeline([checkpoint_step(driver, position)])
