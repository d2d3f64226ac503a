"""A checked filter (:mod:`.language`) as one SQLAlchemy Core statement, over the present or the past.

The present is ``ledger_artifacts``: ``data`` and ``tags`` are JSON text columns, the others
plain columns. The past (``as_of=``) is the same question asked of the history projections at
one log position ``p``, as the point-in-time reads ask it (see :mod:`artifact_ledger.temporal`):
the artifacts live at ``p`` are the parent links valid at ``p``; each one's data and tags come
from its last full-state event at or before ``p``, its version and ``updated_*`` from its last
event, ``created_*`` from its first (one index seek each). Nothing is replayed. The statement
starts from the full-state events and keeps those that were their artifact's last at ``p``, so
a filter on a path ``create_index`` indexed seeks the matching versions through the index's
twin on ``ledger_events`` rather than reading the state of every artifact live then.

Backend differences (how a JSON value is read, compared and sorted) come from
:mod:`artifact_ledger.store.json_paths`; this module only combines them. Every value is a bound
parameter; paths are written into the SQL only after the grammar check (see ``json_paths``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
    tuple_,
)

from .. import codec
from ..events import STATE_EVENTS
from ..store.json_paths import JsonSql, json_sql
from ..store.statements import ONE, REPLY_COLUMNS, ZERO
from ..store.tables import UtcDateTime, artifacts, events, parent_history
from .language import And, Compare, Field, Node, Not, Or, Order
from .past import levels_cte, levels_statement, links_statement, position_statement, valid
from .prepared import Binds

__all__ = [
    "Binds",
    "Source",
    "count_statement",
    "levels_statement",
    "links_statement",
    "page_statement",
    "position_statement",
    "source",
]

_STATE_TYPES: Final = sorted(STATE_EVENTS)
ROW_COLUMNS: Final = REPLY_COLUMNS
"""The columns a found row carries: the read side's listing columns."""


@dataclass(frozen=True)
class Source:
    """Where a filter reads: the columns by name, and the JSON documents holding ``data`` and ``tags``."""

    columns: Mapping[str, ColumnElement[Any]]
    data_doc: ColumnElement[Any]
    data_prefix: tuple[str, ...]
    tags_doc: ColumnElement[Any]
    tags_prefix: tuple[str, ...]
    from_: Any
    """What the statement selects from (a table or a join)."""
    outputs: tuple[ColumnElement[Any], ...]
    """What a page selects, before the sort keys."""
    json: JsonSql
    bind: Binds
    """The statement's values, in the order they were bound."""
    extra: ColumnElement[bool] | None = None
    """A condition every row must meet besides the filter (the past: the state event is the artifact's
    last at ``p``, its link valid at ``p``)."""
    position: ColumnElement[Any] | None = None
    """The past's log position ``p`` (a bound value, or the subquery finding an instant's)."""


_PRESENT: Final[dict[str, ColumnElement[Any]]] = {n: artifacts.c[n] for n in ROW_COLUMNS if n not in ("data", "tags")}
_SELECTED: Final[tuple[ColumnElement[Any], ...]] = tuple(artifacts.c[name] for name in ROW_COLUMNS)


def source(
    dialect: str,
    position: int | None = None,
    *,
    with_levels: bool = False,
    bind: Binds | None = None,
    instant: Any = None,
) -> Source:
    """The present (``position`` and ``instant`` None), the state at log ``position``, or the state
    at ``instant`` (an aware datetime: its position is found by a subquery of the same statement,
    :func:`position_statement`, so the past costs no round trip of its own; before the first event
    it is NULL and nothing matches). ``find`` passes an instant on SQLite and, on PostgreSQL, the
    position it looked up first: there a bound position lets the planner see it (a subquery's
    value is unknown when the plan is made) and keeps the statement small to plan.

    ``with_levels``: the past's levels are computed for every live artifact (a filter on
    ``level``); otherwise a page's levels come afterwards (:func:`levels_statement`, when its
    rows' parents are not all in the page).
    """
    json = json_sql(dialect)
    bind = Binds() if bind is None else bind
    a = artifacts
    p: ColumnElement[Any]
    if instant is not None:
        p = position_statement(instant, bind).scalar_subquery()
    elif position is None:
        return Source(_PRESENT, a.c.data, (), a.c.tags, (), a, _SELECTED, json, bind)
    else:
        p = bind(position, BigInteger())
    m = parent_history.alias("m")
    last, state, first = events.alias("last"), events.alias("st"), events.alias("cr")

    def newest(state_only: bool) -> Any:
        e = events.alias("e_state" if state_only else "e_last")
        stmt = select(e.c.position).where(e.c.artifact_id == state.c.artifact_id, e.c.position <= p)
        if state_only:
            stmt = stmt.where(e.c.type.in_(_STATE_TYPES))
        return stmt.order_by(e.c.position.desc()).limit(ONE).scalar_subquery()

    # Driven from the state events, not from the links: a filter on a data path then reads the
    # event payloads, where the expression index ``create_index`` also makes on ``ledger_events``
    # serves it (a seek to the matching versions, then one check each that the version was the
    # artifact's last at ``p`` and its link valid then), instead of every live link's state.
    joined = (
        state.join(m, m.c.artifact_id == state.c.artifact_id)
        .join(last, last.c.position == newest(False))
        .join(first, and_(first.c.artifact_id == state.c.artifact_id, first.c.version == ONE))
    )
    current = and_(
        state.c.type.in_(_STATE_TYPES),
        state.c.position == newest(True),  # the artifact's last state event at p: at or before p
        valid(m, p),
    )
    # Implied by the line above, and tested before its seek: a version recorded after p is
    # dropped without one. SQLite as it is; PostgreSQL as ``position + 0``, a filter on the
    # row, since as an index condition it would AND a scan of the log's key up to p into the
    # twin index's bitmap.
    after = state.c.position if dialect == "sqlite" else state.c.position + ZERO
    current = and_(after <= p, current)
    level: ColumnElement[Any] = ZERO
    if with_levels:
        levels = levels_cte(p)
        joined = joined.join(levels, levels.c.id == m.c.artifact_id)
        level = levels.c.depth
    columns: dict[str, ColumnElement[Any]] = {
        "id": m.c.artifact_id,
        "parent_id": m.c.parent_id,
        "level": level,
        "version": last.c.version,
        "created_at": first.c.recorded_at,
        "updated_at": last.c.recorded_at,
        "created_by": first.c.actor,
        "updated_by": last.c.actor,
    }
    outputs: tuple[ColumnElement[Any], ...] = (
        m.c.artifact_id.label("id"),
        m.c.parent_id,
        level.label("level"),
        last.c.version,
        state.c.payload,
        first.c.recorded_at.label("created_at"),
        last.c.recorded_at.label("updated_at"),
        first.c.actor.label("created_by"),
        last.c.actor.label("updated_by"),
    )
    return Source(
        columns, state.c.payload, ("data",), state.c.payload, ("tags",), joined, outputs, json, bind, current, p
    )


def _column(src: Source, field: Field, op: str, value: Any) -> ColumnElement[bool]:
    col = src.columns[field.name]
    bind = src.bind
    # Each value bound once, typed like its column (a time as the stored timestamp).
    type_ = UtcDateTime() if field.name == "created_at" or field.name == "updated_at" else col.type
    nullable = field.kind in ("id", "text")
    if op in ("in", "nin"):
        if not value:
            return false() if op == "in" else true()
        inside = col.in_([bind(v, type_) for v in value])
        if op == "in":
            return inside
        return or_(col.is_(None), not_(inside)) if nullable else not_(inside)
    if value is None:  # eq/ne only (the language allows None nowhere else)
        return col.is_(None) if op == "eq" else col.is_not(None)
    bound = bind(value, type_)
    if op == "eq":
        return col == bound
    if op == "ne":
        return or_(col.is_(None), col != bound) if nullable else col != bound
    if op == "prefix":
        return and_(col.is_not(None), func.substr(col, 1, func.length(bound)) == bound)
    compare: dict[str, ColumnElement[bool]] = {
        "lt": col < bound,
        "lte": col <= bound,
        "gt": col > bound,
        "gte": col >= bound,
    }
    return compare[op]


def _compare(src: Source, node: Compare) -> ColumnElement[bool]:
    field, op, value = node.field, node.op, node.value
    if field.kind == "data":
        return src.json.condition(src.data_doc, (*src.data_prefix, *field.path), op, value, src.bind)
    if field.kind == "tags":
        values = value if op in ("in", "nin") else (value,)
        has = src.json.has_string(src.tags_doc, src.tags_prefix, "any", values, src.bind)
        if src.tags_prefix and 0 < len(values) <= HELD_TAGS:
            # The past: tags are read from each state event's payload, parsed whole for it. A tag
            # the array holds is in the payload's text as its JSON string (payloads are written
            # as canonical JSON and the hash chain holds them to it), so a substring test first
            # spares parsing the payloads that cannot match (evaluated first: CASE).
            held = or_(*(src.json.text_holds(src.tags_doc, tag_text(v), src.bind) for v in values))
            has = case((held, has), else_=false())
        return not_(has) if op in ("ne", "nin") else has
    return _column(src, field, op, value)


HELD_TAGS: Final = 16
"""The most tags of one past tag condition tested as substrings first: each is a term of an ``OR``
(SQLite nests those one level per term), and past a few the test saves nothing."""


def tag_text(tag: str) -> str:
    """A tag as it is written inside a payload's JSON text."""
    return codec.dumps(tag).decode()


def bound(json: JsonSql, node: Node, out: list[Any], *, past: bool = False) -> list[Any]:
    """Appends to ``out`` the values :func:`condition` binds for ``node`` (over the past when
    ``past``), in the order it binds them (what a statement compiled for the same shape takes
    instead of its own; see ``prepared.py``)."""
    if isinstance(node, Compare):
        field, op, value = node.field, node.op, node.value
        if field.kind == "data":
            out.extend(json.bound(op, value))
        elif field.kind == "tags":
            values = value if op in ("in", "nin") else (value,)
            out.extend(json.has_string_bound(values))
            if past and len(values) <= HELD_TAGS:
                out.extend(tag_text(v) for v in values)
        elif op in ("in", "nin"):
            out.extend(value)
        elif value is not None:
            out.append(value)
    elif isinstance(node, Not):
        bound(json, node.part, out, past=past)
    else:
        for part in node.parts:
            bound(json, part, out, past=past)
    return out


def key_bound(json: JsonSql, kinds: Sequence[str], values: Sequence[Any]) -> list[Any]:
    """The values :func:`key_values` binds, in order."""
    return [json.sort_number_bound(v) if kind == "number" else v for kind, v in zip(kinds, values, strict=True)]


def condition(src: Source, node: Node) -> ColumnElement[bool]:
    """The filter as a SQL condition over ``src``."""
    if isinstance(node, Compare):
        return _compare(src, node)
    if isinstance(node, And):
        return and_(true(), *_all(src, node.parts))
    if isinstance(node, Or):
        return or_(false(), *(condition(src, part) for part in node.parts))
    assert isinstance(node, Not)
    # Kleene NULL (a missing path) is "no match", so NOT of it must match: coalesce first.
    return not_(func.coalesce(condition(src, node.part), false()))


def _all(src: Source, parts: Sequence[Node]) -> list[ColumnElement[bool]]:
    """The conditions of an ``$and``'s parts, two adjacent bounds of one data path as one range
    where the backend has a cheaper form (:meth:`JsonSql.between`), values bound in the same order."""
    out: list[ColumnElement[bool]] = []
    i = 0
    while i < len(parts):
        a, b = parts[i], parts[i + 1] if i + 1 < len(parts) else None
        if (
            isinstance(a, Compare)
            and isinstance(b, Compare)
            and a.field.kind == "data"
            and a.field == b.field
            and a.op in _BOUNDS
            and b.op in _BOUNDS
        ):
            path = (*src.data_prefix, *a.field.path)
            pair = src.json.between(src.data_doc, path, (a.op, a.value), (b.op, b.value), src.bind)
            if pair is not None:
                out.append(pair)
                i += 2
                continue
        out.append(condition(src, a))
        i += 1
    return out


_BOUNDS: Final = frozenset(("lt", "lte", "gt", "gte"))


def uses_level(node: Node) -> bool:
    if isinstance(node, Compare):
        return node.field.name == "level"
    if isinstance(node, Not):
        return uses_level(node.part)
    return any(uses_level(part) for part in node.parts)


def sort_keys(src: Source, order: Order) -> tuple[list[ColumnElement[Any]], list[str]]:
    """The ordering's key expressions (the id last) and the kind of each (for the cursor)."""
    ident = src.columns["id"]
    if order.field is None:
        return [ident], ["id"]
    if order.field.kind == "time":
        return [src.columns[order.field.name], ident], ["time", "id"]
    keys = src.json.sort_keys(src.data_doc, (*src.data_prefix, *order.field.path))
    return [*keys, ident], ["rank", "number", "text", "id"]


def key_values(src: Source, kinds: Sequence[str], values: Sequence[Any]) -> list[ColumnElement[Any]]:
    """A cursor's checked values as bound parameters typed like their keys."""
    out: list[ColumnElement[Any]] = []
    bind = src.bind
    for kind, value in zip(kinds, values, strict=True):
        if kind == "time":
            out.append(bind(value, UtcDateTime()))
        elif kind == "number":
            out.append(src.json.sort_number(value, bind))
        elif kind == "rank":
            out.append(bind(value, Integer()))
        else:
            out.append(bind(value))
    return out


def page_statement(
    src: Source, where: Node, order: Order, after: Sequence[Any] | None, limit: int
) -> tuple[Select[Any], list[str]]:
    """One keyset page: ``limit`` rows after the cursor's key, with the sort keys as trailing columns."""
    keys, kinds = sort_keys(src, order)
    cond = condition(src, where)
    if src.extra is not None:
        cond = and_(cond, src.extra)
    if after is not None:
        bound = key_values(src, kinds, after)
        if len(keys) == 1:
            step = keys[0] < bound[0] if order.descending else keys[0] > bound[0]
        else:
            step = tuple_(*keys) < tuple_(*bound) if order.descending else tuple_(*keys) > tuple_(*bound)
        cond = and_(cond, step)
    labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
    stmt = (
        select(*src.outputs, *labelled)
        .select_from(src.from_)
        .where(cond)
        .order_by(*(k.desc() if order.descending else k.asc() for k in keys))
        .limit(literal_column(str(int(limit) + 1), Integer))
    )
    return stmt, kinds


def count_statement(src: Source, where: Node) -> Select[Any]:
    cond = condition(src, where)
    if src.extra is not None:
        cond = and_(cond, src.extra)
    return select(func.count()).select_from(src.from_).where(cond)
