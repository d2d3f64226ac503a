"""The statements of an artifact's provenance (``$provenance``) a page at a time: the alias and link
events that named the artifact, by position, ``LIMIT``/``OFFSET``, carrying their count.

The alias events come from the log: the streams the alias-target index of ``store/log_indexes.py``
finds with an event pointing at the artifact, and of those streams the events whose payload points
at it or away from it (``from_artifact_id``: only a stream that pointed at it can move away from it).
The link events are those of the link streams from or to the artifact (``ledger_links``, as the
whole list reads them) whose payload names it as source or target.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Integer, and_, func, literal_column, or_, select, text

from .log_indexes import ALIAS_TARGET, ALIAS_TYPES_SQL, LINK_SRC, LINK_TYPES_SQL, key_of
from .statement_parts import _p
from .statements import Statement, compile_for
from .tables import events, links


class ProvenancePageStatements:
    """``page`` (the artifact's id, limit, offset: the events and, on each row, their count),
    ``newest`` (the artifact's id, limit: the last page of ``limit`` of them, its offset worked out
    from the count in the same statement, each row carrying the count) and ``count``."""

    page: Statement
    newest: Statement
    count: Statement

    def __init__(self, dialect: str) -> None:
        e, k = events, links
        aid = _p("artifact_id")

        def key(of: tuple[str, str]) -> object:
            return literal_column(f"({key_of(dialect, of)})")

        aimed = select(e.c.artifact_id).where(text(ALIAS_TYPES_SQL), key(ALIAS_TARGET) == aid)
        linked = select(k.c.stream_id).where(k.c.src_id == aid).union(select(k.c.stream_id).where(k.c.dst_id == aid))
        alias_from = (ALIAS_TYPES_SQL, "from_artifact_id")
        link_dst = (LINK_TYPES_SQL, "dst_id")
        named = (
            select(e)
            .where(
                or_(
                    and_(e.c.artifact_id.in_(aimed), or_(key(ALIAS_TARGET) == aid, key(alias_from) == aid)),
                    and_(e.c.artifact_id.in_(linked), or_(key(LINK_SRC) == aid, key(link_dst) == aid)),
                )
            )
            .cte("named")
        )
        count = select(func.count()).select_from(named)
        page = (
            select(*named.c, count.scalar_subquery()).order_by(named.c.position).limit(_p("limit")).offset(_p("offset"))
        )
        # The newest page in one statement (the console opens on it): reading the count first and
        # the page after ran the whole list twice. Pages are counted from the oldest, so the last
        # starts at ((count - 1) // limit) * limit (0 for no events: the division truncates).
        size = _p("limit", Integer)
        last = (count.scalar_subquery() - literal_column("1", Integer)) // size * size
        newest = select(*named.c, count.scalar_subquery()).order_by(named.c.position).limit(size).offset(last)
        self.page = compile_for(dialect, "provenance_pages_page", page, ("artifact_id", "limit", "offset"))
        self.newest = compile_for(dialect, "provenance_pages_newest", newest, ("artifact_id", "limit"))
        self.count = compile_for(dialect, "provenance_pages_count", count, ("artifact_id",))


@cache
def provenance_page_statements(dialect: str) -> ProvenancePageStatements:
    """The provenance page statements for ``dialect``, built once."""
    return ProvenancePageStatements(dialect)
