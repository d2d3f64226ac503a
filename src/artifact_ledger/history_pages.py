"""One page of an artifact's history without folding the events before it.

:func:`decide.evolve` sets each field of an artifact's state from the event alone, never from
the state before it: every event sets the version and ``updated_at``/``updated_by``; a create
sets everything; an update (a save or a patch) sets data, content and tags; a restore or a
revert sets data, content, tags, the parent and ``deleted=False``; a move sets the parent; a
delete sets ``deleted=True``. So the state after event *n* is the fold of a handful of the
events up to *n*: the last one that sets each field. Redactions rewrite the stored payloads
(which this reads as they are) and are events of their own streams, as alias, link, hold and
retention events are: none of them is an event of the artifact's stream.

A page therefore reads its own events (a range of the stream's ``(artifact_id, version)`` key)
and, for a page after the first, the events before it that set a field last, found by one
aggregate of the earlier events' types (no payload read), with the stream's first event and its
first event of a type the fold does not know, so the fold raises exactly what the fold of the
whole prefix raised (an alias's stream id, a damaged log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, func, select

from .events import ARTIFACT_EVENTS, CREATED, DELETED, MOVED, RESTORED, REVERTED, UPDATED, RecordedEvent
from .queries import Executor, event_from_core, stream_erasures
from .store.tables import events

SETS_PARENT: Final = frozenset({CREATED, RESTORED, REVERTED, MOVED})
SETS_DATA: Final = frozenset({CREATED, UPDATED, RESTORED, REVERTED})
"""Data, content and tags."""
SETS_DELETED: Final = frozenset({CREATED, RESTORED, REVERTED, DELETED})
SETS_CREATED: Final = frozenset({CREATED})
"""The id and ``created_at``/``created_by``."""


@dataclass(frozen=True, slots=True)
class PageRead:
    """What one page of a history needs: ``events`` (the ``lead`` events its first state is made
    of, then the page's own), the stream's length, and the page's erasures by position."""

    events: list[RecordedEvent]
    lead: int
    total: int
    erased: dict[int, list[str]]


async def read_page(db: Executor, artifact_id: str, skip: int, size: int) -> PageRead:
    """Events ``skip + 1`` to ``skip + size`` of one stream and the few before them (see above).

    The stream's length is read first, and nothing after its last version then is read, so the
    page never holds more than the total it comes with. Its versions are 1 to n (the log's
    ``(artifact_id, version)`` key is unique) when the count, the lowest and the highest say so:
    the page is then a range of that key, otherwise an ``OFFSET``."""
    return await _read(db, artifact_id, await _extent(db, artifact_id), skip, size)


async def read_one(db: Executor, artifact_id: str, nth: int | None) -> PageRead:
    """The ``nth`` event of one stream (its last: None) after the few earlier ones its state is made
    of: what a read of one version (``diff``, ``open_content(version=)``) folds. No event (only the
    total) when the stream has fewer than ``nth``."""
    extent = await _extent(db, artifact_id)
    return await _read(db, artifact_id, extent, extent[0] - 1 if nth is None else nth - 1, 1)


async def _extent(db: Executor, artifact_id: str) -> tuple[int, int, int]:
    """The stream's number of events, its lowest and its highest version (0s when it has none)."""
    e = events
    length = select(func.count(), func.min(e.c.version), func.max(e.c.version)).where(e.c.artifact_id == artifact_id)
    count, low, high = tuple((await db.execute(length)).one())
    return int(count), int(low or 0), int(high or 0)


async def _read(db: Executor, artifact_id: str, extent: tuple[int, int, int], skip: int, size: int) -> PageRead:
    e = events
    count, low, high = extent
    if not count:
        return PageRead([], 0, 0, {})
    stream = select(e).where(e.c.artifact_id == artifact_id).order_by(e.c.version)
    if low == 1 and high == count:
        stmt = stream.where(e.c.version.between(skip + 1, min(skip + size, high)))
    else:
        stmt = stream.where(e.c.version <= high).offset(skip).limit(size)
    page = [event_from_core(r) for r in (await db.execute(stmt)).all()] if 0 <= skip < count else []
    erased = await stream_erasures(db, artifact_id, (page[0].position, page[-1].position)) if page else {}
    lead = await _lead(db, artifact_id, page[0].version - 1 if page else high) if skip else []
    return PageRead(lead + page, len(lead), count, erased)


async def _lead(db: Executor, artifact_id: str, upto: int) -> list[RecordedEvent]:
    """The events up to version ``upto`` that the fold of the page after them needs (see above)."""
    e = events
    by_type = select(e.c.type, func.min(e.c.version), func.max(e.c.version)).where(
        and_(e.c.artifact_id == artifact_id, e.c.version <= upto)
    )
    rows: Sequence[Any] = (await db.execute(by_type.group_by(e.c.type))).all()
    if not rows:
        return []
    first = {str(r[0]): int(r[1]) for r in rows}
    last = {str(r[0]): int(r[2]) for r in rows}
    wanted = {min(first.values()), max(last.values())}  # the first event, and the last before the page
    for writers in (SETS_CREATED, SETS_PARENT, SETS_DATA, SETS_DELETED):
        wanted.update([max(v for t, v in last.items() if t in writers)] if writers & set(last) else [])
    unknown = [v for t, v in first.items() if t not in ARTIFACT_EVENTS]
    wanted.update([min(unknown)] if unknown else [])
    stmt = select(e).where(e.c.artifact_id == artifact_id, e.c.version.in_(sorted(wanted))).order_by(e.c.version)
    return [event_from_core(r) for r in (await db.execute(stmt)).all()]
