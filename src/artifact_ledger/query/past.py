"""The past's pieces of ``find``'s statements: which links were valid at a log position, the
levels of the artifacts live then, and the log position an instant means.

A parent link is valid at ``p`` from the event that made it (``valid_from``) until the one that
replaced it (``valid_to``, NULL while it holds). Levels are not stored per version: they are the
number of links walked up (from a page's parents, :func:`page_with_levels`) or down from the roots
(every live artifact, :func:`levels_cte`, when the filter itself tests ``level``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select
from sqlalchemy.sql.selectable import CTE, NamedFromClause

from ..store.statements import ONE, ZERO
from ..store.tables import UtcDateTime, events, parent_history
from .prepared import Binds

__all__ = ["levels_cte", "page_with_levels", "position_statement", "valid"]


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


def page_with_levels(page: Select[Any], position: ColumnElement[Any], keys: int, descending: bool) -> Select[Any]:
    """A past page (``page``: its rows with ``parent_id``, a ``level`` column to replace and its
    ``keys`` sort keys last, ``k0`` …) with each row's level at ``position``, in the same statement.

    A row's level is one more than its parent's (0 without a parent), so the walk up the links
    starts from the page's distinct parents, not from each row: the runs of one experiment share
    one walk. Each step is one seek for the link valid at ``position`` (a scalar subquery, never a
    join the planner may turn into a scan of every link). The page is read once (a
    common table expression referenced twice is materialised), joined to its parents' depths and
    put back in its order.
    """
    pg = page.cte("pg")
    start = select(pg.c.parent_id.label("start"), pg.c.parent_id.label("id")).where(pg.c.parent_id.is_not(None))
    up = start.distinct().cte("up", recursive=True)
    step = parent_history.alias("up1")
    parent = (
        select(step.c.parent_id)
        .where(step.c.artifact_id == up.c.id, valid(step, position))
        .limit(ONE)
        .scalar_subquery()
    )
    up = up.union_all(select(up.c.start, parent).where(up.c.id.is_not(None)))
    # ``count(id)``: the parent itself and each ancestor above it, that is the row's level.
    depth = select(up.c.start, func.count(up.c.id).label("n")).group_by(up.c.start).subquery("lv")
    columns = [func.coalesce(depth.c.n, ZERO).label("level") if c.name == "level" else c for c in pg.c]
    order = [pg.c[f"k{i}"] for i in range(keys)]
    return (
        select(*columns)
        .select_from(pg.outerjoin(depth, depth.c.start == pg.c.parent_id))
        .order_by(*(k.desc() if descending else k.asc() for k in order))
    )
