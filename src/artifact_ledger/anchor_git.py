"""The ``git:PATH`` anchor: a note written into a git work tree and committed alone; reading it back.

``git`` runs as a subprocess (its ``GIT_DIR``-style variables dropped, no prompts, a timeout);
an identity is supplied with ``-c`` when the machine has none configured. Reading back refuses a
note changed in the work tree since its commit, or by a later commit.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .anchor_targets import Anchored, Target, first_line, keep_in_directory
from .checkpoint_dir import SUFFIX, note_path, read_note_file, shown
from .checkpoints import Checkpoint
from .errors import AnchorError, InvalidArgumentError, InvalidCheckpointError, LedgerError

FALLBACK_NAME = "artifact-ledger"
FALLBACK_EMAIL = "artifact-ledger@localhost"
GIT_TIMEOUT = 60.0
# Variables a git hook or a caller's shell may set that would point git at another repository.
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")


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
            [git, "-c", "core.quotepath=off", *args],  # paths read back as they are, not C-quoted
            cwd=cwd,
            env=env,
            capture_output=True,
            encoding=sys.getfilesystemencoding(),  # paths decoded as os.listdir decodes them
            errors="surrogateescape",
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise AnchorError(f"git {args[0]} in {cwd} did not finish in {GIT_TIMEOUT:g}s", target=target) from None
    except OSError as exc:
        raise AnchorError(f"cannot run git for {target}: {exc}", target=target) from None


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
        raise error(f"{target}: {path} is not in a git work tree ({first_line(done.stderr)}); run git init {path}")
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
        raise AnchorError(f"git status failed in {top}: {first_line(done.stderr)}", target=target)
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
            f"git add {relative} failed in {top}: {first_line(added.stderr)} (the note is written at {file})",
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
            f"git commit of {relative} failed in {top}: {first_line(done.stderr or done.stdout)} "
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
    deleted from it, or changed or removed by a later commit, a merge commit included (its tree is
    compared with each parent's: a merge that deletes or edits a note, with no commit of its own
    doing so, is refused too). Notes written but never committed are read like any other.

    The repository is what is being checked, so nothing of it runs: the work tree is compared with the
    committed blobs here (``git status`` would run the repository's ``core.fsmonitor`` command and the clean
    filters its attributes name), and git runs read-only plumbing with ``core.fsmonitor`` off and no
    signature checks (``log.showSignature`` would run its ``gpg.program``).
    """
    git, top = git_work_tree(path, target, InvalidCheckpointError)
    _refuse_linked_directory(path, top)
    relative = os.path.relpath(path.resolve(), top)
    for name, mode, object_id in _committed_notes(git, top, relative, target):
        file = top / name
        try:
            present = os.path.lexists(file)
            same = present and mode == "100644" and _blob_id(read_note_file(file), object_id) == object_id
        except InvalidCheckpointError:  # a link, a FIFO, too large: not the committed note
            same = False
        if same:
            continue
        what = "deleted from the work tree" if not present else "changed in the work tree"
        raise InvalidCheckpointError(
            f"{shown(file)}: {what} since its commit; a checkpoint file is never rewritten "
            f"(git diff HEAD -- {shown(name)} shows what changed, git log -- {shown(name)} who committed it)"
        )
    log = _run_git(
        git,
        top,
        *_READ_ONLY,
        "log",
        "--no-show-signature",
        "-z",
        "--format=commit %H",
        "-m",  # a merge's changes too, against each parent: without it a merge commit deleting a note shows none
        "--name-status",
        "--diff-filter=DMRT",
        "--",
        relative,
        target=target,
    )
    if log.returncode != 0:
        if "does not have any commits" in log.stderr:
            return
        raise InvalidCheckpointError(f"{target}: git log failed in {top}: {first_line(log.stderr)}")
    for commit, name in _changed_paths(log.stdout):
        if _is_note(name, relative):
            raise InvalidCheckpointError(
                f"{shown(top / name)}: changed or removed by commit {commit[:12]} after it was committed; a checkpoint "
                f"file is never rewritten (git show {commit[:12]} shows the change)"
            )


def _refuse_linked_directory(path: Path, top: Path) -> None:
    """:class:`InvalidCheckpointError` when the directory ``path``, or one above it inside the work tree ``top``, is
    a symbolic link there: git tracks a link as a link, so its target's notes would be read as uncommitted ones
    and the committed notes it replaced would be seen by nothing. A link outside the work tree (to the repository
    itself, say) is a way of naming it and is followed."""
    current = Path(os.path.abspath(path))
    while True:
        placed = Path(os.path.realpath(current.parent)) / current.name
        if placed.is_symlink() and (placed == top or top in placed.parents):
            raise InvalidCheckpointError(
                f"{shown(placed)}: is a symbolic link inside the git work tree {shown(top)}, not the directory "
                "its notes were committed in; git log and git diff HEAD -- that path show what replaced it"
            )
        if Path(os.path.realpath(current)) == top or current.parent == current:
            return
        current = current.parent


_READ_ONLY = ("-c", "core.fsmonitor=false")
"""For the git commands that read an anchor repository back: its own fsmonitor command never runs."""


def _committed_notes(git: str, top: Path, relative: str, target: str) -> list[tuple[str, str, str]]:
    """(path from the top, mode, object id) of each note committed at ``HEAD`` directly in ``relative``; none
    before the first commit. ``git ls-tree`` reads the tree objects alone: no filter, no fsmonitor."""
    spec = "" if relative == "." else relative.rstrip("/") + "/"
    args = ["ls-tree", "-z", "--full-tree", "HEAD"] + (["--", spec] if spec else [])
    done = _run_git(git, top, *_READ_ONLY, *args, target=target)
    if done.returncode != 0:
        probe = _run_git(git, top, *_READ_ONLY, "rev-parse", "--verify", "--quiet", "HEAD", target=target)
        if probe.returncode != 0:  # no commit yet: nothing committed to compare with
            return []
        raise InvalidCheckpointError(f"{target}: git ls-tree failed in {top}: {first_line(done.stderr)}")
    found: list[tuple[str, str, str]] = []
    for entry in done.stdout.split("\0"):
        meta, tab, name = entry.partition("\t")
        fields = meta.split(" ")
        if not tab or len(fields) != 3 or fields[1] == "tree" or not _is_note(name, relative):
            continue
        found.append((name, fields[0], fields[2]))
    return found


def _blob_id(data: bytes, like: str) -> str:
    """The git object id of a blob of ``data``, in the repository's hash (SHA-1, or SHA-256 for 64-digit ids)."""
    digest = hashlib.sha256() if len(like) == 64 else hashlib.sha1(usedforsecurity=False)
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def _changed_paths(output: str) -> list[tuple[str, str]]:
    """(commit, path) per path of ``git log -z --format='commit %H' --name-status``: NUL-separated, so a path
    with any character (non-ASCII, a tab, a newline) reads back as it is. A rename or copy gives both paths."""
    fields = output.split("\0")
    found: list[tuple[str, str]] = []
    commit = ""
    index = 0
    while index < len(fields):
        token = fields[index].strip("\n")
        index += 1
        if token.startswith("commit "):
            commit = token[len("commit ") :]
        elif token:
            count = 2 if token[0] in "RC" else 1
            found.extend((commit, name) for name in fields[index : index + count])
            index += count
    return found


def _is_note(name: str, relative: str) -> bool:
    """``name`` (from the top of the work tree) is a note directly in the directory ``relative``."""
    parent = os.path.dirname(name) or "."
    return name.endswith(SUFFIX) and os.path.normpath(parent) == os.path.normpath(relative)
