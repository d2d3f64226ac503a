"""``artifact-ledger namespaces``: the namespaces of the database, and the global ``--namespace``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable

from rich.markup import escape
from rich.table import Table

from ..errors import InvalidArgumentError, LedgerError, LedgerNotFoundError
from ..ledger import Ledger
from ..namespaces import DEFAULT, check_name, list_namespaces
from ..opening import not_found
from ..store.engine import create_engine
from . import render

NAMESPACE_ENV = "ARTIFACT_LEDGER_NAMESPACE"
NAMESPACE_HELP = (
    f"the namespace to work in: an independent ledger in the same database (default: ${NAMESPACE_ENV}, "
    f"else {DEFAULT}); a write creates it, a read of an unknown one fails and creates nothing"
)


def namespace_default() -> str:
    return os.environ.get(NAMESPACE_ENV) or DEFAULT


def namespace_name(text: str) -> str:
    """``--namespace``'s type: a bad name is a usage error (exit 2), naming the rule."""
    try:
        return check_name(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("namespaces", help="list the namespaces of the database, with their size and ledger id")
    parser.add_argument("--json", action="store_true", help="print JSON")


async def run_namespaces(args: argparse.Namespace) -> int:
    """Every namespace that holds a ledger (the default one only when it exists); creates nothing.

    A namespace that cannot be opened (its guards dropped, a table missing, a damaged file) is
    listed with the reason, and the listing goes on: the operator sees every namespace, then the
    command exits non-zero (:func:`_worst`)."""
    rows: list[dict[str, object]] = []
    failed: list[Exception] = []
    engine = create_engine(args.db)
    try:
        names = await list_namespaces(engine)
    finally:
        await engine.dispose()
    for name in names:
        try:
            async with Ledger.open(args.db, create=False, namespace=name) as opened:
                head = await opened.head()
        except LedgerNotFoundError:
            continue  # no default ledger beside the namespaces
        except Exception as exc:  # every other namespace still listed; the exit code says it failed
            if args.debug:
                raise
            failed.append(exc)
            rows.append({"namespace": name, "events": None, "ledger_id": None, "error": _reason(exc)})
            continue
        rows.append({"namespace": name, "events": head.position, "ledger_id": opened.ledger_id, "error": None})
    if not rows:  # no ledger at all: said as every other command says it (exit 3), not an empty table
        raise not_found(args.db)
    if args.json:
        render.print_json(rows)
    else:
        _table(rows, problems=bool(failed))
    if not failed:
        return 0
    bad = ", ".join(repr(row["namespace"]) for row in rows if row["error"] is not None)
    print(
        f"artifact-ledger: {len(failed)} of {len(rows)} namespaces cannot be opened ({bad}): see each one's "
        "reason above",
        file=sys.stderr,
    )
    return _worst(failed)


def _reason(exc: Exception) -> str:
    """The error's first line, as the CLI prints any error (its type named when it is not one of ours)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return message if isinstance(exc, LedgerError | OSError | ValueError) else f"{type(exc).__name__}: {message}"


def _worst(failed: list[Exception]) -> int:
    """The exit code of the listing: each failure's own (docs/cli.md), the highest of them, so that
    guards dropped (1) beside an unreachable or damaged namespace (4) still exits 4."""
    from . import exit_code  # the CLI's one mapping of errors to exit codes (it imports this module)

    return max(exit_code(exc) for exc in failed)


def _table(rows: list[dict[str, object]], *, problems: bool) -> None:
    table = Table(title="namespaces")
    table.add_column("namespace")
    table.add_column("events", justify="right")
    table.add_column("ledger id", no_wrap=True)  # never cut, whatever the problem column needs
    if problems:
        table.add_column("problem", overflow="fold")
    for row in rows:
        events = "-" if row["events"] is None else f"{row['events']:,}"
        cells = [str(row["namespace"]), events, str(row["ledger_id"] or "-")]
        if problems:
            cells.append(f"cannot be opened: {row['error']}" if row["error"] is not None else "")
        table.add_row(*(escape(cell) for cell in cells))  # a reason names a path, which may hold [brackets]
    render.console.print(table)


NAMESPACE_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {"namespaces": run_namespaces}
