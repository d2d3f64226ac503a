"""The artifact list, now or as of an instant, through the public API only.

Now: the manager's keyset pages. As of an instant: the library has no point-in-time listing yet,
so the ids live then are folded from the audit trail up to that instant (created/restored make an
artifact live, deleted ends it), and each artifact on the page is read as of the instant. That
costs a pass over the log up to the instant per request; docs/http.md says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from ...events import CREATED, DELETED, RESTORED
from ...manager import ArtifactManager
from ...schemas import ArtifactOut

AUDIT_PAGE = 10_000
READ_PAGE = 500


async def ids_live_at(manager: ArtifactManager, instant: datetime) -> list[str]:
    """The ids of the artifacts live at ``instant`` (events recorded at exactly it included), sorted."""
    live: set[str] = set()
    try:
        until: datetime | None = instant + timedelta(microseconds=1)  # the audit's ``until`` is exclusive
    except OverflowError:  # the last representable instant: everything is before it
        until = None
    after = 0
    while True:
        page = await manager.audit(event_type=[CREATED, DELETED, RESTORED], until=until, after=after, limit=AUDIT_PAGE)
        for entry in page.entries:
            if entry.event_type == DELETED:
                live.discard(str(entry.artifact_id))
            else:
                live.add(str(entry.artifact_id))
        if page.next_after is None:
            return sorted(live)
        after = page.next_after


async def _read_at(manager: ArtifactManager, ids: list[str], instant: datetime) -> list[ArtifactOut]:
    outs: list[ArtifactOut] = []
    for artifact_id in ids:
        out = await manager.find_by_id(artifact_id, include_content=False, as_of=instant)
        if out is not None:
            outs.append(out)
    return outs


async def page_as_of(
    manager: ArtifactManager, instant: datetime, page: int, size: int
) -> tuple[list[ArtifactOut], int]:
    ids = await ids_live_at(manager, instant)
    start = (page - 1) * size
    return await _read_at(manager, ids[start : start + size], instant), len(ids)


async def iter_live(manager: ArtifactManager, instant: datetime | None) -> AsyncIterator[ArtifactOut]:
    """Every live artifact ordered by id (as of ``instant`` when given), without content."""
    if instant is None:
        async for out in manager.iter_all(include_content=False, page_size=READ_PAGE):
            yield out
        return
    ids = await ids_live_at(manager, instant)
    for start in range(0, len(ids), READ_PAGE):
        for out in await _read_at(manager, ids[start : start + READ_PAGE], instant):
            yield out
