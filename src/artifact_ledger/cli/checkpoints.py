"""``artifact-ledger checkpoint [--to DIR|git:PATH|URL ...]`` and ``artifact-ledger verify --checkpoints DIR|git:PATH``.

A checkpoint directory holds one note per checkpoint, named ``<size>-<root prefix>.note``,
created and never rewritten: a note already there with other bytes is refused. ``git:PATH``
does the same in a directory of a git work tree and commits the file; a URL is a witness the
note is POSTed to, whose co-signed note the local targets keep (:mod:`artifact_ledger.anchors`).
``verify --checkpoints`` checks the log against every note in it, oldest first, and reports the
first one the log contradicts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import anchors
from ..checkpoint_dir import SUFFIX, note_path, read_notes, shown, skipped_entries, write_note
from ..checkpoints import ORIGIN_PREFIX, Checkpoint, CheckpointSigner, parse_verifier_key
from ..errors import AnchorError, InvalidArgumentError, InvalidCheckpointError
from ..keys import default_key_dir
from ..ledger import Ledger
from . import render

__all__ = [
    "SUFFIX",
    "add_parsers",
    "add_verify_arguments",
    "check_directory",
    "check_target_directory",
    "fail",
    "note_path",
    "read_notes",
    "verifier_keys",
    "witness_keys",
    "write_note",
]

EXIT_FAILED, EXIT_USAGE = 1, 2
MAX_TIMEOUT = 86_400
"""The longest ``--timeout`` (seconds) a witness is waited for: one day."""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser(
        "checkpoint", help="sign the log's Merkle root now; print the note or add it to a directory (--to)"
    )
    command.add_argument(
        "--to",
        action="append",
        metavar="TARGET",
        help="keep the note there (repeatable): a directory (one new file, never rewritten), git:PATH (the file "
        "committed to that git work tree) or an http(s) URL (a witness it is POSTed to; its co-signed note is what "
        "the other targets keep, or what is printed)",
    )
    command.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="how long to wait for a witness (default 10)"
    )
    command.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's verifier key (repeatable): its answer must carry a valid signature by one of them",
    )
    command.add_argument("--key-dir", metavar="DIR", help="where the ledger's signing key is (default: the key dir)")
    command.add_argument(
        "--unsigned", action="store_true", help="no signature (the root and size only; printed, not kept with --to)"
    )
    command.add_argument("--json", action="store_true", help="JSON output")


def add_verify_arguments(verify: argparse.ArgumentParser) -> None:
    verify.add_argument(
        "--checkpoints",
        metavar="DIR|git:PATH",
        help="also check the log against every checkpoint note in this directory (git:PATH: and that no note "
        "changed since its commit)",
    )
    verify.add_argument(
        "--key",
        action="append",
        metavar="VKEY",
        help="a verifier key (name+keyid+base64): every checkpoint must carry a valid signature by one",
    )
    verify.add_argument(
        "--witness-key",
        dest="verify_witness_key",
        action="append",
        metavar="VKEY",
        help="a witness's verifier key (repeatable): every checkpoint must also carry a valid signature by "
        "each (a co-signature; --key keys are alternatives, any one of which suffices)",
    )
    verify.add_argument(
        "--key-dir",
        dest="verify_key_dir",
        metavar="DIR",
        help="check the signatures with the ledger's own key, read from its signing key file in DIR "
        "(never created here); without --key or --key-dir the signatures are not checked",
    )


def checked_keys(keys: Sequence[str] | None, option: str) -> list[str]:
    """Every key given with ``option``, each checked to be an Ed25519 verifier key (:class:`InvalidArgumentError`
    naming the option and a key that is not)."""
    found = list(keys or [])
    for key in found:
        try:
            parse_verifier_key(key)
        except InvalidCheckpointError as exc:
            raise InvalidArgumentError(f"{option} {exc}") from None
    return found


def witness_keys(keys: Sequence[str] | None) -> list[str]:
    """Every ``verify --witness-key``, checked (:func:`checked_keys`)."""
    return checked_keys(keys, "--witness-key")


def verifier_keys(ledger: Ledger, keys: Sequence[str] | None, key_dir: str | None) -> list[str]:
    """The verifier keys ``verify --checkpoints`` checks signatures with: every ``--key``, and the ledger's own
    when ``--key-dir`` names the directory of its signing key (which must exist: a check never mints a key).

    A ``--key`` that is no Ed25519 verifier key is :class:`InvalidArgumentError` naming it, whether or not a
    note would be checked with it (an empty directory passed, and a note failed as if it were forged)."""
    found = checked_keys(keys, "--key")
    if key_dir is not None:
        path = Path(key_dir) / f"{ledger.ledger_id}.ed25519"
        if not path.is_file():
            raise InvalidArgumentError(
                f"no signing key of ledger {ledger.ledger_id} in {key_dir} (looked for {path}): give the directory "
                "`artifact-ledger checkpoint --key-dir` signed with, or the verifier key with --key"
            )
        found.append(CheckpointSigner.for_ledger(str(ledger.ledger_id), key_dir).verifier_key)
    return found


def check_target_directory(directory: Path) -> None:
    """``--to DIR`` names a directory that exists: it is never made (a typo would scatter notes where nobody
    checks them), so one that is not there is a usage error, before anything is signed."""
    if not directory.exists():
        raise InvalidArgumentError(
            f"--to {str(directory)!r}: no such directory; create it first (a checkpoint directory is never made)"
        )
    if not directory.is_dir():
        raise InvalidArgumentError(f"--to {str(directory)!r}: not a directory")


async def check_directory(
    ledger: Ledger, directory: str, keys: Sequence[str], witness_keys: Sequence[str] = ()
) -> tuple[int, str | None]:
    """``verify --checkpoints DIR|git:PATH``: (notes checked, the first contradiction or None); a note
    edited after it was written, unreadable, foreign, not signed by one of ``keys`` or not co-signed by
    every one of ``witness_keys`` raises
    :class:`~artifact_ledger.errors.InvalidCheckpointError` naming its file. Entries not named ``*.note`` are
    not read; a line on stderr names them."""
    folder = directory[len(anchors.GIT_PREFIX) :] if directory.startswith(anchors.GIT_PREFIX) else directory
    skipped = await asyncio.to_thread(skipped_entries, Path(folder))
    if skipped:
        names = ", ".join(shown(name) for name in skipped[:10])
        names += f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        print(
            f"artifact-ledger: skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} of {folder} "
            f"not named *{SUFFIX} (not read as notes): {names}",
            file=sys.stderr,
        )
    return await anchors.check_anchor(ledger, directory, keys, witness_keys)


def check_key_dir(directory: Path) -> None:
    """``--key-dir`` names a directory, or nothing yet (the first checkpoint makes it and the key)."""
    if directory.exists() and not directory.is_dir():
        raise InvalidArgumentError(f"--key-dir {str(directory)!r}: not a directory")


def check_signing_key(ledger_id: str, key_dir: str | None, targets: Sequence[anchors.Target]) -> None:
    """Before a checkpoint mints the ledger's signing key (none in the key directory yet): refuse when a directory
    or git target already holds notes of this ledger signed with its key. A mistyped ``--key-dir`` (or another
    machine's default one) would otherwise make a new key and keep, for good, a note the ledger's verifier key
    cannot check. :class:`InvalidArgumentError` naming the directory and a note; after a lost key, anchor to a
    new directory."""
    directory = Path(key_dir) if key_dir is not None else default_key_dir()
    key_file = directory / f"{ledger_id}.ed25519"
    if os.path.lexists(key_file):
        return
    own = f"{ORIGIN_PREFIX}{ledger_id}"
    for target in targets:
        if target.kind == "url":
            continue
        try:
            notes = read_notes(Path(target.where), None)
        except InvalidCheckpointError:  # the target itself reports what it cannot read
            continue
        signed = sorted(path.name for path, note in notes if any(s.name == own for s in note.signatures))
        if signed:
            raise InvalidArgumentError(
                f"no signing key of this ledger in {directory} (looked for {key_file.name}), but {target} holds "
                f"{len(signed)} note(s) of ledger {ledger_id} signed with its key ({shown(signed[-1])}): a new key "
                "would sign notes their verifier key cannot check. Give the --key-dir they were signed with; after a "
                "lost key, anchor to a new directory"
            )


def fail(message: str, code: int) -> int:
    print(f"artifact-ledger: {message}", file=sys.stderr)
    return code


async def run_checkpoint(args: argparse.Namespace) -> int:
    try:
        targets = [anchors.parse_target(text) for text in args.to or []]
        anchors.check_witness_keys(args.witness_key)
        if args.witness_key and not any(t.kind == "url" for t in targets):
            raise InvalidArgumentError(
                f"--witness-key {args.witness_key[0]!r}: there is no witness to require it of; add the witness "
                "with --to https://... (a directory or git:PATH keeps the note as the ledger signed it)"
            )
        if not 0 < args.timeout <= MAX_TIMEOUT:  # NaN too
            raise InvalidArgumentError(
                f"--timeout {args.timeout:g}: a witness needs a timeout above 0 seconds, "
                f"and at most {MAX_TIMEOUT:,} (one day)"
            )
        if args.key_dir is not None:
            check_key_dir(Path(args.key_dir))
        for target in targets:  # before anything is signed: a target that cannot be one is a usage error
            if target.kind == "git":
                await asyncio.to_thread(anchors.git_work_tree, Path(target.where), str(target))
            elif target.kind == "dir":
                check_target_directory(Path(target.where))
    except InvalidArgumentError as exc:
        return fail(str(exc), EXIT_USAGE)
    except AnchorError as exc:
        return fail(str(exc), EXIT_FAILED)
    if args.unsigned and targets:
        # A signed note has at least one signature line: without one, neither verify --checkpoints nor a
        # witness could read the note back, so an unsigned one is only printed.
        return fail(
            "--unsigned cannot be used with --to: a note without a signature cannot be read back "
            "(verify --checkpoints, a witness); sign it (pip install artifact-ledger[sign]) or leave out --unsigned",
            EXIT_USAGE,
        )
    async with Ledger.open(args.db, create=False, blobs=args.blobs, namespace=args.namespace) as ledger:
        if not args.unsigned:
            try:
                await asyncio.to_thread(check_signing_key, str(ledger.ledger_id), args.key_dir, targets)
            except InvalidArgumentError as exc:
                return fail(str(exc), EXIT_USAGE)
        made = await ledger.checkpoint(signers=[] if args.unsigned else None, key_dir=args.key_dir)
    note, done, failures = made, [], []
    for target in (t for t in targets if t.kind == "url"):
        try:
            note, names = await asyncio.to_thread(
                anchors.witness, target.where, note, timeout=args.timeout, verifier_keys=args.witness_key
            )
            done.append(anchors.Anchored(target, cosigned_by=names))
        except AnchorError as exc:
            failures.append(exc)
    for target in (t for t in targets if t.kind != "url"):
        try:
            if target.kind == "git":
                done.append(await asyncio.to_thread(anchors.keep_in_git, Path(target.where), note))
            else:
                path, written, missing = anchors.keep_in_directory(Path(target.where), note)
                done.append(anchors.Anchored(target, file=path, written=written, not_kept=missing))
        except AnchorError as exc:
            failures.append(exc)
    local = any(t.kind != "url" for t in targets)
    if args.json:
        files = [str(a.file) for a in done if a.file is not None]
        render.print_json(
            note.model_dump()
            | {
                "note": note.note(),
                "file": files[0] if files else None,
                "anchors": [_anchored_json(a) for a in done],
                "errors": [{"target": f.target, "status": f.status, "message": str(f)} for f in failures],
            }
        )
    else:
        for anchored in done:
            line = _describe(note, anchored, checked=bool(args.witness_key))
            if local:
                render.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                print(line, file=sys.stderr)
        if not local:
            print(note.note(), end="")
    for failure in failures:
        print(f"artifact-ledger: {failure}", file=sys.stderr)
    return EXIT_FAILED if failures else 0


def _anchored_json(anchored: anchors.Anchored) -> dict[str, Any]:
    return {
        "target": str(anchored.target),
        "kind": anchored.target.kind,
        "file": str(anchored.file) if anchored.file is not None else None,
        "written": anchored.written,
        "commit": anchored.commit,
        "cosigned_by": anchored.cosigned_by,
        "not_kept": anchored.not_kept,
    }


def _describe(note: Checkpoint, anchored: anchors.Anchored, *, checked: bool) -> str:
    size, target = note.size, anchored.target
    if target.kind == "url":
        if anchored.cosigned_by:
            line = f"checkpoint of {size} events co-signed by the witness {target} ({', '.join(anchored.cosigned_by)})"
            # without --witness-key the lines are kept as the witness sent them: a name is only a claim
            return line if checked else f"{line}; signature not checked: no --witness-key given"
        return f"checkpoint of {size} events accepted by the witness {target} (no signature returned)"
    if target.kind == "git":
        where = (
            f"committed to {target} as {anchored.file} ({anchored.commit[:12]})"
            if anchored.commit
            else (f"already committed to {target} as {anchored.file}")
        )
        line = f"checkpoint of {size} events {where}"
    else:
        verb = "written to" if anchored.written else "already in"
        line = f"checkpoint of {size} events {verb} {anchored.file}"
    if anchored.not_kept:
        line += f" (the note kept there before lacks the signatures of {', '.join(anchored.not_kept)})"
    return line


CHECKPOINT_COMMANDS = {"checkpoint": run_checkpoint}
