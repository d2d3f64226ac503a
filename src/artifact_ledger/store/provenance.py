"""The statements of aliases and lineage links, built from ``tables.py`` and compiled per backend.

Kept beside the core statements (``statements.py``) and compiled with the same machinery
(:func:`statements.compile_for`), once per backend.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ClauseElement,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter

from .log_indexes import ALIAS_NAME, ALIAS_TARGET, ALIAS_TYPES_SQL, LINK_SRC, LINK_TYPES_SQL, key_of
from .statement_parts import _in_ids
from .statements import ONE, REPLY_COLUMNS, ZERO, Statement, compile_for
from .tables import aliases, artifacts, closure, events, links


def _p(name: str, type_: Any = None) -> BindParameter[Any]:
    return bindparam(name, type_=type_)


class ProvenanceStatements:
    """Every alias and link statement for one backend, by attribute."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        a, k, e, r = aliases, links, events, artifacts
        alias_columns = [a.c[n] for n in ALIAS_COLUMNS]
        link_columns = [k.c[n] for n in LINK_COLUMNS]
        upsert_values = {n: _p(n) for n in ALIAS_COLUMNS}
        dialect_insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
        upsert = dialect_insert(a).values(upsert_values)
        upsert = upsert.on_conflict_do_update(
            index_elements=[a.c.name], set_={n: upsert.excluded[n] for n in ALIAS_COLUMNS if n != "name"}
        )

        # The head event of each alias stream the log holds with an event matching ``where`` (through
        # the partial indexes of store/log_indexes.py): the log's word on alias names and targets.
        head, later = e.alias("head"), e.alias("later")

        def alias_heads(where: Any) -> Any:
            top = select(func.max(later.c.version)).where(later.c.artifact_id == e.c.artifact_id).scalar_subquery()
            streams = select(e.c.artifact_id, top).where(text(ALIAS_TYPES_SQL), where)
            return select(head.c.artifact_id, head.c.version, head.c.payload, head.c.position).where(
                tuple_(head.c.artifact_id, head.c.version).in_(streams)  # each stream at its highest version
            )

        current = k.c.valid_to.is_(None)
        at = and_(k.c.valid_from <= _p("position"), or_(k.c.valid_to.is_(None), k.c.valid_to > _p("position")))
        built: dict[str, tuple[ClauseElement, tuple[str, ...]]] = {
            "upsert_alias": (upsert, ALIAS_COLUMNS),
            # The head of the stream that holds the newest event naming the alias: two seeks, the
            # alias-name index read backwards by position, then the stream's highest version (the
            # heads of every stream holding any event of the name read every event of the alias).
            "alias_heads_named": (
                select(head.c.artifact_id, head.c.version, head.c.payload, head.c.position)
                .where(
                    head.c.artifact_id
                    == select(e.c.artifact_id)
                    .where(text(ALIAS_TYPES_SQL), literal_column(f"({key_of(dialect, ALIAS_NAME)})") == _p("name"))
                    .order_by(e.c.position.desc())
                    .limit(ONE)
                    .offset(ZERO)
                    .scalar_subquery()
                )
                .order_by(head.c.version.desc())
                .limit(ONE)
                .offset(ZERO),
                ("name",),
            ),
            "alias_heads_targeting": (
                alias_heads(_in_ids(dialect, literal_column(f"({key_of(dialect, ALIAS_TARGET)})"))),
                ("ids",),
            ),
            "alias_row": (select(*alias_columns).where(a.c.name == _p("name")), ("name",)),
            # resolve_alias in one statement: the aliased artifact's reply row (REPLY_COLUMNS) and
            # the alias's artifact id and version; no row when there is no alias of that name.
            "alias_resolved": (
                select(*(r.c[n] for n in REPLY_COLUMNS), a.c.artifact_id, a.c.version)
                .select_from(a.outerjoin(r, r.c.id == a.c.artifact_id))
                .where(a.c.name == _p("name")),
                ("name",),
            ),
            # resolve_alias(as_of=) in one seek: the alias stream's last event recorded at or before
            # the instant (recorded_at never goes backwards along the log).
            "alias_payload_at": (
                select(e.c.payload)
                .select_from(a.join(e, e.c.artifact_id == a.c.stream_id))
                .where(a.c.name == _p("name"), e.c.recorded_at <= _p("instant"))
                .order_by(e.c.position.desc())
                .limit(ONE)
                .offset(ZERO),
                ("name", "instant"),
            ),
            "aliases_of": (
                select(*alias_columns).where(a.c.artifact_id == _p("artifact_id")).order_by(a.c.name),
                ("artifact_id",),
            ),
            "aliases_of_subtree": (
                select(*alias_columns).where(_in_ids(dialect, a.c.artifact_id)).order_by(a.c.name),
                ("ids",),
            ),
            "subtree_ids": (
                select(closure.c.descendant_id).where(closure.c.ancestor_id == _p("artifact_id")),
                ("artifact_id",),
            ),
            "all_aliases": (select(*alias_columns).order_by(a.c.name), ()),
            "alias_count": (select(func.count()).select_from(a), ()),
            "delete_aliases": (delete(a), ()),
            "stream_events": (
                select(e).where(e.c.artifact_id == _p("stream_id")).order_by(e.c.version),
                ("stream_id",),
            ),
            "stream_event_at": (
                select(e)
                .where(e.c.artifact_id == _p("stream_id"), e.c.position <= _p("position"))
                .order_by(e.c.position.desc())
                .limit(ONE)
                .offset(ZERO),
                ("stream_id", "position"),
            ),
            "position_at": (
                select(e.c.position)
                .where(e.c.recorded_at <= _p("instant"))
                .order_by(e.c.recorded_at.desc(), e.c.position.desc())
                .limit(ONE)
                .offset(ZERO),
                ("instant",),
            ),
            "open_link": (insert(k).values({n: _p(n) for n in LINK_COLUMNS}), LINK_COLUMNS),
            "close_link": (
                update(k).where(k.c.stream_id == _p("stream_id"), current).values(valid_to=_p("position")),
                ("position", "stream_id"),
            ),
            "stream_head": (
                select(e.c.version, e.c.type)
                .where(e.c.artifact_id == _p("stream_id"))
                .order_by(e.c.version.desc())
                .limit(ONE)
                .offset(ZERO),
                ("stream_id",),
            ),
            "links_from": (select(*link_columns).where(_in_ids(dialect, k.c.src_id), current), ("ids",)),
            "links_to": (select(*link_columns).where(_in_ids(dialect, k.c.dst_id), current), ("ids",)),
            "links_from_at": (select(*link_columns).where(_in_ids(dialect, k.c.src_id), at), ("ids", "position")),
            "links_to_at": (select(*link_columns).where(_in_ids(dialect, k.c.dst_id), at), ("ids", "position")),
            # The links from these artifacts, the log's word and the cache's in one statement (one round
            # trip): tag 0, every link event whose source is one of them (stream, version, position,
            # type, payload), through the partial index on ledger_events (store/log_indexes.py); tag 1,
            # their open ledger_links rows (stream, valid_from, src_version, dst_version, kind, src_id,
            # dst_id). In no order (a sort costs SQLite a temporary B-tree per side): the caller keeps
            # each stream's highest version.
            "links_checked_from": (
                select(
                    ZERO.label("tag"),
                    e.c.artifact_id.label("stream_id"),
                    e.c.version.cast(BigInteger).label("n1"),
                    e.c.position.label("n2"),
                    null().cast(BigInteger).label("n3"),
                    e.c.type.cast(Text).label("s1"),
                    e.c.payload.label("s2"),
                    null().cast(Text).label("s3"),
                )
                .where(text(LINK_TYPES_SQL), _in_ids(dialect, literal_column(f"({key_of(dialect, LINK_SRC)})")))
                .union_all(
                    select(
                        ONE,
                        k.c.stream_id,
                        k.c.valid_from,
                        k.c.src_version.cast(BigInteger),
                        k.c.dst_version.cast(BigInteger),
                        k.c.kind.cast(Text),
                        k.c.src_id.cast(Text),
                        k.c.dst_id.cast(Text),
                    ).where(_in_ids(dialect, k.c.src_id), current)
                ),
                ("ids",),
            ),
            "all_links": (select(*link_columns).order_by(k.c.stream_id, k.c.valid_from), ()),
            # The link streams that ever named an artifact: each link row from or to it, current or closed.
            "link_streams_of": (
                select(k.c.stream_id)
                .where(k.c.src_id == _p("artifact_id"))
                .union(select(k.c.stream_id).where(k.c.dst_id == _p("artifact_id"))),
                ("artifact_id",),
            ),
            "events_of_streams": (
                select(e).where(_in_ids(dialect, e.c.artifact_id)).order_by(e.c.position),
                ("ids",),
            ),
            # The alias events whose payload holds the text ``needle`` (an artifact id as a JSON
            # string): a prefilter in the database for the caller's own check of each payload, so
            # an artifact's provenance does not read every alias event of the ledger.
            "alias_events_holding": (
                select(e)
                .where(
                    e.c.artifact_id.in_(select(a.c.stream_id)),
                    (func.instr if dialect == "sqlite" else func.strpos)(e.c.payload, _p("needle")) > ZERO,
                )
                .order_by(e.c.position),
                ("needle",),
            ),
            "delete_links": (delete(k), ()),
        }
        for name, (construct, names) in built.items():
            setattr(self, name, compile_for(dialect, f"provenance_{name}", construct, names))

    def __getattr__(self, name: str) -> Statement:  # only reached for names that are not statements
        raise AttributeError(f"no provenance statement named {name!r}")


ALIAS_COLUMNS = (
    "name",
    "stream_id",
    "stream_version",
    "artifact_id",
    "version",
    "protected",
    "position",
    "updated_at",
    "updated_by",
)
"""The alias columns every alias statement selects or writes, in this order."""

LINK_COLUMNS = ("stream_id", "valid_from", "valid_to", "kind", "src_id", "src_version", "dst_id", "dst_version")
"""The link columns every link statement selects or writes, in this order."""


@cache
def provenance_statements(dialect: str) -> ProvenanceStatements:
    """The alias and link statements for ``dialect``, built once."""
    return ProvenanceStatements(dialect)
