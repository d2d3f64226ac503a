"""Every statement the ledger runs on a driver connection, built once from ``tables.py`` and compiled per backend.

The statements are SQLAlchemy Core constructs over the ``Table`` objects (so the schema is
written once, in ``tables.py``), compiled here for SQLite (``?`` placeholders) and for
asyncpg (``$n``). The compiled text runs on the driver connection underneath the caller's
SQLAlchemy connection: one statement through SQLAlchemy's async layer costs several times
the statement itself on this path (see docs/decisions.md, "Performance").

Callers pass each statement's values as a tuple in the order of :attr:`Statement.names`; a
statement whose compiled placeholders are in another order, or repeat a name (SQLite repeats a
``?`` for every use of a parameter; asyncpg reuses its ``$n``), carries the mapping in
:attr:`Statement.order`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ClauseElement,
    Integer,
    String,
    cast,
    delete,
    insert,
    literal_column,
    select,
    true,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.engine import Dialect

from .statement_parts import (
    LOG_COLUMNS,
    ONE,
    REPLY_COLUMNS,
    ZERO,
    _ancestry_json,
    _blob_digest,
    _columns,
    _in_ids,
    _in_subtree,
    _insert,
    _log_columns,
    _log_parent,
    _log_state,
    _not_in,
    _p,
    _stream_max,
    _upsert,
)
from .statement_reads import read_definitions
from .tables import (
    CHAIN_FORMAT_2_KEY,
    MERKLE_FRONTIER_ID,
    PROJECTORS,
    artifacts,
    blobs,
    checkpoints,
    closure,
    events,
    info,
    merkle_frontier,
    merkle_nodes,
    openings,
    parent_history,
)

__all__ = ["LOG_COLUMNS", "ONE", "REPLY_COLUMNS", "ZERO", "Statement", "Statements", "compile_for", "statements_for"]


@dataclass(frozen=True, eq=False, slots=True)
class Statement:
    """One compiled statement: its text for one backend and how its values are bound."""

    name: str
    sql: str
    names: tuple[str, ...]
    """The values a caller passes, in this order."""
    order: tuple[int, ...] | None
    """For each placeholder, the index of its value in ``names``; None when they are the same."""
    writes: str | None = None
    """The one table this statement writes, reading no other: such statements can share a CTE."""
    ids_and_integers: bool = False
    """Its values are only artifact ids, integers and NULL (see ``postgres.inline``)."""

    def bind(self, values: Sequence[Any]) -> Sequence[Any]:
        """The driver's positional values for ``values`` given in ``names`` order."""
        order = self.order
        return values if order is None else tuple(values[i] for i in order)

    def __repr__(self) -> str:
        return f"<Statement {self.name}>"


def _compile(
    name: str, construct: ClauseElement, dialect: Dialect, names: Sequence[str], writes: str | None
) -> Statement:
    compiled = construct.compile(dialect=dialect)
    positions = tuple(getattr(compiled, "positiontup", None) or ())  # SQLCompiler's, absent on DDL compilers
    unknown = [p for p in positions if p not in names]
    if unknown:  # a literal turned into a parameter, or a name misspelt: refuse at import, not at run time
        raise AssertionError(f"statement {name} has parameters {unknown} beyond its declared {tuple(names)}")
    order = tuple(names.index(p) for p in positions)
    return Statement(
        name,
        compiled.string,
        tuple(names),
        None if order == tuple(range(len(names))) else order,
        writes,
        name in _IDS_AND_INTEGERS,
    )


_IDS_AND_INTEGERS = frozenset(("open_parent_link", "move_closure_detach", "move_closure_attach", "shift_levels"))


def _definitions(dialect: str) -> dict[str, tuple[ClauseElement, tuple[str, ...], str | None]]:
    """name -> (construct, the names callers bind in order, the single table it writes or None)."""
    a, c, e, h = artifacts, closure, events, parent_history
    last_event = select(e.c.position, e.c.hash, e.c.recorded_at).order_by(e.c.position.desc()).limit(ONE).offset(ZERO)
    row = a.alias("a")
    last = last_event.subquery("h")
    one = select(ONE.label("one")).subquery("o")
    f = merkle_frontier
    # The head and the Merkle frontier: one row, NULL where the log (or the frontier) is empty.
    # ... and the first position sealed under chain format 2 (NULL: the ledger seals format 1).
    fmt = info.alias("fmt")
    head_columns = (last.c.position, last.c.hash, last.c.recorded_at, f.c.size, f.c.roots, fmt.c.value)
    frontier_id: Any = literal_column(str(MERKLE_FRONTIER_ID))
    head_from = (
        one.outerjoin(last, true())
        .outerjoin(f, f.c.id == frontier_id)
        .outerjoin(fmt, fmt.c.key == literal_column(f"'{CHAIN_FORMAT_2_KEY}'"))
    )
    head = select(*head_columns).select_from(head_from)
    # The head and some artifact rows in one round trip: the head's columns repeat on every row,
    # and a row of NULL artifact columns stands for "none found".
    head_and_artifacts = select(*head_columns, *row.c, *_log_columns(dialect, row.c.id, state=True)).select_from(
        head_from.outerjoin(row, _in_ids(dialect, row.c.id))
    )
    # ... and, for a move, the new parent's ancestry (``ancestry_by_log`` as one JSON array, the last column).
    head_artifacts_ancestry = head_and_artifacts.add_columns(_ancestry_json(dialect).label("ancestry"))
    # A new artifact's paths: its parent's ancestors one step further, plus itself at depth 0.
    new_id = cast(_p("artifact_id"), String())  # no length: a cast to VARCHAR(n) truncates silently
    closure_for = insert(c).from_select(
        ["ancestor_id", "descendant_id", "depth"],
        union_all(
            select(c.c.ancestor_id, new_id, c.c.depth + ONE).where(c.c.descendant_id == _p("parent_id")),
            select(new_id, new_id, ZERO),
        ),
    )
    inside = c.alias("inside")
    below = select(inside.c.descendant_id).where(inside.c.ancestor_id == _p("artifact_id"))
    up, down = c.alias("up"), c.alias("down")
    anc = c.alias("anc")
    above = select(anc.c.ancestor_id).where(anc.c.descendant_id == _p("parent_id"))
    attach = _upsert(dialect)(c).from_select(
        ["ancestor_id", "descendant_id", "depth"],
        select(up.c.ancestor_id, down.c.descendant_id, up.c.depth + down.c.depth + ONE)
        .select_from(up.join(down, true()))
        .where(up.c.descendant_id == _p("parent_id"), down.c.ancestor_id == _p("artifact_id")),
    )
    checkpoint = _upsert(dialect)(checkpoints).values(
        [
            {"projector": literal_column(f"'{name}'"), "position": cast(_p("position"), BigInteger)}
            for name in PROJECTORS
        ]
    )
    state = ("type", "data", "content_hash", "content_codec", "content_type", "content_size", "tags")
    return {
        **read_definitions(dialect),
        # ---- the write path ----
        "head": (head, (), None),
        "head_and_artifacts": (head_and_artifacts, ("ids", "target"), None),
        "head_artifacts_ancestry": (head_artifacts_ancestry, ("ids", "target", "ancestor"), None),
        "load_artifacts": (select(a).where(_in_ids(dialect, a.c.id)), ("ids",), None),
        # ... and the rows a write rests on, with the log's word on each (see LOG_COLUMNS).
        "load_checked": (
            select(a, *_log_columns(dialect, a.c.id, state=True)).where(_in_ids(dialect, a.c.id)),
            ("ids", "target"),
            None,
        ),
        # The head of each stream among some ids: (artifact_id, version, type) of its last event.
        "stream_heads": (
            select(e.c.artifact_id, e.c.version, e.c.type).where(
                _in_ids(dialect, e.c.artifact_id),
                e.c.version == _stream_max(e),
            ),
            ("ids",),
            None,
        ),
        # The live children of every member of a subtree (by the closure), by two other projections:
        # the open parent links and the rows' parent_id. A child not among the closure's members
        # means the closure lost it, and a delete of the subtree would orphan it in the log.
        "children_in_subtree": (
            union(
                select(h.c.artifact_id).where(h.c.valid_to.is_(None), *_in_subtree(dialect, h.c.parent_id, below)),
                select(a.c.id).where(*_in_subtree(dialect, a.c.parent_id, below)),
            ),
            ("artifact_id",),
            None,
        ),
        # The payload of an artifact's last state event (what its row's data, content and tags must
        # hold) and the parent its last structural event set (what its parent_id must be).
        "log_state": (
            select(
                _log_state(events.alias("log_s"), _p("artifact_id")).label("log_state"),
                _log_parent(dialect, events.alias("log_p"), _p("artifact_id")).label("log_parent"),
            ),
            ("artifact_id",),
            None,
        ),
        # An artifact's ancestors by the closure table (itself first), each with its parent by the log.
        "ancestry_by_log": (
            select(
                c.c.ancestor_id, c.c.depth, *_log_columns(dialect, c.c.ancestor_id, state=False, parent_of_all=True)[:3]
            )
            .where(c.c.descendant_id == _p("artifact_id"))
            .order_by(c.c.depth),
            ("artifact_id",),
            None,
        ),
        "stream_events": (
            select(e).where(e.c.artifact_id == _p("artifact_id")).order_by(e.c.version),
            ("artifact_id",),
            None,
        ),
        "stream_events_upto": (
            select(e).where(e.c.artifact_id == _p("artifact_id"), e.c.version <= _p("version")).order_by(e.c.version),
            ("artifact_id", "version"),
            None,
        ),
        "events_after": (
            select(e).where(e.c.position > _p("position")).order_by(e.c.position).limit(_p("limit")).offset(ZERO),
            ("position", "limit"),
            None,
        ),
        "subtree_rows": (
            select(*a.c, *_log_columns(dialect, a.c.id, state=False, parent_of_all=True))
            .select_from(c.join(a, a.c.id == c.c.descendant_id))
            .where(c.c.ancestor_id == _p("artifact_id"), c.c.depth > ZERO)
            .order_by(c.c.depth, a.c.id),
            ("artifact_id",),
            None,
        ),
        "is_descendant": (
            select(ONE).where(c.c.ancestor_id == _p("ancestor_id"), c.c.descendant_id == _p("descendant_id")),
            ("ancestor_id", "descendant_id"),
            None,
        ),
        "closure_of": (
            select(c.c.descendant_id, c.c.ancestor_id, c.c.depth).where(_in_ids(dialect, c.c.descendant_id)),
            ("ids",),
            None,
        ),
        "insert_event": (_insert(e), _columns(e), "ledger_events"),
        "insert_blob": (
            _upsert(dialect)(blobs).values(hash=_p("hash"), size=_p("size"), data=_p("data")).on_conflict_do_nothing(),
            ("hash", "size", "data"),
            "ledger_blobs",
        ),
        # A blob the write path has checked is not there yet: a plain insert, so a row planted
        # meanwhile makes the write fail instead of silently keeping the planted bytes.
        "insert_new_blob": (_insert(blobs), ("hash", "size", "data"), "ledger_blobs"),
        # The stored blobs among some hashes, with what their bytes hash to (or the bytes).
        "blob_digests_in": (
            select(blobs.c.hash, blobs.c.size, _blob_digest(dialect)).where(_in_ids(dialect, blobs.c.hash)),
            ("ids",),
            None,
        ),
        "insert_artifact": (_insert(a), _columns(a), "ledger_artifacts"),
        "update_artifact": (
            update(a)
            .values({name: _p(name) for name in ("version", *state, "updated_at", "updated_by")})
            .where(a.c.id == _p("id")),
            ("version", *state, "updated_at", "updated_by", "id"),
            "ledger_artifacts",
        ),
        "move_artifact": (
            update(a)
            .values({name: _p(name) for name in ("parent_id", "version", "updated_at", "updated_by")})
            .where(a.c.id == _p("id")),
            ("parent_id", "version", "updated_at", "updated_by", "id"),
            "ledger_artifacts",
        ),
        "delete_artifact": (delete(a).where(a.c.id == _p("id")), ("id",), "ledger_artifacts"),
        # One path, when the projector knows the new artifact's ancestors (created in this batch).
        "insert_closure_row": (_insert(c), ("ancestor_id", "descendant_id", "depth"), "ledger_artifact_closure"),
        "insert_closure_for": (closure_for, ("artifact_id", "parent_id"), "ledger_artifact_closure"),
        "delete_closure_of": (
            delete(c).where(c.c.descendant_id == _p("artifact_id")),
            ("artifact_id",),
            "ledger_artifact_closure",
        ),
        # A move: drop the paths into the subtree from ancestors outside it that are not also the
        # new parent's (or the new parent itself) ...
        "move_closure_detach": (
            delete(c).where(
                *_in_subtree(dialect, c.c.descendant_id, below, c.c.ancestor_id),
                _not_in(dialect, c.c.ancestor_id, above),
            ),
            ("artifact_id", "parent_id"),
            "ledger_artifact_closure",
        ),
        # ... then write the cross join of the new parent's ancestors and the subtree: new paths,
        # and new depths for the paths from ancestors the two parents share. The two statements
        # touch disjoint rows and read only paths the move leaves alone, so they give the same
        # result run one after the other or side by side in one CTE (postgres.py).
        "move_closure_attach": (
            attach.on_conflict_do_update(
                index_elements=[c.c.ancestor_id, c.c.descendant_id], set_={"depth": attach.excluded.depth}
            ),
            ("parent_id", "artifact_id"),
            "ledger_artifact_closure",
        ),
        # The parent links over time: a create, restore or move opens the artifact's link at its
        # position; a delete or move closes the open one.
        "open_parent_link": (
            _insert(h, ("artifact_id", "valid_from", "parent_id")),
            ("artifact_id", "valid_from", "parent_id"),
            "ledger_artifact_parent_history",
        ),
        "close_parent_link": (
            update(h)
            .values(valid_to=cast(_p("valid_to"), BigInteger))
            .where(h.c.artifact_id == _p("artifact_id"), h.c.valid_to.is_(None)),
            ("valid_to", "artifact_id"),
            "ledger_artifact_parent_history",
        ),
        "shift_levels": (
            update(a).values(level=a.c.level + cast(_p("shift"), Integer)).where(*_in_subtree(dialect, a.c.id, below)),
            ("shift", "artifact_id"),
            None,
        ),
        # One row per projector (names from tables.PROJECTORS), all at the same position.
        "upsert_checkpoint": (
            checkpoint.on_conflict_do_update(
                index_elements=[checkpoints.c.projector], set_={"position": checkpoint.excluded.position}
            ),
            ("position",),
            "ledger_checkpoints",
        ),
        # ---- the Merkle tree (merkle.py): the frontier, rewritten once per batch, and complete subtrees ----
        "upsert_merkle_frontier": (
            _upsert(dialect)(merkle_frontier)
            .inline()
            .values(id=literal_column(str(MERKLE_FRONTIER_ID)), size=_p("size"), roots=_p("roots"))
            .on_conflict_do_update(
                index_elements=[merkle_frontier.c.id],
                set_={"size": literal_column("excluded.size"), "roots": literal_column("excluded.roots")},
            ),
            ("size", "roots"),
            "ledger_merkle_frontier",
        ),
        "insert_opening": (
            insert(openings).values(position=_p("position"), salt=_p("salt"), salts=_p("salts"), erased=_p("erased")),
            ("position", "salt", "salts", "erased"),
            "ledger_openings",
        ),
        "insert_merkle_node": (
            insert(merkle_nodes).values(level=_p("level"), idx=_p("idx"), hash=_p("hash")),
            ("level", "idx", "hash"),
            "ledger_merkle_nodes",
        ),
    }


class Statements:
    """Every statement for one backend, by name (``statements.insert_event`` …).

    The statements are instance attributes, so the hot paths' lookups (a closure row per
    ancestor in a batch) are plain attribute reads.
    """

    def __init__(self, dialect: str, by_name: dict[str, Statement]) -> None:
        self.dialect = dialect
        self.by_name = by_name
        self.__dict__.update(by_name)

    def __getattr__(self, name: str) -> Statement:  # only reached for names that are not statements
        raise AttributeError(f"no statement named {name!r}")


_DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": asyncpg.dialect(),  # type: ignore[no-untyped-call]  # the asyncpg dialect's __init__ is unannotated
}


@cache
def statements_for(dialect: str) -> Statements:
    """The compiled statements for ``dialect`` (``sqlite`` or ``postgresql``), built once."""
    compiler = _DIALECTS[dialect]
    built = {
        name: _compile(name, construct, compiler, names, writes)
        for name, (construct, names, writes) in _definitions(dialect).items()
    }
    return Statements(dialect, built)


def compile_for(dialect: str, name: str, construct: ClauseElement, names: Sequence[str]) -> Statement:
    """Compile one more statement for ``dialect`` (backend modules build their own extras with it)."""
    return _compile(name, construct, _DIALECTS[dialect], names, None)
