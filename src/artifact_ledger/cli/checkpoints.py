"""``artifact-ledger checkpoint [--to DIR]`` and ``artifact-ledger verify --checkpoints DIR``.

A checkpoint directory holds one note per checkpoint, named ``<size>-<root prefix>.note``,
created and never rewritten: a note already there with other bytes is refused. ``verify
--checkpoints`` checks the log against every note in it, oldest first, and reports the first
one the log contradicts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoint_dir import SUFFIX, check_directory, note_path, read_notes, write_note
from ..ledger import Ledger
from . import render

__all__ = ["SUFFIX", "add_parsers", "add_verify_arguments", "check_directory", "note_path", "read_notes", "write_note"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser(
        "checkpoint", help="sign the log's Merkle root now; print the note or add it to a directory (--to)"
    )
    command.add_argument("--to", metavar="DIR", help="write the note into this directory (one file, never rewritten)")
    command.add_argument("--key-dir", metavar="DIR", help="where the ledger's signing key is (default: the key dir)")
    command.add_argument("--unsigned", action="store_true", help="no signature (the root and size only)")
    command.add_argument("--json", action="store_true", help="JSON output")


def add_verify_arguments(verify: argparse.ArgumentParser) -> None:
    verify.add_argument(
        "--checkpoints", metavar="DIR", help="also check the log against every checkpoint note in this directory"
    )
    verify.add_argument(
        "--key",
        action="append",
        metavar="VKEY",
        help="a verifier key (name+keyid+base64): every checkpoint must carry a valid signature by one",
    )


async def run_checkpoint(args: argparse.Namespace) -> int:
    async with Ledger.open(args.db, create=False) as ledger:
        made = await ledger.checkpoint(signers=[] if args.unsigned else None, key_dir=args.key_dir)
    path = write_note(Path(args.to), made) if args.to else None
    if args.json:
        render.print_json(made.model_dump() | {"note": made.note(), "file": str(path) if path else None})
    elif path is not None:
        render.console.print(
            f"checkpoint of {made.size} events written to {path}", markup=False, highlight=False, soft_wrap=True
        )
    else:
        print(made.note(), end="")
    return 0


CHECKPOINT_COMMANDS = {"checkpoint": run_checkpoint}
