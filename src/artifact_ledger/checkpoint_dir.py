"""A directory of checkpoint notes: written once, read back, checked against the log.

A checkpoint directory holds one note per checkpoint, named ``<size>-<root prefix>.note``,
created and never rewritten: a note already there with other bytes is refused. The CLI
(``artifact-ledger checkpoint --to DIR``, ``artifact-ledger verify --checkpoints DIR``) and the
HTTP console's verify badge (``serve --checkpoints DIR``) share these functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .checkpoints import Checkpoint
from .errors import InvalidCheckpointError, LedgerError

if TYPE_CHECKING:
    from .ledger import Ledger

SUFFIX = ".note"


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
