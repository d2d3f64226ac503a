"""Database URLs as the CLI takes them (``--db``, ``--read-db``, ``--from``) and shows them."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import make_url

from ..errors import LedgerError

__all__ = ["masked", "require_urls"]

URL_FORMS = (
    "a SQLite file is sqlite+aiosqlite:///artifacts.db (relative) or sqlite+aiosqlite:////srv/artifacts.db "
    "(absolute), PostgreSQL is postgresql+asyncpg://user@host:5432/db"
)
POSTGRESQL_FORM = "postgresql+asyncpg://user@host:5432/db"

_OPTIONS = (
    ("db", "--db (or $ARTIFACT_LEDGER_URL)"),
    ("read_db", "--read-db (or $ARTIFACT_LEDGER_READ_URL)"),
    ("source", "--from"),
)


def masked(url: str) -> str:
    """``url`` with its password hidden (for help and messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<not a database URL>"


def require_urls(args: argparse.Namespace) -> None:
    """Refuse a database option that holds a path (``--db artifacts.db``) or anything else without a
    scheme, naming the option and the URL forms; the engine's own message ("Could not parse
    SQLAlchemy URL") does not say what to write instead. A value with an ``@`` may carry a
    password, so it is not repeated."""
    for attribute, option in _OPTIONS:
        value = getattr(args, attribute, None)
        if value is None or "://" in value:
            continue
        if not value or "@" in value or ":" in value:  # not a path; perhaps user:password@host/db
            shown = "this value" if "@" in value else repr(value)
            raise LedgerError(f"{option}: {shown} is not a database URL; {URL_FORMS}")
        raise LedgerError(
            f"{option}: {value!r} is not a database URL; for that SQLite file use sqlite+aiosqlite:///{value} "
            f"(PostgreSQL: {POSTGRESQL_FORM})"
        )
