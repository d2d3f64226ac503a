"""The CLI's operations commands: migrate, export, import, import-chapkit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import importlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

from rich.progress import Progress
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from .. import verify_bundle as spec
from ..bundle import load_bundle, remove_unfinished_export
from ..chapkit_import import ChapkitImportResult, _source_engine, import_chapkit, require_trust
from ..errors import InvalidArgumentError, InvalidBundleError, LedgerError
from ..ledger import Ledger
from ..namespaces import DEFAULT, namespace_engine
from ..store.engine import create_engine
from ..transfer import export_ledger, import_bundle
from . import exits, render


@contextmanager
def _progress(label: str, total: int | None, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal (nothing otherwise); yields the callback to advance it."""
    with Progress(transient=True, disable=quiet or not render.console.is_terminal) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.update(task, completed=n)


@asynccontextmanager
async def namespace_target(url: str, namespace: str, *, create: bool) -> AsyncIterator[str | AsyncEngine]:
    """What ``migrate`` works on: the URL for the default namespace, else an engine on the
    namespace's own tables (made if missing and ``create``, as migrate makes a missing ledger;
    else a missing one is :class:`LedgerNotFoundError` and nothing is made)."""
    if namespace == DEFAULT:
        yield url
        return
    base = create_engine(url)
    try:
        engine = await namespace_engine(base, namespace, create=create)
        try:
            yield engine
        finally:
            await engine.dispose()
    finally:
        await base.dispose()


async def _migrate(args: argparse.Namespace) -> int:
    try:
        migrate = importlib.import_module("artifact_ledger.migrate")
    except ImportError:
        raise LedgerError("migrations are not available in this installation of artifact-ledger") from None
    if not args.repair_guards:
        migrate.checked_revision(args.revision)  # a mistyped revision creates nothing (no file, no namespace)
    # Going down to base, or repairing guards, in a namespace that does not exist: not found, none made.
    create = not args.repair_guards and args.revision != "base"
    async with namespace_target(args.db, args.namespace, create=create) as target:
        if args.repair_guards:
            found = await migrate.repair_guards(target)
            if found:
                render.console.print(
                    f"repaired the append-only guards ({'; '.join(found)}); now run `artifact-ledger verify`"
                )
            else:
                render.console.print("the append-only guards were all in place; made them again")
            return 0
        unrelated = await migrate.unrelated_tables(target)
        reached = await migrate.migrate_to(target, args.revision)
    where = "" if args.namespace == DEFAULT else f" (namespace {args.namespace})"
    if unrelated and reached is not None:
        # Beside tables the ledger did not make: say so, since a mistyped URL can point at another database.
        shown = ", ".join(unrelated[:10]) + (f" and {len(unrelated) - 10} more" if len(unrelated) > 10 else "")
        render.console.print(
            f"created the ledger's tables (all named ledger_*) in a database that already held "
            f"{len(unrelated)} other table{'s' if len(unrelated) != 1 else ''} ({shown}){where}; "
            "they were not changed. If this is the wrong database, remove the ledger again with "
            "`artifact-ledger migrate --revision base` (refused once it holds events)"
        )
    render.console.print(f"the database is at revision {reached or 'base'}{where}")
    return 0


async def _export(args: argparse.Namespace) -> int:
    async with Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger:
        total = (await ledger.head()).position  # positions are dense from 1: the events to write
        unfinished = getattr(args, "unfinished_export", None)
        if isinstance(unfinished, UnfinishedExport):
            unfinished.begun = True
        with _progress("exporting", total or None, args.json) as advance:
            try:
                manifest = await export_ledger(ledger.engine, args.path, progress=advance)
            except InvalidArgumentError:  # a PATH refused (ExportPathNotEmptyError too): exit 2
                if isinstance(unfinished, UnfinishedExport):
                    unfinished.path = None  # refused before anything was written: nothing to remove or report
                raise
    if args.json:
        render.print_json(dataclasses.asdict(manifest))
    else:
        render.console.print(
            f"exported {manifest.event_count} events and {manifest.blob_count} blobs to {args.path}; "
            f"head {manifest.head_position}:{manifest.head_hash}"
        )
    return 0


@dataclasses.dataclass
class UnfinishedExport:
    """What ``export PATH`` may remove when it stops before writing ``manifest.json`` (Ctrl-C, a full
    disk, a lost connection): the directory it made, or what it wrote into the empty one it was
    given. A directory that held anything before is never touched (the export refuses it).

    The library removes what a failed or cancelled export wrote itself; ``begun`` (set once the
    export starts) lets the message still say so, and what a worker thread finished writing after
    that is removed here."""

    path: Path | None
    made: bool = False
    begun: bool = False

    @classmethod
    def of(cls, args: argparse.Namespace) -> UnfinishedExport:
        """Taken before the command runs: whether the export will make ``PATH`` or fill an empty one."""
        if args.command != "export":
            return cls(None)
        path = Path(args.path)
        if not path.exists():
            unfinished = cls(path, made=True)
        elif path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            unfinished = cls(path)
        else:
            return cls(None)
        args.unfinished_export = unfinished  # the command marks it begun
        return unfinished

    def _cleared(self) -> bool:
        """Whether nothing of the export is left: the directory it made is gone, or the one it was given is empty."""
        path = self.path
        if path is None:
            return False
        if self.made:
            return not path.exists()
        return path.is_dir() and not any(path.iterdir())

    def discard(self) -> str:
        """Remove an export that did not finish; returns the words that say so (empty if there was none)."""
        path = self.path
        if path is not None and self.begun and self._cleared():  # the library removed it
            return f"; removed the export that did not finish from {path}"
        if path is None or not path.is_dir() or (path / spec.MANIFEST).exists() or not any(path.iterdir()):
            return ""
        try:
            remove_unfinished_export(path, made=self.made)  # the bundle's own files only
        except OSError as exc:
            return f"; {path} holds an export that did not finish (no {spec.MANIFEST}) and could not be removed: {exc}"
        return f"; removed the export that did not finish from {path}"


AFTER_INTERRUPT = {
    "import": "nothing was imported (the import is one transaction); run it again",
    "rebuild": "the projections are as they were (the rebuild is one transaction)",
    "import-chapkit": "the artifacts imported so far are kept; run it again to import the rest (they are skipped)",
}


def after_interrupt(args: argparse.Namespace) -> str:
    """What a Ctrl-C left behind, for the commands where the user has to know before running them again."""
    words = AFTER_INTERRUPT.get(args.command)
    return f"; {words}" if words else ""


T = TypeVar("T")


async def _abandonable(function: Callable[[str], T], argument: str) -> T:
    """``function(argument)`` in a daemon thread. Unlike ``asyncio.to_thread``, a Ctrl-C does not wait
    for the thread to finish (``asyncio.run`` waits for its executor's threads: a bundle of a million
    events took minutes to stop), and the process exits while it still runs. Only for work that
    writes nothing (verifying a bundle)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():  # cancelled: nobody waits for it any more
            outcome()

    def work() -> None:
        outcome: Callable[[], None]
        try:
            value = function(argument)
        except Exception as exc:
            outcome = functools.partial(done.set_exception, exc)
        else:
            outcome = functools.partial(done.set_result, value)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the command was interrupted and has ended
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name="artifact-ledger-check", daemon=True).start()
    return await done


def _require_directory(path: str) -> None:
    """A mistyped bundle path is bad input (exit 2), not a bundle that failed its checks (exit 1)."""
    given = Path(path)
    if not given.is_dir():
        what = "a file, not a directory" if given.exists() else "no such directory"
        raise InvalidArgumentError(
            f"no bundle at {path}: {what}; give the directory `artifact-ledger export` wrote (it holds {spec.MANIFEST})"
        )


async def _import(args: argparse.Namespace) -> int:
    # Verify the whole bundle before touching the database: a bad bundle writes nothing, not even tables.
    try:
        bundle = await _abandonable(load_bundle, args.path)
    except InvalidBundleError:
        _require_directory(args.path)  # a mistyped path is bad input (exit 2); else the bundle's failure (1)
        raise
    async with Ledger.open(args.db, blobs=args.blobs, namespace=args.namespace) as ledger:
        with _progress("importing", bundle.manifest.event_count, args.json) as advance:
            result = await import_bundle(ledger.engine, bundle, progress=advance)
    if args.json:
        render.print_json(dataclasses.asdict(result))
    elif result.already_contained:
        render.console.print(
            f"the ledger already contains these {result.events_skipped} events (its head is "
            f"{result.head_position}:{result.head_hash}); nothing imported"
        )
    elif result.events_imported == 0:
        render.console.print(f"nothing to import: the ledger already holds all {result.events_skipped} events")
    else:
        render.console.print(
            f"imported {result.events_imported} events and {result.blobs_imported} blobs"
            f"{f' (skipped {result.events_skipped} already present)' if result.events_skipped else ''}; "
            f"head {result.head_position}:{result.head_hash}"
        )
    return 0


CHAPKIT_COLUMNS = ("id", "parent_id", "data", "tags", "created_at")
"""The columns of chapkit's ``artifacts`` table the import reads."""


def _missing_columns(conn: Connection, table: str) -> list[str] | None:
    """None when the database has no ``table``; else the columns of :data:`CHAPKIT_COLUMNS` it lacks."""
    inspector = inspect(conn)
    if not inspector.has_table(table):
        return None
    found = {column["name"] for column in inspector.get_columns(table)}
    return [name for name in CHAPKIT_COLUMNS if name not in found]


async def chapkit_source(url: str, table: str) -> AsyncEngine:
    """An engine on the chapkit database at ``url`` once it is known to hold ``table`` with the columns the
    import reads. A source that cannot be read, or is not a chapkit database, is a :class:`LedgerError`
    naming it (and the table or columns it lacks), before this ledger is opened or created."""
    engine = _source_engine(url)  # no such file, not a database URL, an unsupported scheme: named there
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        async with engine.connect() as conn:
            missing = await conn.run_sync(_missing_columns, table)
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise LedgerError(f"cannot read the chapkit source {shown}: {reason}") from None
    if missing is None or missing:
        await engine.dispose()
        lacks = f"no table {table!r}" if missing is None else f"a table {table!r} without {', '.join(missing)}"
        raise LedgerError(
            f"{shown} is not a chapkit database: it has {lacks} (a chapkit database keeps its artifacts in a table "
            f"with the columns {', '.join(CHAPKIT_COLUMNS)}; --table names another table)"
        )
    return engine


async def _import_chapkit(args: argparse.Namespace) -> int:
    require_trust(args.trust_source)  # refuse before opening anything
    source = await chapkit_source(args.source, args.table)  # a source that is not one: before the ledger is made
    try:
        async with Ledger.open(args.db, blobs=args.blobs, namespace=args.namespace) as ledger:
            with _progress("importing from chapkit", None, args.json) as advance:
                result = await import_chapkit(
                    source, ledger, trust_source=args.trust_source, table=args.table, progress=advance
                )
    finally:
        await source.dispose()
    if args.json:
        render.print_json(dataclasses.asdict(result))
    else:
        render.console.print(
            f"imported {result.imported} chapkit artifacts"
            f"{f' (skipped {result.skipped} already in the ledger)' if result.skipped else ''}",
            highlight=False,
            soft_wrap=True,
        )
        for line in chapkit_time_notes(result):
            render.console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


def chapkit_time_notes(result: ChapkitImportResult) -> list[str]:
    """One line per reason some imported rows are not recorded at their chapkit ``created_at``."""
    notes: list[str] = []
    if result.times_raised_by_ledger:
        notes.append(
            f"{result.times_raised_by_ledger} recorded later than their created_at: the ledger already held "
            "later events, and its time never goes backwards"
        )
    if result.times_raised_by_import:
        notes.append(
            f"{result.times_raised_by_import} recorded later than their created_at: an artifact imported "
            "before them (a parent created after its child) is later, and the log's time never goes backwards"
        )
    if result.times_missing:
        notes.append(f"{result.times_missing} had no created_at (NULL): recorded at the import's time")
    if notes:
        notes.append("each imported event's reason keeps the row's chapkit created_at (see `history ID`)")
    return notes


OPERATIONS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    # An unknown --revision is bad input: exit 2 with its one line, as argparse's own refusals.
    "migrate": exits.guarded(_migrate, bad_input=(InvalidArgumentError,), not_found=()),
    "export": _export,
    "import": _import,
    "import-chapkit": _import_chapkit,
}
