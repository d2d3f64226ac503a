"""The exit codes of the commands that refuse bad input (2) and name something that is not there (3)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

Run = Callable[[argparse.Namespace], Awaitable[int]]


def guarded(run: Run, *, bad_input: tuple[type[Exception], ...], not_found: tuple[type[Exception], ...]) -> Run:
    """``run`` with ``bad_input`` exiting 2 and ``not_found`` exiting 3, each with one line on stderr;
    every other error as every command has it."""

    async def checked(args: argparse.Namespace) -> int:
        try:
            return await run(args)
        except bad_input as exc:
            print(f"artifact-ledger: {exc}", file=sys.stderr)
            return 2
        except not_found as exc:
            print(f"artifact-ledger: {exc}", file=sys.stderr)
            return 3

    return checked
