"""Database URLs as the CLI takes them (``--db``, ``--read-db``, ``--from``) and shows them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from ..errors import BlobStoreError, InvalidArgumentError, LedgerError
from ..store.blob_dir import parse_blob_url

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
    password, so it is not repeated (exit 4, as for any database URL the engine refuses). A
    ``--blobs`` value that is no ``file:///absolute/path`` is :class:`InvalidArgumentError`, a usage
    error (exit 2). Both are found before anything is opened or created."""
    _require_blob_url(args)
    for attribute, option in _OPTIONS:
        value = getattr(args, attribute, None)
        if attribute == "db" and value is not None and "://" in value:
            _require_sqlite_file(option, value)
        if value is None or "://" in value:
            continue
        if not value or "@" in value or ":" in value:  # not a path; perhaps user:password@host/db
            shown = "this value" if "@" in value else repr(value)
            raise LedgerError(f"{option}: {shown} is not a database URL; {URL_FORMS}")
        raise LedgerError(
            f"{option}: {value!r} is not a database URL; for that SQLite file use sqlite+aiosqlite:///{value} "
            f"(PostgreSQL: {POSTGRESQL_FORM})"
        )


SQLITE_HEADER = b"SQLite format 3\x00"


def _require_sqlite_file(option: str, value: str) -> None:
    """A SQLite URL naming a file that is there but does not start with SQLite's header: a mistyped
    path (a CSV, a bundle's events.jsonl) far more often than a damaged ledger, which the engine's
    words ('damaged; restore it from a backup') would send the user off to do."""
    try:
        url = make_url(value)
    except Exception:
        return
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError:
        return  # the engine says why it cannot be opened
    if head != SQLITE_HEADER:
        raise LedgerError(
            f"{option}: {path} is not a database (it does not begin with SQLite's header): check that "
            "--db names the ledger's file; if it does, the file is damaged: keep a copy and restore it from a "
            "backup or an exported bundle"
        )


def _require_blob_url(args: argparse.Namespace) -> None:
    value = getattr(args, "blobs", None)
    if value is None:
        return
    try:
        parse_blob_url(value)
    except BlobStoreError as exc:
        option = "--blobs (or $ARTIFACT_LEDGER_BLOBS)"
        if urlsplit(value).scheme != "file":  # the library's words name its keyword, blobs=
            instead = f"file://{os.path.abspath(value)}" if value and ":" not in value else "file:///absolute/path"
            raise InvalidArgumentError(
                f"{option}: {value!r} is not a file:/// URL; write {instead} for a blob directory, "
                "or leave --blobs out to keep content in the database"
            ) from None
        raise InvalidArgumentError(f"{option}: {exc}") from None
