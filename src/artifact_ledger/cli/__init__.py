"""The ``artifact-ledger`` command: thin over the public API.

Exit codes: 0 ok, 1 verification failed, 2 usage error, 3 not found, 4 other ledger error.
Errors print one line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from ..errors import ArtifactNotFoundError, LedgerError
from ..store.engine import DEFAULT_URL
from . import commands

EXIT_OK, EXIT_VERIFY_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_ERROR = 0, 1, 2, 3, 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifact-ledger",
        description="Hierarchical artifacts in an append-only, hash-chained event log.",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("ARTIFACT_LEDGER_URL", DEFAULT_URL),
        help="database URL (default: $ARTIFACT_LEDGER_URL or %(default)s)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="build a small real ledger and show its tree, history, diff and verify")
    demo.add_argument("--json", action="store_true", help="print a machine-readable summary")

    ls = sub.add_parser("ls", help="list live artifacts")
    ls.add_argument("--type", dest="type_", help="only artifacts whose data['type'] is this")
    ls.add_argument("--level", type=int, help="only artifacts at this level")
    ls.add_argument("--parent", help="only children of this artifact id")
    ls.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    ls.add_argument("--json", action="store_true", help="JSON output")

    show = sub.add_parser("show", help="show one artifact")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="JSON output")

    tree = sub.add_parser("tree", help="draw the tree rooted at an artifact")
    tree.add_argument("id")
    tree.add_argument("--labels", help="comma-separated level labels, e.g. training,prediction,evaluation")
    tree.add_argument("--json", action="store_true", help="JSON output")

    history = sub.add_parser("history", help="every version of an artifact")
    history.add_argument("id")
    history.add_argument("--json", action="store_true", help="JSON output")

    verify = sub.add_parser("verify", help="check the hash chain, blobs and projections; exit 1 if anything is broken")
    verify.add_argument("--since", metavar="POSITION:HASH", help="verify only after this trusted head")
    verify.add_argument(
        "--trusted-head", metavar="POSITION:HASH", help="a head recorded earlier that the log must still hold"
    )
    verify.add_argument("--chain-only", action="store_true", help="skip blobs and projection drift")
    verify.add_argument("--json", action="store_true", help="JSON output")

    sub.add_parser("rebuild", help="replay the log into fresh projections")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return asyncio.run(commands.dispatch(args))
    except KeyboardInterrupt:
        print("artifact-ledger: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except (LedgerError, OSError) as exc:
        if args.debug:
            raise
        print(f"artifact-ledger: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND if isinstance(exc, ArtifactNotFoundError) else EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
