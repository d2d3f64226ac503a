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

import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ._version import __version__
from .checkpoint_dir import SUFFIX, check_directory, note_path, read_notes, write_note
from .checkpoints import Checkpoint, CheckpointSignature
from .errors import AnchorError, InvalidArgumentError, InvalidCheckpointError, LedgerError

if TYPE_CHECKING:
    from .ledger import Ledger

GIT_PREFIX = "git:"
FALLBACK_NAME = "artifact-ledger"
FALLBACK_EMAIL = "artifact-ledger@localhost"
GIT_TIMEOUT = 60.0
MAX_WITNESS_ANSWER = 64 * 1024
_NOTE_NAME = re.compile(r"^(\d{12})-([0-9a-f]{16})" + re.escape(SUFFIX) + "$")
# Variables a git hook or a caller's shell may set that would point git at another repository.
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")


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


# ---- a directory -------------------------------------------------------------------------------


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
        missing = _missing_signers(path.read_bytes(), checkpoint)
        if missing is not None:
            return path, False, missing
    existed = path.exists()
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


# ---- git ---------------------------------------------------------------------------------------


def _git_executable(target: str, error: type[LedgerError] = AnchorError) -> str:
    git = shutil.which("git")
    if git is None:
        message = f"git is not installed (no git on PATH): cannot use {target}; install git or use --to DIR"
        if error is AnchorError:
            raise AnchorError(message, target=target)
        raise error(message)
    return git


def _run_git(git: str, cwd: Path, *args: str, target: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV}
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        return subprocess.run(
            [git, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise AnchorError(f"git {args[0]} in {cwd} did not finish in {GIT_TIMEOUT:g}s", target=target) from None
    except OSError as exc:
        raise AnchorError(f"cannot run git for {target}: {exc}", target=target) from None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def git_work_tree(path: Path, target: str, error: type[LedgerError] = InvalidArgumentError) -> tuple[str, Path]:
    """(the git executable, the top of the work tree holding the directory ``path``).

    ``error`` (default :class:`InvalidArgumentError`) when ``path`` is no directory in a git work tree;
    git missing is :class:`AnchorError` (or ``error`` when it is not the default).
    """
    git = _git_executable(target, AnchorError if error is InvalidArgumentError else error)
    if not path.is_dir():
        raise error(f"{target}: there is no directory {path} (make it inside a git repository: git init {path})")
    done = _run_git(git, path, "rev-parse", "--show-toplevel", target=target)
    if done.returncode != 0 or not done.stdout.strip():
        raise error(f"{target}: {path} is not in a git work tree ({_first_line(done.stderr)}); run git init {path}")
    return git, Path(done.stdout.strip()).resolve()


def _identity(git: str, top: Path, target: str) -> list[str]:
    """``-c user.name=… -c user.email=…`` for what git config does not set (a machine without it)."""
    options: list[str] = []
    for key, fallback in (("user.name", FALLBACK_NAME), ("user.email", FALLBACK_EMAIL)):
        if _run_git(git, top, "config", "--get", key, target=target).returncode != 0:
            options += ["-c", f"{key}={fallback}"]
    return options


def commit_message(checkpoint: Checkpoint) -> str:
    """The commit message of a checkpoint: the same for the same checkpoint on every machine."""
    ledger = checkpoint.ledger_id or checkpoint.origin
    return f"artifact-ledger checkpoint: ledger {ledger}, size {checkpoint.size}, root {checkpoint.root}\n"


def _porcelain(git: str, top: Path, relative: str, target: str) -> list[tuple[str, str]]:
    """``git status`` of the pathspec ``relative``: (two-letter code, path from the top) per entry."""
    done = _run_git(git, top, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", relative, target=target)
    if done.returncode != 0:
        raise AnchorError(f"git status failed in {top}: {_first_line(done.stderr)}", target=target)
    entries: list[tuple[str, str]] = []
    fields = done.stdout.split("\0")
    index = 0
    while index < len(fields):
        item = fields[index]
        index += 1
        if len(item) < 4:
            continue
        code, path = item[:2], item[3:]
        if code[0] in "RC":  # a rename or copy: the source follows
            index += 1
        entries.append((code, path))
    return entries


def keep_in_git(path: Path, checkpoint: Checkpoint) -> Anchored:
    """Write the note into ``path`` (a directory in a git work tree) and commit that file alone.

    The note's file already committed with this checkpoint (or a co-signed copy) changes nothing.
    :class:`AnchorError` when git is missing, the file has changes not committed or holds another
    note, or the commit fails (git's message included; the note stays written, and the next run
    commits it). :class:`InvalidArgumentError` when ``path`` is not in a git work tree.
    """
    target = Target("git", str(path))
    git, top = git_work_tree(path, str(target))
    file = note_path(path, checkpoint)
    relative = os.path.relpath(file.resolve(), top)
    before = _porcelain(git, top, relative, str(target)) if file.exists() else []
    if any(code not in ("??", "A ") for code, _ in before):
        raise AnchorError(
            f"{file} has changes not committed ({before[0][0].strip()} in git status): a checkpoint file is "
            f"never rewritten; see git diff HEAD -- {relative}",
            target=str(target),
        )
    file, written, missing = keep_in_directory(path, checkpoint, target=str(target))
    if not written and not before and _tracked(git, top, relative, str(target)):
        return Anchored(target, file=file, not_kept=missing)  # committed before, unchanged since
    added = _run_git(git, top, "add", "--", relative, target=str(target))
    if added.returncode != 0:
        raise AnchorError(
            f"git add {relative} failed in {top}: {_first_line(added.stderr)} (the note is written at {file})",
            target=str(target),
        )
    done = _run_git(
        git,
        top,
        *_identity(git, top, str(target)),
        "commit",
        "--quiet",
        "-m",
        commit_message(checkpoint),
        "--",
        relative,
        target=str(target),
    )
    if done.returncode != 0:
        raise AnchorError(
            f"git commit of {relative} failed in {top}: {_first_line(done.stderr or done.stdout)} "
            f"(the note is written at {file}, not committed; the next checkpoint --to {target} commits it)",
            target=str(target),
        )
    head = _run_git(git, top, "rev-parse", "HEAD", target=str(target))
    return Anchored(target, file=file, written=written, commit=head.stdout.strip() or None, not_kept=missing)


def _tracked(git: str, top: Path, relative: str, target: str) -> bool:
    return _run_git(git, top, "ls-files", "--error-unmatch", "--", relative, target=target).returncode == 0


def check_git_notes(path: Path, target: str) -> None:
    """Refuse notes in ``path`` that git says were changed after their commit.

    :class:`InvalidCheckpointError` naming the file: changed in the work tree since its commit,
    deleted from it, or changed or removed by a later commit. Notes written but never committed are
    read like any other.
    """
    git, top = git_work_tree(path, target, InvalidCheckpointError)
    relative = os.path.relpath(path.resolve(), top)
    for code, name in _porcelain(git, top, relative, target):
        if code in ("??", "A ") or not _is_note(name, relative):
            continue
        what = "deleted from the work tree" if "D" in code else "changed in the work tree"
        raise InvalidCheckpointError(
            f"{top / name}: {what} since its commit; a checkpoint file is never rewritten "
            f"(git diff HEAD -- {name} shows what changed, git log -- {name} who committed it)"
        )
    log = _run_git(
        git, top, "log", "--format=commit %H", "--name-status", "--diff-filter=DMRT", "--", relative, target=target
    )
    if log.returncode != 0:
        if "does not have any commits" in log.stderr:
            return
        raise InvalidCheckpointError(f"{target}: git log failed in {top}: {_first_line(log.stderr)}")
    commit = ""
    for line in log.stdout.splitlines():
        if line.startswith("commit "):
            commit = line[len("commit ") :]
            continue
        status, _, names = line.partition("\t")
        name = names.split("\t")[0]
        if status and _is_note(name, relative):
            raise InvalidCheckpointError(
                f"{top / name}: changed or removed by commit {commit[:12]} after it was committed; a checkpoint "
                f"file is never rewritten (git show {commit[:12]} shows the change)"
            )


def _is_note(name: str, relative: str) -> bool:
    """``name`` (from the top of the work tree) is a note directly in the directory ``relative``."""
    parent = os.path.dirname(name) or "."
    return name.endswith(SUFFIX) and os.path.normpath(parent) == os.path.normpath(relative)


# ---- reading back ------------------------------------------------------------------------------


def check_note_names(folder: Path, ledger_id: str | None) -> None:
    """Refuse a note whose contents no longer match its name (``<size>-<root prefix>.note``):
    :class:`InvalidCheckpointError` naming the file and both. Notes named otherwise are not checked."""
    for path, checkpoint in read_notes(folder, ledger_id):
        named = _NOTE_NAME.match(path.name)
        if named is None or path.name == note_path(folder, checkpoint).name:
            continue
        raise InvalidCheckpointError(
            f"{path}: edited after it was written: its name records size {int(named[1])} and root {named[2]}…, "
            f"its note says size {checkpoint.size} and root {checkpoint.root[:16]}…"
        )


async def check_anchor(ledger: Ledger, where: str, keys: Sequence[str]) -> tuple[int, str | None]:
    """``verify --checkpoints DIR|git:PATH``: (notes checked, the first contradiction or None).

    A note edited after it was written (its name, or in git its commit, says otherwise), unreadable,
    of another ledger, or not signed by any of ``keys`` raises :class:`InvalidCheckpointError`.
    """
    folder = where
    if where.startswith(GIT_PREFIX):
        folder = where[len(GIT_PREFIX) :]
        if not folder:
            raise InvalidCheckpointError("--checkpoints git: needs a path: git:PATH")
        check_git_notes(Path(folder), where)
    check_note_names(Path(folder), ledger.ledger_id)
    return await check_directory(ledger, folder, keys)


# ---- a witness ---------------------------------------------------------------------------------


def check_witness_keys(keys: Sequence[str]) -> None:
    """:class:`InvalidArgumentError` naming the first of ``keys`` that is no Ed25519 verifier key."""
    if not keys:
        return
    try:
        Checkpoint(origin="artifact-ledger/-", size=0, root="00" * 32).verified_by(list(keys))
    except InvalidCheckpointError as exc:
        raise InvalidArgumentError(f"--witness-key {exc}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (refused): following it would re-send the note as a GET."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def witness(
    url: str, checkpoint: Checkpoint, *, timeout: float = 10.0, verifier_keys: Sequence[str] = ()
) -> tuple[Checkpoint, list[str]]:
    """POST the note to a witness at ``url``: (the note to keep, the names of its new signers).

    A 2xx answer with an empty body accepted the note without co-signing it; one with a note
    must be a note of the same tree (origin, size, root), whose signatures are added. With
    ``verifier_keys``, the witness's new signatures must include a valid one by one of them. Anything
    else is :class:`AnchorError` naming the URL and the status: a status other than 2xx, a note
    of another tree, an answer that is no note, a timeout, a witness that cannot be reached.
    """
    shown = mask_url(url)
    request = urllib.request.Request(
        url,
        data=checkpoint.note().encode(),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": f"artifact-ledger/{__version__}"},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    what = f"the checkpoint of size {checkpoint.size}"
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            body = response.read(MAX_WITNESS_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        try:
            detail = _first_line(exc.read(2000).decode("utf-8", "replace"))
        except Exception:  # no body to read
            detail = "no message"
        raise AnchorError(
            f"the witness {shown} refused {what}: HTTP {exc.code} {exc.reason} ({detail})",
            target=shown,
            status=exc.code,
        ) from None
    except urllib.error.URLError as exc:
        reason = "timed out" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
        raise AnchorError(f"the witness {shown} could not be reached for {what}: {reason}", target=shown) from None
    except TimeoutError:
        raise AnchorError(
            f"the witness {shown} did not answer for {what} within {timeout:g}s (timed out)", target=shown
        ) from None
    except OSError as exc:
        raise AnchorError(f"the witness {shown} could not be reached for {what}: {exc}", target=shown) from None
    if not 200 <= status < 300:
        raise AnchorError(f"the witness {shown} answered HTTP {status} for {what}", target=shown, status=status)
    if not body.strip():
        return checkpoint, []
    if len(body) > MAX_WITNESS_ANSWER:
        raise AnchorError(
            f"the witness {shown} answered HTTP {status} with over {MAX_WITNESS_ANSWER} bytes, not a checkpoint note",
            target=shown,
            status=status,
        )
    try:
        answered = Checkpoint.parse(body)
    except InvalidCheckpointError as exc:
        raise AnchorError(
            f"the witness {shown} answered HTTP {status} with no checkpoint note: {exc}", target=shown, status=status
        ) from None
    if answered.body() != checkpoint.body():
        raise AnchorError(
            f"the witness {shown} answered with a note of another tree (size {answered.size}, root "
            f"{answered.root[:16]}…), not {what} (root {checkpoint.root[:16]}…)",
            target=shown,
            status=status,
        )
    added: list[CheckpointSignature] = [s for s in answered.signatures if s not in checkpoint.signatures]
    merged = checkpoint.model_copy(update={"signatures": (*checkpoint.signatures, *added)})
    if verifier_keys:
        witnessed = merged.model_copy(update={"signatures": tuple(added)})
        try:
            verified = witnessed.verified_by(list(verifier_keys))
        except InvalidCheckpointError as exc:
            raise AnchorError(
                f"the witness {shown} answered with a bad signature: {exc}", target=shown, status=status
            ) from None
        if not verified:
            raise AnchorError(
                f"the witness {shown} answered HTTP {status} without a signature by any of the "
                f"{len(verifier_keys)} witness key(s) given",
                target=shown,
                status=status,
            )
    if not added:
        return checkpoint, []
    return merged, [s.name for s in added]
