"""Aliases and lineage links on the write path and the read side.

Writes run as commands of the manager's unit of work (one ``WriteBatch``: the ledger's write
lock, the head, the hash chain, the projections, one commit): the rows a decision rests on are
loaded under the lock and checked against the log, the pure rules of ``aliases.py`` and
``lineage.py`` decide, and the events are sealed and projected like every other event.

Reads: ``resolve_alias(as_of=)`` and ``alias_history`` read the alias's own stream in the log;
``aliases(id)`` and ``lineage`` read the projections (``lineage(as_of=)`` the links' validity
ranges), one statement per hop of the graph whatever the number of nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from ulid import ULID

from . import arguments, codec
from .alias_guard import alias_state, steps_then
from .aliases import AliasState, checked_alias_name, decide_protect, decide_remove, decide_set
from .ambient import current as current_attribution
from .commands import flag_argument, version_argument
from .errors import (
    AliasNotFoundError,
    ArtifactDeletedError,
    ArtifactNotFoundError,
    InvalidArgumentError,
    InvalidLinkError,
    ProjectionDriftError,
    VersionNotFoundError,
)
from .events import ALIAS_EVENTS, LINK_ADDED, LINK_EVENTS, PROVENANCE_EVENTS, RecordedEvent
from .history import audit_entry, utc
from .ids import id_text, parse_id
from .lineage import DERIVED_FROM, LineageEdge, LineageGraph, checked_kind, decide_link, decide_unlink, find_cycle
from .store.errors import translated
from .store.provenance import provenance_statements
from .store.recorder import Recorder
from .store.rows import event_from_row
from .store.statements import REPLY_COLUMNS
from .writer import WriteBatch

if TYPE_CHECKING:
    from .commands import Commands
    from .reads import Reads
    from .schemas import ArtifactOut, AuditEntry

__all__ = ["Alias", "AliasChange", "Provenance"]

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


def _target_argument(value: Any) -> tuple[str, int | None] | None:
    """``expected_target``: an artifact id (any version), or an ``(id, version)`` pair."""
    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InvalidArgumentError("expected_target must be an artifact id or an (id, version) pair")
        return str(parse_id(value[0])), version_argument(value[1], "expected_target version", minimum=1)
    return str(parse_id(value)), None


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


class Provenance:
    """The alias and lineage commands and reads of one manager."""

    def __init__(self, commands: Commands, reads: Reads) -> None:
        self.commands = commands
        self.reads = reads
        self.repo = commands.repo

    # ---- the write side: facts under the lock, checked against the log ---------------------------
    @staticmethod
    async def _version_of(batch: WriteBatch, artifact_id: str, version: int | None) -> int:
        """The live artifact's ``version`` (default: its current one); unknown, deleted or out of range: an error."""
        row = await batch.projector.get(artifact_id)
        if row is None:
            state = await batch._state(artifact_id)
            if state is not None and state.deleted:
                raise ArtifactDeletedError(
                    f"artifact {artifact_id} is deleted; restore it first", artifact_id=artifact_id
                )
            raise ArtifactNotFoundError(f"artifact {artifact_id} not found", artifact_id=artifact_id)
        if version is None:
            return row.version
        if not 1 <= version <= row.version:
            raise VersionNotFoundError(
                f"artifact {artifact_id} has no version {version} (its versions are 1 to {row.version})",
                artifact_id=artifact_id,
            )
        return version

    async def set_alias(
        self,
        name: str,
        id: ULID | str,
        *,
        version: int | None,
        expected_target: Any,
        actor: str | None,
        reason: str | None,
    ) -> Alias:
        name = checked_alias_name(name)
        aid = str(parse_id(id))
        version = version_argument(version, "version", minimum=1)
        expected = _target_argument(expected_target)
        who = current_attribution(actor=actor, reason=reason)

        async def set_alias(batch: WriteBatch) -> Alias:
            await batch.prefetch([aid])
            at = await self._version_of(batch, aid, version)
            state = await alias_state(batch, name)
            decided = decide_set(
                name, state, id_text(batch.new_id), aid, at, expected_target=expected, reason=who.reason
            )
            sealed = await batch._commit_events(decided, who)
            return self._alias_out(batch, name, state, sealed)

        return await self.commands._write(set_alias)

    def _alias_out(self, batch: WriteBatch, name: str, state: AliasState | None, sealed: list[RecordedEvent]) -> Alias:
        if sealed:
            e = sealed[-1]
            p = e.payload
            return Alias(
                name=name,
                artifact_id=parse_id(p["artifact_id"]),
                version=p["version"],
                protected=p["protected"],
                updated_at=e.recorded_at,
                updated_by=e.actor,
            )
        assert state is not None
        assert state.artifact_id is not None
        assert state.version is not None
        return Alias(
            name=name,
            artifact_id=parse_id(state.artifact_id),
            version=state.version,
            protected=state.protected,
            updated_at=state.updated_at or batch._transaction_time(),
            updated_by=state.updated_by,
        )

    async def remove_alias(self, name: str, *, expected_target: Any, actor: str | None, reason: str | None) -> None:
        name = checked_alias_name(name)
        expected = _target_argument(expected_target)
        who = current_attribution(actor=actor, reason=reason)

        async def remove_alias(batch: WriteBatch) -> None:
            await batch.prefetch([])
            state = await alias_state(batch, name)
            await batch._commit_events(decide_remove(name, state, expected_target=expected, reason=who.reason), who)

        await self.commands._write(remove_alias)

    async def protect_alias(self, name: str, *, protected: bool, actor: str | None, reason: str | None) -> Alias:
        name = checked_alias_name(name)
        protected = flag_argument(protected, "protected")
        who = current_attribution(actor=actor, reason=reason)

        async def protect_alias(batch: WriteBatch) -> Alias:
            await batch.prefetch([])
            state = await alias_state(batch, name)
            sealed = await batch._commit_events(decide_protect(name, state, protected, reason=who.reason), who)
            return self._alias_out(batch, name, state, sealed)

        return await self.commands._write(protect_alias)

    async def link(
        self,
        src_id: ULID | str,
        dst_id: ULID | str,
        kind: str,
        *,
        src_version: int | None,
        dst_version: int | None,
        remove: bool,
        actor: str | None,
        reason: str | None,
    ) -> LineageEdge | None:
        src, dst = str(parse_id(src_id, what="source artifact id")), str(parse_id(dst_id, what="target artifact id"))
        kind = checked_kind(kind)
        src_version = version_argument(src_version, "src_version", minimum=1)
        dst_version = version_argument(dst_version, "dst_version", minimum=1)
        if src == dst:
            raise InvalidLinkError(f"a link from artifact {src} to itself is refused ({kind})")
        who = current_attribution(actor=actor, reason=reason)

        async def link(batch: WriteBatch) -> LineageEdge | None:
            await batch.prefetch([src, dst])
            s = (src, await self._version_of(batch, src, src_version))
            d = (dst, await self._version_of(batch, dst, dst_version))
            sql = provenance_statements(batch.driver.sql.dialect)
            rows = await steps_then(batch, (sql.link_rows, (src, dst, kind, s[1], d[1]), False))
            stream: tuple[str, int, bool] | None = None
            if rows:
                stream_id, held = rows[0][0], rows[0][2] is None
                head = await batch.driver.fetch(sql.stream_head, stream_id)
                if not head or (head[0][1] == LINK_ADDED) != held:
                    raise ProjectionDriftError(
                        f"the ledger_links rows of link stream {stream_id} ({src} {kind} {dst}) differ from its "
                        "events; find the damage with `artifact-ledger verify`, repair with `artifact-ledger rebuild`",
                        artifact_id=stream_id,
                    )
                stream = (stream_id, int(head[0][0]), held)
            if remove:
                decided = decide_unlink(kind, s, d, stream=stream)
            else:
                cycle = await self._cycle(batch, src, dst) if kind == DERIVED_FROM else None
                decided = decide_link(kind, s, d, stream=stream, new_stream_id=id_text(batch.new_id), cycle=cycle)
            await batch._commit_events(decided, who)
            edge = LineageEdge(src, s[1], kind, dst, d[1])
            return edge if decided or not remove else None

        return await self.commands._write(link)

    @staticmethod
    async def _cycle(batch: WriteBatch, src: str, dst: str) -> list[str] | None:
        """The derived_from path from ``dst`` up to ``src``, if there is one (one statement per hop)."""
        sql = provenance_statements(batch.driver.sql.dialect)
        pairs: list[tuple[str, str]] = []
        seen = {dst}
        frontier = [dst]
        while frontier:
            rows = await batch.driver.fetch(sql.derived_from_of, batch.driver.id_list(frontier), DERIVED_FROM)
            pairs.extend((r[0], r[1]) for r in rows)
            if any(r[1] == src for r in rows):
                return find_cycle(src, dst, pairs)
            frontier = sorted({r[1] for r in rows} - seen)
            seen.update(frontier)
        return None

    # ---- the read side -------------------------------------------------------------------------
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
