"""``ls --where/--order-by/--as-of`` and ``patch --set``: the small command-line filter syntax.

A ``--where`` is ``KEY OP VALUE`` (or a JSON object, given as is): ``OP`` is one of ``=``, ``!=``,
``>``, ``>=``, ``<``, ``<=``, ``^=`` (prefix), ``~=`` (contains); ``KEY?`` means the path exists,
``!KEY?`` that it does not. ``VALUE`` is read as JSON when it is JSON (``3``, ``0.9``, ``true``,
``null``, ``"3"``, ``[1, 2]``), else as text; a list after ``=``/``!=`` means in / not in. Several
``--where`` all hold. Every condition is checked by the library's own parser while the arguments
are read, so a bad one is a usage error (exit 2) naming what is wrong.

``VALUE`` is read as strict JSON, the same for ``--where`` and ``--set``: ``NaN``, ``Infinity`` and
``-Infinity`` are not JSON, so they are text, and a number beyond the range the ledger stores
(``1e999``) is a usage error naming it. A ``--set``/``--unset`` path names a key holding a dot as
``\\.`` and a backslash as ``\\\\``; ``--where`` paths cannot name such a key (the query path grammar
has letters, digits, ``_`` and ``-`` only), so a backslash there is a usage error saying so.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidArgumentError, InvalidArtifactDataError, InvalidQueryError
from ..query.find import MAX_LIMIT
from ..query.language import parse_order, parse_where
from . import exits, values

__all__ = [
    "QUERY_COMMANDS",
    "add_ls_arguments",
    "add_patch_parser",
    "condition",
    "joined_order_by",
    "merge_patch_of",
    "order",
    "run_ls",
    "where_of",
]

_OPS = (">=", "<=", "!=", "^=", "~=", "=", ">", "<")
_NAMES = {">=": "gte", "<=": "lte", "!=": "ne", "^=": "prefix", "~=": "contains", "=": "eq", ">": "gt", "<": "lt"}
_KEY = re.compile(r"\s*(!?)([A-Za-z_][A-Za-z0-9_.\-]*)\s*(\?)?\s*$")
_EXAMPLES = "e.g. 'data.metadata.status=published', 'level>=1', 'tags~=contract', 'data.score?'"


_PATH_ESCAPES = "'\\.' for a dot inside a key, '\\\\' for a backslash"


class _OutOfRange(Exception):
    """A JSON number that no stored value can hold (``1e999``); not a ``ValueError``, so not read as text."""


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _checked_number(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def checked(text: str) -> Any:
        try:
            number = parse(text)
        except ValueError:  # an integer of more digits than Python converts
            raise _OutOfRange(text) from None
        if number in (float("inf"), float("-inf")):
            raise _OutOfRange(text)
        return number

    return checked


_FLOAT, _INT = _checked_number(float), _checked_number(int)


def _value(text: str) -> Any:
    """``VALUE`` as strict JSON when it is JSON, else as the text itself (stripped).

    ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON, so they (and ``[NaN]``) are text; a number
    too large for a float (``1e999``) raises :class:`InvalidArgumentError` naming it.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped, parse_constant=_not_json, parse_float=_FLOAT, parse_int=_INT)
    except _OutOfRange as exc:
        raise InvalidArgumentError(
            f"{str(exc)[:40]} is a number beyond the range the ledger stores (a float is at most about 1.8e308); "
            f"quote it as JSON text ('\"{stripped[:40]}\"') to keep it as text"
        ) from None
    except ValueError:
        return stripped


def _path_keys(path: str) -> list[str]:
    """A ``--set``/``--unset`` path split at its dots: ``\\.`` is a dot inside a key and ``\\\\`` a
    backslash; any other backslash raises :class:`InvalidArgumentError`."""
    keys: list[str] = []
    key: list[str] = []
    chars = iter(enumerate(path))
    for at, char in chars:
        if char == "\\":
            escaped = next(chars, (at, ""))[1]
            if escaped not in (".", "\\"):
                raise InvalidArgumentError(
                    f"a backslash in a path must be followed by '.' or '\\' ({_PATH_ESCAPES}); "
                    f"'{path[at : at + 2]}' at index {at} is not"
                )
            key.append(escaped)
        elif char == ".":
            keys.append("".join(key))
            key = []
        else:
            key.append(char)
    keys.append("".join(key))
    return keys


def condition(text: str) -> dict[str, Any]:
    """One ``--where`` as a filter dict (checked: ``argparse.ArgumentTypeError`` says what is wrong)."""
    try:
        if text.lstrip().startswith("{"):
            try:
                found = json.loads(text)
            except ValueError as exc:
                raise InvalidQueryError(f"not a JSON object: {exc}") from None
        else:
            found = _parse(text)
        parse_where(found)
    except InvalidArgumentError as exc:  # InvalidQueryError, or a VALUE out of range
        raise argparse.ArgumentTypeError(f"{text!r:.80}: {exc}") from None
    return found  # type: ignore[no-any-return]


def _parse(text: str) -> dict[str, Any]:
    cut = min(((text.find(op), op) for op in _OPS if op in text), default=None, key=lambda found: found[0])
    if "\\" in (text if cut is None else text[: cut[0]]):
        raise InvalidQueryError(
            "a --where key cannot name a key holding a dot or a backslash: query paths are segments of "
            "letters, digits, '_' or '-' (the '\\.' escape is for patch --set/--unset paths only)"
        )
    if cut is None:
        bare = _KEY.fullmatch(text)
        if bare is None or bare.group(3) is None:
            raise InvalidQueryError(f"expected KEY OP VALUE with OP one of {' '.join(_OPS)}, or KEY? ({_EXAMPLES})")
        return {bare.group(2): {"exists": not bare.group(1)}}
    at, _ = cut
    op = next(o for o in _OPS if text.startswith(o, at))  # the longest operator at that place
    key, raw = text[:at].strip(), text[at + len(op) :]
    if not key:
        raise InvalidQueryError(f"no key before {op!r} ({_EXAMPLES})")
    value = _value(raw)
    name = _NAMES[op]
    if isinstance(value, list) and name in ("eq", "ne"):
        name = "in" if name == "eq" else "nin"
    return {key: {name: value}}


def joined_order_by(argv: Sequence[str]) -> list[str]:
    """``--order-by -updated_at`` as ``--order-by=-updated_at`` (argparse would read the value as an option)."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        if items[i] == "--order-by" and i + 1 < len(items) and items[i + 1].startswith("-"):
            out.append(f"--order-by={items[i + 1]}")
            i += 2
            continue
        out.append(items[i])
        i += 1
    return out


def where_of(conditions: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """Several ``--where`` as one filter (all must hold)."""
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def order(text: str) -> str:
    try:
        parse_order(text)
    except InvalidQueryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_ls_arguments(ls: argparse.ArgumentParser, timestamp: Any, time_formats: str = "ISO 8601") -> None:
    ls.add_argument(
        "--where",
        action="append",
        type=condition,
        metavar="COND",
        help=f"only artifacts matching COND (repeatable, all must hold): {_EXAMPLES}, or a JSON filter",
    )
    ls.add_argument(
        "--order-by",
        type=order,
        default="id",
        metavar="FIELD",
        help="id, created_at, updated_at or data.<path>; '-' in front for descending (default: id)",
    )
    ls.add_argument(
        "--as-of", type=timestamp, metavar="TIME", help=f"the artifacts as they were at TIME ({time_formats})"
    )
    ls.add_argument(
        "--after",
        metavar="CURSOR",
        help="continue where a listing cut by --limit stopped: the cursor it printed on stderr "
        "('more: continue with --after CURSOR'), with the same --where, --order-by and --as-of",
    )


def _assignment(text: str, *, unset: bool = False) -> tuple[list[str], Any]:
    path, sep, raw = text.partition("=")
    if unset:
        path, raw, sep = text, "null", "="
    try:
        keys = _path_keys(path.strip())
        if not sep or keys[0] != "data" or len(keys) < 2 or not all(keys[1:]):
            shape = "data.<path>" if unset else "data.<path>=VALUE"
            raise InvalidArgumentError(
                f"expected {shape}, e.g. data.metadata.status=published ({_PATH_ESCAPES}, e.g. 'data.a\\.b=1')"
            )
        return keys[1:], None if unset else _value(raw)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(f"{text!r:.80}: {exc}") from None


def merge_patch_of(sets: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """``--set``/``--unset`` as one RFC 7396 merge patch of the data."""
    patch: dict[str, Any] = {}
    for keys, value in sets:
        node = patch
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1]] = value
    return patch


def add_patch_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    patch = sub.add_parser("patch", help="change part of an artifact's data (a merge patch); content is kept")
    patch.add_argument("id", help="the artifact id")
    patch.add_argument(
        "--set",
        dest="sets",
        action="append",
        type=_assignment,
        default=[],
        metavar="PATH=VALUE",
        help="set data.<path> to VALUE (strict JSON if it parses, else text: NaN and Infinity are text; "
        "a number beyond a float's range is refused); '\\.' is a dot inside a key, '\\\\' a backslash; "
        "repeatable",
    )
    patch.add_argument(
        "--unset",
        dest="sets",
        action="append",
        type=lambda text: _assignment(text, unset=True),
        metavar="PATH",
        help="remove data.<path> ('\\.' is a dot inside a key, '\\\\' a backslash); repeatable",
    )
    patch.add_argument("--tags", help="replace the tags (comma-separated; '' for none)")
    patch.add_argument(
        "--expected-version", type=values.version, metavar="N", help="refuse unless the artifact is at this version"
    )
    patch.add_argument("--actor", help="who makes the change")
    patch.add_argument("--reason", help="why")
    patch.add_argument("--json", action="store_true", help="JSON output")


async def run_ls(args: argparse.Namespace) -> int:
    """``ls``: every filter (``--where`` and the older ``--type/--level/--parent/--actor``) as one ``find``."""
    from . import render
    from .reading import open_for_reads

    conditions: list[dict[str, Any]] = list(args.where or [])
    for given, key in ((args.type_, "data.type"), (args.level, "level"), (args.parent, "parent_id")):
        if given is not None:
            conditions.append({key: given})
    if args.actor is not None:
        conditions.append({"updated_by": args.actor})
    rows: list[Any] = []
    next_cursor = args.after
    try:
        async with open_for_reads(args) as ledger, ledger.manager() as manager:
            while len(rows) < args.limit:
                page = await manager.find(
                    where_of(conditions),
                    order_by=args.order_by,
                    limit=min(args.limit - len(rows), MAX_LIMIT),
                    after=next_cursor,
                    as_of=args.as_of,
                )
                rows.extend(page.items)
                next_cursor = page.next_cursor
                if next_cursor is None:
                    break
    except InvalidQueryError as exc:
        print(f"artifact-ledger: {_in_ls_words(str(exc), args)}", file=sys.stderr)
        return 2
    if args.json:
        render.print_json([render.artifact_json(r) for r in rows])
    else:
        title = f"artifacts as of {render.shown_time(args.as_of)}" if args.as_of else "artifacts"
        render.console.print(render.artifacts_table(rows, title=title))
        if not rows:  # an empty table alone reads as a display fault
            filtered = conditions or args.after is not None
            render.console.print("no artifacts match" if filtered else "no live artifacts", markup=False)
    if next_cursor is not None and rows:
        print(f"more: continue with --after {next_cursor}", file=sys.stderr)
    return 0


_CURSOR_WORDS = (
    (
        "pass the next_cursor of the previous page of the same query, or start again without after=",
        "give the cursor the previous page printed ('more: continue with --after ...') with the same --where, "
        "--order-by and --as-of, or run ls again without --after",
    ),
    ("a cursor find() returned", "a cursor ls printed"),
    ("(a different where, order_by or as_of)", "(a different --where, --order-by or --as-of)"),
)


def _in_ls_words(message: str, args: argparse.Namespace) -> str:
    """The query language's refusal as ``ls`` takes its input: the options, not ``find()``'s keywords
    (``after=``, ``next_cursor``) nor the condition ``--parent`` became."""
    if message.startswith("after"):
        for library, cli in _CURSOR_WORDS:
            message = message.replace(library, cli)
        return "--after" + message.removeprefix("after")
    if args.parent is not None and message.startswith(f"parent_id eq: {args.parent!r:.80}"):
        return "--parent" + message.removeprefix("parent_id eq")
    return message


async def run_patch(args: argparse.Namespace) -> int:
    from ..ledger import Ledger
    from . import render

    if not args.sets and args.tags is None:
        print("artifact-ledger: patch needs --set, --unset or --tags", file=sys.stderr)
        return 2
    tags = None if args.tags is None else [t.strip() for t in args.tags.split(",") if t.strip()]
    async with (
        Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger,
        ledger.manager() as manager,
    ):
        out = await manager.patch(
            args.id,
            merge_patch_of(args.sets),
            tags=tags,
            expected_version=args.expected_version,
            actor=args.actor,
            reason=args.reason,
        )
    if args.json:
        render.print_json(render.artifact_json(out))
    else:
        render.console.print(render.artifacts_table([out], title="patched"))
    return 0


QUERY_COMMANDS = {
    # Data the ledger refuses (not JSON, beyond 64 bits, a NUL, a failed schema) came from --set: bad input.
    "patch": exits.guarded(run_patch, bad_input=(InvalidArtifactDataError,), not_found=()),
}
