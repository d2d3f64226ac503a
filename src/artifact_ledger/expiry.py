"""The read side's word on expired content: a blob retention deleted reads as :class:`ContentExpiredError`.

Only the failure path looks: a blob loader that finds every blob costs nothing more. A blob it
cannot find is looked up in ``ledger_expired_content``; listed there, the read fails naming the
artifact, the version and the position of the ``retention.applied`` event, never with stale
bytes. Not listed, the original error (a missing blob, which ``verify`` reports) stands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import ContentExpiredError, UntrustedContentError
from .store.recorder import Recorder
from .store.retention import retention_statements

__all__ = ["expired_reads"]

T = TypeVar("T")
_IDS = 2000


def expired_reads(load: Callable[[Recorder, Any], Awaitable[T]]) -> Callable[[Recorder, Any], Awaitable[T]]:
    """Wrap a blob loader ``(rec, hashes)``: a blob it cannot find that a retention run deleted is
    :class:`ContentExpiredError`."""

    async def checked(rec: Recorder, hashes: Any) -> T:
        wanted = list(hashes)
        try:
            return await load(rec, wanted)
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
    others = f" (and {len(rows) - 1} other version(s) with the same content)" if len(rows) > 1 else ""
    raise ContentExpiredError(
        f"the content of artifact {aid} version {version}{others} expired: the retention event at position "
        f"{position} deleted blob {digest}; its data, history and hash stay",
        artifact_id=aid,
        version=version,
        position=position,
    ) from cause
