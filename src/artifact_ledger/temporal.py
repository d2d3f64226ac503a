"""The read side over time: point-in-time trees and the audit trail, in SQLAlchemy Core.

A point in time is a log position p: the state after every event up to p. An instant t is the
last position recorded at or before t (``recorded_at`` never goes backwards along the log and a
transaction shares one timestamp, so this never splits a transaction); version n of an artifact
is the position of that event.

Who was where at p comes from ``ledger_artifact_parent_history`` (every parent link with the
positions it held between); what each artifact looked like comes from its own events: the last
one at or before p (version, ``updated_*``), the last full-state one (data, content reference,
tags: ``created``/``updated``/``restored``/``reverted`` carry the full state, so nothing is
folded) and the first (``created_*``). Every function runs one statement on the caller's
session and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy import exists as sql_exists
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import CTE, NamedFromClause

from .events import STATE_EVENTS
from .queries import Executor
from .store.recorder import recorder_class
from .store.tables import events, holds, parent_history

ONE: Final = literal_column("1", Integer)
"""A literal 1, not a bound parameter: a cached generic PostgreSQL plan then knows ``LIMIT 1`` as
well as a custom plan does (an unknown LIMIT is costed at 10% of the rows, which made PostgreSQL
keep re-planning a 0.7 ms plan instead of reusing a 0.07 ms one)."""
ZERO: Final = literal_column("0", Integer)
FOREVER: Final = literal_column("9223372036854775807", BigInteger)
"""Stands for "still valid" (a NULL ``valid_to``) in interval arithmetic."""
_STATE_TYPES: list[ColumnElement[str]] = [literal_column(f"'{name}'") for name in sorted(STATE_EVENTS)]
"""The full-state event type names inline (registry constants), so no expanding IN parameter."""


def _position(by_version: bool) -> CTE:
    """``at``: one row, the position ``p`` that ``:instant`` or version ``:version`` of ``:root_id`` means."""
    if by_version:
        stmt = select(events.c.position.label("p")).where(
            events.c.artifact_id == bindparam("root_id"), events.c.version == bindparam("version")
        )
    else:
        stmt = (
            select(events.c.position.label("p"))
            .where(events.c.recorded_at <= bindparam("instant"))
            .order_by(events.c.recorded_at.desc(), events.c.position.desc())
            .limit(ONE)
        )
    return stmt.cte("at")


def _valid(link: NamedFromClause, position: ColumnElement[Any]) -> ColumnElement[bool]:
    return and_(link.c.valid_from <= position, or_(link.c.valid_to.is_(None), link.c.valid_to > position))


def _members(at: CTE, subtree: bool) -> tuple[NamedFromClause, ScalarSelect[Any]]:
    """The root's link valid at ``p`` (and with ``subtree``, recursively its children's), as
    ``(id, parent_id, depth)``; and the root's level then (its ancestors, walked up the links)."""
    p = select(at.c.p).scalar_subquery()
    root_id: BindParameter[str] = bindparam("root_id")
    start = select(parent_history.c.artifact_id.label("id"), parent_history.c.parent_id, ZERO.label("depth")).where(
        parent_history.c.artifact_id == root_id, _valid(parent_history, p)
    )
    members: NamedFromClause
    if subtree:
        tree = start.cte("tree", recursive=True)
        link = parent_history.alias("link")
        members = tree.union_all(
            select(link.c.artifact_id, link.c.parent_id, tree.c.depth + ONE).where(
                link.c.parent_id == tree.c.id, _valid(link, p)
            )
        )
    else:
        members = start.subquery("tree")
    above = parent_history.alias("above")
    up = (
        select(above.c.parent_id.label("id"))
        .where(above.c.artifact_id == root_id, _valid(above, p), above.c.parent_id.is_not(None))
        .cte("up", recursive=True)
    )
    step = parent_history.alias("step")
    up = up.union_all(
        select(step.c.parent_id).where(step.c.artifact_id == up.c.id, _valid(step, p), step.c.parent_id.is_not(None))
    )
    return members, select(func.count()).select_from(up).scalar_subquery()


def _columns(members: NamedFromClause, level: ScalarSelect[Any], last: Any, state: Any, first: Any) -> Select[Any]:
    return select(
        members.c.id,
        members.c.parent_id,
        (level + members.c.depth).label("level"),
        last.c.version,
        state.c.payload,
        first.c.recorded_at.label("created_at"),
        last.c.recorded_at.label("updated_at"),
        first.c.actor.label("created_by"),
        last.c.actor.label("updated_by"),
    )


@lru_cache(maxsize=4)
def _tree_at_probes(by_version: bool, subtree: bool) -> Select[Any]:
    """Each member joins its events by position, found by correlated index probes (SQLite's shape)."""
    at = _position(by_version)
    members, level = _members(at, subtree)
    p = select(at.c.p).scalar_subquery()

    def last_of(state_only: bool) -> ScalarSelect[Any]:
        e = events.alias("e_state" if state_only else "e_last")
        stmt = select(e.c.position).where(e.c.artifact_id == members.c.id, e.c.position <= p)
        if state_only:
            stmt = stmt.where(or_(*(e.c.type == name for name in _STATE_TYPES)))
        return stmt.order_by(e.c.position.desc()).limit(ONE).scalar_subquery()

    last, state, first = events.alias("last"), events.alias("st"), events.alias("cr")
    joined = (
        members.join(last, last.c.position == last_of(False))
        .join(state, state.c.position == last_of(True))
        .join(first, and_(first.c.artifact_id == members.c.id, first.c.version == ONE))
    )
    return _columns(members, level, last, state, first).select_from(joined).order_by(members.c.depth, members.c.id)


@lru_cache(maxsize=4)
def _tree_at_lateral(by_version: bool, subtree: bool) -> Select[Any]:
    """Each member's events as LATERAL top-1 index scans, for backends whose recorder asks for it
    (a LATERAL ``LIMIT 1`` can only run as a nested index probe per member, whatever the row estimates).
    """
    at = _position(by_version)
    members, level = _members(at, subtree)
    p = select(at.c.p).scalar_subquery()

    def top(name: str, *columns: str, state_only: bool = False, first: bool = False) -> Any:
        e = events.alias(f"e_{name}")
        stmt = select(*(e.c[c] for c in columns)).where(e.c.artifact_id == members.c.id)
        if first:
            return stmt.order_by(e.c.position).limit(ONE).lateral(name)
        stmt = stmt.where(e.c.position <= p)
        if state_only:
            stmt = stmt.where(or_(*(e.c.type == t for t in _STATE_TYPES)))
        return stmt.order_by(e.c.position.desc()).limit(ONE).lateral(name)

    last = top("last", "version", "recorded_at", "actor")
    state = top("st", "payload", state_only=True)
    first = top("cr", "recorded_at", "actor", first=True)
    joined = members.join(last, true()).join(state, true()).join(first, true())
    return _columns(members, level, last, state, first).select_from(joined).order_by(members.c.depth, members.c.id)


async def tree_at(
    db: Executor,
    dialect: str,
    root_id: str,
    *,
    instant: datetime | None = None,
    version: int | None = None,
    subtree: bool,
) -> Sequence[Row[Any]]:
    """The artifact (and with ``subtree`` its descendants) as of ``instant`` or its version ``version``.

    Rows by depth, then id: id, parent_id, level, version, payload, created_at, updated_at,
    created_by, updated_by. No row: the artifact did not exist, or was deleted, at that point.
    ``dialect`` names the backend; its recorder says which statement shape suits it (each is built once).
    """
    params: dict[str, Any] = {"root_id": root_id}
    if version is not None:
        params["version"] = version
    else:
        params["instant"] = instant
    build = _tree_at_lateral if recorder_class(dialect).lateral_top_one else _tree_at_probes
    return (await db.execute(build(version is not None, subtree), params)).all()


async def level_at(db: Executor, artifact_id: str, position: int) -> int | None:
    """The artifact's level at ``position``; None if it was not live then."""
    p = literal(position, BigInteger)
    live = select(parent_history.c.artifact_id).where(
        parent_history.c.artifact_id == artifact_id, _valid(parent_history, p)
    )
    if (await db.execute(live)).first() is None:
        return None
    up = (
        select(parent_history.c.parent_id.label("id"))
        .where(parent_history.c.artifact_id == artifact_id, _valid(parent_history, p))
        .where(parent_history.c.parent_id.is_not(None))
        .cte("up", recursive=True)
    )
    step = parent_history.alias("step")
    up = up.union_all(
        select(step.c.parent_id).where(step.c.artifact_id == up.c.id, _valid(step, p), step.c.parent_id.is_not(None))
    )
    return int((await db.execute(select(func.count()).select_from(up))).scalar_one())


# ---- the audit trail ---------------------------------------------------------------------------------


def _ever_under(root_id: str) -> CTE:
    """``(id, lo, hi)``: ``id`` was in ``root_id``'s subtree (itself included) for positions ``lo..hi``.

    Walks the links down from the root, intersecting each link's interval with its parent's.
    Both ends count: the event at ``valid_to`` (the move out, the deletion) happened in the subtree.
    """
    span = select(literal(root_id).label("id"), literal(0, BigInteger).label("lo"), FOREVER.label("hi")).cte(
        "span", recursive=True
    )
    link = parent_history.alias("link")
    ends = func.coalesce(link.c.valid_to, FOREVER)
    return span.union_all(
        select(
            link.c.artifact_id,
            case((link.c.valid_from > span.c.lo, link.c.valid_from), else_=span.c.lo),
            case((ends < span.c.hi, ends), else_=span.c.hi),
        ).where(link.c.parent_id == span.c.id, link.c.valid_from <= span.c.hi, ends >= span.c.lo)
    )


async def audit_rows(
    db: Executor,
    *,
    after: int,
    limit: int,
    artifact_id: str | None = None,
    subtree_of: str | None = None,
    actors: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Sequence[Row[Any]]:
    """Events after position ``after`` matching every filter given, in position order (at most ``limit``).

    ``subtree_of``: events of artifacts that were in that artifact's subtree (itself included)
    when the event happened, so moves into and out of the subtree and deletions in it are listed.
    ``since``/``until``: ``since <= recorded_at < until``.
    """
    stmt = select(events).where(events.c.position > after)
    if artifact_id is not None:
        # The artifact's own events, and those of its hold stream (hold.set / hold.released name it in
        # their payload; ledger_holds maps the artifact to that stream).
        hold_stream = select(holds.c.stream_id).where(holds.c.artifact_id == artifact_id).scalar_subquery()
        stmt = stmt.where(or_(events.c.artifact_id == artifact_id, events.c.artifact_id == hold_stream))
    if actors is not None:
        stmt = stmt.where(events.c.actor.in_(list(actors)))
    if types is not None:
        stmt = stmt.where(events.c.type.in_(list(types)))
    if since is not None:
        stmt = stmt.where(events.c.recorded_at >= since)
    if until is not None:
        stmt = stmt.where(events.c.recorded_at < until)
    if subtree_of is not None:
        span = _ever_under(subtree_of)
        stmt = stmt.where(
            sql_exists().where(
                span.c.id == events.c.artifact_id, span.c.lo <= events.c.position, span.c.hi >= events.c.position
            )
        )
    return (await db.execute(stmt.order_by(events.c.position).limit(limit))).all()
