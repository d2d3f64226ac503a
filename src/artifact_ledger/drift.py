"""Projection drift: every projected table against the fold of the log.

Every stream is read in (artifact, version) order and folded with ``decide.fold`` (the
same fold replay and restore use); each folded state is compared, column by column, with
its ``ledger_artifacts`` row, and the parent links the stream's events open and close
(:func:`parent_links`, what the projector writes) with its ``ledger_artifact_parent_history``
rows, 500 streams per round trip. Rows of either table that no stream accounts for are
found by counting. Then levels and ``ledger_artifact_closure`` are checked against the
parent links of the live artifacts, and every projector's ``ledger_checkpoints`` row
against the head of the log.
Memory: one stream at a time (its links until its batch is compared), plus one parent link
and level per live artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final

from .decide import fold
from .events import (
    PROVENANCE_EVENTS,
    RecordedEvent,
)
from .projections.drift_fold import COMPARED, Link, depths, expected_columns, fast_fold, parent_links
from .projections.provenance_check import ProvenanceFold
from .store.recorder import Recorder
from .store.rows import as_stored, event_from_row
from .store.tables import PROJECTORS

PROJECTION_DRIFT: Final = "projection_drift"
INSERTED: Final = "inserted"
PAGE: Final = 5000
BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem ``verify`` found: its position (None: it belongs to no event), reason, words, subject."""

    position: int | None
    reason: str
    problem: str
    artifact_id: str | None = None
    blob_hash: str | None = None


def earliest(found: Sequence[Finding]) -> Finding | None:
    """The problem with the lowest position (those belonging to no event last)."""
    return min(found, key=lambda d: (d.position is None, d.position or 0)) if found else None


class DriftCheck:
    """Compare every projection table and the checkpoints with the fold of every stream."""

    def __init__(self, driver: Recorder) -> None:
        self.driver = driver
        self.found: list[Finding] = []
        self.streams = 0
        self.parents: dict[str, str | None] = {}
        """Live artifact -> parent, from the fold."""
        self.levels: dict[str, Any] = {}
        """Live artifact -> its projected level."""
        self.depths: dict[str, int | None] = {}
        self.last: dict[str, int] = {}
        """Artifact -> the position of its last event."""
        self.pending: list[tuple[str, bool, tuple[Any, ...]]] = []
        """(artifact, deleted, the ``load_artifacts`` columns the fold gives, as in ``COMPARED``)."""
        self.pending_links: dict[str, list[Link]] = {}
        """Artifact -> the parent links its events give, for the streams in ``pending``."""
        self.matched = 0
        self.links_matched = 0
        """``ledger_artifact_parent_history`` rows read for the streams of the log."""
        self.head = 0
        self.provenance = ProvenanceFold()
        """The alias and link streams, folded (``projections/provenance_check.py``)."""
        self.other_streams: list[str] = []
        """The streams of the log that are no artifact's (aliases, links, holds, runs): none may have a row
        in ``ledger_artifacts`` or ``ledger_artifact_parent_history``."""

    async def run(self) -> Finding | None:
        invalid = await self._fold_streams()
        if invalid is not None:
            return invalid
        for stream_id, problem in await self.provenance.compare(self.driver):
            self.drift(stream_id or "", problem)
        await self._extra_rows()
        await self._extra_links()
        self._check_levels()
        await self._check_closure()
        await self._check_checkpoints()
        from .proofs import merkle_findings  # proofs imports this module's Finding

        self.found.extend(await merkle_findings(self.driver, self.head))
        return earliest(self.found)

    def drift(self, artifact_id: str, problem: str) -> None:
        self.found.append(Finding(self.last.get(artifact_id), PROJECTION_DRIFT, problem, artifact_id))

    # -- rows --------------------------------------------------------------------------------------
    async def _fold_streams(self) -> Finding | None:
        stream: list[Sequence[Any]] = []
        async with aclosing(self.driver.pages(self.driver.sql.events_by_stream, (), PAGE)) as paged:
            async for page in paged:
                for row in page:
                    if stream and row[2] != stream[-1][2]:
                        invalid = self._folded(stream)
                        if invalid is not None:
                            return invalid
                        stream = []
                        if len(self.pending_links) >= BATCH:
                            await self._compare_pending()
                    stream.append(row)
        if stream:
            invalid = self._folded(stream)
            if invalid is not None:
                return invalid
        await self._compare_pending()
        return None

    def _folded(self, rows: list[Sequence[Any]]) -> Finding | None:
        """Fold one stream's rows (oldest first) and queue its state for comparison with its row."""
        aid = rows[-1][2]
        if rows[0][4] in PROVENANCE_EVENTS:  # an alias's or a link's stream
            self.last[aid] = rows[-1][0]
            self.other_streams.append(aid)
            self.head = max(self.head, rows[-1][0])
            try:
                self.provenance.add(rows)
            except Exception as exc:  # a stream no writer of ours produces
                return invalid_event(rows[-1][0], exc)
            return None
        fast = fast_fold(rows)
        folded: tuple[bool, tuple[Any, ...]] | None = None
        if fast is not None:
            folded, links = fast[:2], fast[2]
        else:  # not only creates and updates, or something unusual: the general fold
            stream: list[RecordedEvent] = []
            for row in rows:
                try:
                    stream.append(event_from_row(row, as_stored, as_stored))
                except Exception as exc:  # a chained event that no writer of ours produces
                    return invalid_event(row[0], exc)
            try:
                state = fold(stream)
                links = parent_links(stream)
            except Exception as exc:  # the stream cannot be replayed: same as above
                self.last[aid] = rows[-1][0]
                return invalid_event(rows[-1][0], exc)
            folded = None if state is None else (state.deleted, expected_columns(state))
        self.last[aid] = rows[-1][0]  # versions ascend with positions
        self.head = max(self.head, rows[-1][0])
        self.streams += 1
        self.pending_links[aid] = links
        if folded is not None:
            self.pending.append((aid, *folded))
            if not folded[0]:
                self.parents[aid] = folded[1][0]
        return None

    async def _compare_pending(self) -> None:
        if not self.pending_links:
            return
        ids = list(self.pending_links)
        sql, id_list = self.driver.sql, self.driver.id_list(ids)
        rows, history = await self.driver.pipeline(
            [(sql.load_artifacts, (id_list,), False), (sql.parent_history_of, (id_list,), False)]
        )
        self._compare_links(history)
        by_id = {row[0]: row for row in rows}
        for aid, deleted, expected in self.pending:
            row = by_id.get(aid)
            if deleted:
                if row is not None:
                    self.drift(aid, f"artifact {aid} is deleted in the log but has a ledger_artifacts row")
                continue
            if row is None:
                self.drift(aid, f"artifact {aid} is live in the log but has no ledger_artifacts row")
                continue
            self.matched += 1
            self.levels[aid] = row[2]
            stored = (row[1], *row[3:])
            if stored != expected:
                column = next(c for c, a, b in zip(COMPARED, stored, expected, strict=True) if a != b)
                self.drift(
                    aid,
                    f"the ledger_artifacts row of artifact {aid} differs from the fold of its events "
                    f"(column {column}, at version {expected[1]})",
                )
        self.pending.clear()

    def _compare_links(self, history: Sequence[Sequence[Any]]) -> None:
        """The ``ledger_artifact_parent_history`` rows of the pending streams against their links."""
        stored: dict[str, list[tuple[Any, ...]]] = {}
        for aid, valid_from, valid_to, parent_id in history:  # each artifact's oldest first, as ``links``
            stored.setdefault(aid, []).append((valid_from, valid_to, parent_id))
        self.links_matched += len(history)
        for aid, links in self.pending_links.items():
            found = stored.pop(aid, [])
            if found == links:
                continue
            rows = {row[0]: row[1:] for row in found}
            for valid_from, valid_to, parent_id in links:
                if valid_from not in rows:
                    self.found.append(
                        Finding(
                            valid_from,
                            PROJECTION_DRIFT,
                            f"ledger_artifact_parent_history has no row for the parent link of artifact {aid} "
                            f"that event {valid_from} opened (parent {parent_id!r}, {_until(valid_to)})",
                            aid,
                        )
                    )
                    continue
                row_to, row_parent = rows.pop(valid_from)
                if row_parent != parent_id:
                    self.found.append(
                        Finding(
                            valid_from,
                            PROJECTION_DRIFT,
                            f"the ledger_artifact_parent_history row of artifact {aid} from position {valid_from} "
                            f"names parent {row_parent!r}, but event {valid_from} gave it parent {parent_id!r}",
                            aid,
                        )
                    )
                if row_to != valid_to:
                    self.found.append(
                        Finding(
                            valid_from if valid_to is None else valid_to,
                            PROJECTION_DRIFT,
                            f"the ledger_artifact_parent_history row of artifact {aid} from position {valid_from} "
                            f"has valid_to {row_to!r}, but the log "
                            + ("leaves that link open" if valid_to is None else f"closes it at position {valid_to}"),
                            aid,
                        )
                    )
            for valid_from, (valid_to, parent_id) in sorted(rows.items(), key=lambda item: repr(item[0])):
                self.drift(
                    aid,
                    f"ledger_artifact_parent_history has a row for artifact {aid} from position {valid_from!r} "
                    f"(parent {parent_id!r}, valid_to {valid_to!r}) that no event of the artifact opened",
                )
        self.pending_links.clear()

    async def _extra_rows(self) -> None:
        total = (await self.driver.fetch(self.driver.sql.artifact_count))[0][0]
        if total == self.matched:
            return
        rows = await self.driver.fetch(self.driver.sql.artifact_without_events)
        if rows:
            self.drift(rows[0][0], f"ledger_artifacts has a row for {rows[0][0]!r}, which has no events in the log")
            return
        # Every row's id has events, so some row is under the id of a stream that is no artifact's.
        for aid, kind in await self._rows_of_other_streams(self.driver.sql.load_artifacts):
            self.drift(aid, f"ledger_artifacts has a row for {aid!r}, which is no artifact: its events are {kind}")
            return
        self.found.append(
            Finding(
                None,
                PROJECTION_DRIFT,
                f"ledger_artifacts holds {total} rows but the log's live artifacts have {self.matched}",
            )
        )

    async def _rows_of_other_streams(self, statement: Any) -> list[tuple[str, str]]:
        """(id, what its events are) for the rows ``statement`` finds among the streams that are no artifact's."""
        found: list[tuple[str, str]] = []
        for start in range(0, len(self.other_streams), BATCH):
            ids = self.other_streams[start : start + BATCH]
            found.extend(
                (row[0], self._kind(row[0])) for row in await self.driver.fetch(statement, self.driver.id_list(ids))
            )
            if found:
                break
        return sorted(found)[:1]

    def _kind(self, stream_id: str) -> str:
        if stream_id in self.provenance.alias_streams.values():
            return "an alias's"
        if any(link[0] == stream_id for link in self.provenance.links):
            return "a link's"
        if any(hold[1] == stream_id for hold in self.provenance.retention.holds.values()):
            return "a hold's"
        return "of a stream that is no artifact's"

    async def _extra_links(self) -> None:
        """A parent link of an artifact the log has no events of, or of a stream that is no artifact's (the
        others were compared stream by stream)."""
        total = (await self.driver.fetch(self.driver.sql.parent_history_count))[0][0]
        if total == self.links_matched:
            return
        rows = await self.driver.fetch(self.driver.sql.parent_history_without_events)
        if rows:
            aid, valid_from = rows[0]
            self.drift(
                aid,
                f"ledger_artifact_parent_history has a row for {aid!r} from position {valid_from!r}, "
                "which has no events in the log",
            )
            return
        for aid, kind in await self._rows_of_other_streams(self.driver.sql.parent_history_of):
            self.drift(
                aid,
                f"ledger_artifact_parent_history has a row for {aid!r}, which is no artifact: its events are {kind}",
            )
            return
        # every row's artifact has events, yet not every row was read with its stream's
        self.found.append(
            Finding(
                None,
                PROJECTION_DRIFT,
                f"ledger_artifact_parent_history holds {total} rows but the artifacts of the log have "
                f"{self.links_matched}",
            )
        )

    # -- checkpoints -------------------------------------------------------------------------------
    async def _check_checkpoints(self) -> None:
        """One row per projector, each at the head: they advance in the append's transaction."""
        rows = await self.driver.fetch(self.driver.sql.checkpoint_rows)
        marks: dict[Any, Any] = {row[0]: row[1] for row in rows}
        for name in PROJECTORS:
            if name not in marks:
                if self.head > 0:
                    self.found.append(
                        Finding(
                            None,
                            PROJECTION_DRIFT,
                            f"ledger_checkpoints has no row for the {name} projector, "
                            f"but the log's head is at position {self.head}",
                        )
                    )
            elif marks[name] != self.head:
                self.found.append(
                    Finding(
                        None,
                        PROJECTION_DRIFT,
                        f"the {name} projector's checkpoint is at position {marks[name]!r}, "
                        f"but the log's head is at position {self.head}",
                    )
                )
        for name in sorted(set(marks) - set(PROJECTORS), key=repr):
            self.found.append(
                Finding(
                    None,
                    PROJECTION_DRIFT,
                    f"ledger_checkpoints has a row for {name!r}, which is no projector of this ledger "
                    f"(they are {', '.join(PROJECTORS)})",
                )
            )

    # -- levels and closure ------------------------------------------------------------------------
    def _check_levels(self) -> None:
        self.depths = depths(self.parents)
        for aid, depth in self.depths.items():
            if depth is None:
                self.drift(aid, f"artifact {aid} has no path to a root through live parents in the log")
            elif self.levels.get(aid, depth) != depth:
                self.drift(aid, f"artifact {aid} has level {self.levels[aid]!r} but its depth is {depth}")

    def _ancestors(self, aid: str) -> list[str]:
        """``aid``, its parent, …, its root (only called for artifacts with a depth)."""
        chain: list[str] = []
        node: str | None = aid
        while node is not None:
            chain.append(node)
            node = self.parents[node]
        return chain

    async def _check_closure(self) -> None:
        current: str | None = None
        expected: list[str] = []
        count = 0
        seen: set[str] = set()
        async with aclosing(self.driver.pages(self.driver.sql.closure_rows, (), PAGE)) as paged:
            async for page in paged:
                for descendant, ancestor, depth in page:
                    if descendant != current:
                        self._close_group(current, expected, count)
                        current, count, expected = descendant, 0, []
                        if descendant not in self.parents or descendant in seen:
                            self.drift(
                                descendant, f"ledger_artifact_closure has paths to {descendant!r}, which is not live"
                            )
                        elif self.depths.get(descendant) is not None:
                            expected = self._ancestors(descendant)
                        seen.add(descendant)
                    count += 1
                    valid = type(depth) is int and 0 <= depth < len(expected) and expected[depth] == ancestor
                    if expected and not valid:
                        self.drift(
                            descendant,
                            f"ledger_artifact_closure has the path {ancestor!r} -> {descendant} at depth {depth!r}, "
                            "which the parent links do not give",
                        )
        self._close_group(current, expected, count)
        for aid in sorted(self.parents.keys() - seen):
            self.drift(aid, f"ledger_artifact_closure has no paths to artifact {aid}")

    def _close_group(self, descendant: str | None, expected: list[str], count: int) -> None:
        if descendant is not None and expected and count != len(expected):
            self.drift(
                descendant,
                f"ledger_artifact_closure has {count} paths to artifact {descendant}, not {len(expected)} "
                f"(itself and {len(expected) - 1} ancestors)",
            )


def _until(valid_to: int | None) -> str:
    return "still open" if valid_to is None else f"until position {valid_to}"


def invalid_event(position: Any, exc: Exception) -> Finding:
    return Finding(
        position if type(position) is int else None,
        INSERTED,
        f"event {position} is not an event artifact-ledger writes ({type(exc).__name__}: {exc}): "
        "it was not appended by artifact-ledger",
    )
