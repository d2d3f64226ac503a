"""The event log: append under the write lock, and read back.

``append`` is the only writer of ``ledger_events``; nothing anywhere updates or
deletes an event (the database triggers in ``tables`` refuse it too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import codec
from ..chain import envelope_bytes, event_hash
from ..chain_leaves import leaves_of
from ..chain_v2 import Opening, seal_leaves
from ..chain_v2 import event_hash as format_2_hash
from ..clock import Clock, ensure_utc
from ..errors import MerkleDriftError
from ..events import CURRENT_SCHEMA_VERSION, Attribution, NewEvent, RecordedEvent
from ..ids import IdFactory, id_text
from ..merkle import Frontier, Node
from .recorder import Recorder, Step
from .rows import event_from_row, event_values


@dataclass(slots=True)
class Head:
    """The last event of the log: where the next one goes and what it chains to.

    ``frontier``: the Merkle tree's frontier as stored (None when the stored row does not fit the
    log: appending then refuses); ``nodes``: complete subtrees the batch's events made, unwritten.
    """

    position: int
    hash: bytes
    recorded_at: datetime | None
    frontier: Frontier | None = None
    nodes: list[Node] = field(default_factory=list)
    frontier_problem: str = ""
    format_2_from: int | None = None
    """The first position sealed under chain format 2 (None: the ledger seals format 1)."""


HEAD_WIDTH = 6
"""The columns of the ``head`` statement (and the first columns of the statements that extend it)."""


async def read_head(driver: Recorder) -> Head:
    """The head of the log; call it only while holding the write lock."""
    return head_from_rows(driver, await driver.fetch(driver.sql.head))


def head_from_rows(driver: Recorder, rows: Sequence[Sequence[Any]]) -> Head:
    """The head from the rows of the ``head`` statement (position, hash, time, frontier size and roots)."""
    if not rows or rows[0][0] is None:
        head = Head(0, codec.GENESIS_HASH, None)
    else:
        position, digest, recorded_at = rows[0][:3]
        head = Head(int(position), driver.read_bytes(digest), driver.read_ts(recorded_at))
    size, roots = (rows[0][3], rows[0][4]) if rows and len(rows[0]) > 3 else (None, None)
    head.frontier, head.frontier_problem = frontier_at(driver, head.position, size, roots)
    switch = rows[0][5] if rows and len(rows[0]) > 5 else None
    if switch is not None:
        head.format_2_from = int(switch)
    return head


def frontier_at(driver: Recorder, position: int, size: Any, roots: Any) -> tuple[Frontier | None, str]:
    """The stored frontier if it fits a log whose head is at ``position``; else None and why not."""
    if size is None:
        if position == 0:
            return Frontier(), ""
        return None, f"ledger_merkle_frontier has no row, but the log's head is at position {position}"
    if int(size) != position:
        return None, f"the Merkle frontier is for a tree of {size} events, but the log's head is at position {position}"
    try:
        return Frontier.from_stored(int(size), driver.read_bytes(roots)), ""
    except (TypeError, ValueError) as exc:
        return None, f"the Merkle frontier's roots are damaged ({exc})"


def merkle_drift(problem: str) -> MerkleDriftError:
    return MerkleDriftError(
        f"{problem}: nothing was written. Recompute it from the log with `artifact-ledger rebuild` "
        "(`artifact-ledger verify` reports what differs)"
    )


def seal(
    head: Head,
    decided: Sequence[tuple[NewEvent, Attribution]],
    *,
    clock: Clock,
    new_id: IdFactory,
) -> list[RecordedEvent]:
    """Give decided events their positions, time, ids and chained hashes; advances ``head``.

    ``recorded_at`` never goes backwards along the log, even if the clock does,
    so point-in-time reads by time and by position agree.
    """
    frontier = head.frontier
    if frontier is None:
        raise merkle_drift(head.frontier_problem)
    now = ensure_utc(clock(), what="the ledger clock's reading")  # a custom clock may return another zone
    if head.recorded_at is not None and now < head.recorded_at:
        now = head.recorded_at
    sealed: list[RecordedEvent] = []
    format_2_from = head.format_2_from
    for new, who in decided:
        position = head.position + 1
        event_id = id_text(new_id)
        envelope = envelope_bytes(
            position=position,
            event_id=event_id,
            artifact_id=new.artifact_id,
            version=new.version,
            type=new.type,
            schema_version=CURRENT_SCHEMA_VERSION,
            recorded_at=now,
            actor=who.actor,
            reason=who.reason,
            correlation_id=who.correlation_id,
            causation_id=who.causation_id,
        )
        payload = codec.dumps_trusted(new.payload)
        opening: Opening | None = None
        if format_2_from is not None and position >= format_2_from:
            opening, commitment = seal_leaves(leaves_of(new.payload))
            digest = format_2_hash(head.hash, envelope, commitment)
        else:
            digest = event_hash(head.hash, envelope, payload)
        sealed.append(
            RecordedEvent(
                position,
                event_id,
                new.artifact_id,
                new.version,
                new.type,
                CURRENT_SCHEMA_VERSION,
                new.payload,
                now,
                who.actor,
                who.reason,
                who.correlation_id,
                who.causation_id,
                head.hash,
                digest,
                payload,
                opening,
            )
        )
        head.position, head.hash, head.recorded_at = position, digest, now
        frontier.append(digest, head.nodes)
    return sealed


def merkle_steps(driver: Recorder, head: Head) -> list[Step]:
    """The statements that store the Merkle state of ``head``: its frontier and the subtrees completed since."""
    assert head.frontier is not None
    sql = driver.sql
    steps: list[Step] = [(sql.upsert_merkle_frontier, (head.frontier.size, head.frontier.packed()), False)]
    if head.nodes:
        nodes = head.nodes
        steps.insert(
            0,
            (sql.insert_merkle_node, nodes[0], False)
            if len(nodes) == 1
            else (sql.insert_merkle_node, list(nodes), True),
        )
        head.nodes = []
    return steps


def insert_events_step(driver: Recorder, sealed: Sequence[RecordedEvent]) -> Step:
    """The statement appending ``sealed`` to the log."""
    if len(sealed) == 1:
        return (driver.sql.insert_event, event_values(sealed[0], driver.ts), False)
    return (driver.sql.insert_event, [event_values(e, driver.ts) for e in sealed], True)


def insert_openings_steps(driver: Recorder, sealed: Sequence[RecordedEvent]) -> list[Step]:
    """The statement storing the openings of the events of ``sealed`` sealed under chain format 2 (if any)."""
    rows = [(e.position, e.opening.salt, None, None) for e in sealed if e.opening is not None]
    if not rows:
        return []
    sql = driver.sql.insert_opening
    return [(sql, rows[0], False) if len(rows) == 1 else (sql, rows, True)]


async def read_stream(driver: Recorder, artifact_id: str) -> list[RecordedEvent]:
    """Every event of one artifact, oldest first."""
    rows = await driver.fetch(driver.sql.stream_events, artifact_id)
    return [event_from_row(r, driver.read_ts, driver.read_bytes) for r in rows]


async def stream_heads(driver: Recorder, artifact_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(version, type) of the last event of each stream that exists in the log (live or deleted)."""
    if not artifact_ids:
        return {}
    rows = await driver.fetch(driver.sql.stream_heads, driver.id_list(artifact_ids))
    return {r[0]: (int(r[1]), r[2]) for r in rows}
