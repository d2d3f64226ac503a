"""The statements of the alias listings a page at a time: every alias, or those pointing at one
artifact, by name (the ``ledger_aliases`` primary key, and its ``artifact_id`` index).

Two ways of paging, each one statement: a keyset page (names after a cursor, ``LIMIT``), and an
offset page (``LIMIT``/``OFFSET``) that carries the number of aliases in scope on each row (an
uncorrelated count, evaluated once), so its total and its items come from one snapshot. A removed
alias keeps its row with no target; it is no alias, and neither way lists or counts it.

An alias's history (``history_page``, ``history_count``) is a page of its stream's alias events
by version, the range of the log's ``(artifact_id, version)`` key, carrying their count the same way.
``history_newest`` is its newest page (pages counted from the oldest) and the count in one statement,
the page read from the stream's end (``ORDER BY version DESC LIMIT``) rather than walked to by offset.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ClauseElement, Integer, func, literal_column, or_, select

from ..events import ALIAS_EVENTS
from .provenance import ALIAS_COLUMNS
from .statement_parts import ZERO, _p
from .statements import Statement, compile_for
from .tables import aliases, events


class AliasPageStatements:
    """``first``, ``after``, ``page`` and ``count``, each ``_all`` (every alias) or ``_of`` (one artifact's:
    its id the first parameter)."""

    first_all: Statement
    first_of: Statement
    after_all: Statement
    after_of: Statement
    page_all: Statement
    page_of: Statement
    count_all: Statement
    count_of: Statement
    history_page: Statement
    history_newest: Statement
    history_count: Statement

    def __init__(self, dialect: str) -> None:
        a = aliases
        columns = [a.c[n] for n in ALIAS_COLUMNS]
        scopes: dict[str, tuple[Any, tuple[str, ...]]] = {
            "all": (a.c.artifact_id.is_not(None), ()),
            "of": (a.c.artifact_id == _p("artifact_id"), ("artifact_id",)),
        }
        for scope, (where, names) in scopes.items():
            listed = select(*columns).where(where).order_by(a.c.name)
            built: dict[str, tuple[ClauseElement, tuple[str, ...]]] = {
                "first": (listed.limit(_p("limit")).offset(ZERO), (*names, "limit")),
                "after": (
                    listed.where(a.c.name > _p("after")).limit(_p("limit")).offset(ZERO),
                    (*names, "after", "limit"),
                ),
                "page": (
                    select(*columns, select(func.count()).select_from(a).where(where).scalar_subquery())
                    .where(where)
                    .order_by(a.c.name)
                    .limit(_p("limit"))
                    .offset(_p("offset")),
                    (*names, "limit", "offset"),
                ),
                "count": (select(func.count()).select_from(a).where(where), names),
            }
            for kind, (construct, params) in built.items():
                name = f"{kind}_{scope}"
                setattr(self, name, compile_for(dialect, f"alias_pages_{name}", construct, params))
        e = events
        # The type names inline (registry constants): no expanding IN parameter.
        changes = (
            e.c.artifact_id == _p("stream_id"),
            or_(*(e.c.type == literal_column(f"'{t}'") for t in sorted(ALIAS_EVENTS))),
        )
        count = select(func.count()).select_from(e).where(*changes)
        page = select(*e.c, count.scalar_subquery()).where(*changes).order_by(e.c.version)
        params = ("stream_id", "limit", "offset")
        self.history_page = compile_for(
            dialect, "alias_pages_history_page", page.limit(_p("limit")).offset(_p("offset")), params
        )
        self.history_count = compile_for(dialect, "alias_pages_history_count", count, ("stream_id",))
        # The newest page (the console opens an alias on it) and the count in one statement. The last
        # page of ``limit`` holds ((count - 1) % limit) + 1 changes (0 for none: the remainder
        # truncates toward zero on both backends); they are read from the stream's end down the
        # (artifact_id, version) key, not walked to by OFFSET. The count is a CTE, read once for the
        # LIMIT and the column that carries it (a CTE used twice is materialized on both backends).
        counted = count.cte("counted")
        total = select(counted.c[0]).scalar_subquery()
        size = _p("limit", Integer)
        take = select((counted.c[0] - literal_column("1", Integer)) % size + literal_column("1", Integer))
        recent = (
            select(*e.c, total.label("total"))
            .where(*changes)
            .order_by(e.c.version.desc())
            .limit(take.scalar_subquery())
            .offset(ZERO)
            .subquery("recent")
        )
        newest = select(*recent.c).order_by(recent.c.version)
        self.history_newest = compile_for(dialect, "alias_pages_history_newest", newest, ("stream_id", "limit"))


@cache
def alias_page_statements(dialect: str) -> AliasPageStatements:
    """The alias listing statements for ``dialect``, built once."""
    return AliasPageStatements(dialect)
