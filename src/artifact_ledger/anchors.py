"""Anchors: the places a checkpoint note is kept outside the database.

``artifact-ledger checkpoint --to`` takes one or more targets:

- ``DIR``: a directory; one new file per checkpoint (:mod:`artifact_ledger.checkpoint_dir`).
- ``git:PATH``: a directory inside a git work tree; the same file, then a commit of that file
  alone, with a message naming the ledger id, size and root. ``git`` runs as a subprocess; an
  identity is supplied with ``-c`` when the machine has none configured.
- ``http://`` or ``https://`` URL: a witness. The note is POSTed as ``text/plain``; a 2xx answer
  that carries a note of the same tree with more signatures is the co-signed note, which the
  local targets then keep.

A file is never rewritten: a note already there for the same tree that carries every signature
of the new one is left as it is (the same checkpoint again, or a co-signed copy of it); anything
else there is refused. Reading back (``verify --checkpoints DIR|git:PATH``) refuses a note whose
contents no longer match its file name (edited after it was written) and, in a git repository,
a note changed since its commit or by a later commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .anchor_git import (
    FALLBACK_EMAIL,
    FALLBACK_NAME,
    GIT_TIMEOUT,
    check_git_notes,
    commit_message,
    git_work_tree,
    keep_in_git,
)
from .anchor_targets import GIT_PREFIX, Anchored, Target, keep_in_directory, mask_url, parse_target
from .anchor_witness import MAX_WITNESS_ANSWER, check_witness_keys, witness
from .checkpoint_dir import SUFFIX, check_directory, note_path, read_notes, shown
from .errors import InvalidCheckpointError

if TYPE_CHECKING:
    from .ledger import Ledger

__all__ = [  # every target's entry points, wherever they live (anchor_targets, anchor_git, anchor_witness)
    "FALLBACK_EMAIL",
    "FALLBACK_NAME",
    "GIT_PREFIX",
    "GIT_TIMEOUT",
    "MAX_WITNESS_ANSWER",
    "Anchored",
    "Target",
    "check_anchor",
    "check_git_notes",
    "check_note_names",
    "check_witness_keys",
    "commit_message",
    "git_work_tree",
    "keep_in_directory",
    "keep_in_git",
    "mask_url",
    "parse_target",
    "witness",
]

_NOTE_NAME = re.compile(r"^(\d{12})-([0-9a-f]{16})" + re.escape(SUFFIX) + "$")


def check_note_names(folder: Path, ledger_id: str | None) -> None:
    """Refuse a note whose contents no longer match its name (``<size>-<root prefix>.note``):
    :class:`InvalidCheckpointError` naming the file and both. Notes named otherwise are not checked."""
    for path, checkpoint in read_notes(folder, ledger_id):
        named = _NOTE_NAME.match(path.name)
        if named is None or path.name == note_path(folder, checkpoint).name:
            continue
        raise InvalidCheckpointError(
            f"{shown(path)}: edited after it was written: its name records size {int(named[1])} and root {named[2]}…, "
            f"its note says size {checkpoint.size} and root {checkpoint.root[:16]}…"
        )


async def check_anchor(
    ledger: Ledger, where: str, keys: Sequence[str], witness_keys: Sequence[str] = ()
) -> tuple[int, str | None]:
    """``verify --checkpoints DIR|git:PATH``: (notes checked, the first contradiction or None).

    A note edited after it was written (its name, or in git its commit, says otherwise), unreadable,
    of another ledger, not signed by any of ``keys`` or not co-signed by every one of ``witness_keys``
    raises :class:`InvalidCheckpointError`.
    """
    folder = where
    if where.startswith(GIT_PREFIX):
        folder = where[len(GIT_PREFIX) :]
        if not folder:
            raise InvalidCheckpointError("--checkpoints git: needs a path: git:PATH")
        check_git_notes(Path(folder), where)
    check_note_names(Path(folder), ledger.ledger_id)
    return await check_directory(ledger, folder, keys, witness_keys)
