"""The sizes that bound a read of whole (non-streamed) content: what the log lists, read in the
database before the bytes.

A content reference in the log holds the size of its blob (``ContentRef.size``: the encoded bytes,
or the manifest's of streamed content). A read that knows it fetches no more than that: a
directory store reads at most ``size + 1`` bytes of the file; the database store compares
``length(data)`` with it in the statement and fetches the bytes only when they agree. A file or a
row planted under the hash with far more bytes is refused with :class:`CorruptBlobError` naming the
hash and both sizes, before it is read into memory, instead of after it was read whole and hashed.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Integer, bindparam, case, func, literal_column, select, text

from ..errors import CorruptBlobError
from ..events import STATE_EVENTS
from .statements import ONE, ZERO, Statement, compile_for
from .tables import blobs, events

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = ["logged_size", "sized_blob"]

_STATE_TYPES = "type IN (" + ", ".join(f"'{t}'" for t in sorted(STATE_EVENTS)) + ")"


@cache
def _statements(dialect: str) -> tuple[Statement, Statement]:
    size = (
        "json_extract(payload, '$.content.size')"
        if dialect == "sqlite"
        else "CAST(CAST(payload AS jsonb) -> 'content' ->> 'size' AS BIGINT)"
    )
    e, b = events, blobs
    # The state event the version's content comes from: the version's own, or the last state event
    # before it (a move or a deletion carries no content); a backward seek on (artifact_id, version).
    logged: Any = (
        select(literal_column(size))
        .where(
            e.c.artifact_id == bindparam("artifact_id"),
            e.c.version <= bindparam("version", type_=Integer),
            text(_STATE_TYPES),
        )
        .order_by(e.c.version.desc())
        .limit(ONE)
        .offset(ZERO)
    )
    length = func.length(b.c.data)
    sized = select(length, case((length == bindparam("size", type_=BigInteger), b.c.data))).where(
        b.c.hash == bindparam("hash")
    )
    return (
        compile_for(dialect, "blob_bounds_logged_size", logged, ("artifact_id", "version")),
        compile_for(dialect, "blob_bounds_sized_blob", sized, ("hash", "size")),
    )


async def logged_size(rec: Recorder, artifact_id: str, version: int) -> int | None:
    """The size the log lists for the content of ``artifact_id`` at ``version`` (None: no content, or
    none the log names a size for)."""
    rows = await rec.fetch(_statements(rec.sql.dialect)[0], artifact_id, version)
    if not rows or rows[0][0] is None:
        return None
    value: Any = rows[0][0]
    return value if type(value) is int else None


async def sized_blob(rec: Recorder, digest: str, size: int) -> bytes | None:
    """The bytes of row ``digest`` of ``ledger_blobs`` (unverified), fetched only when the row holds
    ``size`` bytes; None when there is no row. A row of another size is :class:`CorruptBlobError`
    naming the hash and both sizes, its bytes never fetched."""
    rows = await rec.fetch(_statements(rec.sql.dialect)[1], digest, size)
    if not rows:
        return None
    length, data = rows[0]
    if data is None or int(length) != size:
        raise CorruptBlobError(
            f"blob {digest} in ledger_blobs is corrupted: it holds {int(length)} bytes, not the {size} the log lists "
            "for it (not read). The row was changed or planted; restore it from a backup or a bundle"
        )
    return rec.read_bytes(data)
