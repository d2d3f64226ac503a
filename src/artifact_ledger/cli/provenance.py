"""``artifact-ledger alias set|rm|ls|history|protect`` and ``artifact-ledger lineage``: thin over the manager."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ..arguments import MAX_COUNT, MAX_VERSION
from ..errors import (
    AliasNotFoundError,
    AliasProtectedError,
    ArtifactNotFoundError,
    ConcurrencyError,
    InvalidArgumentError,
    InvalidLinkError,
)
from ..ids import parse_id
from ..ledger import Ledger
from ..lineage import LineageGraph
from . import exits, render, values
from .reading import open_for_reads


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], timestamp: Any, time_formats: str = "ISO 8601"
) -> None:
    alias = sub.add_parser("alias", help="named pointers at artifact versions (production, staging, ...)")
    actions = alias.add_subparsers(dest="alias_action", required=True, metavar="ACTION")
    set_ = actions.add_parser("set", help="point an alias at an artifact version (default: its current one)")
    set_.add_argument("name", help=NAME_HELP)
    set_.add_argument("id", help="the artifact id")
    set_.add_argument("--version", type=values.version, help="the version to point at (default: the current one)")
    set_.add_argument(
        "--expected", type=expected_target, metavar="ID[@VERSION]", help="refuse unless the alias points there now"
    )
    rm = actions.add_parser("rm", help="remove an alias")
    rm.add_argument("name", help=NAME_HELP)
    rm.add_argument(
        "--expected", type=expected_target, metavar="ID[@VERSION]", help="refuse unless the alias points there now"
    )
    ls = actions.add_parser("ls", help="list aliases (of one artifact with --id)")
    ls.add_argument("--id", help="only the aliases pointing at this artifact")
    history = actions.add_parser("history", help="every change of an alias: who, when, why, from and to")
    history.add_argument("name", help=NAME_HELP)
    history.add_argument(
        "--limit", type=page_size, default=100, metavar="N", help="changes on one page (default 100; 1 to 1,000,000)"
    )
    history.add_argument(
        "--page",
        type=page_number,
        default=1,
        metavar="P",
        help="page P, oldest changes first (default 1); a page cut short prints the next on stderr",
    )
    protect = actions.add_parser("protect", help="protect an alias: moving or removing it then needs --reason")
    protect.add_argument("name", help=NAME_HELP)
    protect.add_argument("--off", action="store_true", help="lift the protection (needs --reason)")
    show = actions.add_parser("show", help="the artifact version an alias points at (now or --as-of)")
    show.add_argument("name", help=NAME_HELP)
    show.add_argument("--as-of", type=timestamp, metavar="TIME", help=f"where it pointed at TIME ({time_formats})")
    for p in (set_, rm, protect):
        p.add_argument("--actor", help="who makes the change")
        p.add_argument("--reason", help="why")
    for p in (set_, rm, ls, history, protect, show):
        p.add_argument("--json", action="store_true", help="JSON output")

    lineage = sub.add_parser("lineage", help="what an artifact was made from (upstream) or what was made from it")
    lineage.add_argument("id", help="the artifact id")
    way = lineage.add_mutually_exclusive_group()
    way.add_argument(
        "--upstream",
        dest="direction",
        action="store_const",
        const="upstream",
        help="what it was made from (the default)",
    )
    way.add_argument(
        "--downstream", dest="direction", action="store_const", const="downstream", help="what was made from it"
    )
    way.add_argument("--both", dest="direction", action="store_const", const="both", help="both ways")
    lineage.add_argument("--depth", type=values.count, metavar="N", help="at most this many hops (default: all)")
    lineage.add_argument(
        "--kind", dest="kinds", action="append", metavar="KIND", help="follow only this link kind; repeatable"
    )
    lineage.add_argument(
        "--as-of", type=timestamp, metavar="TIME", help=f"the links as they stood at TIME ({time_formats})"
    )
    lineage.add_argument(
        "--format",
        choices=("tree", "mermaid", "prov"),
        default="tree",
        help="tree (an indented tree, the default), mermaid (a Mermaid flowchart) or prov (W3C PROV-JSON)",
    )


NAME_HELP = "the alias name, e.g. production"
MAX_PAGE_SIZE = 1_000_000


def page_size(text: str) -> int:
    """``--limit`` of ``alias history``: changes on one page, 1 to 1,000,000 (plain ASCII digits)."""
    value = values.signed_whole(text)
    if value is None or not 1 <= value <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"not a page size: {text!r} (a whole number from 1 to {MAX_PAGE_SIZE:,})")
    return value


def page_number(text: str) -> int:
    """``--page``: a page number from 1 (plain ASCII digits)."""
    value = values.signed_whole(text)
    if value is None or not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"not a page number: {text!r} (a whole number from 1 to {MAX_COUNT:,})")
    return value


def expected_target(text: str) -> str | tuple[str, int]:
    """``--expected ID`` or ``ID@VERSION``: where the alias must point now; a malformed one is a usage error
    (exit 2) naming it, before the ledger is opened."""
    aid, at, version = text.strip().partition("@")
    try:
        parse_id(aid)
    except ArtifactNotFoundError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ID or ID@VERSION: {aid!r} is not an artifact id (26 Crockford base32 characters)"
        ) from None
    if not at:
        return aid
    number = values.signed_whole(version)  # plain ASCII digits: int() also reads 1_0 as 10, +1 and ١ as 1
    if number is None or not 1 <= number <= MAX_VERSION:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ID or ID@VERSION: {version!r} is not a version (a whole number from 1 to {MAX_VERSION:,})"
        )
    return (aid, number)


def _alias_json(alias: Any) -> dict[str, Any]:
    data: dict[str, Any] = alias.model_dump(mode="json")
    return data


async def run_alias(args: argparse.Namespace) -> int:
    action = args.alias_action
    more: str | None = None
    async with (
        Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger,
        ledger.manager() as m,
    ):
        if action == "set":
            shown: Any = _alias_json(
                await m.set_alias(
                    args.name,
                    args.id,
                    version=args.version,
                    expected_target=args.expected,
                    actor=args.actor,
                    reason=args.reason,
                )
            )
        elif action == "rm":
            await m.remove_alias(args.name, expected_target=args.expected, actor=args.actor, reason=args.reason)
            shown = {"removed": args.name}
        elif action == "protect":
            shown = _alias_json(
                await m.protect_alias(args.name, protected=not args.off, actor=args.actor, reason=args.reason)
            )
        elif action == "ls":
            shown = [_alias_json(a) for a in await m.aliases(args.id)]
        elif action == "history":  # one page, read in the database
            changes, total = await m.alias_history_paginated(args.name, args.page, args.limit)
            pages = max(1, (total + args.limit - 1) // args.limit)
            if args.page > pages:
                raise InvalidArgumentError(
                    f"--page {args.page} is past the last page, {pages}, of the {total} change(s) of alias "
                    f"{args.name!r} at --limit {args.limit}"
                )
            shown = [c.model_dump(mode="json") for c in changes]
            if args.page < pages:
                more = f"more: page {args.page} of {pages}; continue with --page {args.page + 1}"
        else:
            out = await m.resolve_alias(args.name, as_of=args.as_of, include_content=False)
            shown = render.artifact_json(out)
    if args.json:
        render.print_json(shown)
    else:
        _print_rows(shown)
    if more is not None:
        print(more, file=sys.stderr)
    return 0


def _print_rows(shown: Any) -> None:
    rows = shown if isinstance(shown, list) else [shown]
    for row in rows:
        render.console.print(
            "  ".join(f"{k}={v}" for k, v in row.items() if k != "data" and v is not None),  # not Python's None
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if not rows:
        render.console.print("no aliases", markup=False)


def _tree_text(graph: LineageGraph) -> str:
    """The graph as an indented tree from the root (a node reached twice is shown once, then by id)."""
    lines: list[str] = []
    upstream = graph.direction != "downstream"

    def label(aid: str) -> str:
        return f"{graph.labels[aid]} ({aid})" if aid in graph.labels else aid

    def walk(aid: str, indent: int, seen: set[str]) -> None:
        edges = graph.upstream_of(aid) if upstream else graph.downstream_of(aid)
        for e in sorted(edges, key=lambda e: (e.kind, e.dst_id, e.src_id)):
            other, version = (e.dst_id, e.dst_version) if upstream else (e.src_id, e.src_version)
            again = other in seen
            lines.append(f"{'  ' * indent}└─ {e.kind} → {label(other)} v{version}{' (see above)' if again else ''}")
            if not again:
                seen.add(other)
                walk(other, indent + 1, seen)

    lines.append(label(graph.root))
    walk(graph.root, 1, {graph.root})
    return "\n".join(lines)


async def run_lineage(args: argparse.Namespace) -> int:
    async with open_for_reads(args) as ledger, ledger.manager() as m:
        graph = await m.lineage(
            args.id, direction=args.direction or "upstream", depth=args.depth, kinds=args.kinds, as_of=args.as_of
        )
    if args.format == "mermaid":
        print(graph.to_mermaid(), end="")
    elif args.format == "prov":
        print(graph.to_prov_json())
    else:
        print(_tree_text(graph))
    return 0


def _exits(run: exits.Run) -> exits.Run:
    """Bad input exits 2 and an alias that is not there 3, each with one line; the rest as every command."""
    bad = (InvalidArgumentError, InvalidLinkError, AliasProtectedError, ConcurrencyError)
    return exits.guarded(run, bad_input=bad, not_found=(AliasNotFoundError,))


PROVENANCE_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "alias": _exits(run_alias),
    "lineage": _exits(run_lineage),
}
