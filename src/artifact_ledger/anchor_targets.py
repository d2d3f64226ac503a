"""Anchor targets: what a ``--to`` value names, what a target did with a note, and a directory target.

``DIR``, ``git:PATH`` or an http(s) witness URL (see :mod:`artifact_ledger.anchors`); a
directory keeps one new file per checkpoint and never rewrites one. The git and witness targets
build on this (:mod:`artifact_ledger.anchor_git`, :mod:`artifact_ledger.anchor_witness`).
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .checkpoint_dir import note_path, read_note_file, write_note
from .checkpoints import Checkpoint
from .errors import AnchorError, InvalidArgumentError, InvalidCheckpointError, LedgerError

GIT_PREFIX = "git:"


@dataclass(frozen=True)
class Target:
    """One ``--to`` value: ``kind`` is ``dir``, ``git`` or ``url``; ``where`` the path or URL."""

    kind: Literal["dir", "git", "url"]
    where: str

    def __str__(self) -> str:
        if self.kind == "git":
            return f"{GIT_PREFIX}{self.where}"
        return mask_url(self.where) if self.kind == "url" else self.where


@dataclass
class Anchored:
    """What one target did with the note: the file it holds (``file``, ``written`` now or before),
    the commit (``commit``, None when the note was committed before), a witness's new signers
    (``cosigned_by``), and the signers a note kept before lacks (``not_kept``: files are never rewritten)."""

    target: Target
    file: Path | None = None
    written: bool = False
    commit: str | None = None
    cosigned_by: list[str] = field(default_factory=list)
    not_kept: list[str] = field(default_factory=list)


def parse_target(text: str) -> Target:
    """``DIR``, ``git:PATH`` or an http(s) URL; :class:`InvalidArgumentError` for anything else."""
    if text.startswith(GIT_PREFIX):
        path = text[len(GIT_PREFIX) :]
        if not path:
            raise InvalidArgumentError("--to git: needs a path: git:PATH, a directory inside a git work tree")
        return Target("git", path)
    scheme, sep, _ = text.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise InvalidArgumentError(
                f"--to {mask_url(text)!r}: a witness URL must be http:// or https://, not {scheme}://"
            )
        if not urllib.parse.urlsplit(text).hostname:
            raise InvalidArgumentError(f"--to {mask_url(text)!r}: the witness URL has no host")
        return Target("url", text)
    if not text:
        raise InvalidArgumentError("--to needs a directory, git:PATH or an http(s) URL")
    return Target("dir", text)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def first_line(text: str) -> str:
    """The first non-blank line of a tool's message (``no message`` when there is none)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def _missing_signers(existing: bytes, checkpoint: Checkpoint) -> list[str] | None:
    """None when the note ``existing`` is not of ``checkpoint``'s tree; otherwise the names of the
    signers of ``checkpoint`` it lacks (empty: it carries them all)."""
    try:
        found = Checkpoint.parse(existing)
    except InvalidCheckpointError:
        return None
    if found.body() != checkpoint.body():
        return None
    return [s.name for s in checkpoint.signatures if s not in found.signatures]


def keep_in_directory(
    directory: Path, checkpoint: Checkpoint, *, target: str | None = None
) -> tuple[Path, bool, list[str]]:
    """Add the note to ``directory``: (its file, whether it was written now, signers not kept).

    A file there already that holds a note of the same tree is kept as it is (the same checkpoint
    again, or a copy with other signatures: the third item names the signers of ``checkpoint`` it
    lacks). A file there with anything else is :class:`AnchorError`: files are never rewritten.
    """
    path = note_path(directory, checkpoint)
    if path.is_file():
        try:
            existing = read_note_file(path)
        except InvalidCheckpointError as exc:
            raise AnchorError(f"{exc}; checkpoint files are never rewritten", target=target or str(directory)) from None
        missing = _missing_signers(existing, checkpoint)
        if missing is not None:
            return path, False, missing
    existed = os.path.lexists(path)
    try:
        write_note(directory, checkpoint)
    except LedgerError as exc:
        raise AnchorError(
            f"{exc}; it is no note of the log {checkpoint.origin} at size {checkpoint.size} (look at who wrote it)",
            target=target or str(directory),
        ) from None
    except OSError as exc:
        raise AnchorError(f"cannot write the note to {directory}: {exc}", target=target or str(directory)) from None
    return path, not existed, []
