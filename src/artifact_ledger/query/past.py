"""The past's pieces of ``find``'s statements: which links were valid at a log position, the
levels of the artifacts live then, and the log position an instant means.

A parent link is valid at ``p`` from the event that made it (``valid_from``) until the one that
replaced it (``valid_to``, NULL while it holds). Levels are not stored per version: they are the
number of links walked up (a page's artifacts, :func:`levels_statement`) or down from the roots
(every live artifact, :func:`levels_cte`, when the filter itself tests ``level``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, bindparam, func, or_, select
from sqlalchemy.sql.selectable import CTE, NamedFromClause

from ..store.statements import ONE, ZERO
from ..store.tables import UtcDateTime, events, parent_history
from .prepared import Binds

__all__ = ["levels_cte", "levels_statement", "links_statement", "position_statement", "valid"]


def valid(link: NamedFromClause, position: ColumnElement[Any]) -> ColumnElement[bool]:
    return and_(link.c.valid_from <= position, or_(link.c.valid_to.is_(None), link.c.valid_to > position))


def levels_cte(p: ColumnElement[Any]) -> CTE:
    """``(id, depth)`` of every artifact live at ``p``: the parent links walked down from the roots."""
    root = parent_history.alias("lv_root")
    tree = (
        select(root.c.artifact_id.label("id"), ZERO.label("depth"))
        .where(root.c.parent_id.is_(None), valid(root, p))
        .cte("lv", recursive=True)
    )
    child = parent_history.alias("lv_child")
    return tree.union_all(
        select(child.c.artifact_id, tree.c.depth + ONE).where(child.c.parent_id == tree.c.id, valid(child, p))
    )


def position_statement(instant: Any = None, bind: Binds | None = None) -> Select[Any]:
    """The log position an instant means (the last event recorded at or before ``:instant``; with
    ``bind``: at or before ``instant``, bound through it)."""
    at = bindparam("instant", type_=UtcDateTime) if bind is None else bind(instant, UtcDateTime())
    return (
        select(events.c.position)
        .where(events.c.recorded_at <= at)
        .order_by(events.c.recorded_at.desc(), events.c.position.desc())
        .limit(ONE)
    )


def levels_statement(ids: Sequence[str], position: int, bind: Binds | None = None) -> Select[Any]:
    """``(id, level)`` at ``position`` of each of ``ids`` (live then): its ancestors, walked up the links."""
    bind = Binds() if bind is None else bind
    start = parent_history.alias("up0")
    wanted = [bind(i, start.c.artifact_id.type) for i in ids]
    p = bind(position, BigInteger())
    up = (
        select(start.c.artifact_id.label("origin"), start.c.parent_id.label("id"))
        .where(start.c.artifact_id.in_(wanted), valid(start, p), start.c.parent_id.is_not(None))
        .cte("up", recursive=True)
    )
    step = parent_history.alias("up1")
    # Each step is one seek for the link of ``id`` valid at ``p`` (a scalar subquery), never a join
    # the planner may turn into a scan of every link; a root's step yields NULL and ends its walk.
    parent = select(step.c.parent_id).where(step.c.artifact_id == up.c.id, valid(step, p)).limit(ONE).scalar_subquery()
    up = up.union_all(select(up.c.origin, parent).where(up.c.id.is_not(None)))
    return select(up.c.origin, func.count(up.c.id)).group_by(up.c.origin)


def links_statement(ids: Sequence[str], position: int, bind: Binds) -> Select[Any]:
    """``(id, parent_id)`` of the link of each of ``ids`` valid at ``position`` (one seek each).

    One step of a walk up the links; cheap to plan and, unlike a recursive statement (whose row
    estimate PostgreSQL multiplies tenfold per step), never costed above ``jit_above_cost``:
    :func:`levels_statement` over ~120 ids was JIT-compiled in each of its first five
    executions (8-60 ms each, against under 1 ms to run)."""
    link = parent_history.alias("link")
    wanted = [bind(i, link.c.artifact_id.type) for i in ids]
    return select(link.c.artifact_id, link.c.parent_id).where(
        link.c.artifact_id.in_(wanted), valid(link, bind(position, BigInteger()))
    )
