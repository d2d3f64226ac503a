"""Rebuild: drop the projections and replay the whole log through the same projector."""

from __future__ import annotations

from collections.abc import Callable

from ..store.dialect import Driver
from ..store.event_store import event_from_row
from .projector import Projector, write_checkpoints

CHUNK = 5000


async def rebuild(driver: Driver, progress: Callable[[int], None] | None = None) -> int:
    """Replay every event into empty projection tables; returns the number of events applied.

    Runs in the caller's transaction under the write lock, so readers see either
    the old projections or the rebuilt ones, never a half-built state.
    """
    await driver.lock()
    for statement in driver.sql.clear_projections:
        await driver.execute(statement)
    projector = Projector(driver)
    position = 0
    applied = 0
    while True:
        rows = await driver.fetch(driver.sql.events_after, position, CHUNK)
        if not rows:
            break
        chunk = [event_from_row(row, driver.read_ts, driver.read_bytes) for row in rows]
        # One query for every parent the chunk refers to, instead of one per event.
        parents = {e.payload.get("parent_id") or e.payload.get("to_parent_id") for e in chunk}
        parents.discard(None)
        await projector.load(p for p in parents if isinstance(p, str))
        for event in chunk:
            await projector.apply(event)
            position = event.position
        await projector.flush()
        projector.forget()
        applied += len(rows)
        if progress is not None:
            progress(applied)
    await write_checkpoints(driver, position)
    return applied
