"""The alias and lineage calls of ``ArtifactManager`` (chapkit has none: these are the ledger's own).

A mixin of the facade in :mod:`manager`: each call checks its arguments where the read needs it and
hands over to the provenance side (:mod:`provenance`), except ``resolve_alias(name)`` on an idle
session, which the read side answers in one statement on a connection of the ledger's own
(:func:`alias_reads.alias_now`). The manager marks every call as running (:mod:`exclusive`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ulid import ULID

from . import arguments, provenance_page_reads
from .alias_reads import alias_now
from .aliases import checked_alias_name
from .lineage import LineageEdge, LineageGraph
from .provenance import Alias, AliasChange

if TYPE_CHECKING:
    from .commands import Commands
    from .provenance import Provenance
    from .reads import Reads
    from .schemas import ArtifactOut, AuditEntry

__all__ = ["ProvenanceCalls"]


class ProvenanceCalls:
    """Aliases (named pointers at artifact versions) and lineage links between artifact versions."""

    _commands: Commands
    _reads: Reads
    _provenance: Provenance

    # ---- aliases ------------------------------------------------------------------------------------
    async def set_alias(
        self,
        name: str,
        id: ULID | str,
        *,
        version: int | None = None,
        expected_target: ULID | str | tuple[ULID | str, int] | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Alias:
        """Point alias ``name`` at version ``version`` (default: the current one) of artifact ``id``.

        ``expected_target`` (an artifact id, or an ``(id, version)`` pair) makes it a compare-and-set:
        when the alias points elsewhere the call raises :class:`ConcurrencyError`. Moving a protected
        alias needs a ``reason``. Setting it where it already points appends nothing.
        """
        return await self._provenance.set_alias(
            name, id, version=version, expected_target=expected_target, actor=actor, reason=reason
        )

    async def resolve_alias(
        self, name: str, *, as_of: datetime | None = None, include_content: bool = True
    ) -> ArtifactOut:
        """The artifact version alias ``name`` points at (``as_of``: pointed at then)."""
        if as_of is None and self._commands.batch is None:
            # The common read: one statement on a connection of the ledger's own when the session
            # has nothing of its own to see (else None, and the read goes through the session).
            found = await alias_now(
                self._reads, checked_alias_name(name), arguments.flag(include_content, "include_content")
            )
            if found is not None:
                return found
        return await self._provenance.resolve_alias(name, as_of=as_of, include_content=include_content)

    async def remove_alias(
        self,
        name: str,
        *,
        expected_target: ULID | str | tuple[ULID | str, int] | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Remove alias ``name`` (:class:`AliasNotFoundError` when there is none; protected: needs a reason)."""
        await self._provenance.remove_alias(name, expected_target=expected_target, actor=actor, reason=reason)

    async def protect_alias(
        self, name: str, *, protected: bool = True, actor: str | None = None, reason: str | None = None
    ) -> Alias:
        """Protect alias ``name``: moving or removing it then needs a ``reason`` (``protected=False`` lifts it)."""
        return await self._provenance.protect_alias(name, protected=protected, actor=actor, reason=reason)

    async def alias_history(self, name: str) -> list[AliasChange]:
        """Every change of alias ``name``, oldest first: who moved it, when, why, from which version."""
        return await self._provenance.alias_history(name)

    async def alias_history_paginated(self, name: str, page: int, size: int) -> tuple[list[AliasChange], int]:
        """Page ``page`` (from 1) of ``size`` of :meth:`alias_history`, and how many changes there are
        (one page read in the database); a page past the end is empty."""
        return await provenance_page_reads.alias_history_page(self._provenance, name, page, size)

    async def alias_history_newest(self, name: str, size: int) -> tuple[list[AliasChange], int, int]:
        """The newest page of ``size`` of :meth:`alias_history` (pages counted from the oldest, as
        :meth:`alias_history_paginated` counts them), how many changes there are, and the page's
        number: one statement reads both, the page from the stream's end (the console opens an
        alias's page on it; ``alias_history_newest(name, 1)`` is the newest change and the count)."""
        return await provenance_page_reads.newest_alias_history_page(self._provenance, name, size)

    async def provenance_history(self, id: ULID | str) -> list[AuditEntry]:
        """The alias and link events that named artifact ``id`` (pointed an alias at it or away from
        it, linked or unlinked it either way), oldest first; ``history(id)`` is its own versions."""
        return await self._provenance.provenance_history(id)

    async def provenance_history_paginated(self, id: ULID | str, page: int, size: int) -> tuple[list[AuditEntry], int]:
        """Page ``page`` (from 1) of ``size`` of :meth:`provenance_history`, and how many entries there
        are (one page read in the database); a page past the end is empty."""
        return await provenance_page_reads.provenance_page(self._provenance, id, page, size)

    async def provenance_history_newest(self, id: ULID | str, size: int) -> tuple[list[AuditEntry], int, int]:
        """The newest page of ``size`` of :meth:`provenance_history` (pages counted from the oldest, as
        :meth:`provenance_history_paginated` counts them), how many entries there are, and the page's
        number: the list is read once for both (the console opens an artifact's page on it)."""
        return await provenance_page_reads.newest_provenance_page(self._provenance, id, size)

    async def aliases(
        self, id: ULID | str | None = None, *, limit: int | None = None, after: str | None = None
    ) -> list[Alias]:
        """The aliases pointing at artifact ``id`` (every alias when ``id`` is None), by name.

        A keyset page: ``limit`` of them at most, and only those named after ``after`` (the last name
        of the page before; ask for ``limit + 1`` to learn whether another page follows)."""
        return await self._provenance.aliases(id, limit=limit, after=after)

    async def aliases_paginated(self, page: int, size: int, *, id: ULID | str | None = None) -> tuple[list[Alias], int]:
        """Page ``page`` (from 1) of ``size`` of :meth:`aliases` (those pointing at ``id``, or every
        alias), and how many there are; a page past the end is empty."""
        return await self._provenance.aliases_paginated(page, size, id)

    # ---- lineage ------------------------------------------------------------------------------------
    async def link(
        self,
        src_id: ULID | str,
        dst_id: ULID | str,
        kind: str,
        *,
        src_version: int | None = None,
        dst_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> LineageEdge:
        """Record "src *kind* dst" between two artifact versions (default: their current ones).

        ``link(model, dataset, "derived_from")`` makes the dataset upstream of the model. Kinds:
        ``derived_from``, ``used``, ``evaluated_on``, ``produced_by`` and registered ones. A
        ``derived_from`` link that would close a cycle raises :class:`InvalidLinkError`.
        """
        edge = await self._provenance.link(
            src_id,
            dst_id,
            kind,
            src_version=src_version,
            dst_version=dst_version,
            remove=False,
            actor=actor,
            reason=reason,
        )
        assert edge is not None
        return edge

    async def unlink(
        self,
        src_id: ULID | str,
        dst_id: ULID | str,
        kind: str,
        *,
        src_version: int | None = None,
        dst_version: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Remove a link (the versions default to the current ones); False when there was none."""
        edge = await self._provenance.link(
            src_id,
            dst_id,
            kind,
            src_version=src_version,
            dst_version=dst_version,
            remove=True,
            actor=actor,
            reason=reason,
        )
        return edge is not None

    async def lineage(
        self,
        id: ULID | str,
        *,
        direction: Literal["upstream", "downstream", "both"] = "upstream",
        depth: int | None = None,
        kinds: Sequence[str] | None = None,
        as_of: datetime | None = None,
    ) -> LineageGraph:
        """The artifacts upstream (what ``id`` was made from) or downstream (what was made from it),
        up to ``depth`` hops, following ``kinds`` (default: every kind), as the links stood ``as_of``."""
        return await self._provenance.lineage(id, direction=direction, depth=depth, kinds=kinds, as_of=as_of)
