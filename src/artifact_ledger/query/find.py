"""``find`` and ``count``: arguments checked into a :class:`Plan`, a plan run as one keyset page.

Everything the caller passes is checked before the database is touched (:func:`plan`); the
page is one statement (two for a past page whose levels were not needed by the filter), run
on the caller's session or a connection of the read side's choosing, never committing. Rows
come back as :data:`artifact_ledger.history.Values`; the read side turns them into models.
Blobs are never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from pydantic import BaseModel, ConfigDict

from .. import codec
from ..errors import InvalidQueryError
from ..history import Values
from ..queries import Executor
from ..schemas import ArtifactOut
from . import compile as sql
from . import cursor
from .language import Node, Order, parse_order, parse_where

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
    return Plan(node, order, size, start, as_of, query, kinds)


async def _position(db: Executor, instant: datetime) -> int | None:
    found = (await db.execute(sql.position_statement(), {"instant": instant})).first()
    return None if found is None else int(found[0])


def _key(json: Any, kind: str, value: Any) -> Any:
    if kind == "time":
        assert isinstance(value, datetime)
        return value.isoformat()
    if kind == "number":
        return json.number_text(value)
    if kind == "rank":
        return int(value)
    return value


async def page(db: Executor, dialect: str, p: Plan) -> tuple[list[Values], str | None]:
    """The rows of one page and the next page's cursor."""
    position = None
    if p.as_of is not None:
        position = await _position(db, p.as_of)
        if position is None:  # before the first event: nothing existed
            return [], None
    with_levels = position is not None and sql.uses_level(p.where)
    src = sql.source(dialect, position, with_levels=with_levels)
    stmt, _ = sql.page_statement(src, p.where, p.order, p.after, p.limit)
    rows = (await db.execute(stmt)).all()
    more = len(rows) > p.limit
    rows = rows[: p.limit]
    width = len(src.outputs)
    next_cursor = None
    if more:
        last = rows[-1]
        keys = [_key(src.json, kind, last[width + i]) for i, kind in enumerate(p.kinds)]
        next_cursor = cursor.encode(p.query, keys)
    if position is None:
        return [_present(r) for r in rows], next_cursor
    levels: dict[str, int] = {}
    if not with_levels and rows:
        found = await db.execute(sql.levels_statement([r[0] for r in rows], position))
        levels = {str(origin): int(n) for origin, n in cast(Sequence[tuple[Any, Any]], found.all())}
    return [_past(r, None if with_levels else levels.get(r[0], 0)) for r in rows], next_cursor


def _present(r: Sequence[Any]) -> Values:
    return (
        r[0],
        r[1],
        int(r[2]),
        int(r[3]),
        codec.loads(r[4]),
        r[5],
        r[6],
        codec.loads(r[7]),
        r[8],
        r[9],
        r[10],
        r[11],
    )


def _past(r: Sequence[Any], level: int | None) -> Values:
    payload = codec.loads(r[4])
    content = payload["content"]
    return (
        r[0],
        r[1],
        int(r[2]) if level is None else level,
        int(r[3]),
        payload["data"],
        content["hash"] if content else None,
        content["codec"] if content else None,
        payload["tags"],
        r[5],
        r[6],
        r[7],
        r[8],
    )


async def count(db: Executor, dialect: str, where: Any, as_of: datetime | None = None) -> int:
    """How many artifacts match ``where`` (checked here), live now or, with ``as_of`` (an aware
    UTC datetime), live at that instant; one statement either way (two for the past)."""
    node = parse_where(where)
    position = None
    if as_of is not None:
        position = await _position(db, as_of)
        if position is None:  # before the first event: nothing existed
            return 0
    src = sql.source(dialect, position, with_levels=position is not None and sql.uses_level(node))
    found = (await db.execute(sql.count_statement(src, node))).scalar_one()
    return int(found)
