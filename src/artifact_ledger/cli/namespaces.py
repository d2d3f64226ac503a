"""``artifact-ledger namespaces``: the namespaces of the database, and the global ``--namespace``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable

from rich.table import Table

from ..errors import InvalidArgumentError, LedgerNotFoundError
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
    """Every namespace that holds a ledger (the default one only when it exists); creates nothing."""
    rows: list[dict[str, object]] = []
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
        rows.append({"namespace": name, "events": head.position, "ledger_id": opened.ledger_id})
    if not rows:  # no ledger at all: said as every other command says it (exit 3), not an empty table
        raise not_found(args.db)
    if args.json:
        render.print_json(rows)
        return 0
    table = Table(title="namespaces")
    for column in ("namespace", "events", "ledger id"):
        table.add_column(column, justify="right" if column == "events" else "left")
    for row in rows:
        table.add_row(str(row["namespace"]), f"{row['events']:,}", str(row["ledger_id"]))
    render.console.print(table)
    return 0


NAMESPACE_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {"namespaces": run_namespaces}
