"""What a link write reads about links: the log's links from the artifacts it looks at, with the
``ledger_links`` rows of those artifacts held to them.

A link's events live in a stream of the link's own, so "which links start at this artifact?" was
answered by ``ledger_links`` alone, a cache anyone with the database credentials can edit: a
deleted row hid a derived_from edge from the cycle walk and let a cycle into the log, a planted one
made a cycle the log does not hold, and a link whose row was gone was linked again as a second
stream or taken for absent by ``unlink``. Now each look reads the link events of those artifacts
from the log (one seek each on the partial index of ``store/log_indexes.py``), folds them to the
links each stream holds, and compares the open ``ledger_links`` rows from the same artifacts with
them, in the same pipeline: any difference (a row missing, planted, closed, reopened, repointed or
with another ``valid_from``) refuses the write with :class:`ProjectionDriftError`; otherwise the
decision is the log's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import codec
from .errors import ChainBrokenError, ProjectionDriftError
from .events import LINK_ADDED
from .lineage import DERIVED_FROM, find_cycle
from .store.provenance import provenance_statements
from .writer import WriteBatch

__all__ = ["LoggedLink", "derived_from_path", "links_from"]

_REMEDY = "find the damage with `artifact-ledger verify`, repair with `artifact-ledger rebuild`"


@dataclass(frozen=True, slots=True)
class LoggedLink:
    """One link stream as the log leaves it: its head ``version``, whether its last event added the
    link (``held``) and that event's ``position``, and the link it names."""

    stream_id: str
    version: int
    held: bool
    position: int
    kind: str
    src_id: str
    src_version: int
    dst_id: str
    dst_version: int

    def edge(self) -> tuple[str, str, int, str, int]:
        return (self.kind, self.src_id, self.src_version, self.dst_id, self.dst_version)


async def links_from(batch: WriteBatch, ids: Sequence[str]) -> dict[str, LoggedLink]:
    """Every link stream the log holds from one of ``ids``, by stream id; the open ``ledger_links``
    rows from those artifacts must be exactly the held ones (else :class:`ProjectionDriftError`)."""
    sql = provenance_statements(batch.driver.sql.dialect)
    if batch.pending:
        await batch.flush()  # the log holds every event of this batch, the rows every row of it
    listed = batch.driver.id_list(list(ids))
    *_, found = await batch.driver.pipeline([*batch.projector.steps(), (sql.links_checked_from, (listed,), False)])
    streams: dict[str, LoggedLink] = {}
    cached = []
    for tag, stream_id, n1, n2, n3, s1, s2, s3 in found:
        if tag:
            cached.append((stream_id, int(n1), (s1, s2, int(n2), s3, int(n3))))
            continue
        if stream_id in streams and streams[stream_id].version > n1:
            continue  # an earlier event of a stream already read
        try:
            p = codec.loads(s2)
            streams[stream_id] = LoggedLink(
                stream_id,
                int(n1),
                s1 == LINK_ADDED,
                int(n2),
                str(p["kind"]),
                str(p["src_id"]),
                int(p["src_version"]),
                str(p["dst_id"]),
                int(p["dst_version"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ChainBrokenError(
                f"the link event at position {n2} (stream {stream_id}) has a payload no writer of ours "
                f"makes ({type(exc).__name__}); check the log with `artifact-ledger verify`",
                position=int(n2),
            ) from exc
    held = {s.stream_id: (s.position, *s.edge()) for s in streams.values() if s.held}
    rows: dict[str, tuple[object, ...]] = {}
    doubled: set[str] = set()
    for stream_id, valid_from, edge in cached:
        if stream_id in rows:
            doubled.add(stream_id)
        rows[stream_id] = (valid_from, *edge)
    differ = doubled | {s for s in held.keys() | rows.keys() if held.get(s) != rows.get(s)}
    if differ:
        named = sorted({str(x[2]) for s in differ for x in (held.get(s), rows.get(s)) if x is not None})
        raise ProjectionDriftError(
            f"the ledger_links rows from artifact{'s' if len(named) > 1 else ''} {', '.join(named)} differ from "
            f"the log's link events (link stream{'s' if len(differ) > 1 else ''} {', '.join(sorted(differ))}); "
            f"{_REMEDY}",
            artifact_id=named[0],
        )
    return streams


def stream_of(streams: dict[str, LoggedLink], edge: tuple[str, str, int, str, int]) -> tuple[str, int, bool] | None:
    """The stream of ``edge`` (kind, src, src_version, dst, dst_version) among ``streams``: the one
    holding it, else the one that last removed it; ``None`` when the log never had it."""
    found = [s for s in streams.values() if s.edge() == edge]
    if not found:
        return None
    best = max(found, key=lambda s: (s.held, s.position))
    return (best.stream_id, best.version, best.held)


async def derived_from_path(batch: WriteBatch, src: str, dst: str, first: dict[str, LoggedLink]) -> list[str] | None:
    """The derived_from path from ``dst`` up to ``src`` the log holds, if there is one (one pipeline
    per hop; ``first``: the links from ``dst`` already read)."""
    pairs: list[tuple[str, str]] = []
    seen = {dst}
    streams = first
    while True:
        hop = [(s.src_id, s.dst_id) for s in streams.values() if s.held and s.kind == DERIVED_FROM]
        pairs.extend(hop)
        if any(d == src for _, d in hop):
            return find_cycle(src, dst, pairs)
        frontier = sorted({d for _, d in hop} - seen)
        if not frontier:
            return None
        seen.update(frontier)
        streams = await links_from(batch, frontier)
