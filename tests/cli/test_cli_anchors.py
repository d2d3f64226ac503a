"""``artifact-ledger checkpoint --to git:PATH`` and ``--to URL`` (a witness), ``verify --checkpoints git:PATH``,
on SQLite and PostgreSQL: the note committed to a git repository, co-signed by a witness, and every way the
target can fail (not a repository, no git, a dirty or planted file, a failing commit, a witness that refuses,
is down, hangs, redirects or answers with another tree)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cli_support import run, saves

from artifact_ledger import Checkpoint, CheckpointSigner
from artifact_ledger.anchors import FALLBACK_EMAIL, FALLBACK_NAME, commit_message
from artifact_ledger.checkpoints import cosign

pytestmark = pytest.mark.usefixtures("no_git_config")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "--quiet")
    return path


# ---- git ---------------------------------------------------------------------------------------


async def test_each_checkpoint_is_one_commit_of_one_new_file_and_verify_reads_the_repository(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, repo = tmp_path / "keys", new_repo(tmp_path / "anchors")
    notes = repo / "prod"
    notes.mkdir()
    (repo / "unrelated.txt").write_text("staged by someone else\n")
    git(repo, "add", "unrelated.txt")
    ledger_id = await saves(url, 5)
    target = f"git:{notes}"
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys), "--json") == 0
    made = json.loads(capsys.readouterr().out)
    (anchored,) = made["anchors"]
    assert anchored["kind"] == "git"
    assert anchored["written"] is True
    assert len(anchored["commit"]) == 40
    assert made["file"] == anchored["file"]
    log = git(repo, "log", "--format=%an <%ae>|%B")
    expected = f"artifact-ledger checkpoint: ledger {ledger_id}, size 5, root {made['root']}"
    assert log.strip() == f"{FALLBACK_NAME} <{FALLBACK_EMAIL}>|{expected}"
    assert commit_message(Checkpoint.parse(made["note"])).strip() == expected
    # the commit holds the note alone: what someone else staged stays staged
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [f"prod/{Path(made['file']).name}"]
    assert "A  unrelated.txt" in git(repo, "status", "--porcelain")

    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0  # the same checkpoint
    assert f"checkpoint of 5 events already committed to {target}" in capsys.readouterr().out
    assert len(git(repo, "log", "--format=%H").split()) == 1

    await saves(url, 3)
    git(repo, "config", "user.name", "Ops Bot")
    git(repo, "config", "user.email", "ops@example.org")
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0
    out = capsys.readouterr().out
    assert f"checkpoint of 8 events committed to {target} as {notes}" in out
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Ops Bot <ops@example.org>"
    assert len(git(repo, "ls-files", "prod").split()) == 2

    vkey = CheckpointSigner.for_ledger(ledger_id, keys).verifier_key
    assert await run(url, "verify", "--checkpoints", target, "--key", vkey) == 0
    assert "holds the history of 2 checkpoint(s)" in capsys.readouterr().out
    (repo / "prod" / "README").write_text("notes of the prod ledger\n")  # not a note: ignored
    (repo / "elsewhere.note").write_text("a note outside the directory: not read\n")
    assert await run(url, "verify", "--checkpoints", target, "--json") == 0
    assert json.loads(capsys.readouterr().out)["checkpoints_checked"] == 2


async def test_a_note_changed_after_its_commit_is_refused(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, repo = tmp_path / "keys", new_repo(tmp_path / "anchors")
    target = f"git:{repo}"
    await saves(url, 4)
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0
    await saves(url, 2)
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 0
    capsys.readouterr()
    newest = sorted(repo.glob("*.note"))[-1]
    original = newest.read_text()

    newest.write_text(
        original + "\u2014 extra AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    )
    assert await run(url, "verify", "--checkpoints", target) == 1
    err = capsys.readouterr().err
    assert f"{newest}: changed in the work tree since its commit" in err
    assert f"git diff HEAD -- {newest.name}" in err
    # the same checkpoint again must not commit the edited file as if it were the note
    assert await run(url, "checkpoint", "--to", target, "--key-dir", str(keys)) == 1
    assert f"{newest} has changes not committed" in capsys.readouterr().err

    newest.unlink()
    assert await run(url, "verify", "--checkpoints", target) == 1
    assert f"{newest}: deleted from the work tree since its commit" in capsys.readouterr().err
    git(repo, "checkout", "--", newest.name)
    assert await run(url, "verify", "--checkpoints", target) == 0
    capsys.readouterr()

    # an edit that was committed: the work tree is clean, the history is not
    newest.write_text(original.replace("\n6\n", "\n5\n", 1))
    git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-am", "tidy")
    assert await run(url, "verify", "--checkpoints", target) == 1
    err = capsys.readouterr().err
    assert f"{newest}: changed or removed by commit" in err
    assert "after it was committed" in err


async def test_git_targets_that_cannot_take_the_note_fail_with_exit_1_or_2(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, plain = tmp_path / "keys", tmp_path / "plain"
    plain.mkdir()
    await saves(url, 3)
    assert await run(url, "checkpoint", "--to", f"git:{plain}") == 2
    assert f"git:{plain}: {plain} is not in a git work tree" in capsys.readouterr().err
    assert await run(url, "checkpoint", "--to", f"git:{tmp_path / 'nowhere'}") == 2
    assert f"there is no directory {tmp_path / 'nowhere'}" in capsys.readouterr().err
    assert await run(url, "checkpoint", "--to", "git:") == 2
    assert "--to git: needs a path" in capsys.readouterr().err
    assert await run(url, "verify", "--checkpoints", f"git:{plain}") == 1
    assert "is not in a git work tree" in capsys.readouterr().err
    assert not list(plain.iterdir())  # nothing was written anywhere

    repo = new_repo(tmp_path / "anchors")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'commits are frozen today' >&2\nexit 1\n")
    hook.chmod(0o755)
    assert await run(url, "checkpoint", "--to", f"git:{repo}", "--key-dir", str(keys)) == 1
    err = capsys.readouterr().err
    assert "git commit of 000000000003-" in err
    assert "failed" in err
    assert "commits are frozen today" in err
    assert "not committed; the next checkpoint --to" in err
    (note,) = repo.glob("*.note")  # written, staged, not committed
    hook.unlink()
    assert await run(url, "checkpoint", "--to", f"git:{repo}", "--key-dir", str(keys)) == 0
    assert "checkpoint of 3 events committed to" in capsys.readouterr().out
    assert git(repo, "ls-files").split() == [note.name]

    note.write_text("planted\n")  # committed as garbage by someone: the file is not rewritten
    git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-am", "planted")
    assert await run(url, "checkpoint", "--to", f"git:{repo}", "--key-dir", str(keys)) == 1
    assert "never rewritten" in capsys.readouterr().err
    assert note.read_text() == "planted\n"

    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert await run(url, "checkpoint", "--to", f"git:{repo}") == 1
    assert "git is not installed (no git on PATH)" in capsys.readouterr().err
    assert await run(url, "verify", "--checkpoints", f"git:{repo}") == 1
    assert "git is not installed" in capsys.readouterr().err


# ---- a witness ---------------------------------------------------------------------------------


class Witness:
    """A witness on 127.0.0.1 that answers as ``mode`` says, co-signing with its own key."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.signer = CheckpointSigner.generate("witness.test")
        self.received: list[tuple[str, bytes]] = []
        self.release = threading.Event()
        witness = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                witness.received.append((self.headers["Content-Type"], body))
                status, answer, headers = witness.answer(body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/witness/add-checkpoint"

    def answer(self, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if self.mode == "refuse":
            return 409, b"inconsistent with the checkpoint of size 99 this witness signed before\n", {}
        if self.mode == "redirect":
            return 302, b"", {"Location": "/elsewhere"}
        if self.mode == "accept":
            return 204, b"", {}
        if self.mode == "garbage":
            return 200, b"<html>thanks</html>", {}
        if self.mode == "hang":
            self.release.wait(30)
        checkpoint = Checkpoint.parse(body)
        if self.mode == "other":
            checkpoint = checkpoint.model_copy(update={"size": checkpoint.size + 1})
        signed = cosign(checkpoint, self.signer)
        if self.mode == "forged":  # the witness's key id, a signature that does not verify
            last = signed.signatures[-1]
            raw = bytearray(base64.b64decode(last.signature))
            raw[0] ^= 1
            bad = last.model_copy(update={"signature": base64.b64encode(bytes(raw)).decode()})
            signed = signed.model_copy(update={"signatures": (*signed.signatures[:-1], bad)})
        answer = signed.note()
        if self.mode == "poison":  # a valid co-signature, plus a bogus line under the ledger's own name and key id
            ours = checkpoint.signatures[0]
            bogus = base64.b64encode(bytes.fromhex(ours.key_id) + bytes(64)).decode()
            answer += f"\u2014 {ours.name} {bogus}\n"
        if self.mode == "stray":  # a valid co-signature, plus a line by a name no witness key covers
            stray = CheckpointSigner.generate("stray.test")
            answer = cosign(signed, stray).note()
        return 200, answer.encode(), {"Content-Type": "text/plain; charset=utf-8"}

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def witnesses() -> Iterator[dict[str, Witness]]:
    started: dict[str, Witness] = {}

    class Start(dict[str, Witness]):
        def __missing__(self, mode: str) -> Witness:
            started[mode] = self[mode] = Witness(mode)
            return started[mode]

    yield Start()
    for witness in started.values():
        witness.stop()


def down_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/witness"


async def test_a_witness_co_signs_the_note_the_local_targets_then_keep(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], witnesses: dict[str, Witness]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()  # checkpoint --to never makes the directory
    ledger_id = await saves(url, 7)
    witness = witnesses["cosign"]
    assert await run(url, "checkpoint", "--to", witness.url, "--key-dir", str(keys)) == 0
    captured = capsys.readouterr()
    printed = Checkpoint.parse(captured.out, ledger_id=ledger_id)  # no local target: the co-signed note is printed
    assert [s.name for s in printed.signatures] == [f"artifact-ledger/{ledger_id}", "witness.test"]
    assert f"co-signed by the witness {witness.url} (witness.test)" in captured.err
    content_type, sent = witness.received[0]
    assert content_type == "text/plain; charset=utf-8"
    assert len(Checkpoint.parse(sent).signatures) == 1  # the operator's note went out

    assert await run(url, "checkpoint", "--to", witness.url, "--to", str(notes), "--key-dir", str(keys), "--json") == 0
    made = json.loads(capsys.readouterr().out)
    assert [a["kind"] for a in made["anchors"]] == ["url", "dir"]
    assert made["anchors"][0]["cosigned_by"] == ["witness.test"]
    assert made["errors"] == []
    (note,) = notes.glob("*.note")
    assert note.read_text() == made["note"] == printed.note()
    vkeys = ["--key", witness.signer.verifier_key, "--key", CheckpointSigner.for_ledger(ledger_id, keys).verifier_key]
    assert await run(url, "verify", "--checkpoints", str(notes), *vkeys) == 0
    assert "holds the history of 1 checkpoint(s)" in capsys.readouterr().out

    # the witness's key given: its signature is checked before the note is kept
    wkey = ["--witness-key", witness.signer.verifier_key]
    assert await run(url, "checkpoint", "--to", witness.url, *wkey, "--to", str(notes), "--key-dir", str(keys)) == 0
    assert "already in" in capsys.readouterr().out
    other_key = ["--witness-key", CheckpointSigner.generate("witness.test").verifier_key]
    assert await run(url, "checkpoint", "--to", witness.url, *other_key, "--key-dir", str(keys)) == 1
    assert "without a signature by any of the 1 witness key(s) given" in capsys.readouterr().err
    forged = witnesses["forged"]
    forged_key = ["--witness-key", forged.signer.verifier_key, "--key-dir", str(keys)]
    assert await run(url, "checkpoint", "--to", forged.url, *forged_key) == 1
    err = capsys.readouterr().err
    assert f"the witness {forged.url} answered with a bad signature" in err
    assert "does not verify" in err
    assert await run(url, "checkpoint", "--to", forged.url, "--witness-key", "witness+00000000+AAAA") == 2
    assert "--witness-key 'witness+00000000+AAAA' is not an Ed25519 verifier key" in capsys.readouterr().err

    accepting = witnesses["accept"]  # 204: taken, no signature returned
    await saves(url, 1)
    assert await run(url, "checkpoint", "--to", accepting.url, "--to", str(notes), "--key-dir", str(keys)) == 0
    out = capsys.readouterr().out
    assert f"checkpoint of 8 events accepted by the witness {accepting.url} (no signature returned)" in out
    assert "checkpoint of 8 events written to" in out


async def test_a_witness_that_refuses_is_down_hangs_or_answers_wrongly_fails_with_exit_1(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], witnesses: dict[str, Witness]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()  # checkpoint --to never makes the directory
    await saves(url, 5)
    refusing = witnesses["refuse"]
    assert await run(url, "checkpoint", "--to", refusing.url, "--to", str(notes), "--key-dir", str(keys)) == 1
    captured = capsys.readouterr()
    assert f"the witness {refusing.url} refused the checkpoint of size 5: HTTP 409 Conflict" in captured.err
    assert "inconsistent with the checkpoint of size 99" in captured.err
    assert "checkpoint of 5 events written to" in captured.out  # the local target still has the operator's note
    (note,) = notes.glob("*.note")
    assert len(Checkpoint.parse(note.read_text()).signatures) == 1
    # the witness back: the note already there (same tree) is kept, never rewritten, and the run says what it lacks
    assert (
        await run(url, "checkpoint", "--to", witnesses["cosign"].url, "--to", str(notes), "--key-dir", str(keys)) == 0
    )
    assert "lacks the signatures of witness.test" in capsys.readouterr().out
    assert len(Checkpoint.parse(note.read_text()).signatures) == 1

    down = down_url()
    assert await run(url, "checkpoint", "--to", down, "--key-dir", str(keys)) == 1
    err = capsys.readouterr().err
    assert f"the witness {down} could not be reached for the checkpoint of size 5" in err
    assert "refused" in err  # connection refused

    hanging = witnesses["hang"]
    assert await run(url, "checkpoint", "--to", hanging.url, "--timeout", "0.3", "--key-dir", str(keys)) == 1
    assert f"the witness {hanging.url}" in (err := capsys.readouterr().err)
    assert "timed out" in err
    hanging.release.set()

    other = witnesses["other"]
    assert await run(url, "checkpoint", "--to", other.url, "--key-dir", str(keys), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert "answered with a note of another tree (size 6" in report["errors"][0]["message"]
    assert report["errors"][0]["status"] == 200
    assert len(Checkpoint.parse(report["note"]).signatures) == 1  # the witness's note was not taken

    redirect = witnesses["redirect"]
    assert await run(url, "checkpoint", "--to", redirect.url, "--key-dir", str(keys)) == 1
    assert f"the witness {redirect.url} refused the checkpoint of size 5: HTTP 302" in capsys.readouterr().err
    garbage = witnesses["garbage"]
    assert await run(url, "checkpoint", "--to", garbage.url, "--key-dir", str(keys)) == 1
    assert "answered HTTP 200 with no checkpoint note" in capsys.readouterr().err

    secret = down.replace("http://", "http://ops:hunter2@")
    assert await run(url, "checkpoint", "--to", secret, "--key-dir", str(keys)) == 1
    err = capsys.readouterr().err
    assert "http://ops:***@127.0.0.1" in err
    assert "hunter2" not in err
    assert await run(url, "checkpoint", "--to", "ftp://witness.example/add") == 2
    assert "must be http:// or https://, not ftp://" in capsys.readouterr().err
    assert await run(url, "checkpoint", "--to", down, "--timeout", "0") == 2
    assert "--timeout 0: a witness needs a timeout above 0 seconds" in capsys.readouterr().err
    assert await run(url, "checkpoint", "--to", "https:///add") == 2
    assert "has no host" in capsys.readouterr().err


@pytest.mark.parametrize("with_key", [True, False], ids=["witness-key", "no-witness-key"])
async def test_a_witness_line_under_the_ledgers_own_name_is_refused_and_never_kept(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], witnesses: dict[str, Witness], with_key: bool
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    ledger_id = await saves(url, 3)
    poison = witnesses["poison"]
    wkey = ["--witness-key", poison.signer.verifier_key] if with_key else []
    assert await run(url, "checkpoint", "--to", poison.url, *wkey, "--to", str(notes), "--key-dir", str(keys)) == 1
    captured = capsys.readouterr()
    assert f"the witness {poison.url} answered HTTP 200 with a signature line under the ledger's own name" in (
        captured.err
    )
    assert f"artifact-ledger/{ledger_id}" in captured.err
    (note,) = notes.glob("*.note")  # the ledger's own note, not the witness's answer
    kept = Checkpoint.parse(note.read_text())
    assert [s.name for s in kept.signatures] == [f"artifact-ledger/{ledger_id}"]
    assert await run(url, "verify", "--chain-only", "--checkpoints", str(notes), "--key-dir", str(keys)) == 0


async def test_with_a_witness_key_every_line_the_witness_adds_must_verify(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], witnesses: dict[str, Witness]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 3)
    stray = witnesses["stray"]
    wkey = ["--witness-key", stray.signer.verifier_key]
    assert await run(url, "checkpoint", "--to", stray.url, *wkey, "--to", str(notes), "--key-dir", str(keys)) == 1
    assert "a signature line by stray.test" in capsys.readouterr().err
    (note,) = notes.glob("*.note")
    assert len(Checkpoint.parse(note.read_text()).signatures) == 1


@pytest.mark.parametrize("folder", ["anchörs", "with space", "plain"])
async def test_a_note_removed_by_a_later_commit_is_found_in_a_directory_of_any_name(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    keys, repo = tmp_path / "keys", new_repo(tmp_path / "repo")
    anchors = repo / folder
    anchors.mkdir()
    await saves(url, 4)
    assert await run(url, "checkpoint", "--to", f"git:{anchors}", "--key-dir", str(keys)) == 0
    await saves(url, 2)
    assert await run(url, "checkpoint", "--to", f"git:{anchors}", "--key-dir", str(keys)) == 0
    capsys.readouterr()
    (newest,) = anchors.glob("000000000006-*.note")
    git(repo, "rm", "--quiet", str(newest.relative_to(repo)))
    git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-m", "tidy")
    assert await run(url, "verify", "--chain-only", "--checkpoints", f"git:{anchors}", "--key-dir", str(keys)) == 1
    err = capsys.readouterr().err
    assert f"{newest}: changed or removed by commit" in err
