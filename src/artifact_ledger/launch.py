"""The ``artifact-ledger`` console script: the CLI, imported with Ctrl-C held back.

Importing the CLI loads most of the library (about a second on a small machine). Ctrl-C in that
second used to print Python's traceback of whichever module was loading, or, landing in the import
system's own clean-up, a traceback and then the command ran anyway. Here Ctrl-C during the import is
noted, the import finishes, and the command does not run: the CLI's one line and exit code 4, as
Ctrl-C is later on. This module imports nothing of the library's itself.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

EXIT_INTERRUPTED = 4
"""The CLI's exit code for any other error (``cli.EXIT_ERROR``), which an interrupted command exits with."""


def main() -> int:
    interrupted: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        interrupted.append(signum)

    previous = signal.signal(signal.SIGINT, note)
    try:
        from .cli import main as run
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("artifact-ledger: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run()
