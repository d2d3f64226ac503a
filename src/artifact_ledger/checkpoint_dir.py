"""A directory of checkpoint notes: written once, read back, checked against the log.

A checkpoint directory holds one note per checkpoint, named ``<size>-<root prefix>.note``,
created and never rewritten: a note already there with other bytes is refused. The CLI
(``artifact-ledger checkpoint --to DIR``, ``artifact-ledger verify --checkpoints DIR``) and the
HTTP console's verify badge (``serve --checkpoints DIR``) share these functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from .checkpoints import Checkpoint, CheckpointCheck
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
    held: tuple[Path, int] | None = None  # the largest note the log still holds, below the first it does not
    for path, checkpoint in sorted(notes, key=lambda item: item[1].size):
        try:
            check = await ledger.verify_checkpoint(checkpoint, verifier_keys=keys)
        except InvalidCheckpointError as exc:
            raise InvalidCheckpointError(f"{path}: {exc}") from None
        if not check.ok:
            return len(notes), f"checkpoint {path.name} (size {checkpoint.size}): {check.problem}" + _bracket(
                held, check.log_size, checkpoint.size
            )
        held = (path, checkpoint.size)
    return len(notes), None


def _bracket(held: tuple[Path, int] | None, log_size: int, size: int) -> str:
    """Where the change lies, from the notes on either side of it (a rewrite or fork, not a truncation)."""
    if log_size < size:  # events dropped from the end: the check's own words say which
        return ""
    if held is None:
        return f"; no earlier checkpoint to bracket it: the change lies in positions 1-{size}"
    path, below = held
    return f"; checkpoint {path.name} (size {below}) still holds: the change lies in positions {below + 1}-{size}"


NewestState = Literal["verified", "contradicted", "none", "unreadable"]


class NewestCheck(BaseModel):
    """The log against the newest checkpoint of its ledger in a directory (:func:`check_newest`).

    ``state``: ``verified`` (the log still holds the history the note recorded), ``contradicted``
    (it does not: ``problem`` names the note, its size and how the log differs), ``none`` (no note of
    this ledger in the directory yet) or ``unreadable`` (the directory, or a note in it, cannot be
    read or its signature does not verify: ``problem`` says which). ``written_at`` is the note
    file's modification time (a note carries no time of its own). ``signers`` are the names on the
    note's signature lines; ``verified_signers`` those whose signatures were checked with the keys
    given (None: no keys given, signatures not checked).
    """

    model_config = ConfigDict(frozen=True)

    state: NewestState
    directory: str
    notes: int = 0
    file: str | None = None
    checkpoint: Checkpoint | None = None
    written_at: datetime | None = None
    signers: tuple[str, ...] = ()
    verified_signers: tuple[str, ...] | None = None
    check: CheckpointCheck | None = None
    problem: str | None = None


async def check_newest(ledger: Ledger, directory: str | os.PathLike[str], keys: Sequence[str] = ()) -> NewestCheck:
    """Check the log against the newest (largest) note of ``ledger`` in ``directory``.

    Notes of other ledgers are passed over. Nothing is raised for what the directory holds: an
    unreadable directory or note, or a signature that does not verify with ``keys``, is the state
    ``unreadable`` with the reason in ``problem``. The newest note covers every position up to its
    size, so a rewrite of any event it recorded, a truncation below it or a fork is caught by it
    alone (``artifact-ledger verify --checkpoints DIR`` checks every note).
    """
    folder = Path(directory)
    where = str(folder)
    try:
        found = read_notes(folder, None)
    except (InvalidCheckpointError, OSError) as exc:
        return NewestCheck(state="unreadable", directory=where, problem=str(exc))
    mine = [(path, note) for path, note in found if note.ledger_id == ledger.ledger_id]
    if not mine:
        return NewestCheck(state="none", directory=where)
    path, checkpoint = max(mine, key=lambda item: (item[1].size, item[0].name))
    common: dict[str, object] = {
        "directory": where,
        "notes": len(mine),
        "file": path.name,
        "checkpoint": checkpoint,
        "signers": tuple(s.name for s in checkpoint.signatures),
    }
    try:
        written_at: datetime | None = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        written_at = None
    try:
        verified = tuple(checkpoint.verified_by(list(keys))) if keys else None
        check = await ledger.verify_checkpoint(checkpoint, verifier_keys=keys)
    except InvalidCheckpointError as exc:
        return NewestCheck(state="unreadable", written_at=written_at, problem=f"{path}: {exc}", **common)
    common |= {"written_at": written_at, "verified_signers": verified, "check": check}
    if not check.ok:
        problem = f"checkpoint {path.name} (size {checkpoint.size}): {check.problem}"
        return NewestCheck(state="contradicted", problem=problem, **common)
    return NewestCheck(state="verified", **common)
