"""Rebuild: drop the projections and replay the whole log.

Chunks of the log are replayed through the projector, the same one the writes use, except
the most common kind of chunk: one holding nothing but creates and updates (in the current
schema version). Those carry the whole state of their artifact, so the chunk's rows are
computed directly from the stored event rows and written set-based: one statement per table
(an update folded into its create when both are in the chunk), closure paths computed from
the parents' paths (read in one query) and inserted as plain rows. The rows written are the
ones the projector writes for the same events (tests compare rebuilt tables with the live
ones row for row).

The log is replayed only once it passes ``verify``'s checks of the log itself (under the write lock,
before anything is cleared): the chain, ``ledger_info``'s format switch, the log against the
projections' checkpoints (events past them, the log ending before them, rows outside the positions,
openings past the end) and the retention runs; only projection drift, which a rebuild repairs, is let
through. A forged or edited event would otherwise be projected, served by reads and built on by the
next write, and the checkpoints that showed it was never appended (or that events were dropped) would
be reset, wiping the evidence. A tampered log is :class:`ChainBrokenError` and the projections stay as
they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import codec
from ..errors import ChainBrokenError
from ..events import CREATED, CURRENT_SCHEMA_VERSION, ERASED_CONTENT, UPDATED
from ..store.provenance import provenance_statements
from ..store.recorder import Recorder, Step
from ..store.retention import retention_statements
from ..store.rows import event_from_row
from .projector import ProjectionError, Projector, write_checkpoints
from .rows import artifact_type

_ERASED = ERASED_CONTENT.to_json()

CHUNK = 5000
_FAST_TYPES = frozenset((CREATED, UPDATED))


async def rebuild(driver: Recorder, progress: Callable[[int], None] | None = None) -> int:
    """Replay every event into empty projection tables; returns the number of events applied.

    Runs in the caller's transaction under the write lock, so readers see either
    the old projections or the rebuilt ones, never a half-built state.
    """
    await driver.lock()
    await _log_holds(driver)
    sql = driver.sql
    for clear in (sql.clear_parent_history, sql.clear_closure, sql.clear_artifacts, sql.clear_checkpoints):
        await driver.execute(clear)
    provenance = provenance_statements(sql.dialect)
    for clear in (provenance.delete_aliases, provenance.delete_links):
        await driver.execute(clear)
    kept = retention_statements(sql.dialect)
    for clear in (kept.delete_holds, kept.delete_expired, kept.delete_expired_blobs):
        await driver.execute(clear)
    from ..proofs import clear as clear_merkle  # proofs imports the projections' modules

    merkle = await clear_merkle(driver)
    projector = Projector(driver)
    fast = _StateChunk(driver)
    position = 0
    applied = 0
    while True:
        rows = await driver.fetch(driver.sql.events_after, position, CHUNK)
        if not rows:
            break
        if all(row[4] in _FAST_TYPES and row[5] == CURRENT_SCHEMA_VERSION for row in rows):
            await fast.apply(rows)
        else:
            await _replay(projector, driver, rows)
        await merkle.extend(driver.read_bytes(row[13]) for row in rows)
        position = int(rows[-1][0])
        applied += len(rows)
        if progress is not None:
            progress(applied)
    await write_checkpoints(driver, position)
    await merkle.finish()
    return applied


_UNREPLAYABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError)
"""What a payload no writer of ours makes raises when it is read as one."""


def unreplayable(position: Any, exc: Exception) -> ChainBrokenError:
    """An event whose chain holds (it was recomputed) but that no writer of ours makes: verify's 'inserted'."""
    return ChainBrokenError(
        f"cannot rebuild the projections from event {position}: it is not an event artifact-ledger writes "
        f"({type(exc).__name__}: {str(exc)[:200]}), yet its hash was recomputed into the chain: it was not "
        "appended by artifact-ledger, so nothing was rebuilt (the projections are as they were). Keep a copy of "
        "the database as evidence, see `artifact-ledger verify` and docs/guides/integrity.md ('When the check "
        "fails'), and restore the log from a backup or an exported bundle",
        position=position if type(position) is int else None,
    )


async def _log_holds(driver: Recorder) -> None:
    """Refuse to rebuild from a log that ``verify`` reports as tampered (see the module's docstring)."""
    # chain_check imports the integrity module, which imports the projections'
    from ..chain_check import ChainCheck
    from ..integrity import PROJECTION_DRIFT, first_finding

    steps = ChainCheck(driver, since=None, trusted_head=None, progress=None).log_steps(full=True)
    if driver.connection.dialect.name == "postgresql":
        # The pass reads through cursors that stay open until their (sub)transaction ends, and an open
        # cursor on ledger_events would stop the rebuild's own index DDL: read inside a savepoint, then
        # roll it back (it wrote nothing), which closes them.
        await driver.connection.exec_driver_sql("SAVEPOINT artifact_ledger_rebuild_chain")
        found = await first_finding(steps, past=PROJECTION_DRIFT)
        await driver.connection.exec_driver_sql("ROLLBACK TO SAVEPOINT artifact_ledger_rebuild_chain")
        await driver.connection.exec_driver_sql("RELEASE SAVEPOINT artifact_ledger_rebuild_chain")
    else:
        found = await first_finding(steps, past=PROJECTION_DRIFT)
    if found is None:
        return
    where = f"event {found.position}" if found.position is not None else "the log"
    raise ChainBrokenError(
        f"cannot rebuild the projections from {where}: verify reports the log as tampered ({found.reason}: "
        f"{found.problem}). A rebuild would project it into reads and writes and reset the checkpoints that "
        "show it, so nothing was rebuilt (the projections are as they were). Keep a copy of the database as "
        "evidence, see `artifact-ledger verify` and docs/guides/integrity.md ('When the check fails'), and "
        "restore the log from a backup or an exported bundle",
        position=found.position,
    )


async def _replay(projector: Projector, driver: Recorder, rows: Sequence[Sequence[Any]]) -> None:
    """Apply a chunk event by event through the projector."""
    chunk = []
    for row in rows:
        try:
            chunk.append(event_from_row(row, driver.read_ts, driver.read_bytes))
        except _UNREPLAYABLE as exc:
            raise unreplayable(row[0], exc) from exc
    # One query for every row the chunk reads (parents, and the targets of everything but a
    # create), instead of one per event.
    wanted = {e.payload.get("parent_id") or e.payload.get("to_parent_id") for e in chunk}
    wanted.update(e.artifact_id for e in chunk if e.type != CREATED)
    wanted.discard(None)
    await projector.load(p for p in wanted if isinstance(p, str))
    for event in chunk:
        try:
            await projector.apply(event)
        except _UNREPLAYABLE as exc:
            raise unreplayable(event.position, exc) from exc
    await projector.flush()
    projector.forget()


class _StateChunk:
    """Replay a chunk of creates and updates set-based (the rows the projector would write)."""

    def __init__(self, driver: Recorder) -> None:
        self.driver = driver
        self._raw_ts: Any = object()
        self._ts: Any = None

    def _stored_ts(self, raw: Any) -> Any:
        """The stored form of a ``recorded_at`` as read back (rows of one append share it: one conversion)."""
        if raw != self._raw_ts:
            self._raw_ts, self._ts = raw, self.driver.ts(self.driver.read_ts(raw))
        return self._ts

    async def _paths(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        """The live artifacts among ``ids``: each one's path, itself first, up to its root."""
        found: dict[str, list[tuple[int, str]]] = {}
        d = self.driver
        for start in range(0, len(ids), CHUNK):
            for descendant, ancestor, depth in await d.fetch(d.sql.closure_of, d.id_list(ids[start : start + CHUNK])):
                found.setdefault(descendant, []).append((int(depth), ancestor))
        return {aid: tuple(a for _, a in sorted(pairs)) for aid, pairs in found.items()}

    async def apply(self, rows: Sequence[Sequence[Any]]) -> None:
        # Pass 1: each payload parsed and reduced to its columns at once, so no parsed payload
        # outlives its row (a chunk's worth of live dicts makes the cyclic GC's full passes costly).
        dumps, no_content = codec.dumps_trusted, (None, None, None, None)
        items: list[tuple[Any, ...]] = []
        created: set[str] = set()
        wanted: set[str] = set()
        for row in rows:
            aid, type_ = row[2], row[4]
            try:
                p = codec.loads(row[6])
                data, content = p["data"], p.get("content", _ERASED)
                state = (
                    artifact_type(data),
                    dumps(data).decode(),
                    *((content["hash"], content["codec"], content.get("media_type"), int(content["size"]))
                      if content else no_content),
                    dumps(list(p["tags"])).decode(),
                )  # fmt: skip
                parent = p["parent_id"] if type_ == CREATED else None
            except _UNREPLAYABLE as exc:
                raise unreplayable(row[0], exc) from exc
            if type_ == CREATED:
                created.add(aid)
                if parent is not None:
                    wanted.add(parent)
            elif aid not in created:
                wanted.add(aid)
            items.append((int(row[0]), aid, int(row[3]), type_, row[8], row[7], parent, state))
        paths = await self._paths(sorted(wanted)) if wanted else {}
        # Pass 2: the rows, with levels and closure paths from the parents' paths.
        inserts: dict[str, tuple[Any, ...]] = {}
        updates: dict[str, tuple[Any, ...]] = {}
        closure: list[tuple[str, str, int]] = []
        links: list[tuple[str, int, str | None]] = []
        for position, aid, version, type_, actor, recorded_at, parent, state in items:
            at = self._stored_ts(recorded_at)
            if type_ == CREATED:
                if parent is None:
                    path: tuple[str, ...] = (aid,)
                elif parent in paths:
                    path = (aid, *paths[parent])
                else:
                    raise ProjectionError(
                        f"event {position} ({type_} of {aid}) names parent {parent}, which has no live row"
                    )
                paths[aid] = path
                inserts[aid] = (aid, parent, len(path) - 1, version, *state, at, at, actor, actor)
                closure.extend([(ancestor, aid, depth) for depth, ancestor in enumerate(path)])
                links.append((aid, position, parent))
            elif aid not in paths:
                raise ProjectionError(f"event {position} ({type_}) targets {aid}, which has no live row")
            elif aid in inserts:
                first = inserts[aid]
                inserts[aid] = (*first[:3], version, *state, first[11], at, first[13], actor)
            else:
                updates[aid] = (version, *state, at, actor, aid)
        await self._write(list(inserts.values()), list(updates.values()), closure, links)

    async def _write(
        self,
        inserts: list[tuple[Any, ...]],
        updates: list[tuple[Any, ...]],
        closure: list[tuple[str, str, int]],
        links: list[tuple[str, int, str | None]],
    ) -> None:
        d = self.driver
        # New rows as multi-row inserts (the PostgreSQL pipeline sends large ones by binary COPY).
        steps: list[Step] = []
        for sql, values in (
            (d.sql.insert_artifact, inserts),
            (d.sql.insert_closure_row, closure),
            (d.sql.open_parent_link, links),
        ):
            if values:
                steps.append((sql, values, True))
        await d.pipeline(steps)
        if updates:  # distinct ids: an update in the chunk of its create was folded into the insert
            await d.update_distinct_artifacts(updates)
