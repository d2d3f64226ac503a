"""Where the served ledger lives, which no error a client receives may show.

The library's error messages name the ledger's database URL (password masked), its SQLite
file and its blob directory: useful on the command line, but on a server they tell a client
where the data is. :func:`ledger_locations` lists those texts, each with the placeholder a
problem's ``detail`` shows instead (see :func:`artifact_ledger.http.problems.hide`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from sqlalchemy.engine import URL

from ..store.blobs import store_of

if TYPE_CHECKING:
    from ..ledger import Ledger

__all__ = ["BLOB_STORE", "DATABASE", "error_locations", "ledger_locations", "url_locations"]

DATABASE: Final = "<database>"
"""What a detail shows in place of the database's URL or file."""
BLOB_STORE: Final = "<blob store>"
"""What a detail shows in place of the blob directory."""
ERROR_ATTRIBUTES: Final = ("where", "url", "read_url")
"""The attributes of ledger errors that hold a database URL (password masked)."""


def url_locations(url: URL) -> dict[str, str]:
    """A database URL as messages show it (password masked or not) and, for SQLite, its file."""
    texts = {url.render_as_string(hide_password=True), url.render_as_string(hide_password=False)}
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        texts.add(os.path.abspath(database))
        if os.sep in database:  # a bare file name is too short to hide everywhere it appears
            texts.add(database)
    return dict.fromkeys(texts, DATABASE)


def _path_locations(path: str, placeholder: str) -> dict[str, str]:
    return dict.fromkeys({path, os.path.abspath(path)}, placeholder)


def ledger_locations(ledger: Ledger) -> dict[str, str]:
    """The texts naming where ``ledger`` lives (its engines' URLs and files, its blob directory)."""
    found: dict[str, str] = {}
    for engine in (ledger._base, ledger.engine, ledger.read_engine):
        if engine is not None:
            found.update(url_locations(engine.url))
    blobs = store_of(ledger.engine).location
    if blobs != "database":
        found.update(_path_locations(blobs, BLOB_STORE))
    return found


def error_locations(values: Iterable[object]) -> dict[str, str]:
    """The URLs an error carries as attributes (``where``, ``url``, ``read_url``)."""
    return {value: DATABASE for value in values if isinstance(value, str) and value}
