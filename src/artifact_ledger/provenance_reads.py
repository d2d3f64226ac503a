"""The read side of aliases and lineage, and the models it answers with.

``resolve_alias(as_of=)`` and ``alias_history`` read the alias's own stream in the log;
``provenance_history`` the alias and link streams naming an artifact; ``aliases(id)`` and
``lineage`` read the projections (``lineage(as_of=)`` the links' validity ranges, and the
nodes' labels from their events then), one statement per hop of the graph whatever the number
of nodes. The write side is :class:`artifact_ledger.provenance.Provenance`, which extends
:class:`ProvenanceReads`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, bindparam, func, literal_column, or_, select
from ulid import ULID

from . import arguments, codec
from .aliases import checked_alias_name
from .commands import version_argument
from .decide import is_artifact_stream, not_an_artifact
from .errors import AliasNotFoundError, ArtifactNotFoundError, InvalidArgumentError
from .events import ALIAS_EVENTS, LINK_EVENTS, PROVENANCE_EVENTS, STATE_EVENTS, RecordedEvent
from .history import audit_entry
from .ids import parse_id
from .lineage import LineageEdge, LineageGraph, checked_kind
from .store.alias_pages import alias_page_statements
from .store.errors import translated
from .store.provenance import ALIAS_COLUMNS, provenance_statements
from .store.recorder import Recorder
from .store.rows import event_from_row
from .store.statement_parts import _in_ids
from .store.statements import REPLY_COLUMNS, Statement, compile_for
from .store.tables import events

if TYPE_CHECKING:
    from .commands import Commands
    from .reads import Reads
    from .schemas import ArtifactOut, AuditEntry

__all__ = ["MAX_LINEAGE_DEPTH", "Alias", "AliasChange", "Direction", "ProvenanceReads"]

Direction = Literal["upstream", "downstream", "both"]
MAX_LINEAGE_DEPTH = 10_000
_ALL = 2**62
"""The ``LIMIT`` of a keyset read of aliases without one."""


class Alias(BaseModel):
    """An alias as it stands: the artifact version it points at."""

    model_config = ConfigDict(frozen=True)

    name: str
    artifact_id: ULID
    version: int
    protected: bool
    updated_at: datetime
    updated_by: str | None


class AliasChange(BaseModel):
    """One event of an alias's history: who moved it, when, why, from which version to which."""

    model_config = ConfigDict(frozen=True)

    position: int
    type: str
    name: str
    artifact_id: ULID | None
    version: int | None
    from_artifact_id: ULID | None
    from_version: int | None
    protected: bool
    recorded_at: datetime
    actor: str | None
    reason: str | None


def _names(event: RecordedEvent, artifact_id: str) -> bool:
    """Whether an alias or link event names ``artifact_id`` (as its target, former target, source or target)."""
    p = event.payload
    if event.type in ALIAS_EVENTS:
        return artifact_id in (p["artifact_id"], p["from_artifact_id"])
    return event.type in LINK_EVENTS and artifact_id in (p["src_id"], p["dst_id"])


async def alias_stream(rec: Recorder, name: str) -> str:
    """The stream id of alias ``name`` (``AliasNotFoundError`` if it was never set)."""
    rows = await rec.fetch(provenance_statements(rec.sql.dialect).alias_row, name)
    if not rows:
        raise AliasNotFoundError(f"no alias named {name!r} was ever set")
    return str(rows[0][1])


def alias_change(e: RecordedEvent) -> AliasChange:
    p = e.payload
    return AliasChange(
        position=e.position,
        type=e.type,
        name=p["name"],
        artifact_id=None if p["artifact_id"] is None else parse_id(p["artifact_id"]),
        version=p["version"],
        from_artifact_id=None if p["from_artifact_id"] is None else parse_id(p["from_artifact_id"]),
        from_version=p["from_version"],
        protected=p["protected"],
        recorded_at=e.recorded_at,
        actor=e.actor,
        reason=e.reason,
    )


def _alias_model(row: Sequence[Any], rec: Recorder) -> Alias:
    return Alias(
        name=row[0],
        artifact_id=parse_id(row[3]),
        version=row[4],
        protected=bool(row[5]),
        updated_at=rec.read_ts(row[7]),
        updated_by=row[8],
    )


class ProvenanceReads:
    """The alias and lineage reads of one manager."""

    def __init__(self, commands: Commands, reads: Reads) -> None:
        self.commands = commands
        self.reads = reads
        self.repo = commands.repo

    async def _position_at(self, rec: Recorder, as_of: datetime) -> int:
        sql = provenance_statements(rec.sql.dialect)
        rows = await rec.fetch(sql.position_at, rec.ts(as_of))
        return int(rows[0][0]) if rows else 0

    async def resolve_alias(self, name: str, *, as_of: datetime | None, include_content: bool) -> ArtifactOut:
        name = checked_alias_name(name)
        arguments.flag(include_content, "include_content")
        instant = arguments.instant(as_of, "as_of")

        async def resolve(rec: Recorder) -> tuple[str, int, ArtifactOut | None]:
            sql = provenance_statements(rec.sql.dialect)
            if instant is None:
                rows = await rec.fetch(sql.alias_resolved, name)
                if not rows or rows[0][-2] is None:
                    raise AliasNotFoundError(f"no alias named {name!r}")
                aid, version = rows[0][-2], rows[0][-1]
                row: Sequence[Any] | None = rows[0][: len(REPLY_COLUMNS)]
            else:
                found = await rec.fetch(sql.alias_payload_at, name, rec.ts(instant))
                payload = codec.loads(found[0][0]) if found else None
                if payload is None or payload["artifact_id"] is None:
                    raise AliasNotFoundError(f"no alias named {name!r} at {instant.isoformat()}")
                aid, version = payload["artifact_id"], payload["version"]
                got = await rec.fetch(rec.sql.read_by_id, aid)
                row = got[0] if got else None
            # Most aliases point at their artifact's current version: its projection row (a pure
            # read) is the answer then; an older version is replayed from the log.
            if row is not None and row[0] is not None and row[3] == version:
                return aid, version, (await self.reads._outs([row], include_content, rec))[0]
            return aid, version, None

        await self.commands.sync()
        with translated():
            aid, version, current = await self.repo.read(resolve)
        if current is not None:
            return current
        out = await self.reads.find_by_id(aid, version=version, as_of=None, include_content=include_content)
        if out is None:  # pragma: no cover - an alias's version always exists in its artifact's stream
            raise ArtifactNotFoundError(f"alias {name!r} points at {aid} version {version}, which is not found")
        return out

    async def alias_history(self, name: str) -> list[AliasChange]:
        name = checked_alias_name(name)
        await self.commands.sync()
        with translated():
            async with self.repo.reading() as rec:
                sql = provenance_statements(rec.sql.dialect)
                stream = [
                    event_from_row(r, rec.read_ts, rec.read_bytes)
                    for r in await rec.fetch(sql.stream_events, await alias_stream(rec, name))
                ]
        return [alias_change(e) for e in stream if e.type in ALIAS_EVENTS]

    async def provenance_history(self, id: ULID | str) -> list[AuditEntry]:
        """The alias and link events that named artifact ``id``, in position order.

        The streams come from the projections (every alias; the link rows from or to ``id``, closed
        ones included), the events from the log; an alias event counts when it pointed the alias at
        ``id`` or away from it.
        """
        aid = str(parse_id(id))
        await self.commands.sync()
        with translated():
            async with self.repo.reading() as rec:
                sql = provenance_statements(rec.sql.dialect)
                head = await rec.fetch(sql.stream_head, aid)
                if not head or head[0][1] in PROVENANCE_EVENTS:
                    raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
                # Alias events: those whose payload holds the id at all (canonical JSON: the id as
                # written); which of them pointed the alias at it or away is decided below.
                rows = list(await rec.fetch(sql.alias_events_holding, f'"{aid}"'))
                streams = [r[0] for r in await rec.fetch(sql.link_streams_of, aid)]
                if streams:
                    rows += await rec.fetch(sql.events_of_streams, rec.id_list(streams))
                found = sorted((event_from_row(r, rec.read_ts, rec.read_bytes) for r in rows), key=lambda e: e.position)
        return [audit_entry(e) for e in found if _names(e, aid)]

    async def aliases(self, id: ULID | str | None, *, limit: int | None, after: str | None) -> list[Alias]:
        aid = None if id is None else str(parse_id(id))
        if limit is not None:
            arguments.integer(limit, "limit", minimum=1, maximum=arguments.MAX_COUNT)
        if after is not None and not isinstance(after, str):
            raise InvalidArgumentError(f"after must be an alias name (a str), not {type(after).__name__}")
        if after is not None:  # a NUL or a lone surrogate: no name holds one (PostgreSQL refused the value)
            arguments.text_filter(after, "after")
        await self.commands.sync()
        with translated():
            async with self.repo.reading() as rec:
                if limit is None and after is None:
                    sql = provenance_statements(rec.sql.dialect)
                    rows = await (rec.fetch(sql.all_aliases) if aid is None else rec.fetch(sql.aliases_of, aid))
                    return [_alias_model(r, rec) for r in rows if r[3] is not None]
                pages = alias_page_statements(rec.sql.dialect)
                scope = () if aid is None else (aid,)
                count = _ALL if limit is None else limit
                if after is None:
                    rows = await rec.fetch(pages.first_all if aid is None else pages.first_of, *scope, count)
                else:
                    rows = await rec.fetch(pages.after_all if aid is None else pages.after_of, *scope, after, count)
                return [_alias_model(r, rec) for r in rows]

    async def aliases_paginated(self, page: int, size: int, id: ULID | str | None) -> tuple[list[Alias], int]:
        aid = None if id is None else str(parse_id(id))
        arguments.integer(page, "page", minimum=1, maximum=arguments.MAX_COUNT)
        arguments.integer(size, "size", minimum=1, maximum=arguments.MAX_COUNT)
        await self.commands.sync()
        with translated():
            async with self.repo.reading() as rec:
                pages = alias_page_statements(rec.sql.dialect)
                scope = () if aid is None else (aid,)
                rows = await rec.fetch(
                    pages.page_all if aid is None else pages.page_of, *scope, size, (page - 1) * size
                )
                if rows:
                    total = int(rows[0][len(ALIAS_COLUMNS)])
                else:  # past the end (or none at all): no row to carry the count
                    total = int((await rec.fetch(pages.count_all if aid is None else pages.count_of, *scope))[0][0])
                return [_alias_model(r, rec) for r in rows], total

    async def lineage(
        self,
        id: ULID | str,
        *,
        direction: Direction,
        depth: int | None,
        kinds: Sequence[str] | None,
        as_of: datetime | None,
    ) -> LineageGraph:
        """The upstream walk, the downstream walk or (``both``) the union of the two from ``id``:
        each walk follows links in its own direction only, so ``both`` never reaches a sibling
        (an artifact derived from the same dataset as ``id``). A node's distance is the fewer
        hops of the walks that reach it. Labels are the nodes' data as of ``as_of`` when given."""
        root = str(parse_id(id))
        if direction not in ("upstream", "downstream", "both"):
            raise InvalidArgumentError(f"direction must be 'upstream', 'downstream' or 'both', not {direction!r:.40}")
        depth = version_argument(depth, "depth", minimum=0)
        wanted = _kinds_argument(kinds)
        instant = arguments.instant(as_of, "as_of")
        await self.commands.sync()
        graph = LineageGraph(root, direction, {root: 0})
        # Each walk: its statements (now, as of a position) and the side of a link it moves to.
        walks = [
            walk
            for walk in (("upstream", "links_from", "links_from_at", 6), ("downstream", "links_to", "links_to_at", 4))
            if direction in (walk[0], "both")
        ]
        with translated():
            async with self.repo.reading() as rec:
                sql = provenance_statements(rec.sql.dialect)
                head = await rec.fetch(sql.stream_head, root)
                if not head:
                    raise ArtifactNotFoundError(f"artifact {root} not found", artifact_id=root)
                kind = head[0][1].decode() if isinstance(head[0][1], bytes) else str(head[0][1])
                if not is_artifact_stream(kind):  # an alias's or a link's stream id, read from the audit trail
                    raise not_an_artifact(root, kind)
                at = None if instant is None else await self._position_at(rec, instant)
                seen_edges: set[str] = set()
                reached = [{root} for _ in walks]
                frontiers = [[root] for _ in walks]
                hop = 0
                while any(frontiers) and (depth is None or hop < depth) and hop < MAX_LINEAGE_DEPTH:
                    hop += 1
                    steps: list[Any] = []
                    for (_, now, then, _side), frontier in zip(walks, frontiers, strict=True):
                        if frontier:
                            ids = rec.id_list(frontier)
                            statement = getattr(sql, now if at is None else then)
                            steps.append((statement, (ids,) if at is None else (ids, at), False))
                    results = iter(await rec.pipeline(steps))
                    for w, (_, _, _, side) in enumerate(walks):
                        if not frontiers[w]:
                            continue
                        found: list[str] = []
                        for r in next(results):
                            if wanted is not None and r[3] not in wanted:
                                continue
                            if r[0] not in seen_edges:
                                seen_edges.add(r[0])
                                graph.edges.append(LineageEdge(r[4], r[5], r[3], r[6], r[7]))
                            node = r[side]
                            if node not in reached[w]:
                                reached[w].add(node)
                                found.append(node)
                                graph.nodes[node] = min(graph.nodes.get(node, hop), hop)
                        frontiers[w] = found
                ids = rec.id_list(list(graph.nodes))
                # (id, stored JSON, whether it is an event's payload rather than the artifact's data)
                labels: list[tuple[Any, Any, bool]] = []
                if at is None:
                    labels = [(row[0], row[5], False) for row in await rec.fetch(rec.sql.load_artifacts, ids)]
                    live = {str(row[0]) for row in labels}
                    deleted = [aid for aid in graph.nodes if aid not in live]
                    if deleted:  # labelled as they last stood, as lineage(as_of=) labels them
                        past = await rec.fetch(_data_at(rec.sql.dialect), rec.id_list(deleted), _END_OF_LOG)
                        labels += [(row[0], row[1], True) for row in past]
                else:
                    past = await rec.fetch(_data_at(rec.sql.dialect), ids, at)
                    labels = [(row[0], row[1], True) for row in past]
        for aid, stored, payload in labels:
            data = codec.loads(stored) if isinstance(stored, str) else stored
            if payload and isinstance(data, dict):
                data = data.get("data")  # an event's payload: the artifact's data is one of its fields
            if isinstance(data, dict):
                label = data.get("name") or data.get("title") or data.get("type")
                if isinstance(label, str):
                    graph.labels[aid] = label
        return graph


def _kinds_argument(kinds: Any) -> set[str] | None:
    """``lineage(kinds=)``: None, a kind, or a sequence of kinds (each a known one), as a set."""
    if kinds is None:
        return None
    if isinstance(kinds, str):
        return {checked_kind(kinds)}
    if isinstance(kinds, bytes | bytearray | dict) or not isinstance(kinds, Iterable):
        raise InvalidArgumentError(
            f"kinds must be a link kind or a sequence of link kinds, not {type(kinds).__name__} {kinds!r:.80}"
        )
    items = list(kinds)
    for kind in items:
        if not isinstance(kind, str):
            raise InvalidArgumentError(
                f"kinds must be a link kind or a sequence of link kinds; {type(kind).__name__} {kind!r:.80} is not"
            )
    return {checked_kind(k) for k in items}


_END_OF_LOG = 2**62
"""A log position after every event (``_data_at``'s bound for an artifact's last state)."""


@cache
def _data_at(dialect: str) -> Statement:
    """``(id, payload)`` of each of ``ids`` as of log position ``position``: the payload (data, tags,
    content) of its last full-state event then (an artifact deleted since is read as it stood; one
    not yet created has no row). One statement: the index on the log's ``(artifact_id, position)``
    finds each artifact's event."""
    state = events.alias("state_at")
    full = or_(*(state.c.type == literal_column(f"'{t}'") for t in sorted(STATE_EVENTS)))
    last = (
        select(state.c.artifact_id, func.max(state.c.position).label("p"))
        .where(_in_ids(dialect, state.c.artifact_id), state.c.position <= bindparam("position", type_=BigInteger), full)
        .group_by(state.c.artifact_id)
        .subquery("last_state")
    )
    construct = select(events.c.artifact_id, events.c.payload).join(last, events.c.position == last.c.p)
    return compile_for(dialect, "lineage_data_at", construct, ("ids", "position"))
