"""``resolve_alias(name)`` for an idle session: one statement on a connection of the ledger's own.

The read side's answer to the most common alias read (see :func:`alias_now`); every other alias
and lineage read is in :mod:`provenance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import codec, logs
from .errors import AliasNotFoundError, ArtifactNotFoundError
from .events import REDACTED_CODEC
from .ids import ulid_from_text
from .schemas import ArtifactOut, construct
from .store import own_reads
from .store.errors import translated
from .store.provenance import provenance_statements
from .store.statements import REPLY_COLUMNS
from .store.tables import stamp_reader

if TYPE_CHECKING:
    from .reads import Reads

__all__ = ["alias_now", "stored_out"]


async def alias_now(reads: Reads, name: str, include_content: bool) -> ArtifactOut | None:
    """``resolve_alias(name)`` (a checked name) for a session with nothing of its own to see: one
    statement (the alias row joined to its artifact's reply row) on a connection of the ledger's
    own (``store/own_reads.py``). None when the read must go the ordinary way (the session is in
    use, or no such connection is to be had): the caller reads through the repository then.

    The answer is the artifact's projection row when the alias points at its current version;
    an older version (or a deleted artifact's) is replayed from the log, as ``find_by_id(version=)``.
    """
    repo = reads.repo
    engine = repo._reads_engine()
    if engine is None:
        return None
    statement = provenance_statements(engine.dialect.name).alias_resolved
    with translated(), logs.span("read"), repo._replica_errors(engine):
        rows = await own_reads.fetch(engine, statement.sql, statement.bind((name,)))
    if rows is None:
        return None
    if not rows or rows[0][-2] is None:
        raise AliasNotFoundError(f"no alias named {name!r}")
    row = rows[0]
    aid, version = row[-2], row[-1]
    if row[0] is not None and row[3] == version:
        if not (include_content and (row[5] or row[6] == REDACTED_CODEC)):
            return stored_out(row)
        return (await reads._models(ArtifactOut, [row[: len(REPLY_COLUMNS)]], include_content, stored=True))[0]
    out = await reads.find_by_id(aid, include_content=include_content, version=version, as_of=None)
    if out is None:  # pragma: no cover - an alias's version always exists in its artifact's stream
        raise ArtifactNotFoundError(f"alias {name!r} points at {aid} version {version}, which is not found")
    return out


def stored_out(row: Sequence[Any]) -> ArtifactOut:
    """The reply model of one projection row (``REPLY_COLUMNS`` first, as selected) without content:
    what :meth:`Reads._models` builds for it, for a single row."""
    loads, stamp = codec.loads, stamp_reader()
    parent = row[1]
    return construct(
        ArtifactOut,
        {
            "id": ulid_from_text(row[0]),
            "parent_id": None if parent is None else ulid_from_text(parent),
            "level": row[2],
            "data": loads(row[4]),
            "tags": loads(row[7]),
            "created_at": stamp(row[8]),
            "updated_at": stamp(row[9]),
            "version": row[3],
            "created_by": row[10],
            "updated_by": row[11],
        },
    )
