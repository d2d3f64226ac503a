"""``find`` and ``count``: arguments checked into a :class:`Plan`, a plan run as one keyset page.

Everything the caller passes is checked before the database is touched (:func:`plan`); the
page is one statement (a past page on PostgreSQL: one more before it, to find the instant's log
position; and one after it for the levels of rows whose parents are not in the page), compiled once
per filter shape and run on the
driver connection of a recorder of the read side's choosing (:mod:`.prepared`), never
committing. A page of the present comes back as the projection's rows as stored (the read side
decodes them as it does every listing); a page of the past as
:data:`artifact_ledger.history.Values`. Blobs are never read here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from .. import codec
from ..errors import InvalidQueryError
from ..events import content_pair
from ..history import Values
from ..schemas import ArtifactOut
from ..store.json_paths import json_sql
from ..store.recorder import Recorder
from ..store.tables import stamp_reader
from . import compile as sql
from . import cursor, unreadable
from .language import Node, Order, parse_order, parse_where
from .prepared import fetch, prepare, shape

__all__ = ["MAX_LIMIT", "FindPage", "Plan", "count", "page", "plan"]

MAX_LIMIT: Final = 10_000
"""The most rows one page may hold."""


class FindPage(BaseModel):
    """One page of :meth:`ArtifactManager.find`: the artifacts, and the cursor of the next page
    (None on the last page). Pass ``next_cursor`` as ``after=`` with the same filter and ordering."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    items: list[ArtifactOut]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Plan:
    """A checked ``find``: the filter tree, the ordering, the page size, where to start and when."""

    where: Node
    order: Order
    limit: int
    after: list[Any] | None
    as_of: datetime | None
    query: str
    """The fingerprint a cursor of this query carries."""
    kinds: tuple[str, ...]
    shape: Any
    """The filter's shape (:func:`.prepared.shape`): with the ordering, the page size and the
    cursor's presence, what the compiled statement depends on."""


def _limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQueryError(f"limit must be an int from 1 to {MAX_LIMIT}, not {type(value).__name__} {value!r:.40}")
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidQueryError(f"limit must be from 1 to {MAX_LIMIT} (got {value}); page through more with after=")
    return value


def _kinds(order: Order) -> tuple[str, ...]:
    if order.field is None:
        return ("id",)
    if order.field.kind == "time":
        return ("time", "id")
    return ("rank", "number", "text", "id")


def plan(where: Any, *, order_by: Any, limit: Any, after: Any, as_of: datetime | None) -> Plan:
    """Check every argument of ``find`` (``as_of`` already an aware UTC datetime or None)."""
    node = parse_where(where)
    order = parse_order(order_by)
    size = _limit(limit)
    query = cursor.fingerprint(repr(node), order.text, as_of.isoformat() if as_of is not None else "")
    kinds = _kinds(order)
    start = None if after is None else cursor.decode(after, query, kinds)
    return Plan(node, order, size, start, as_of, query, kinds, shape(node))


def _key(json: Any, kind: str, value: Any, stamp: Any) -> Any:
    if kind == "time":
        return stamp(value).isoformat()
    if kind == "number":
        return json.number_text(value)
    if kind == "rank":
        return int(value)
    return value


WIDTH: Final = len(sql.ROW_COLUMNS)


async def page(rec: Recorder, dialect: str, p: Plan) -> tuple[list[Any], str | None, bool]:
    """The rows of one page, the next page's cursor, and whether the rows are of the present.

    The present's rows are the projection's columns as stored (``REPLY_COLUMNS``: data and tags
    JSON text, timestamps as the driver returns them); the past's are :data:`Values`.
    """
    instant = p.as_of
    past = instant is not None
    with_levels = past and sql.uses_level(p.where)
    width = WIDTH if not past else 9
    # The cursor's values' types are part of the statement: a number key binds as an integer or a
    # double, each with its own conversion, and one compiled for a double would round the other.
    after = None if p.after is None else sql.key_bound(json_sql(dialect), p.kinds, p.after)
    after_types = None if after is None else tuple(type(v).__name__ for v in after)
    kinds = p.kinds if p.after is not None else None
    key = ("page", p.shape, p.order.text, kinds, after_types, p.limit, past, with_levels)
    at, position = await _at(rec, dialect, instant)
    if past and at is None:
        return [], None, False  # before the first event: nothing was live

    def build(binds: sql.Binds) -> Any:
        src = sql.source(
            dialect, position, with_levels=with_levels, bind=binds, instant=instant if position is None else None
        )
        stmt = sql.page_statement(src, p.where, p.order, p.after, p.limit)[0]
        # The past: the instant's log position as the last column, for the levels that follow.
        return stmt if src.position is None else stmt.add_columns(src.position.label("at_position"))

    def values() -> list[Any]:
        json = json_sql(dialect)
        out: list[Any] = [] if at is None else [at]
        sql.bound(json, p.where, out, past=past)
        if after is not None:
            out.extend(after)
        return out

    prepared, args = prepare((*key, at is instant), dialect, build, values)
    rows = await _fetch(rec, prepared, args, present=not past)
    more = len(rows) > p.limit
    if more:
        del rows[p.limit :]
    stamp = stamp_reader()
    next_cursor = None
    if more:
        last = rows[-1]
        json = json_sql(dialect)
        keys = [_key(json, kind, last[width + i], stamp) for i, kind in enumerate(p.kinds)]
        next_cursor = cursor.encode(p.query, keys)
    if not past:
        return [r[:WIDTH] for r in rows], next_cursor, True
    levels: dict[str, int] = {}
    if not with_levels and rows:
        levels = await _levels(rec, dialect, {r[0]: r[1] for r in rows}, int(rows[0][-1]))
    payloads = codec.loads_each([r[4] for r in rows])  # the page's payloads in one call
    return (
        [_past(r, payload, levels.get(r[0]), stamp) for r, payload in zip(rows, payloads, strict=True)],
        next_cursor,
        False,
    )


STEPS: Final = 4
"""Steps up the links walked by plain lookups (one statement each) before one recursive statement
takes what is left (deeper trees)."""


async def _by_ids(
    rec: Recorder, dialect: str, statement: Callable[[list[str], int, sql.Binds], Any], wanted: list[str], position: int
) -> list[Any]:
    """The rows of ``statement`` for ``wanted`` at ``position``. The ids are padded (repeating the
    last) to a power of two, past 1,024 to a multiple of 1,024: a few statement texts for every
    page, each prepared once per connection, rather than one per number of ids; a page's most
    (``MAX_LIMIT``) pads to 10,240, which PostgreSQL costs well below ``jit_above_cost``."""
    n = len(wanted)
    size = 1 << (n - 1).bit_length() if n <= 1024 else -(-n // 1024) * 1024
    ids = wanted + wanted[-1:] * (size - n)
    name = getattr(statement, "__name__", "by_ids")
    prepared, args = prepare((name, len(ids)), dialect, lambda b: statement(ids, position, b), lambda: [*ids, position])
    return await fetch(rec, prepared, args)


async def _levels(rec: Recorder, dialect: str, parent_of: dict[str, str | None], position: int) -> dict[str, int]:
    """The level at ``position`` of each of a past page's artifacts (``parent_of``: each one's
    parent then): its number of ancestors.

    A row whose parent is in the page is one level below it, so only parents outside the page are
    looked up: step by step (their links at ``position``, one statement per step, none when every
    parent is in the page, as when a page holds whole subtrees), and after :data:`STEPS` steps the
    rest in one recursive statement (:func:`levels_statement`)."""
    parents: dict[str, str | None] = dict(parent_of)  # every link at ``position`` known so far
    known: dict[str, int] = {}
    wanted = sorted({q for q in parent_of.values() if q is not None and q not in parents})
    for _ in range(STEPS):
        if not wanted:
            break
        rows = await _by_ids(rec, dialect, sql.links_statement, wanted, position)
        found: dict[str, str | None] = dict.fromkeys(wanted)  # no link valid then: the walk ends there
        found.update((str(a), None if q is None else str(q)) for a, q in rows)
        parents.update(found)
        wanted = sorted({q for q in found.values() if q is not None and q not in parents})
    if wanted:
        depth = {str(o): int(n) for o, n in await _by_ids(rec, dialect, sql.levels_statement, wanted, position)}
        known.update((q, depth.get(q, 0)) for q in wanted)
    for aid in parent_of:
        chain: list[str] = []
        node = aid
        while node not in known:
            parent = parents[node]
            if parent is None:
                known[node] = 0
            else:
                chain.append(node)
                node = parent
        level = known[node]
        for child in reversed(chain):
            level += 1
            known[child] = level
    return {aid: known[aid] for aid in parent_of}


def _past(r: Sequence[Any], payload: Any, level: int | None, stamp: Any) -> Values:
    content_hash, content_codec = content_pair(payload)
    return (
        r[0],
        r[1],
        int(r[2]) if level is None else level,
        int(r[3]),
        payload["data"],
        content_hash,
        content_codec,
        payload["tags"],
        stamp(r[5]),
        stamp(r[6]),
        r[7],
        r[8],
    )


async def _at(rec: Recorder, dialect: str, instant: datetime | None) -> tuple[Any, int | None]:
    """What the past's statement binds first, and the log position when it is bound.

    SQLite: the instant itself (its position is a subquery of the statement). PostgreSQL: the
    position, looked up first (one index seek): planned as a value, not a subquery, the past's
    statement is cheaper to plan and its estimates see how much of the log precedes it. None when
    there is no past, or on PostgreSQL when the instant precedes the first event."""
    if instant is None or dialect == "sqlite":
        return instant, None
    prepared, args = prepare(("position",), dialect, lambda b: sql.position_statement(instant, b), lambda: [instant])
    found = await fetch(rec, prepared, args)
    position = None if not found else int(found[0][0])
    return position, position


async def count(rec: Recorder, dialect: str, where: Any, as_of: datetime | None = None) -> int:
    """How many artifacts match ``where`` (checked here), live now or, with ``as_of`` (an aware
    UTC datetime), live at that instant; one statement (two for the past on PostgreSQL)."""
    node = parse_where(where)
    past = as_of is not None
    with_levels = past and sql.uses_level(node)
    at, position = await _at(rec, dialect, as_of)
    if past and at is None:
        return 0

    def build(binds: sql.Binds) -> Any:
        src = sql.source(
            dialect, position, with_levels=with_levels, bind=binds, instant=as_of if position is None else None
        )
        return sql.count_statement(src, node)

    def values() -> list[Any]:
        return sql.bound(json_sql(dialect), node, [] if at is None else [at], past=past)

    prepared, args = prepare(("count", shape(node), past, with_levels, at is as_of), dialect, build, values)
    found = await _fetch(rec, prepared, args, present=not past)
    return int(found[0][0])


async def _fetch(rec: Recorder, prepared: Any, args: Sequence[Any], *, present: bool) -> list[Any]:
    """:func:`fetch`; a statement over the present that fails on a ``ledger_artifacts`` row whose
    document is not JSON is :class:`ProjectionDriftError` naming it (:mod:`.unreadable`). The past
    reads the log, whose damage ``verify`` and the chain report."""
    try:
        return await fetch(rec, prepared, args)
    except Exception as error:
        drift = await unreadable.drift_of(rec, error) if present else None
        if drift is None:
            raise
        raise drift from error
