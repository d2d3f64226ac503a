"""The read side's word on expired content: a blob retention deleted reads as :class:`ContentExpiredError`.

Only the failure path looks: a blob loader that finds every blob costs nothing more. A blob it
cannot find is looked up in ``ledger_expired_content``; listed there, the read fails naming the
artifact, the version and the position of the ``retention.applied`` event, never with stale
bytes. Not listed, the original error (a missing blob, which ``verify`` reports) stands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from .errors import ContentExpiredError, UntrustedContentError
from .store.recorder import Recorder
from .store.retention import retention_statements
from .unavailable import UnavailableContent, expired

__all__ = ["Listed", "expired_reads", "load_listed"]

T = TypeVar("T")
_IDS = 2000


def expired_reads(
    load: Callable[[Recorder, Any, Any], Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Wrap a blob loader ``(rec, hashes, sizes)``: a blob it cannot find that a retention run deleted
    is :class:`ContentExpiredError`."""

    async def checked(rec: Recorder, hashes: Any, sizes: Any = None) -> T:
        wanted = list(hashes)
        try:
            return await load(rec, wanted, sizes)
        except UntrustedContentError as exc:
            if isinstance(exc, ContentExpiredError):
                raise
            await raise_if_expired(rec, wanted, exc)
            raise

    checked.__doc__ = load.__doc__
    checked.__name__ = getattr(load, "__name__", "checked")
    return checked


async def raise_if_expired(rec: Recorder, hashes: list[str], cause: Exception) -> None:
    """Raise :class:`ContentExpiredError` if a retention run deleted the blob ``cause`` names (or,
    when it names none, one of ``hashes``); return when none did."""
    missing = getattr(cause, "blob_hash", None)
    wanted = [missing] if isinstance(missing, str) else hashes
    sql = retention_statements(rec.sql.dialect)
    rows: Any = []
    with contextlib.suppress(Exception):  # the original error stands if the lookup itself fails
        rows = await rec.fetch(sql.expired_with_hashes, rec.id_list(wanted[:_IDS]))
    if not rows:
        return
    aid, version, digest, position = rows[0][0], int(rows[0][1]), rows[0][2], int(rows[0][3])
    raise expired(aid, version, digest, position, others=len(rows) - 1).error() from cause


class Listed:
    """The blobs a listing found (``raw``), and where a retention run deleted one it asked for,
    which version's content that was (:meth:`content` gives the listing's item its value)."""

    __slots__ = ("_by_hash", "_by_version", "raw")

    def __init__(self, raw: dict[str, bytes], rows: Sequence[Any]) -> None:
        self.raw = raw
        self._by_version = {(str(r[0]), int(r[1])): int(r[3]) for r in rows}
        self._by_hash = {str(r[2]): int(r[3]) for r in rows}

    def unavailable(self, artifact_id: str, version: int, digest: str) -> UnavailableContent | None:
        """The marker of one item's content when a retention run deleted its blob, else None."""
        if digest in self.raw:
            return None
        position = self._by_version.get((artifact_id, version), self._by_hash[digest])
        return expired(artifact_id, version, digest, position)


async def load_listed(rec: Recorder, hashes: Iterable[str]) -> Listed:
    """The blobs behind a listing's content hashes. A blob that retention deleted is left out, to be
    marked on its item (:class:`Listed`); any other missing or corrupted blob fails the listing as
    a read of it would (:class:`MissingBlobError`, :class:`CorruptBlobError`)."""
    wanted = list(dict.fromkeys(hashes))
    raw = await rec.blobs.available(rec, wanted)
    missing = [h for h in wanted if h not in raw]
    rows: list[Any] = []
    if missing:
        sql = retention_statements(rec.sql.dialect)
        for start in range(0, len(missing), _IDS):
            rows += await rec.fetch(sql.expired_with_hashes, rec.id_list(missing[start : start + _IDS]))
        deleted = {str(r[2]) for r in rows}
        gone = [h for h in missing if h not in deleted]
        if gone:
            await rec.blobs.get(rec, gone)  # raises the store's own error naming the first
    return Listed(raw, rows)
