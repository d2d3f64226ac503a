"""The ``artifact-ledger`` command: thin over the public API.

Exit codes: 0 ok, 1 verification failed (``verify``, a bundle that fails its checks, a ledger
whose append-only guards are missing), 2 usage error, 3 not found (an artifact, or the ledger
itself), 4 any other error. Errors print one line on stderr;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from .. import logs
from .._version import __version__
from ..errors import (
    ArtifactNotFoundError,
    BlobStoreError,
    ChainBrokenError,
    InvalidArgumentError,
    InvalidAttributionError,
    InvalidBundleError,
    InvalidCheckpointError,
    LedgerError,
    LedgerNotFoundError,
    NotAReplicaError,
    SchemaTamperedError,
)
from ..integrity import HeadDigest
from ..store.engine import DEFAULT_URL
from ..transfer import ImportConflictError
from . import (
    checkpoints,
    commands,
    completion,
    namespaces,
    operations,
    provenance,
    query,
    reading,
    redaction,
    retention,
    serve,
    values,
)
from .namespaces import NAMESPACE_HELP
from .urls import masked, require_urls

EXIT_OK, EXIT_VERIFY_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_ERROR = 0, 1, 2, 3, 4
MAX_LIMIT = 1_000_000


TIME_FORMATS = (
    "ISO 8601: 2026-03-01T09:30:00Z, 2026-03-01T09:30:00+02:00, or 2026-03-01 (00:00:00 UTC that day); "
    "a time without an offset is UTC"
)


def timestamp(text: str) -> datetime:
    """An ISO 8601 instant for ``--as-of``/``--since``/``--until``: without an offset it is UTC, and
    a date alone is 00:00:00 UTC of that day (see :data:`TIME_FORMATS`)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} ({TIME_FORMATS})") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def limit(text: str) -> int:
    """A row count for ``--limit``: 0 or more (0 lists nothing)."""
    value = values.signed_whole(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    if not 0 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_LIMIT:,} (got {value})")
    return value


def position(text: str) -> int:
    """A log position for ``--after``: zero or more."""
    value = values.signed_whole(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be a log position, 0 or more (got {value})")
    return value


def head(text: str) -> str:
    """A ``POSITION:HASH`` head, as ``artifact-ledger verify --json`` prints it."""
    try:
        HeadDigest.parse(text)
    except (ValueError, LedgerError) as exc:
        raise argparse.ArgumentTypeError(f"not a POSITION:HASH head: {text!r} ({exc})") from None
    return text


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON output")


def _reads(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ls = sub.add_parser("ls", help="list live artifacts")
    ls.add_argument("--type", dest="type_", metavar="TYPE", help="only artifacts whose data['type'] is this")
    ls.add_argument("--level", type=values.count, help="only artifacts at this level")
    ls.add_argument("--parent", help="only children of this artifact id")
    ls.add_argument("--actor", help="only artifacts last updated by this actor")
    ls.add_argument("--limit", type=limit, default=100, help="at most this many rows (default 100)")
    query.add_ls_arguments(ls, timestamp, TIME_FORMATS)
    _json(ls)

    show = sub.add_parser("show", help="show one artifact (now, at a version, or as of a time)")
    show.add_argument("id", help="the artifact id")
    when = show.add_mutually_exclusive_group()
    when.add_argument("--version", type=values.version, help="the artifact at this version")
    when.add_argument(
        "--as-of", type=timestamp, metavar="TIME", help=f"the artifact as it was at TIME ({TIME_FORMATS})"
    )
    _json(show)

    tree = sub.add_parser("tree", help="draw the tree rooted at an artifact")
    tree.add_argument("id", help="the id of the artifact at the top of the tree")
    tree.add_argument("--as-of", type=timestamp, metavar="TIME", help=f"the tree as it was at TIME ({TIME_FORMATS})")
    tree.add_argument("--labels", help="comma-separated level labels, e.g. training,prediction,evaluation")
    _json(tree)

    history = sub.add_parser("history", help="every version of an artifact")
    history.add_argument("id", help="the artifact id")
    history.add_argument(
        "--provenance",
        action="store_true",
        help="also the alias and link events that named it, in position order",
    )
    _json(history)

    diff = sub.add_parser("diff", help="what changed between two versions of an artifact")
    diff.add_argument("id", help="the artifact id")
    diff.add_argument("v1", type=values.version, help="the version to compare from")
    diff.add_argument("v2", type=values.version, nargs="?", help="default: the latest version")
    _json(diff)

    audit = sub.add_parser("audit", help="the attributed event trail, filtered")
    audit.add_argument("--artifact", help="events of this artifact")
    audit.add_argument("--subtree", help="events of artifacts in this subtree when they happened")
    audit.add_argument("--actor", action="append", help="events by this actor (repeatable)")
    audit.add_argument(
        "--type", dest="type_", action="append", metavar="TYPE", help="event type, e.g. artifact.moved (repeatable)"
    )
    audit.add_argument("--since", type=timestamp, metavar="TIME", help=f"recorded at or after TIME ({TIME_FORMATS})")
    audit.add_argument("--until", type=timestamp, metavar="TIME", help="recorded before TIME (formats as --since)")
    audit.add_argument("--after", type=position, default=0, metavar="POSITION", help="continue after this position")
    audit.add_argument("--limit", type=limit, default=100, help="at most this many events (default 100)")
    _json(audit)


def _operations(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = sub.add_parser("verify", help="check the hash chain, blobs and projections; exit 1 if anything is broken")
    verify.add_argument("--since", type=head, metavar="POSITION:HASH", help="verify only after this trusted head")
    verify.add_argument(
        "--trusted-head",
        type=head,
        metavar="POSITION:HASH",
        help="a head recorded earlier that the log must still hold",
    )
    verify.add_argument("--chain-only", action="store_true", help="skip blobs and projection drift")
    checkpoints.add_verify_arguments(verify)
    _json(verify)

    sub.add_parser("rebuild", help="replay the log into fresh projections")

    migrate = sub.add_parser("migrate", help="bring the database schema up to date (Alembic)")
    migrate.add_argument("--revision", default="head", help="target revision, up or down (default: head)")
    migrate.add_argument(
        "--repair-guards",
        action="store_true",
        help="create the append-only triggers (and PostgreSQL functions) again, then run verify",
    )

    export = sub.add_parser("export", help="write the ledger as a bundle directory (events + blobs)")
    export.add_argument("path", help="a new (or empty) directory")
    _json(export)

    imp = sub.add_parser("import", help="verify a bundle and replay it into this (empty) ledger")
    imp.add_argument("path", help="the bundle directory")
    _json(imp)

    chapkit = sub.add_parser("import-chapkit", help="copy a chapkit artifacts table into this ledger")
    chapkit.add_argument("--from", dest="source", required=True, metavar="URL", help="the chapkit database URL")
    chapkit.add_argument(
        "--trust-source",
        action="store_true",
        help="allow unpickling the source's data column (unsigned pickle runs code: only for a database you trust)",
    )
    chapkit.add_argument("--table", default="artifacts", help="the source table (default: artifacts)")
    _json(chapkit)


def _restore(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    restore = sub.add_parser("restore", help="bring a deleted artifact back as it was when deleted (a new version)")
    restore.add_argument("id", help="the artifact id (its parent must be live: restore parents first)")
    restore.add_argument("--actor", help="who restores it")
    restore.add_argument("--reason", help="why")
    _json(restore)


VERBOSE_HELP = "log what the ledger does (the artifact_ledger.* loggers at DEBUG) on stderr"
DEBUG_HELP = "show tracebacks on errors"


def _completion(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shells = ", ".join(completion.SHELLS)
    command = sub.add_parser("completion", help=f"print (or --install) the shell completion script ({shells})")
    command.add_argument(
        "shell", nargs="?", choices=completion.SHELLS, help="bash, zsh or fish (default: the shell in $SHELL)"
    )
    command.add_argument("--install", action="store_true", help="write it where the shell loads completions from")


BLOBS_ENV = "ARTIFACT_LEDGER_BLOBS"
BLOBS_HELP = (
    f"where content bytes live: file:///absolute/path for a blob directory (default: ${BLOBS_ENV}, else the database)"
)


def blobs_default() -> str | None:
    return os.environ.get(BLOBS_ENV) or None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifact-ledger",
        description="Hierarchical artifacts in an append-only, hash-chained event log.",
    )
    from_env = os.environ.get("ARTIFACT_LEDGER_URL")
    shown = f"$ARTIFACT_LEDGER_URL, now {masked(from_env)}" if from_env else f"$ARTIFACT_LEDGER_URL or {DEFAULT_URL}"
    db_help = f"database URL (default: {shown})".replace("%", "%%")  # never the password
    parser.add_argument("--db", default=from_env or DEFAULT_URL, metavar="URL", help=db_help)
    parser.add_argument("--read-db", default=reading.read_db_default(), metavar="URL", help=reading.READ_DB_HELP)
    parser.add_argument("--blobs", default=blobs_default(), metavar="URL", help=BLOBS_HELP)
    parser.add_argument(
        "--namespace",
        default=namespaces.namespace_default(),
        type=namespaces.namespace_name,
        metavar="NAME",
        help=NAMESPACE_HELP,
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument(
        "--install-completion",
        action=completion.CompletionAction,
        install=True,
        help="install completion for SHELL (bash, zsh, fish; default: $SHELL) and exit",
    )
    parser.add_argument(
        "--show-completion", action=completion.CompletionAction, help="print the completion script for SHELL and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="build a small real ledger and show its tree, history, diff and verify")
    demo.add_argument("--json", action="store_true", help="print a machine-readable summary")
    _reads(sub)
    _operations(sub)
    query.add_patch_parser(sub)
    _restore(sub)
    serve.add_parser(sub)
    provenance.add_parsers(sub, timestamp, TIME_FORMATS)
    retention.add_parsers(sub)
    redaction.add_parsers(sub)
    checkpoints.add_parsers(sub)
    namespaces.add_parser(sub)
    _completion(sub)
    # The global options after the subcommand too: `artifact-ledger migrate --db URL -v --debug`, and
    # after an action of a command that has them: `artifact-ledger alias ls --db URL`.
    for command in _with_actions(sub):
        command.add_argument("--db", default=argparse.SUPPRESS, metavar="URL", help=db_help)
        command.add_argument("--read-db", default=argparse.SUPPRESS, metavar="URL", help=reading.READ_DB_HELP)
        command.add_argument("--blobs", default=argparse.SUPPRESS, metavar="URL", help=BLOBS_HELP)
        command.add_argument(
            "--namespace",
            default=argparse.SUPPRESS,
            type=namespaces.namespace_name,
            metavar="NAME",
            help=NAMESPACE_HELP,
        )
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def _with_actions(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[argparse.ArgumentParser]:
    """Every command's parser and, for a command with actions (``alias set``, ``alias ls``...), each action's."""
    found: list[argparse.ArgumentParser] = []
    for command in sub.choices.values():
        found.append(command)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.extend(action.choices.values())
    return found


LIBRARY_ADVICE = "leave it out (None) to record none"


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command (or the command's action, ``alias set``) that ran."""
    found = parser
    for key in ("command", "alias_action"):
        commands = next((a for a in found._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, key, None)
        if commands is None or chosen not in commands.choices:
            break
        found = commands.choices[chosen]
    return found


def _attribution_advice(message: str, command: argparse.ArgumentParser) -> str:
    """The library's advice for an empty ``actor``/``reason`` names its keyword and Python's None; on the
    command line it is the option: leave it out, or, where the command requires it, give one."""
    name = message.split(" ", 1)[0]
    if LIBRARY_ADVICE not in message or name not in ("actor", "reason"):
        return message
    option = f"--{name}"
    required = any(option in a.option_strings and a.required for a in command._actions)
    what = "why" if name == "reason" else "who"
    advice = (
        f"{command.prog} requires {option}: give one that says {what}"
        if required
        else (f"leave {option} out to record none")
    )
    return message.replace(LIBRARY_ADVICE, advice)


def exit_code(exc: BaseException) -> int:
    # An --actor or --reason the log cannot record, or an argument out of range or of the wrong form
    # (a --blobs URL, a namespace on an in-memory database, a revision): bad input, whichever command
    # found it. A --db URL the engine refuses stays exit 4.
    if isinstance(exc, InvalidAttributionError | InvalidArgumentError):
        return EXIT_USAGE
    if isinstance(exc, ArtifactNotFoundError | LedgerNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, InvalidBundleError | SchemaTamperedError | ImportConflictError | InvalidCheckpointError):
        return EXIT_VERIFY_FAILED  # bad input: a bundle that fails its checks or does not fit the ledger
    if isinstance(exc, ChainBrokenError):
        return EXIT_VERIFY_FAILED  # the log's chain does not hold (a rebuild refused, a proof over a gap)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(query.joined_order_by(sys.argv[1:] if argv is None else argv))
    if args.command == "completion":
        return completion.run(parser, args.shell, install=args.install)
    if args.verbose:
        logs.configure()
    unfinished = operations.UnfinishedExport.of(args)  # an export stopped half-way leaves no directory behind
    try:
        require_urls(args)
        return asyncio.run(commands.dispatch(args))
    except KeyboardInterrupt:
        # Ctrl-C: after asyncio.run, so every worker thread has stopped writing before the clean-up.
        print(f"artifact-ledger: interrupted{unfinished.discard()}{operations.after_interrupt(args)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # every error is one line unless --debug
        removed = unfinished.discard()
        if args.debug:
            raise
        known = isinstance(exc, LedgerError | OSError | ValueError)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, InvalidAttributionError):
            message = _attribution_advice(message, _command_parser(parser, args))
        if isinstance(exc, BlobStoreError):  # the library's keyword, create=False, is this command's nature here
            message = message.replace(
                "(and create=False creates nothing)",
                f"and this command creates none: check --blobs (or ${BLOBS_ENV}), the directory the ledger's "
                "content was saved in",
            )
        if isinstance(exc, NotAReplicaError):  # the library's keyword, read_url, is --read-db here
            message = message.replace(
                "or open without read_url", f"or leave out --read-db (and ${reading.READ_DB_ENV})"
            )
            message = message.replace("read_url ", "--read-db ", 1)
        shown = message if known else f"{type(exc).__name__}: {message}"
        print(f"artifact-ledger: {shown}{removed}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
