"""Checkpoint and anchor commands from a second adversarial review, on SQLite and PostgreSQL: an anchor
repository whose notes were changed by a merge commit, verifier keys that are no keys, notes half written."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_support import run, saves
from test_cli_checkpoint_rewrite import rewrite_and_recompute

from artifact_ledger import AnchorError, CheckpointSigner, Ledger
from artifact_ledger.anchors import keep_in_directory
from artifact_ledger.checkpoints import cosign
from ledger_support import file_size_limit, merkle_rows, put_back_merkle_rows

pytestmark = pytest.mark.usefixtures("no_git_config")


def git(repo: Path, *args: str) -> str:
    who = ["-c", "user.name=x", "-c", "user.email=x@x"]
    return subprocess.run(["git", *who, *args], cwd=repo, capture_output=True, text=True, check=True).stdout


async def anchored_twice(url: str, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A git anchor holding the notes of 4 and of 6 events: (the repository, the keys, the newest note)."""
    keys, repo = tmp_path / "keys", tmp_path / "anchors"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    await saves(url, 4)
    assert await run(url, "checkpoint", "--to", f"git:{repo}", "--key-dir", str(keys)) == 0
    await saves(url, 2)
    assert await run(url, "checkpoint", "--to", f"git:{repo}", "--key-dir", str(keys)) == 0
    (newest,) = repo.glob("000000000006-*.note")
    return repo, keys, newest


def merge_changing(repo: Path, change: str, note: Path) -> None:
    """An 'evil merge': a side branch merged, the merge commit itself deleting or editing ``note``."""
    git(repo, "checkout", "--quiet", "-b", "side")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "side work")
    git(repo, "checkout", "--quiet", "main")
    git(repo, "merge", "--quiet", "--no-ff", "--no-commit", "side")
    if change == "delete":
        git(repo, "rm", "--quiet", note.name)
    else:  # the note's signature line doubled: still a note of the same tree, with the same name
        text = note.read_text()
        note.write_text(text + text.split("\n\n", 1)[1])
        git(repo, "add", note.name)
    git(repo, "commit", "--quiet", "-m", "merge side")


@pytest.mark.parametrize("change", ["delete", "edit"])
async def test_a_note_deleted_or_changed_by_a_merge_commit_is_refused(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    repo, keys, newest = await anchored_twice(url, tmp_path)
    merge_changing(repo, change, newest)
    assert len(git(repo, "log", "-1", "--format=%P").split()) == 2  # a merge commit
    assert git(repo, "status", "--porcelain") == ""
    capsys.readouterr()
    assert await run(url, "verify", "--chain-only", "--checkpoints", f"git:{repo}", "--key-dir", str(keys)) == 1
    err = capsys.readouterr().err
    assert f"{newest}: changed or removed by commit" in err


async def test_a_merge_that_changes_no_note_still_verifies(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, keys, _ = await anchored_twice(url, tmp_path)
    git(repo, "checkout", "--quiet", "-b", "side")
    (repo / "README").write_text("anchors of the prod ledger\n")
    git(repo, "add", "README")
    git(repo, "commit", "--quiet", "-m", "side work")
    git(repo, "checkout", "--quiet", "main")
    await saves(url, 1)
    assert await run(url, "checkpoint", "--to", f"git:{repo}", "--key-dir", str(keys)) == 0  # a note the side lacks
    git(repo, "merge", "--quiet", "--no-ff", "-m", "merge side", "side")
    capsys.readouterr()
    assert await run(url, "verify", "--chain-only", "--checkpoints", f"git:{repo}", "--key-dir", str(keys)) == 0
    assert "holds the history of 3 checkpoint(s)" in capsys.readouterr().out


@pytest.mark.parametrize("with_notes", [False, True])
async def test_a_verifier_key_that_is_no_key_is_a_usage_error_naming_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], with_notes: bool
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    await saves(url, 3)
    if with_notes:
        assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(tmp_path / "keys")) == 0
    capsys.readouterr()
    for bad in ("garbage", "witness+1a2b3c4d+AAAA", "x+00000000+" + "A" * 44):
        assert await run(url, "verify", "--chain-only", "--checkpoints", str(notes), "--key", bad) == 2
        out, err = capsys.readouterr()
        assert f"--key {bad!r} is not an Ed25519 verifier key" in err
        assert "holds the history" not in out  # nothing checked against the notes with a key that is none


async def test_a_note_whose_write_fails_half_way_leaves_no_file_and_the_next_run_keeps_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 5)
    async with Ledger.open(url) as ledger:
        made = await ledger.checkpoint(key_dir=keys)
    with file_size_limit(40), pytest.raises(AnchorError, match=str(notes)):
        keep_in_directory(notes, made)  # the disk fills up after 40 bytes of the note
    assert [p.name for p in notes.iterdir()] == []  # no truncated note that no run could ever replace
    capsys.readouterr()
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    assert await run(url, "verify", "--chain-only", "--checkpoints", str(notes), "--key-dir", str(keys)) == 0
    assert "holds the history of 1 checkpoint(s)" in capsys.readouterr().out
    (note,) = notes.iterdir()
    assert note.read_text() == made.note()


async def test_a_directory_without_hard_links_still_keeps_notes_once(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    await saves(url, 5)
    async with Ledger.open(url) as ledger:
        made = await ledger.checkpoint(key_dir=tmp_path / "keys")

    def no_links(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert keep_in_directory(notes, made)[1:] == (True, [])
    assert keep_in_directory(notes, made)[1:] == (False, [])  # the same note again: nothing written
    with file_size_limit(40), pytest.raises(AnchorError):
        keep_in_directory(notes, made.model_copy(update={"size": 4}))  # another name, cut short
    assert [p.read_text() for p in notes.iterdir()] == [made.note()]


class RawWitness:
    """A 'witness' on 127.0.0.1 that reads the request and answers with raw bytes, ``pieces`` sent ``gap``
    seconds apart (a slow drip when many), then closes the connection."""

    def __init__(self, pieces: list[bytes], gap: float = 0.0) -> None:
        self.pieces, self.gap = pieces, gap
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/add-checkpoint"

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    for piece in self.pieces:
                        if self.stop.wait(self.gap):
                            break
                        conn.sendall(piece)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.listener.close()


@pytest.fixture
def raw_witness() -> Iterator[Callable[..., RawWitness]]:
    started: list[RawWitness] = []

    def start(pieces: list[bytes], gap: float = 0.0) -> RawWitness:
        started.append(RawWitness(pieces, gap))
        return started[-1]

    yield start
    for witness in started:
        witness.close()


@pytest.mark.parametrize(
    "answer",
    [
        [b"this is no HTTP\r\n\r\n"],  # http.client.BadStatusLine
        [b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nshort"],  # IncompleteRead
        [b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"],  # too many headers
        [b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n"],  # a header line too long
    ],
    ids=["not-http", "cut-short", "many-headers", "long-header"],
)
async def test_a_witness_that_breaks_http_fails_alone_and_the_directory_still_keeps_the_note(
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    raw_witness: Callable[..., RawWitness],
    answer: list[bytes],
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 3)
    witness = raw_witness(answer)
    assert await run(url, "checkpoint", "--to", witness.url, "--to", str(notes), "--key-dir", str(keys)) == 1
    out, err = capsys.readouterr()
    assert "written to" in out
    assert f"artifact-ledger: the witness {witness.url} " in err
    assert len(list(notes.glob("*.note"))) == 1


@pytest.mark.parametrize("where", ["body", "headers"])
async def test_a_witness_that_answers_a_byte_at_a_time_is_given_up_on_after_the_timeout(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], raw_witness: Callable[..., RawWitness], where: str
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 3)
    # Every byte well within the socket timeout (1 s), the whole far beyond it: 90 pieces 0.25 s apart
    # drip for 22.5 s (under http.client's limit of 100 header lines). The bound below leaves a loaded
    # machine room for the command's own work around the 1 s it may wait for the witness.
    if where == "body":
        pieces = [b"HTTP/1.1 200 OK\r\nContent-Length: 90\r\n\r\n", *[b"x"] * 90]
    else:
        pieces = [b"HTTP/1.1 200 OK\r\n", *[b"X-Drip: y\r\n"] * 90]
    witness = raw_witness(pieces, gap=0.25)
    started = time.monotonic()
    argv = ["checkpoint", "--to", witness.url, "--to", str(notes), "--key-dir", str(keys), "--timeout", "1"]
    assert await run(url, *argv) == 1
    assert time.monotonic() - started < 15  # not the 22.5 s of the whole drip
    err = capsys.readouterr().err
    assert f"the witness {witness.url} did not answer" in err
    assert "within 1s" in err
    assert len(list(notes.glob("*.note"))) == 1


async def test_a_rewrite_under_the_stored_merkle_subtrees_is_caught_by_verify_checkpoints(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attacker rewrites event 7, recomputes the chain and rebuilds, then puts the Merkle tables back as they
    were: the stored subtree of events 1-32 still gives the root signed at 32 (any size a multiple of 16 is read
    from stored subtrees alone), which the events no longer do."""
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 32, "score")
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    async with Ledger.open(url) as ledger, ledger.engine.connect() as conn:
        signed_tree = await merkle_rows(conn)
    assert len(signed_tree[0]) == 3  # the subtrees of events 1-16, 17-32 and 1-32
    await rewrite_and_recompute(url, 7, '"score":6', '"score":99')
    async with Ledger.open(url) as ledger, ledger.engine.begin() as conn:  # the old tree, as it was signed
        await put_back_merkle_rows(conn, signed_tree)
    capsys.readouterr()
    # the hourly line of the integrity guide: the chain and every note
    argv = ["verify", "--chain-only", "--checkpoints", str(notes), "--key-dir", str(keys)]
    assert await run(url, *argv) == 1
    out = capsys.readouterr().out
    assert "history up to position 32 was rewritten (or this is a fork)" in out
    assert await run(url, *argv[:1], *argv[2:]) == 1  # the full verify: the checkpoint line too, not only the drift
    assert "history up to position 32 was rewritten (or this is a fork)" in capsys.readouterr().out


async def test_a_witness_key_without_a_witness_is_a_usage_error(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    await saves(url, 2)
    vkey = CheckpointSigner.generate("witness.test").verifier_key
    argv = ["checkpoint", "--to", str(notes), "--witness-key", vkey, "--key-dir", str(tmp_path / "keys")]
    assert await run(url, *argv) == 2  # the operator means a witness's signature to be required: none is asked
    err = capsys.readouterr().err
    assert f"--witness-key {vkey!r}" in err
    assert "no witness to require it of" in err
    assert list(notes.iterdir()) == []  # nothing signed or written
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize("kind", ["dir", "git"])
async def test_a_mistyped_key_dir_never_mints_a_key_beside_notes_signed_with_another(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    if kind == "git":
        git(notes, "init", "--quiet")
    target = str(notes) if kind == "dir" else f"git:{notes}"
    await saves(url, 3)
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0
    await saves(url, 2)
    capsys.readouterr()
    typo = tmp_path / "kyes"
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(typo)) == 2
    err = capsys.readouterr().err
    assert f"no signing key of this ledger in {typo}" in err
    assert "000000000003-" in err  # the note signed with the ledger's key, named
    assert not typo.exists()  # no key minted
    assert len(list(notes.glob("*.note"))) == 1  # nothing signed with a new key, nothing written
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0  # the right one still works
    assert await run(url, "verify", "--chain-only", "--checkpoints", target, "--key-dir", str(keys)) == 0
    assert "holds the history of 2 checkpoint(s)" in capsys.readouterr().out
    file = tmp_path / "file"
    file.write_text("")
    assert await run(url, "checkpoint", "--key-dir", str(file)) == 2
    assert f"--key-dir {str(file)!r}: not a directory" in capsys.readouterr().err


async def test_file_names_in_an_anchor_directory_are_shown_escaped(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 3)
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    (note,) = notes.iterdir()
    note.rename(notes / "\x1b[2Kprod\r.note")  # a note under another name: read, not name-checked
    (notes / "junk\x1b[31m").write_text("")
    await saves(url, 1)
    capsys.readouterr()
    argv = ["verify", "--chain-only", "--checkpoints", str(notes), "--key-dir", str(keys)]
    assert await run(url, *argv) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err
    assert "junk\\x1b[31m" in err  # skipped, named escaped
    (notes / "\x1b[2Kprod\r.note").write_text("not a note\n")
    assert await run(url, *argv) == 1
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err
    assert "\\x1b[2Kprod\\x0d.note: " in err


@pytest.mark.parametrize("hook", ["fsmonitor", "clean-filter"])
async def test_verify_runs_no_command_the_anchor_repositorys_config_names(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], hook: str
) -> None:
    """Whoever can write the anchor repository (the party verify --checkpoints git:PATH checks) must not get to run
    code as the verifier, which holds the database's credentials and often the signing key."""
    repo, keys, newest = await anchored_twice(url, tmp_path)
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    if hook == "fsmonitor":
        git(repo, "config", "core.fsmonitor", str(script))
    else:
        (repo / ".git" / "info" / "attributes").write_text("*.note filter=evil\n")
        git(repo, "config", "filter.evil.clean", str(script))
        os.utime(newest, (1, 1))  # stat data that no longer matches the index: git re-reads the file
    capsys.readouterr()
    argv = ["verify", "--chain-only", "--checkpoints", f"git:{repo}", "--key-dir", str(keys)]
    assert await run(url, *argv) == 0
    assert not marker.exists()
    newest.write_text(newest.read_text() + newest.read_text().split("\n\n", 1)[1])  # changed since its commit
    os.utime(newest, (2, 2))
    assert await run(url, *argv) == 1
    assert f"{newest}: changed in the work tree since its commit" in capsys.readouterr().err
    assert not marker.exists()
    newest.unlink()
    assert await run(url, *argv) == 1
    assert f"{newest}: deleted from the work tree since its commit" in capsys.readouterr().err
    assert not marker.exists()


async def test_an_anchor_directory_swapped_for_a_link_to_an_uncommitted_one_is_refused(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, repo = tmp_path / "keys", tmp_path / "anchors"
    prod = repo / "prod"
    prod.mkdir(parents=True)
    git(repo, "init", "--quiet", "-b", "main")
    target = f"git:{prod}"
    await saves(url, 4)
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0
    await saves(url, 2)
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0
    oldest, _newest = sorted(prod.glob("*.note"))
    via = tmp_path / "via"  # a link outside the work tree naming the anchor directory: followed
    via.symlink_to(prod)
    capsys.readouterr()
    assert await run(url, "verify", "--chain-only", "--checkpoints", f"git:{via}", "--key-dir", str(keys)) == 0
    evil = repo / "evil"  # the notes minus the newest (the one a rolled-back log contradicts), never committed
    evil.mkdir()
    (evil / oldest.name).write_bytes(oldest.read_bytes())
    for note in prod.iterdir():
        note.unlink()
    prod.rmdir()
    prod.symlink_to(evil)
    capsys.readouterr()
    assert await run(url, "verify", "--chain-only", "--checkpoints", target, "--key-dir", str(keys)) == 1
    err = capsys.readouterr().err
    assert str(prod) in err
    assert "symbolic link" in err


async def test_a_witness_line_kept_unchecked_is_not_reported_as_a_co_signature(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], raw_witness: Callable[..., RawWitness]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 3)
    async with Ledger.open(url) as ledger:
        made = await ledger.checkpoint(key_dir=keys)  # the note the command will sign (Ed25519 is deterministic)
    line = cosign(made, CheckpointSigner.generate("witness.test")).signatures[-1]
    forged = line.model_copy(update={"signature": base64.b64encode(bytes(64)).decode()})  # verifies under no key
    answer = made.model_copy(update={"signatures": (*made.signatures, forged)}).note().encode()
    witness = raw_witness([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer])
    capsys.readouterr()
    assert await run(url, "checkpoint", "--to", witness.url, "--to", str(notes), "--key-dir", str(keys)) == 0
    out = capsys.readouterr().out
    assert f"co-signed by the witness {witness.url} (witness.test)" in out
    assert "signature not checked: no --witness-key" in out
