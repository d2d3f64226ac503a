"""The read side of aliases and lineage, and the models it answers with.

``resolve_alias(as_of=)`` and ``alias_history`` read the alias's own stream in the log;
``provenance_history`` the alias and link streams naming an artifact; ``aliases(id)`` and
``lineage`` read the projections (``lineage(as_of=)`` the links' validity ranges), one statement
per hop of the graph whatever the number of nodes. The write side is
:class:`artifact_ledger.provenance.Provenance`, which extends :class:`ProvenanceReads`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from ulid import ULID

from . import arguments, codec
from .aliases import checked_alias_name
from .commands import version_argument
from .errors import AliasNotFoundError, ArtifactNotFoundError, InvalidArgumentError
from .events import ALIAS_EVENTS, LINK_EVENTS, PROVENANCE_EVENTS, RecordedEvent
from .history import audit_entry, utc
from .ids import parse_id
from .lineage import LineageEdge, LineageGraph, checked_kind
from .store.errors import translated
from .store.provenance import provenance_statements
from .store.recorder import Recorder
from .store.rows import event_from_row
from .store.statements import REPLY_COLUMNS

if TYPE_CHECKING:
    from .commands import Commands
    from .reads import Reads
    from .schemas import ArtifactOut, AuditEntry

__all__ = ["MAX_LINEAGE_DEPTH", "Alias", "AliasChange", "Direction", "ProvenanceReads"]

Direction = Literal["upstream", "downstream", "both"]
MAX_LINEAGE_DEPTH = 10_000


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
        rows = await rec.fetch(sql.position_at, rec.ts(utc(as_of, "as_of")))
        return int(rows[0][0]) if rows else 0

    async def resolve_alias(self, name: str, *, as_of: datetime | None, include_content: bool) -> ArtifactOut:
        name = checked_alias_name(name)
        arguments.flag(include_content, "include_content")
        instant = None if as_of is None else utc(as_of, "as_of")

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
                rows = await rec.fetch(sql.alias_row, name)
                if not rows:
                    raise AliasNotFoundError(f"no alias named {name!r} was ever set")
                stream = [
                    event_from_row(r, rec.read_ts, rec.read_bytes)
                    for r in await rec.fetch(sql.stream_events, rows[0][1])
                ]
        return [
            AliasChange(
                position=e.position,
                type=e.type,
                name=e.payload["name"],
                artifact_id=None if e.payload["artifact_id"] is None else parse_id(e.payload["artifact_id"]),
                version=e.payload["version"],
                from_artifact_id=None
                if e.payload["from_artifact_id"] is None
                else parse_id(e.payload["from_artifact_id"]),
                from_version=e.payload["from_version"],
                protected=e.payload["protected"],
                recorded_at=e.recorded_at,
                actor=e.actor,
                reason=e.reason,
            )
            for e in stream
            if e.type in ALIAS_EVENTS
        ]

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
                streams = [r[0] for r in await rec.fetch(sql.alias_streams)]
                streams += [r[0] for r in await rec.fetch(sql.link_streams_of, aid)]
                rows = await rec.fetch(sql.events_of_streams, rec.id_list(streams)) if streams else []
                found = [event_from_row(r, rec.read_ts, rec.read_bytes) for r in rows]
        return [audit_entry(e) for e in found if _names(e, aid)]

    async def aliases(self, id: ULID | str | None) -> list[Alias]:
        aid = None if id is None else str(parse_id(id))
        await self.commands.sync()
        with translated():
            async with self.repo.reading() as rec:
                sql = provenance_statements(rec.sql.dialect)
                rows = await (rec.fetch(sql.all_aliases) if aid is None else rec.fetch(sql.aliases_of, aid))
                return [_alias_model(r, rec) for r in rows if r[3] is not None]

    async def lineage(
        self,
        id: ULID | str,
        *,
        direction: Direction,
        depth: int | None,
        kinds: Sequence[str] | None,
        as_of: datetime | None,
    ) -> LineageGraph:
        root = str(parse_id(id))
        if direction not in ("upstream", "downstream", "both"):
            raise InvalidArgumentError(f"direction must be 'upstream', 'downstream' or 'both', not {direction!r:.40}")
        depth = version_argument(depth, "depth", minimum=0)
        wanted = None if kinds is None else {checked_kind(k) for k in ([kinds] if isinstance(kinds, str) else kinds)}
        await self.commands.sync()
        graph = LineageGraph(root, direction, {root: 0})
        with translated():
            async with self.repo.reading() as rec:
                sql = provenance_statements(rec.sql.dialect)
                head = await rec.fetch(sql.stream_head, root)
                if not head:
                    raise ArtifactNotFoundError(f"artifact {root} not found", artifact_id=root)
                at = None if as_of is None else await self._position_at(rec, as_of)
                seen_edges: set[str] = set()
                frontier = [root]
                hop = 0
                while frontier and (depth is None or hop < depth) and hop < MAX_LINEAGE_DEPTH:
                    hop += 1
                    ids = rec.id_list(frontier)
                    steps: list[Any] = []
                    if direction in ("upstream", "both"):
                        steps.append(
                            (
                                sql.links_from if at is None else sql.links_from_at,
                                (ids,) if at is None else (ids, at),
                                False,
                            )
                        )
                    if direction in ("downstream", "both"):
                        steps.append(
                            (
                                sql.links_to if at is None else sql.links_to_at,
                                (ids,) if at is None else (ids, at),
                                False,
                            )
                        )
                    found: list[str] = []
                    for rows in await rec.pipeline(steps):
                        for r in rows:
                            if (wanted is not None and r[3] not in wanted) or r[0] in seen_edges:
                                continue
                            seen_edges.add(r[0])
                            graph.edges.append(LineageEdge(r[4], r[5], r[3], r[6], r[7]))
                            for node in (r[4], r[6]):
                                if node not in graph.nodes:
                                    graph.nodes[node] = hop
                                    found.append(node)
                    frontier = found
                labels = await rec.fetch(rec.sql.load_artifacts, rec.id_list(list(graph.nodes)))
        for row in labels:
            data = codec.loads(row[5]) if isinstance(row[5], str) else row[5]
            if isinstance(data, dict):
                label = data.get("name") or data.get("title") or data.get("type")
                if isinstance(label, str):
                    graph.labels[row[0]] = label
        return graph
