"""Projection drift: the projected tables against the fold of the log.

Every stream is read in (artifact, version) order and folded with ``decide.fold`` (the
same fold replay and restore use); each folded state is compared, column by column, with
its ``ledger_artifacts`` row, 500 streams per query. Then levels and
``ledger_artifact_closure`` are checked against the parent links of the live artifacts.
Memory: one stream at a time, plus one parent link and level per live artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final

from . import codec
from .decide import ArtifactState, fold
from .events import CREATED, CURRENT_SCHEMA_VERSION, UPDATED, RecordedEvent
from .projections.rows import artifact_type, state_columns
from .store.recorder import Recorder
from .store.rows import as_stored, event_from_row

PROJECTION_DRIFT: Final = "projection_drift"
INSERTED: Final = "inserted"
PAGE: Final = 5000
BATCH: Final = 500

_COMPARED = (
    "parent_id",
    "version",
    "type",
    "data",
    "content_hash",
    "content_codec",
    "content_type",
    "content_size",
    "tags",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
)


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
    """Compare ``ledger_artifacts`` and ``ledger_artifact_closure`` with the fold of every stream."""

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
        """(artifact, deleted, the ``load_artifacts`` columns the fold gives, as in ``_COMPARED``)."""
        self.matched = 0

    async def run(self) -> Finding | None:
        invalid = await self._fold_streams()
        if invalid is not None:
            return invalid
        await self._extra_rows()
        self._check_levels()
        await self._check_closure()
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
                        if len(self.pending) >= BATCH:
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
        folded = _fast_fold(rows)
        if folded is None:  # not only creates and updates, or something unusual: the general fold
            stream: list[RecordedEvent] = []
            for row in rows:
                try:
                    stream.append(event_from_row(row, as_stored, as_stored))
                except Exception as exc:  # a chained event that no writer of ours produces
                    return invalid_event(row[0], exc)
            try:
                state = fold(stream)
            except Exception as exc:  # the stream cannot be replayed: same as above
                self.last[aid] = rows[-1][0]
                return invalid_event(rows[-1][0], exc)
            folded = None if state is None else (state.deleted, _expected(state))
        self.last[aid] = rows[-1][0]  # versions ascend with positions
        self.streams += 1
        if folded is not None:
            self.pending.append((aid, *folded))
            if not folded[0]:
                self.parents[aid] = folded[1][0]
        return None

    async def _compare_pending(self) -> None:
        if not self.pending:
            return
        ids = [aid for aid, _, _ in self.pending]
        rows = await self.driver.fetch(self.driver.sql.load_artifacts, self.driver.id_list(ids))
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
                column = next(c for c, a, b in zip(_COMPARED, stored, expected, strict=True) if a != b)
                self.drift(
                    aid,
                    f"the ledger_artifacts row of artifact {aid} differs from the fold of its events "
                    f"(column {column}, at version {expected[1]})",
                )
        self.pending.clear()

    async def _extra_rows(self) -> None:
        total = (await self.driver.fetch(self.driver.sql.artifact_count))[0][0]
        if total == self.matched:
            return
        rows = await self.driver.fetch(self.driver.sql.artifact_without_events)
        if rows:
            self.drift(rows[0][0], f"ledger_artifacts has a row for {rows[0][0]!r}, which has no events in the log")

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


def depths(parents: dict[str, str | None]) -> dict[str, int | None]:
    """Each node's depth from the parent links; None where a path meets a cycle or a missing parent."""
    found: dict[str, int | None] = {}
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        broken = False
        while node is not None and node not in found:
            if node in on_path or node not in parents:
                broken = True
                break
            on_path.add(node)
            path.append(node)
            node = parents[node]
        base: int | None = None if broken else (-1 if node is None else found[node])
        for item in reversed(path):
            base = None if base is None else base + 1
            found[item] = base
    return found


def invalid_event(position: Any, exc: Exception) -> Finding:
    return Finding(
        position if type(position) is int else None,
        INSERTED,
        f"event {position} is not an event artifact-ledger writes ({type(exc).__name__}: {exc}): "
        "it was not appended by artifact-ledger",
    )


def _expected(state: ArtifactState) -> tuple[Any, ...]:
    """The ``_COMPARED`` columns of the row ``state`` projects to (timestamps as stored)."""
    return (
        state.parent_id,
        state.version,
        *state_columns(state.data, state.content, state.tags),
        state.created_at,
        state.updated_at,
        state.created_by,
        state.updated_by,
    )


def _fast_fold(rows: Sequence[Sequence[Any]]) -> tuple[bool, tuple[Any, ...]] | None:
    """``(deleted, expected columns)`` of a stream of creates and updates, straight from its rows.

    None when the stream holds anything else (or anything ``fold`` might refuse): the caller
    then folds it event by event, which gives the same state, or the error.
    """
    created = None
    payload: Any = None
    for row in rows:
        kind = row[4]
        if (kind != CREATED and kind != UPDATED) or row[5] != CURRENT_SCHEMA_VERSION:
            return None
        try:
            payload = codec.loads(row[6])
        except ValueError:
            return None
        if type(payload) is not dict or "data" not in payload or "content" not in payload or "tags" not in payload:
            return None
        content, tags = payload["content"], payload["tags"]
        if type(tags) is not list or not (content is None or _plain_content(content)):
            return None
        if kind == CREATED:
            if "parent_id" not in payload:
                return None
            created = (row, payload["parent_id"])
        elif created is None:
            return None
    if created is None:
        return None
    first, parent = created
    last = rows[-1]
    data, content = payload["data"], payload["content"]
    return False, (
        parent,
        last[3],
        artifact_type(data),
        codec.dumps_trusted(data).decode(),
        *((content["hash"], content["codec"], content.get("media_type"), content["size"]) if content
          else (None, None, None, None)),
        codec.dumps_trusted(payload["tags"]).decode(),
        first[7],
        last[7],
        first[8],
        last[8],
    )  # fmt: skip


def _plain_content(content: Any) -> bool:
    """A content reference ``ContentRef.from_json`` reads as it is."""
    return type(content) is dict and "hash" in content and "codec" in content and type(content.get("size")) is int
