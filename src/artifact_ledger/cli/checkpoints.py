"""``artifact-ledger checkpoint [--to DIR]`` and ``artifact-ledger verify --checkpoints DIR``.

A checkpoint directory holds one note per checkpoint, named ``<size>-<root prefix>.note``,
created and never rewritten: a note already there with other bytes is refused. ``verify
--checkpoints`` checks the log against every note in it, oldest first, and reports the first
one the log contradicts.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from ..checkpoints import Checkpoint
from ..errors import InvalidCheckpointError, LedgerError
from ..ledger import Ledger
from . import render

SUFFIX = ".note"


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


def note_path(directory: Path, checkpoint: Checkpoint) -> Path:
    return directory / f"{checkpoint.size:012d}-{checkpoint.root[:16]}{SUFFIX}"


def write_note(directory: Path, checkpoint: Checkpoint) -> Path:
    """Add the note to ``directory`` (made if missing); the same note again changes nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    path = note_path(directory, checkpoint)
    text = checkpoint.note().encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if path.read_bytes() != text:
            raise LedgerError(f"{path} already holds another note: checkpoint files are never rewritten") from None
        return path
    with os.fdopen(fd, "wb") as handle:
        handle.write(text)
    return path


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


def read_notes(folder: Path, ledger_id: str | None) -> list[tuple[Path, Checkpoint]]:
    """Every note in ``folder``, parsed (:class:`InvalidCheckpointError` naming the file that is not one)."""
    if not folder.is_dir():
        raise InvalidCheckpointError(f"no checkpoint directory at {folder}")
    notes: list[tuple[Path, Checkpoint]] = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            notes.append((path, Checkpoint.parse(path.read_bytes(), ledger_id=ledger_id)))
        except InvalidCheckpointError as exc:
            raise InvalidCheckpointError(f"{path}: {exc}") from None
    return notes


async def check_directory(ledger: Ledger, directory: str, keys: Sequence[str]) -> tuple[int, str | None]:
    """(notes checked, the first contradiction or None). An unreadable note, one of another ledger or
    one not signed by any of ``keys`` raises :class:`InvalidCheckpointError` naming its file."""
    notes = read_notes(Path(directory), ledger.ledger_id)
    for path, checkpoint in sorted(notes, key=lambda item: item[1].size):
        try:
            check = await ledger.verify_checkpoint(checkpoint, verifier_keys=keys)
        except InvalidCheckpointError as exc:
            raise InvalidCheckpointError(f"{path}: {exc}") from None
        if not check.ok:
            return len(notes), f"checkpoint {path.name} (size {checkpoint.size}): {check.problem}"
    return len(notes), None


CHECKPOINT_COMMANDS = {"checkpoint": run_checkpoint}
