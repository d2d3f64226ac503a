"""A directory of checkpoint notes: written once, read back, checked against the log.

A checkpoint directory holds one note per checkpoint, named ``<size>-<root prefix>.note``,
created and never rewritten: a note already there with other bytes is refused. The CLI
(``artifact-ledger checkpoint --to DIR``, ``artifact-ledger verify --checkpoints DIR``) and the
HTTP console's verify badge (``serve --checkpoints DIR``) share these functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from .checkpoints import Checkpoint, CheckpointCheck, write_new_synced
from .errors import InvalidCheckpointError, LedgerError
from .ledger_checkpoints import accepted, compared
from .verify_bundle import READ_FLAGS, file_kind

if TYPE_CHECKING:
    from .ledger import Ledger

SUFFIX = ".note"


def shown(value: object) -> str:
    """``value`` as text a terminal shows as written: each control, format or other unprintable character (an ANSI
    escape, a carriage return, a right-to-left override, a byte of a name that is not UTF-8) as a backslash escape.
    File names in an anchor directory are whoever could write there's; messages name them through this."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def note_path(directory: Path, checkpoint: Checkpoint) -> Path:
    return directory / f"{checkpoint.size:012d}-{checkpoint.root[:16]}{SUFFIX}"


def write_note(directory: Path, checkpoint: Checkpoint) -> Path:
    """Add the note to ``directory`` (made if missing); the same note again changes nothing.

    The note appears whole or not at all: it is written and synced under a temporary name (``.<name>.<random>.tmp``)
    and linked to its own name, which fails if the name is taken. A write cut short (a full disk, a crash)
    leaves no truncated note behind, which, never rewritten, would fail every later check of the directory.
    Where the file system has no hard links the note is created in place and removed if its write fails.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = note_path(directory, checkpoint)
    text = checkpoint.note().encode()
    temp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        write_new_synced(temp, text, 0o644)
        try:
            os.link(temp, path)
        except FileExistsError:
            return _same_note(path, text)
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            try:
                write_new_synced(path, text, 0o644)
            except FileExistsError:
                return _same_note(path, text)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    _sync_directory(directory)
    return path


_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
"""What ``link`` answers on a file system without hard links (FAT, some network and FUSE mounts)."""


def _same_note(path: Path, text: bytes) -> Path:
    if read_note_file(path) != text:
        raise LedgerError(f"{shown(path)} already holds another note: checkpoint files are never rewritten")
    return path


def _sync_directory(directory: Path) -> None:
    """The new name on disk too (best effort: some systems cannot open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


MAX_NOTE = 1 << 20
"""The most bytes a note file may hold (a note is a few hundred bytes; the stdlib verifier reads as many)."""


def _not_a_note(path: Path, mode: int) -> InvalidCheckpointError:
    return InvalidCheckpointError(f"{shown(path)}: is {file_kind(mode)}, not a note file (a note is a regular file)")


def read_note_file(path: Path) -> bytes:
    """The bytes of the note file ``path``: a regular file (not a link, FIFO, device or directory) of at most
    :data:`MAX_NOTE` bytes. Opening never blocks (``O_NONBLOCK``) and never follows a link in the last
    component. :class:`InvalidCheckpointError` naming the file and why it cannot be read."""
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_note(path, mode)
        fd = os.open(path, READ_FLAGS)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):  # swapped after the check
                raise _not_a_note(path, mode)
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(MAX_NOTE + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link swapped in after the check
            raise InvalidCheckpointError(f"{shown(path)}: is a symbolic link, not a note file") from None
        raise InvalidCheckpointError(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_NOTE:
        raise InvalidCheckpointError(f"{shown(path)}: holds over {MAX_NOTE} bytes, not a checkpoint note")
    return raw


def skipped_entries(folder: Path) -> list[str]:
    """The names in ``folder`` that are not read as notes (not named ``*.note``; ``.git`` left out), sorted."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if not n.endswith(SUFFIX) and n != ".git")


def read_notes(folder: Path, ledger_id: str | None) -> list[tuple[Path, Checkpoint]]:
    """Every note in ``folder`` (each entry named ``*.note``), parsed.

    :class:`InvalidCheckpointError` naming the file that cannot be read (not a regular file, over
    :data:`MAX_NOTE` bytes, an I/O error) or is not a note; other names are not read
    (:func:`skipped_entries` lists them).
    """
    if not folder.is_dir():
        raise InvalidCheckpointError(f"no checkpoint directory at {folder}")
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(SUFFIX))
    except OSError as exc:
        raise InvalidCheckpointError(f"cannot list the checkpoint directory {folder} ({exc.strerror or exc})") from None
    notes: list[tuple[Path, Checkpoint]] = []
    for name in names:
        path = folder / name
        raw = read_note_file(path)
        try:
            notes.append((path, Checkpoint.parse(raw, ledger_id=ledger_id)))
        except InvalidCheckpointError as exc:
            raise InvalidCheckpointError(f"{shown(path)}: {exc}") from None
    return notes


async def check_directory(
    ledger: Ledger, directory: str, keys: Sequence[str], witness_keys: Sequence[str] = ()
) -> tuple[int, str | None]:
    """(notes checked, the first contradiction or None). An unreadable note, one of another ledger, one
    not signed by any of ``keys`` or not co-signed by every one of ``witness_keys`` raises
    :class:`InvalidCheckpointError` naming its file."""
    notes = read_notes(Path(directory), ledger.ledger_id)
    log_size, roots = await event_roots(ledger, [checkpoint.size for _, checkpoint in notes])
    held: tuple[Path, int] | None = None  # the largest note the log still holds, below the first it does not
    for path, checkpoint in sorted(notes, key=lambda item: item[1].size):
        try:
            accepted(ledger.ledger_id, checkpoint, verifier_keys=keys, witness_keys=witness_keys)
        except InvalidCheckpointError as exc:
            raise InvalidCheckpointError(f"{shown(path)}: {exc}") from None
        check = compared(checkpoint, log_size, roots.get(checkpoint.size))
        if not check.ok:
            return len(notes), f"checkpoint {shown(path.name)} (size {checkpoint.size}): {check.problem}" + _bracket(
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
    return (
        f"; checkpoint {shown(path.name)} (size {below}) still holds: the change lies in positions {below + 1}-{size}"
    )


async def event_roots(ledger: Ledger, sizes: Sequence[int]) -> tuple[int, dict[int, str]]:
    """(the log's size, its root at each of ``sizes`` it holds) from the event hashes, in one snapshot and one
    pass: a checkpoint is checked against the events, never the stored Merkle subtrees (see
    :func:`artifact_ledger.proofs.event_roots`)."""
    from .proofs import event_roots as from_events

    return await ledger._proof(lambda driver: from_events(driver, sizes))


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
    try:  # off the event loop: a slow disk or network mount must not stall every other request
        found = await asyncio.to_thread(read_notes, folder, None)
    except Exception as exc:  # whatever the directory holds: unreadable, never an error of the page
        return NewestCheck(state="unreadable", directory=where, problem=str(exc) or type(exc).__name__)
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
        written_at: datetime | None = datetime.fromtimestamp((await asyncio.to_thread(os.lstat, path)).st_mtime, UTC)
    except (OSError, ValueError, OverflowError):
        written_at = None
    try:
        verified = tuple(checkpoint.verified_by(list(keys))) if keys else None
        accepted(ledger.ledger_id, checkpoint, verifier_keys=keys)
        log_size, roots = await event_roots(ledger, [checkpoint.size])
        check = compared(checkpoint, log_size, roots.get(checkpoint.size))
    except Exception as exc:  # a bad signature, no cryptography package, the log unreadable: not checked
        return NewestCheck(
            state="unreadable",
            written_at=written_at,
            problem=f"{shown(path)}: {shown(exc or type(exc).__name__)}",
            **common,
        )
    common |= {"written_at": written_at, "verified_signers": verified, "check": check}
    if not check.ok:
        problem = f"checkpoint {shown(path.name)} (size {checkpoint.size}): {check.problem}"
        return NewestCheck(state="contradicted", problem=problem, **common)
    return NewestCheck(state="verified", **common)
