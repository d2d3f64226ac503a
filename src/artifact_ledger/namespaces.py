"""Namespaces: independent ledgers (chain, positions, write lock, ledger id and key) in one database.

A namespace is a complete set of ledger tables of its own, so everything that works on a ledger
(writes, reads, verify, rebuild, export/import, checkpoints, retention) works on a namespace
unchanged, and no statement of one can reach another's rows:

- PostgreSQL: one schema per namespace, beside the schema of the ``default`` namespace (the
  schema the connection's ``search_path`` names first, where a ledger opened without a namespace
  lives). Its name is derived from both names (``al_ns_`` and 24 hex digits of a SHA-256), so it
  fits PostgreSQL's 63-byte identifiers whatever the names' lengths; a comment on the schema
  names the namespace, which is how :func:`list_namespaces` finds them. The write lock is
  ``LOCK TABLE`` on the namespace's own ``ledger_events``: writers of two namespaces never wait
  for each other. A hot standby replays the same schemas, so a read replica's engine reaches the
  namespace with the same ``search_path`` (:func:`namespace_settings`).
- A blob directory (``blobs="file:///DIR"``) is per namespace too: ``DIR.namespaces/NAME``.
- SQLite: one database file per namespace, ``NAME.db`` in the directory ``FILE.namespaces``
  next to the ledger's file. SQLite locks a whole file for a writer, so only separate files let
  two namespaces write at the same time. An in-memory database has no namespaces.

The ``default`` namespace is the ledger as it was before namespaces existed: opening an existing
ledger with no namespace (or ``namespace="default"``) reads and writes the same tables, and no
event is rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import InvalidArgumentError, LedgerNotFoundError, LedgerUnavailableError, SchemaTamperedError
from .store.blob_dir import parse_blob_url
from .store.engine import create_engine
from .store.errors import install, site_of, translated

__all__ = [
    "DEFAULT",
    "NAME_RULE",
    "check_name",
    "list_namespaces",
    "namespace_blobs",
    "namespace_engine",
    "namespace_settings",
    "postgres_schema",
]

DEFAULT = "default"
NAME_RULE = r"[a-z0-9][a-z0-9_-]{0,62}"
_NAME = re.compile(NAME_RULE)
_COMMENT = "artifact-ledger namespace {name} of schema {base}"
_SQLITE_SUFFIX = ".namespaces"


def check_name(name: object) -> str:
    """``name`` if it is a namespace name, else :class:`InvalidArgumentError` naming the rule."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidArgumentError(
            f"{name!r} is not a namespace name: use 1 to 63 characters of a-z, 0-9, '_' and '-', "
            f"starting with a letter or digit ({NAME_RULE})"
        )
    return name


def postgres_schema(base: str, name: str) -> str:
    """The schema of namespace ``name`` beside the default namespace's schema ``base``."""
    return "al_ns_" + hashlib.sha256(f"{base}\0{name}".encode()).hexdigest()[:24]


def namespace_blobs(blobs: str | os.PathLike[str], name: str) -> Path:
    """The blob directory of namespace ``name`` when the ledger's is ``blobs``: a directory of its
    own beside it (``DIR.namespaces/NAME``), never inside it and never shared, so that ``gc`` in
    one namespace cannot take a file another namespace references.

    ``blobs`` is read as the ledger reads it (:func:`parse_blob_url`: a ``file:///`` URL or an
    absolute path), so a path given as such, or a URL whose last slash is encoded (``DIR%2F``),
    names the same directory for the namespace as for the default one, never a directory in it.
    """
    root = parse_blob_url(blobs)
    return Path(f"{root}{_SQLITE_SUFFIX}") / name


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sqlite_file(url: URL) -> Path | None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(database).expanduser()


def _sqlite_namespace_dir(url: URL) -> Path:
    path = _sqlite_file(url)
    if path is None and (url.database or "").startswith("file:") and url.query.get("mode") != "memory":
        raise InvalidArgumentError(
            f"a SQLite file: URI ({url.database!r}) has no namespaces: name the file by its path "
            "(sqlite+aiosqlite:///path/ledger.db) to use namespace="
        )
    if path is None:
        raise InvalidArgumentError(
            "an in-memory SQLite database has no namespaces: open a SQLite file or PostgreSQL to use namespace="
        )
    return path.with_name(path.name + _SQLITE_SUFFIX)


async def _base_schema(engine: AsyncEngine) -> str:
    with translated():
        async with engine.connect() as conn:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
    if schema is None:
        raise InvalidArgumentError(
            f"the connection's search_path at {engine.url.render_as_string(hide_password=True)} names no "
            "existing schema: create it first, or fix the search_path"
        )
    return str(schema)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite(path: Path) -> bool:
    """Whether ``path`` can be a namespace's file: a file that is empty (made a moment ago) or
    starts with SQLite's header. A folder or any other file named ``*.db`` is a stray, not a namespace."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except OSError:
        return False
    return head in (b"", _SQLITE_HEADER)


_CREATE_LOCK = 0x4C45_4447_4E53_504B
"""The advisory lock key namespace creation takes ("LEDGNSPK" in ASCII)."""


async def namespace_engine(base: AsyncEngine, name: str, *, create: bool) -> AsyncEngine:
    """An engine on namespace ``name`` of the database ``base`` reaches (made if ``create``).

    Without ``create``, a namespace that does not exist raises :class:`LedgerNotFoundError` and
    nothing is created (no schema, no file, no directory).
    """
    lock_timeout = getattr(site_of(base), "lock_timeout", None)
    if base.dialect.name == "sqlite":
        folder = _sqlite_namespace_dir(base.url)
        path = folder / f"{name}.db"
        _refuse_shared_file(base, name, path, folder)
        if not path.exists():
            if not create:
                raise _unknown(name, base)
            try:
                folder.mkdir(exist_ok=True)
            except OSError as exc:
                raise LedgerUnavailableError(
                    f"cannot make the folder of namespace {name!r} at {folder}: {exc.strerror or exc}"
                ) from exc
        return create_engine(base.url.set(database=str(path)), lock_timeout=lock_timeout)
    schema_base = await _base_schema(base)
    schema = postgres_schema(schema_base, name)
    with translated():
        async with base.begin() as conn:
            exists = (
                await conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema})
            ).first() is not None
            if not exists:
                if not create:
                    raise _unknown(name, base)
                # Two sessions running CREATE SCHEMA IF NOT EXISTS at once can both find it missing
                # and one fail on the catalogue's unique index: creators take turns (the lock ends
                # with the transaction), and the second finds the schema made.
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_CREATE_LOCK})"))
                await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}"))
                comment = _COMMENT.format(name=name, base=schema_base).replace("'", "''")
                await conn.execute(text(f"COMMENT ON SCHEMA {_quoted(schema)} IS '{comment}'"))
    return _on_schema(base, schema, lock_timeout)


def _refuse_shared_file(base: AsyncEngine, name: str, path: Path, folder: Path) -> None:
    """:class:`SchemaTamperedError` when namespace ``name``'s file is the very file (a symbolic or
    hard link) of the default namespace or of another namespace: the two would share one chain,
    positions, ledger id and key (the key file is found through the link), and each would write
    the other's log. The ledger never makes such a link; someone did."""
    try:
        own = path.stat()
    except OSError:
        return  # not there (yet), or unreadable: opening it reports that
    default = _sqlite_file(base.url)
    others = [] if default is None else [(DEFAULT, default)]
    with contextlib.suppress(OSError):  # a folder that cannot be listed: the default is still compared
        others += [(p.stem, p) for p in folder.glob("*.db") if p.name != path.name]
    for other, other_path in others:
        try:
            found = other_path.stat()
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (own.st_dev, own.st_ino):
            where = base.url.render_as_string(hide_password=True)
            raise SchemaTamperedError(
                f"namespace {name!r} of the ledger at {where} is the file {path}, which is the same file as "
                f"{other_path} ({'the default namespace' if other == DEFAULT else f'namespace {other!r}'}): a "
                "link someone made; the two would share one log, ledger id and key. Remove the link (to copy a "
                "namespace, export it and import the bundle into a new one)",
                problems=[f"{path} is the same file as {other_path}"],
                where=where,
            )


def _on_schema(base: AsyncEngine, schema: str, lock_timeout: float | None) -> AsyncEngine:
    """An engine like ``base`` in every setting whose connections use ``schema`` first.

    What is kept: the driver's connect arguments (``connect_args``: ``ssl``, ``server_settings``
    such as ``application_name`` or ``statement_timeout``, ``statement_cache_size``, a
    ``creator`` / ``async_creator``, ``do_connect`` hooks), the pool (class, size, overflow,
    recycle, pre-ping, reset on return, and its ``connect`` listeners), the dialect, the
    execution options, echo and logging name, and the engine's event listeners. Its pool is a
    new one made with ``base``'s settings, so disposing of it leaves ``base`` alone. Each new
    connection runs ``SET SESSION search_path`` after every other ``connect`` listener (a
    caller's own ``SET search_path`` included), so no statement can reach another namespace's tables.
    """
    sync = base.sync_engine
    pool = sync.pool.recreate()
    event.listen(pool, "connect", _search_path_setter(schema))
    cache: Any = sync._compiled_cache  # an LRUCache, or None when the engine caches nothing
    copy = Engine(
        pool,
        sync.dialect,
        sync.url,
        logging_name=sync.logging_name,
        echo=sync.echo,
        query_cache_size=0 if cache is None else cache.capacity,
        execution_options=sync.get_execution_options(),
        hide_parameters=sync.hide_parameters,
    )
    _copy_listeners(sync.dispatch, copy)
    engine = AsyncEngine(copy)
    install(engine, lock_timeout)
    return engine


def _copy_listeners(dispatch: Any, engine: Engine) -> None:
    """The engine event listeners of ``dispatch`` onto ``engine``; an engine made by
    ``execution_options()`` joins its own listeners to those of the engine it proxies."""
    while (parent := getattr(dispatch, "parent", None)) is not None:
        engine.dispatch._update(dispatch.local, only_propagate=False)
        dispatch = parent
    engine.dispatch._update(dispatch, only_propagate=False)


def _search_path_setter(schema: str) -> Any:
    statement = f"SET SESSION search_path TO {_quoted(schema)}"

    def set_search_path(dbapi_connection: Any, _record: Any) -> None:
        # Outside any transaction: the pool's rollback on return must not undo it.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
        finally:
            dbapi_connection.autocommit = autocommit

    return set_search_path


def _settings(schema: str) -> dict[str, Any]:
    return {"server_settings": {"search_path": _quoted(schema)}}


async def namespace_settings(base: AsyncEngine, name: str) -> dict[str, Any]:
    """The ``connect_args`` that put an engine on the tables of namespace ``name`` of the database
    ``base`` reaches, or of a hot standby of it (the same catalogue, hence the same schema): none
    on SQLite. Reads only; creates nothing.

    The default namespace's are the schema ``base``'s ledger lives in (its ``current_schema()``),
    not nothing: a primary engine whose ``search_path`` names a schema of the ledger's own (its
    ``connect_args``) would otherwise have a replica reading the role's default ``search_path``,
    another schema, refused as holding no ledger (or reading another ledger's tables there).
    """
    if base.dialect.name != "postgresql":
        return {}
    schema = await _base_schema(base)
    return _settings(schema if name == DEFAULT else postgres_schema(schema, name))


def _unknown(name: str, base: AsyncEngine) -> LedgerNotFoundError:
    where = base.url.render_as_string(hide_password=True)
    return LedgerNotFoundError(
        f"no namespace {name!r} in the ledger at {where}; nothing was created "
        "(`artifact-ledger namespaces` lists them; a write with --namespace creates one)",
        where=where,
    )


async def list_namespaces(base: AsyncEngine) -> list[str]:
    """The namespaces of the database ``base`` reaches: ``default`` first, then the others by name."""
    found: list[str] = []
    if base.dialect.name == "sqlite":
        path = _sqlite_file(base.url)
        folder = None if path is None else path.with_name(path.name + _SQLITE_SUFFIX)
        if folder is not None and folder.is_dir():
            found = [
                p.stem for p in folder.glob("*.db") if _NAME.fullmatch(p.stem) and p.stem != DEFAULT and _sqlite(p)
            ]
        return [DEFAULT, *sorted(found)]
    schema_base = await _base_schema(base)
    prefix = "artifact-ledger namespace "
    suffix = f" of schema {schema_base}"
    with translated():
        async with base.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT n.nspname, d.description FROM pg_namespace n JOIN pg_description d "
                    "ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass "
                    "WHERE n.nspname LIKE 'al\\_ns\\_%'"
                )
            )
            for schema, description in rows:
                if not (description.startswith(prefix) and description.endswith(suffix)):
                    continue
                name = description[len(prefix) : -len(suffix)]
                # The comment is only a label: the schema must be the one the name derives to.
                if _NAME.fullmatch(name) and name != DEFAULT and postgres_schema(schema_base, name) == schema:
                    found.append(name)
    return [DEFAULT, *sorted(found)]
