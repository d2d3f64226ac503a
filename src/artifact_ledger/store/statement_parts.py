"""The building blocks of the store's statements: bound parameters, id lists, the log's word on a row.

Shared by ``statements.py`` (the write path's statements, compiled per backend) and
``statement_reads.py`` (the read side's); other modules import the public names through
``statements``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ClauseElement,
    Integer,
    Select,
    String,
    Table,
    all_,
    any_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import BindParameter

from ..events import CREATED, MOVED, RESTORED, REVERTED, STATE_EVENTS
from .tables import (
    blobs,
    closure,
    events,
    merkle_nodes,
)

REPLY_COLUMNS = (
    "id",
    "parent_id",
    "level",
    "version",
    "data",
    "content_hash",
    "content_codec",
    "tags",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
)
"""What the read side's listings select (``read_*``), in this order; timestamps come back as stored."""

ONE = literal_column("1", Integer)
ZERO = literal_column("0", Integer)
"""Literals, not parameters (SQLite renders a missing OFFSET as a bound 0: ``.offset(ZERO)`` keeps it literal)."""


def _p(name: str, type_: Any = None) -> BindParameter[Any]:
    return bindparam(name, type_=type_)


def _ids(dialect: str) -> Select[Any]:
    """A subquery over one bound parameter holding many ids (see :meth:`Recorder.id_list`)."""
    if dialect == "sqlite":
        return select(func.json_each(_p("ids")).table_valued("value").c.value)
    return select(func.unnest(_p("ids", ARRAY(String))))


def _in_ids(dialect: str, column: Any) -> Any:
    """``column`` among the ids of the one ``ids`` parameter, in the form each backend runs best.

    PostgreSQL: ``= ANY($ids)``, an index condition whatever the plan. Written as ``IN (SELECT
    unnest($ids))``, the generic plan a prepared statement settles on (the write path forces
    generic plans) estimated ten ids and hash-joined a sequential scan of the whole table while
    ``ledger_artifacts`` held fewer than ~2,500 rows: the checked head read of every write took
    0.25-0.54 ms instead of 0.09-0.15 ms there.
    """
    if dialect == "sqlite":
        return column.in_(_ids(dialect))
    return column == any_(_p("ids", ARRAY(String)))


def _not_in(dialect: str, column: Any, rows: Select[Any]) -> Any:
    """``column`` not among ``rows`` (PostgreSQL: ``!= ALL(ARRAY(subquery))``, as :func:`_in_subtree`)."""
    if dialect != "postgresql":
        return column.not_in(rows)
    return column != all_(func.array(rows.scalar_subquery()))


def _in_subtree(dialect: str, member: Any, subtree: Select[Any], outsider: Any = None) -> list[Any]:
    """``member`` in ``subtree`` (and ``outsider`` not in it), in the form each backend runs best.

    PostgreSQL: ``= ANY(ARRAY(subquery))``, so the subtree's ids are computed once and the outer
    rows found through the index; written as ``IN (subquery)`` its planner hash-joined a
    sequential scan of the whole table (a 111-artifact move's closure update: 22 ms against 2 ms).
    """
    if dialect != "postgresql":
        return [member.in_(subtree), *([outsider.not_in(subtree)] if outsider is not None else [])]
    ids = func.array(subtree.scalar_subquery())
    return [member == any_(ids), *([outsider != all_(ids)] if outsider is not None else [])]


LOG_COLUMNS = ("log_version", "log_type", "log_parent", "log_state")
"""What the statements that load artifact rows for a write add after the row's own columns: the
stream's head in the log (version, type) and, for the row named by the ``target`` parameter only
(the one the command changes), the parent its last structural event set and the payload of its
last state event (data, content, tags). The write path compares them with the row before deciding
anything from it. Other rows (a new artifact's parent, say) are only checked to be live at the
version they show: no decision reads their parent or state, and the two seeks that read them
were most of the check's cost. Statements that check every row's parent (a delete's subtree, an
ancestry) ask for it with ``parent_of_all``."""

_SETS_PARENT = (CREATED, MOVED, RESTORED, REVERTED)
_SETS_STATE = tuple(sorted(STATE_EVENTS))


def _payload_key(dialect: str, payload: Any, key: str) -> Any:
    """``payload[key]`` as text (NULL when absent or JSON null): SQLite's JSON1, PostgreSQL's JSONB."""
    if dialect == "postgresql":
        return cast(payload, JSONB).op("->>")(literal_column(f"'{key}'"))
    return func.json_extract(payload, literal_column(f"'$.{key}'"))


def _last(e: Any, artifact_id: Any, column: Any, *where: Any) -> Any:
    """``column`` of the artifact's newest event (among those matching ``where``): one backward seek."""
    found = select(column).where(e.c.artifact_id == artifact_id, *where)
    return found.order_by(e.c.version.desc()).limit(ONE).offset(ZERO).scalar_subquery()


def _log_parent(dialect: str, e: Any, artifact_id: Any) -> Any:
    """The parent the artifact's last structural event set (NULL: a root)."""
    parent = func.coalesce(
        _payload_key(dialect, e.c.payload, "to_parent_id"), _payload_key(dialect, e.c.payload, "parent_id")
    )
    return _last(e, artifact_id, parent, e.c.type.in_([literal_column(f"'{t}'") for t in _SETS_PARENT]))


def _log_state(e: Any, artifact_id: Any) -> Any:
    """The payload of the artifact's last state event."""
    return _last(e, artifact_id, e.c.payload, e.c.type.in_([literal_column(f"'{t}'") for t in _SETS_STATE]))


def _log_columns(dialect: str, artifact_id: Any, *, state: bool, parent_of_all: bool = False) -> list[Any]:
    """The :data:`LOG_COLUMNS` of the artifact ``artifact_id`` (a column of the outer query): each
    one seek on the log's (artifact_id, version) index. Without ``state`` the last is NULL, and so
    are the last two for every row but ``target`` (see :data:`LOG_COLUMNS`); ``parent_of_all``:
    every row's parent."""
    e1, e2, e3, e4 = (events.alias(f"log{i}") for i in range(4))
    parent = _log_parent(dialect, e3, artifact_id)
    is_target = artifact_id == _p("target")
    return [
        select(func.max(e1.c.version)).where(e1.c.artifact_id == artifact_id).scalar_subquery().label("log_version"),
        _last(e2, artifact_id, e2.c.type).label("log_type"),
        (parent if parent_of_all else case((is_target, parent))).label("log_parent"),
        (case((is_target, _log_state(e4, artifact_id))) if state else literal_column("NULL")).label("log_state"),
    ]


def _ancestor_log(dialect: str, ancestor_id: Any) -> list[Any]:
    """An ancestor's version, type and parent by the log (an ancestry check reads every link)."""
    return _log_columns(dialect, ancestor_id, state=False, parent_of_all=True)[:3]


def _blob_digest(dialect: str) -> Any:
    """PostgreSQL hashes a stored blob itself (only the digest crosses the wire); SQLite has no
    SHA-256, so its bytes come back and the recorder hashes them (``Recorder.blob_digest``)."""
    if dialect == "postgresql":
        return func.encode(func.sha256(blobs.c.data), literal_column("'hex'"))
    return blobs.c.data


def _columns(table: Table) -> tuple[str, ...]:
    return tuple(str(column.name) for column in table.c)  # plain str, not SQLAlchemy's quoted_name


def _insert(table: Table, names: Sequence[str] | None = None) -> Any:
    """``INSERT INTO table (columns) VALUES (one parameter per column)``; every column by default."""
    return insert(table).values({name: _p(name) for name in (names or _columns(table))})


def _upsert(dialect: str) -> Any:
    return sqlite.insert if dialect == "sqlite" else postgresql.insert


def _ancestry_json(dialect: str) -> Any:
    """The rows of ``ancestry_by_log`` for the artifact bound as ``ancestor``, as one JSON array of arrays."""
    c = closure.alias("anc")
    row = (c.c.ancestor_id, c.c.depth, *_ancestor_log(dialect, c.c.ancestor_id))
    if dialect == "postgresql":
        ordered = postgresql.aggregate_order_by(func.json_build_array(*row), c.c.depth)
        return select(func.json_agg(ordered)).where(c.c.descendant_id == _p("ancestor")).scalar_subquery()
    inner = select(*row).where(c.c.descendant_id == _p("ancestor")).order_by(c.c.depth).subquery("path")
    return select(func.json_group_array(func.json_array(*inner.c))).scalar_subquery()


def _merkle_nodes_in(dialect: str) -> ClauseElement:
    """Stored Merkle nodes by (level, idx), the pairs given as two lists (JSON text on SQLite)."""
    if dialect == "sqlite":
        pairs = "SELECT l.value, json_extract(:idxs, '$[' || l.key || ']') FROM json_each(:levels) AS l"
    else:
        pairs = "SELECT * FROM unnest(CAST(:levels AS INTEGER[]), CAST(:idxs AS BIGINT[]))"
    return text(f"SELECT level, idx, hash FROM {merkle_nodes.name} WHERE (level, idx) IN ({pairs})")


def _stream_max(e: Any) -> Any:
    inner = events.alias("top")
    return select(func.max(inner.c.version)).where(inner.c.artifact_id == e.c.artifact_id).scalar_subquery()
