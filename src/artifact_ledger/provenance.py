"""Aliases and lineage links on the write path and the read side.

Writes run as commands of the manager's unit of work (one ``WriteBatch``: the ledger's write
lock, the head, the hash chain, the projections, one commit): the rows a decision rests on are
loaded under the lock and checked against the log, the pure rules of ``aliases.py`` and
``lineage.py`` decide, and the events are sealed and projected like every other event.

Reads are :class:`~artifact_ledger.provenance_reads.ProvenanceReads` (``provenance_reads.py``),
which :class:`Provenance` extends; the models ``Alias`` and ``AliasChange`` live there too and
stay importable from here.
"""

from __future__ import annotations

from typing import Any

from ulid import ULID

from .alias_guard import alias_state
from .aliases import AliasState, checked_alias_name, decide_protect, decide_remove, decide_set
from .ambient import current as current_attribution
from .commands import flag_argument, version_argument
from .errors import (
    ArtifactDeletedError,
    ArtifactNotFoundError,
    InvalidArgumentError,
    InvalidLinkError,
    VersionNotFoundError,
)
from .events import RecordedEvent
from .ids import id_text, parse_id
from .lineage import DERIVED_FROM, LineageEdge, checked_kind, decide_link, decide_unlink
from .link_guard import derived_from_path, links_from, stream_of
from .provenance_reads import MAX_LINEAGE_DEPTH, Alias, AliasChange, Direction, ProvenanceReads
from .writer import WriteBatch

__all__ = ["MAX_LINEAGE_DEPTH", "Alias", "AliasChange", "Direction", "Provenance"]


def _target_argument(value: Any) -> tuple[str, int | None] | None:
    """``expected_target``: an artifact id (any version), or an ``(id, version)`` pair."""
    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InvalidArgumentError("expected_target must be an artifact id or an (id, version) pair")
        return str(parse_id(value[0])), version_argument(value[1], "expected_target version", minimum=1)
    return str(parse_id(value)), None


class Provenance(ProvenanceReads):
    """The alias and lineage commands and reads of one manager."""

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
            walk = kind == DERIVED_FROM and not remove
            logged = await links_from(batch, [src, dst] if walk else [src])
            stream = stream_of(logged, (kind, src, s[1], dst, d[1]))
            if remove:
                decided = decide_unlink(kind, s, d, stream=stream)
            else:
                from_dst = {k: v for k, v in logged.items() if v.src_id == dst}
                cycle = await derived_from_path(batch, src, dst, from_dst) if walk else None
                decided = decide_link(kind, s, d, stream=stream, new_stream_id=id_text(batch.new_id), cycle=cycle)
            await batch._commit_events(decided, who)
            edge = LineageEdge(src, s[1], kind, dst, d[1])
            return edge if decided or not remove else None

        return await self.commands._write(link)
