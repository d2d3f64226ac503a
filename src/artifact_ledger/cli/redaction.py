"""``artifact-ledger redact`` (erase content or data fields, for good, with the chain still verifying)
and ``artifact-ledger upgrade-chain`` (seal later events under chain format 2, one way)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from rich.table import Table

from ..errors import ContentNotFoundError, InvalidArgumentError
from ..ledger import Ledger
from . import exits, render, values


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    redact = sub.add_parser(
        "redact",
        help="erase an artifact's content or data fields for good; the chain still verifies",
        description=(
            "Erase the content (default) or the named top-level data fields of one version (--version) or of "
            "every version of an artifact. The erasure is recorded as an artifact.redacted event (who, why, "
            "what); the erased values cannot be read or recovered afterwards, and verify still passes."
        ),
    )
    redact.add_argument("id", help="the artifact id")
    redact.add_argument("--field", action="append", metavar="NAME", help="a top-level data field to erase (repeat)")
    redact.add_argument(
        "--version", type=values.version, metavar="N", help="only this version (default: every version)"
    )
    redact.add_argument("--reason", required=True, help="why (recorded with the redaction event)")
    redact.add_argument("--actor", help="who (recorded with the redaction event)")
    redact.add_argument("--json", action="store_true", help="print JSON")
    upgrade = sub.add_parser(
        "upgrade-chain",
        help="seal every later event under chain format 2, so it can be redacted (one way)",
    )
    upgrade.add_argument("--reason", help="why (recorded with the upgrade event)")
    upgrade.add_argument("--actor", help="who (recorded with the upgrade event)")


async def run_redact(args: argparse.Namespace) -> int:
    async with (
        Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger,
        ledger.manager() as manager,
    ):
        done = await manager.redact(
            args.id, version=args.version, fields=args.field, reason=args.reason, actor=args.actor
        )
    if args.json:
        render.print_json(done.model_dump(mode="json"))
        return 0
    table = Table(title=f"redacted from artifact {done.artifact_id}")
    for column in ("position", "version", "erased"):
        table.add_column(column)
    for position, version, paths in done.erased:
        table.add_row(str(position), str(version), ", ".join(paths))
    render.console.print(table)
    blobs = f"; {len(done.blobs_deleted)} blob(s) deleted" if done.blobs_deleted else ""
    render.console.print(f"recorded as the artifact.redacted event at position {done.position}{blobs}")
    return 0


async def run_upgrade_chain(args: argparse.Namespace) -> int:
    async with Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger:
        before = (await ledger.head()).position
        switch = await ledger.upgrade_chain(actor=args.actor, reason=args.reason)
        appended = (await ledger.head()).position != before
    if not appended:  # format 2 already (every ledger created by this version): nothing was recorded
        render.console.print(
            f"the ledger already seals its events under chain format 2 (redactable) from position {switch} on; "
            "nothing was recorded",
            soft_wrap=True,
        )
        return 0
    render.console.print(f"events from position {switch} on are sealed under chain format 2 (redactable)")
    return 0


def _exits(run: exits.Run) -> exits.Run:
    """Bad input exits 2 and nothing to redact 3, each with one line; the rest as every command."""
    return exits.guarded(run, bad_input=(InvalidArgumentError,), not_found=(ContentNotFoundError,))


REDACTION_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "redact": _exits(run_redact),
    "upgrade-chain": _exits(run_upgrade_chain),
}
