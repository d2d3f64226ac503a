"""The live event feed as Server-Sent Events.

The stream replays the log from the position after ``after`` and then follows it: it asks for the
events after the last one it sent, sends them in position order, and when there are none waits
for a write through this app or the poll interval, whichever comes first (writers in other
processes are seen by the poll). Positions are dense and commit-ordered (the ledger's write lock
hands out the next position only inside the transaction that commits it), so reading "after the
last one sent" can neither skip nor repeat an event. Each event's SSE ``id:`` is its position: a
client that reconnects with ``Last-Event-ID`` continues exactly after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Final

from ..events import RecordedEvent
from .responses import json_bytes
from .service import Service

BATCH: Final = 500
MEDIA_TYPE: Final = "text/event-stream"


def accepts_stream(accept: str) -> bool:
    """Whether an ``Accept`` header asks for the event stream: ``text/event-stream`` listed with a
    quality above 0 (``;q=0`` means "not this"; ``*/*`` and other types get JSON)."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != MEDIA_TYPE:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0  # a malformed quality is no acceptance
        if quality > 0:
            return True
    return False


def event_json(event: RecordedEvent) -> dict[str, Any]:
    return {
        "position": event.position,
        "event_id": event.event_id,
        "artifact_id": event.artifact_id,
        "version": event.version,
        "type": event.type,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "recorded_at": event.recorded_at.isoformat().replace("+00:00", "Z"),
        "actor": event.actor,
        "reason": event.reason,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "prev_hash": event.prev_hash.hex(),
        "hash": event.hash.hex(),
    }


_LINE_SEPARATORS: Final = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))
"""U+0085, U+2028 and U+2029 in UTF-8, and their JSON escapes: JSON leaves them raw (only inside
strings), and clients that split lines as ``str.splitlines`` does (httpx's ``aiter_lines``) would
cut the data line there."""


def _one_line(data: bytes) -> bytes:
    for raw, escaped in _LINE_SEPARATORS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def frame(event: RecordedEvent) -> bytes:
    """One SSE message: ``id`` the position, ``event`` the type, ``data`` the event as one JSON line
    (a line for any client: no character that some clients break lines at, escaped or raw)."""
    data = _one_line(json_bytes(event_json(event)))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.position, event.type.encode(), data)


_READS: set[asyncio.Task[list[RecordedEvent]]] = set()
"""Reads of the log still running for a stream that went away (held until they end: the loop keeps
only weak references to tasks)."""


def _ended(task: asyncio.Task[list[RecordedEvent]]) -> None:
    _READS.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a stream that went away has no one to raise it to


async def _events_after(service: Service, position: int) -> list[RecordedEvent]:
    """The next batch of events, read to its end whatever happens to the stream. A client that goes
    away cancels the stream, Starlette's task group again at every await, so a read cancelled in its
    query had SQLAlchemy's graceful close of the connection forced: on SQLite (aiosqlite) that close
    waited forever on a stopped thread, a task left behind for every such stream. A read of one batch
    is short, and its connection goes back to the pool as after any read."""
    task = asyncio.ensure_future(service.ledger.events_since(position, limit=BATCH))
    _READS.add(task)
    task.add_done_callback(_ended)
    return await asyncio.shield(task)


async def follow(service: Service, after: int) -> AsyncIterator[bytes]:
    """Every event after position ``after``, then each new one as it commits; ends when the client goes."""
    position = after
    yield b"retry: 1000\n\n"
    last_sent = time.monotonic()
    while True:
        seen = service.notifier.generation  # before the read: a write notified after it wakes the wait below
        events = await _events_after(service, position)
        for event in events:
            yield frame(event)
            position = event.position
        if events:
            last_sent = time.monotonic()
            if len(events) == BATCH:
                continue
        elif time.monotonic() - last_sent >= service.heartbeat:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
        await service.notifier.wait(service.poll_interval, seen)
