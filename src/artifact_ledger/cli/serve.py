"""``artifact-ledger serve``: the HTTP API (and the console, when installed) under uvicorn.

Without ``--tokens`` anyone who can reach the port can write, so the server then listens on a
loopback address only. The token file's path and contents are never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ..arguments import whole_number
from ..errors import InvalidArgumentError, LedgerUnavailableError, MissingExtraError

EXIT_USAGE, EXIT_ERROR = 2, 4
DEFAULT_MAX_BODY = 64 * 1024 * 1024
DEFAULT_MAX_JSON_VALUES = 1_000_000
_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3}


def port(text: str) -> int:
    """A TCP port in plain ASCII digits: ``str.isdigit`` also passes ``٨٠٨٠`` (read as 8080) and ``²``."""
    value = whole_number(text.strip(), 1, 65535)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535, ASCII digits): {text!r}")
    return value


def size(text: str) -> int:
    """A byte count: ``1048576``, ``512K``, ``64M``, ``1G`` (binary units)."""
    match = re.fullmatch(r"\s*([0-9]+)\s*([a-zA-Z]*)\s*", text)  # not \d: that is any script's digits
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1048576, 512K, 64M, 1G)")
    value = int(match.group(1)) * _UNITS[unit]
    if not 1 <= value <= 2**40:
        raise argparse.ArgumentTypeError(f"must be between 1 byte and 1 TiB (got {text!r})")
    return value


def value_budget(text: str) -> int:
    """A number of JSON values: ``250000`` or ``250_000``, 1 to 10**9."""
    digits = text.strip().replace("_", "")
    if not digits.isascii() or not digits.isdigit() or not 1 <= int(digits) <= 10**9:
        raise argparse.ArgumentTypeError(f"not a number of values from 1 to 1000000000: {text!r}")
    return int(digits)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve the HTTP API (extra: pip install 'artifact-ledger[server]')",
        description="Serve the ledger over HTTP: chapkit's artifact routes and the ledger's under /api/v1/artifacts.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=8000, help="TCP port (default 8000)")
    serve.add_argument("--read-only", action="store_true", help="refuse every write (405)")
    serve.add_argument(
        "--tokens",
        metavar="FILE",
        help='bearer tokens: JSON {"<token>": {"actor": "alice", "role": "write"}} (role read or write); '
        "required to listen on a non-loopback address",
    )
    serve.add_argument(
        "--max-body",
        type=size,
        default=DEFAULT_MAX_BODY,
        metavar="SIZE",
        help="refuse request bodies larger than this with 413 (default 64M)",
    )
    serve.add_argument(
        "--max-content",
        type=size,
        default=None,
        metavar="SIZE",
        help="the largest content upload (PUT /{id}/$content, read in chunks); larger ones get 413 "
        "(default: --max-body)",
    )
    serve.add_argument(
        "--max-json-values",
        type=value_budget,
        default=DEFAULT_MAX_JSON_VALUES,
        metavar="N",
        help="refuse JSON request bodies of more values than this with 413, before parsing them "
        "(default 1000000; each value costs memory once parsed, whatever its size in bytes)",
    )
    serve.add_argument(
        "--key-dir",
        metavar="DIR",
        help="where GET /$checkpoint finds the ledger's signing key, <ledger id>.ed25519 (default: the key "
        "directory, as artifact-ledger checkpoint); the server never makes one",
    )
    serve.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="a directory of checkpoint notes (artifact-ledger checkpoint --to DIR): the console's verify "
        "page and badge check the log against the newest of this ledger",
    )
    serve.add_argument(
        "--checkpoint-key",
        action="append",
        metavar="VKEY",
        help="a verifier key (name+keyid+base64): the checkpoint the console checks must carry a valid "
        "signature by one (repeatable)",
    )


def _fail(message: str, code: int) -> int:
    print(f"artifact-ledger: {message}", file=sys.stderr)
    return code


async def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..http import TokenAuth, create_app
    except MissingExtraError as exc:
        return _fail(str(exc), EXIT_ERROR)
    except ImportError as exc:
        missing = exc.name or "a dependency"
        return _fail(
            f"serve needs {missing}, which is not installed: pip install 'artifact-ledger[server]'", EXIT_ERROR
        )
    from ..ledger import Ledger
    from .urls import masked

    auth = None
    if args.tokens is not None:
        try:
            auth = TokenAuth.from_file(args.tokens)
        except InvalidArgumentError as exc:
            return _fail(str(exc).replace(args.tokens, "--tokens"), EXIT_USAGE)
    if auth is None and not is_loopback(args.host):
        return _fail(
            f"refusing to listen on {args.host} without --tokens: anyone who reaches it could write; "
            "give --tokens FILE, or listen on 127.0.0.1",
            EXIT_USAGE,
        )
    async with Ledger.open(args.db, blobs=args.blobs, namespace=args.namespace) as ledger:
        app = create_app(
            ledger,
            read_only=args.read_only,
            auth=auth,
            max_body=args.max_body,
            max_content=args.max_content,
            max_json_values=args.max_json_values,
            key_dir=args.key_dir,
            checkpoints=args.checkpoints,
            checkpoint_keys=args.checkpoint_key or (),
        )
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="info",
            timeout_graceful_shutdown=3,  # event streams never end on their own
            server_header=False,
            proxy_headers=False,
        )
        server = _quiet_stop_server(uvicorn, config)
        mode = ", read-only" if args.read_only else ""
        who = f"{len(auth)} token(s)" if auth is not None else "no authentication: loopback only"
        print(f"serving {masked(args.db)} on http://{args.host}:{args.port} ({who}{mode})", file=sys.stderr)
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits when it cannot bind the port
            raise LedgerUnavailableError(f"could not listen on {args.host}:{args.port}") from None
        if not server.started:
            raise LedgerUnavailableError(f"could not listen on {args.host}:{args.port}")
    return 0


def _quiet_stop_server(uvicorn: Any, config: Any) -> Any:
    """A uvicorn server that stops cleanly on SIGINT/SIGTERM (exit 0).

    uvicorn re-raises the signal after a graceful shutdown, which would end the command as
    "interrupted"; for a server, being told to stop is the normal way to end.
    """

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    return Server(config)


SERVE: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {"serve": _serve}
