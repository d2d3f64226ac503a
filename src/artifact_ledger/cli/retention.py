"""``artifact-ledger retention`` and ``gc`` (dry runs by default, ``--apply`` to act), ``hold`` and ``release``."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ..errors import HoldNotFoundError, InvalidArgumentError, InvalidAttributionError
from ..gc import TEMPORARIES_OLDER_THAN
from ..ledger import Ledger
from ..retention import RetentionPolicy
from . import exits, render
from .values import count, duration


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = sub.add_parser("retention", help="expire old content by a policy (a dry run unless --apply)")
    retention.add_argument(
        "--keep-last", type=count, metavar="N", help="keep the last N data versions of each artifact"
    )
    retention.add_argument("--keep-aliased", action="store_true", help="keep every version an alias points at")
    retention.add_argument("--keep-newer-than", type=duration, metavar="AGE", help="keep versions newer than AGE (30d)")
    retention.add_argument("--apply", action="store_true", help="expire the content (default: report only)")
    retention.add_argument("--reason", help="why (recorded with the retention event)")
    retention.add_argument("--actor", help="who (recorded with the retention event)")
    gc = sub.add_parser("gc", help="delete blobs no version references (a dry run unless --apply)")
    gc.add_argument("--apply", action="store_true", help="delete them (default: report only)")
    gc.add_argument("--reason", help="why (recorded with the gc event)")
    gc.add_argument("--actor", help="who (recorded with the gc event)")
    gc.add_argument(
        "--temporaries-older-than",
        type=duration,
        default=TEMPORARIES_OLDER_THAN,
        metavar="AGE",
        help="also remove the blob directory's temporary files older than AGE, left by a writer that died (default 1d)",
    )
    for name, text in (
        ("hold", "put an artifact on hold: no policy expires its content"),
        ("release", "release a hold"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("id", help="the artifact id")
        parser.add_argument("--reason", required=True, help="why (recorded with the event)")
        parser.add_argument("--actor", help="who (recorded with the event)")


async def run_retention(args: argparse.Namespace) -> int:
    policy = RetentionPolicy(
        keep_last=args.keep_last, keep_aliased=args.keep_aliased, keep_newer_than=args.keep_newer_than
    )
    async with Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger:
        with render.console.status("applying retention" if args.apply else "planning retention"):
            report = await ledger.apply_retention(policy, dry_run=not args.apply, actor=args.actor, reason=args.reason)
    table = Table(title="expired content" if args.apply else "content that would expire (dry run)")
    for column in ("artifact", "version", "hash"):
        table.add_column(column)
    for e in report.expired[:50]:
        table.add_row(e.artifact_id, str(e.version), e.hash[:16])
    if len(report.expired) > 50:
        table.add_row("…", f"{len(report.expired) - 50} more", "")
    render.console.print(table)
    verb = "expired" if args.apply else "would expire"
    render.console.print(
        f"{len(report.expired)} versions {verb}, {len(report.blobs)} blobs, {report.bytes_freed} bytes; "
        f"{report.versions_kept} kept of {report.versions_examined} examined"
        + (f"; events at {', '.join(map(str, report.positions))}" if report.positions else "")
    )
    return 0


async def run_gc(args: argparse.Namespace) -> int:
    stages = {"log": "reading the log", "scan": "listing stored blobs", "delete": "deleting"}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=render.console,
        transient=True,
        disable=not render.console.is_terminal,  # piped or redirected: no bar, and no blank line where it was
    ) as progress:
        task = progress.add_task("gc", total=None)

        def told(stage: str, done: int, total: int | None) -> None:
            progress.update(task, description=stages.get(stage, stage), completed=done, total=total)

        async with Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger:
            report = await ledger.gc(
                dry_run=not args.apply,
                actor=args.actor,
                reason=args.reason,
                progress=told,
                list_blobs=False,
                temporaries_older_than=args.temporaries_older_than,
            )
    table = Table(title="deleted blobs" if args.apply else "unreferenced blobs (dry run)")
    for column in ("store", "blobs", "bytes", "stale temporary files", "their bytes"):
        table.add_column(column)
    for store in report.stores:
        table.add_row(
            store.store, str(store.count), str(store.bytes), str(store.temporaries), str(store.temporary_bytes)
        )
    render.console.print(table)
    verb = "deleted" if args.apply else "would be deleted"
    stale = sum(store.temporaries for store in report.stores)
    stale_bytes = sum(store.temporary_bytes for store in report.stores)
    render.console.print(
        f"{report.blobs} blobs {verb}, {report.bytes_freed - stale_bytes} bytes; "
        f"{report.referenced} referenced blobs kept"
        + (
            f"; {stale} stale temporary files ({stale_bytes} bytes) {'removed' if args.apply else 'would be removed'}"
            if stale
            else ""
        )
        + (f"; events at {', '.join(map(str, report.positions))}" if report.positions else "")
    )
    for store in report.stores:
        if store.kept:
            render.console.print(
                f"{store.kept} unreferenced files ({store.kept_bytes} bytes) kept in {store.store}: the directory "
                f"is shared with the ledgers {', '.join(store.shared_with)}, whose references gc cannot see"
            )
    return 0


async def run_hold(args: argparse.Namespace) -> int:
    async with (
        Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger,
        ledger.manager() as manager,
    ):
        if args.command == "hold":
            hold = await manager.hold(args.id, args.reason, actor=args.actor)
            done = "already held" if hold.position is None else f"held (event {hold.position})"
        else:
            hold = await manager.release(args.id, args.reason, actor=args.actor)
            done = f"released (event {hold.position})"
    render.console.print(f"artifact {hold.artifact_id} {done}")
    return 0


def _exits(run: exits.Run) -> exits.Run:
    """Bad input (a reason or an actor too long included) exits 2 and a hold that is not there 3, each
    with one line; the rest as every command."""
    return exits.guarded(run, bad_input=(InvalidArgumentError, InvalidAttributionError), not_found=(HoldNotFoundError,))


RETENTION_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "retention": _exits(run_retention),
    "gc": _exits(run_gc),
    "hold": _exits(run_hold),
    "release": _exits(run_hold),
}
