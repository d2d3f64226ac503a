"""The statements of the alias listings a page at a time: every alias, or those pointing at one
artifact, by name (the ``ledger_aliases`` primary key, and its ``artifact_id`` index).

Two ways of paging, each one statement: a keyset page (names after a cursor, ``LIMIT``), and an
offset page (``LIMIT``/``OFFSET``) that carries the number of aliases in scope on each row (an
uncorrelated count, evaluated once), so its total and its items come from one snapshot. A removed
alias keeps its row with no target; it is no alias, and neither way lists or counts it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ClauseElement, func, select

from .provenance import ALIAS_COLUMNS
from .statement_parts import ZERO, _p
from .statements import Statement, compile_for
from .tables import aliases


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


@cache
def alias_page_statements(dialect: str) -> AliasPageStatements:
    """The alias listing statements for ``dialect``, built once."""
    return AliasPageStatements(dialect)
