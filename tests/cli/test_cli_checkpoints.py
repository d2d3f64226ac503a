"""``artifact-ledger checkpoint --to DIR`` and ``artifact-ledger verify --checkpoints DIR`` (SQLite and PostgreSQL):
anchoring the Merkle root outside the database, and catching the log that no longer holds it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest
from cli_support import run, saves
from sqlalchemy import text

from artifact_ledger import Checkpoint, CheckpointSigner, Ledger
from artifact_ledger.checkpoint_dir import write_note
from artifact_ledger.checkpoints import cosign
from artifact_ledger.store.tables import drop_guard_ddl, guard_ddl
from ledger_support import lower_checkpoints


async def drop_newest(url: str, keep: int) -> None:
    """The DBA's attack: the guard off, the newest events deleted, the guard back, the projections rebuilt."""
    async with Ledger.open(url) as ledger:
        async with ledger.engine.begin() as conn:
            if url.startswith("sqlite"):
                await conn.execute(text("DROP TRIGGER ledger_events_no_delete"))
                await conn.execute(text("DELETE FROM ledger_events WHERE position > :k"), {"k": keep})
                await conn.execute(
                    text(
                        "CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events BEGIN SELECT "
                        "RAISE(ABORT, 'artifact-ledger: ledger_events is append-only; events and blobs are never "
                        "updated or deleted'); END"
                    )
                )
            else:
                await conn.execute(text("ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only"))
                await conn.execute(text("DELETE FROM ledger_events WHERE position > :k"), {"k": keep})
                await conn.execute(text("ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_append_only"))
            # ... and the openings of the deleted events (chain format 2), or the next append would collide.
            dialect = conn.dialect.name
            for statement in drop_guard_ddl("ledger_openings", dialect):
                await conn.execute(text(statement))
            await conn.execute(text("DELETE FROM ledger_openings WHERE position > :k"), {"k": keep})
            for statement in guard_ddl("ledger_openings", dialect):
                await conn.execute(text(statement))
            await lower_checkpoints(conn, keep)  # ... and the projections' checkpoints, or rebuild refuses
        await ledger.rebuild()


async def test_checkpoints_in_a_directory_then_truncation_and_a_fork_are_caught(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()  # checkpoint --to never makes the directory
    await saves(url, 10, "i")
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    assert "checkpoint of 10 events written to" in capsys.readouterr().out
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0  # the same: no new file
    capsys.readouterr()
    await saves(url, 6, "i")
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys), "--json") == 0
    made = json.loads(capsys.readouterr().out)
    assert made["size"] == 16
    assert made["note"].startswith("artifact-ledger/")
    assert len(list(notes.glob("*.note"))) == 2
    async with Ledger.open(url) as ledger:
        vkey = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys).verifier_key
    assert await run(url, "verify", "--checkpoints", str(notes), "--key", vkey) == 0
    assert "holds the history of 2 checkpoint(s)" in capsys.readouterr().out

    await drop_newest(url, 13)
    assert await run(url, "verify") == 0  # the chain alone cannot see it
    capsys.readouterr()
    assert await run(url, "verify", "--checkpoints", str(notes)) == 1
    out = capsys.readouterr().out
    assert "(size 16): the log holds 13 events, but the checkpoint recorded 16: the newest 3 were dropped" in out

    await saves(url, 5, "other")  # a fork: 18 events, the first 16 not the checkpoint's
    assert await run(url, "verify", "--checkpoints", str(notes), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["checkpoints_checked"] == 2
    assert "history up to position 16 was rewritten (or this is a fork)" in report["checkpoint_problem"]


async def test_bad_checkpoint_directories_are_refused(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()  # checkpoint --to never makes the directory
    await saves(url, 4, "i")
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    async with Ledger.open(url) as ledger:
        ledger_id = str(ledger.ledger_id)
    vkey = CheckpointSigner.for_ledger(ledger_id, keys).verifier_key
    (note,) = notes.glob("*.note")
    capsys.readouterr()
    assert await run(url, "verify", "--checkpoints", str(tmp_path / "missing")) == 1
    assert "no checkpoint directory" in capsys.readouterr().err
    original = note.read_text()

    # edited after it was written: its name still records size 4 and the root, with or without a key
    note.write_text(original.replace("\n4\n", "\n3\n", 1))
    for extra in ([], ["--key", vkey]):
        assert await run(url, "verify", "--checkpoints", str(notes), *extra) == 1
        err = capsys.readouterr().err
        assert f"{note}: edited after it was written: its name records size 4" in err
        assert "its note says size 3" in err
    # the same tree, a signature that does not verify (one byte of it changed)
    body, signature_line = original.split("\n\n")
    dash, name, field = signature_line.strip().split(" ")
    raw = bytearray(base64.b64decode(field))
    raw[-1] ^= 1
    note.write_text(f"{body}\n\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n")
    assert await run(url, "verify", "--checkpoints", str(notes), "--key", vkey) == 1
    assert "does not verify: the checkpoint was edited or forged" in capsys.readouterr().err
    note.write_text(original)
    assert (
        await run(url, "verify", "--checkpoints", str(notes), "--key", CheckpointSigner.generate("x").verifier_key) == 1
    )
    assert "signed by none of the 1 key(s) given" in capsys.readouterr().err
    # unknown formats: truncated, another ledger's, not a note at all, not text, the --json output saved as a note
    note.write_text(original[:-20])
    assert await run(url, "verify", "--checkpoints", str(notes)) == 1
    assert "truncated" in capsys.readouterr().err
    note.write_text(original.replace("artifact-ledger/", "artifact-ledger/0", 1))
    assert await run(url, "verify", "--checkpoints", str(notes)) == 1
    assert "not of this ledger" in capsys.readouterr().err
    note.write_text("something else entirely\n")
    assert await run(url, "verify", "--checkpoints", str(notes)) == 1
    assert f"{note}:" in capsys.readouterr().err
    note.write_bytes(b"\xff\xfe binary")
    assert await run(url, "verify", "--checkpoints", str(notes)) == 1
    assert f"{note}: the checkpoint is not UTF-8 text" in capsys.readouterr().err
    note.write_text(json.dumps({"size": 4, "root": "00" * 32, "note": original}, indent=2))
    assert await run(url, "verify", "--checkpoints", str(notes)) == 1
    assert "truncated or not a signed note" in capsys.readouterr().err
    note.write_text(original)

    # a note of a size beyond the log (named as the CLI names it): events dropped, exit 1 naming it
    beyond = cosign(
        Checkpoint(origin=f"artifact-ledger/{ledger_id}", size=9, root="ab" * 32), CheckpointSigner.generate("x")
    )
    beyond_file = write_note(notes, beyond)
    assert await run(url, "verify", "--checkpoints", str(notes)) == 1
    out = capsys.readouterr().out
    assert f"checkpoint {beyond_file.name} (size 9): the log holds 4 events, but the checkpoint recorded 9" in out
    beyond_file.unlink()

    # the same tree again: the note already there is kept, nothing is rewritten
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    assert "checkpoint of 4 events already in" in capsys.readouterr().out
    assert note.read_text() == original
    # an unsigned note could never be read back: printed only, never kept
    assert await run(url, "checkpoint", "--to", str(notes), "--unsigned") == 2
    assert "--unsigned cannot be used with --to" in capsys.readouterr().err
    assert await run(url, "checkpoint", "--unsigned") == 0
    assert capsys.readouterr().out.startswith(f"artifact-ledger/{ledger_id}\n4\n")
    note.write_text("planted\n")  # a file under the note's name that is no note of this tree
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 1
    assert "never rewritten" in capsys.readouterr().err
    assert note.read_text() == "planted\n"


async def test_a_checkpoint_directory_that_is_not_there_is_refused_before_anything_is_signed(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--to DIR`` never makes the directory: exit 2 naming it, with no directory, no note and no key made."""
    keys, missing = tmp_path / "keys", tmp_path / "no" / "such" / "dir"
    await saves(url, 3, "i")
    assert await run(url, "checkpoint", "--to", str(missing), "--key-dir", str(keys)) == 2
    error = capsys.readouterr().err
    assert f"--to '{missing}': no such directory" in error
    assert not (tmp_path / "no").exists()
    assert not keys.exists()  # nothing was signed: the key directory was not even made
    notes = tmp_path / "notes"
    notes.mkdir()
    # ... nor when another target is good: every target is checked before the note is signed
    assert await run(url, "checkpoint", "--to", str(notes), "--to", str(missing), "--key-dir", str(keys)) == 2
    assert "no such directory" in capsys.readouterr().err
    assert list(notes.iterdir()) == []
    assert not keys.exists()
    afile = tmp_path / "a-file"
    afile.write_text("not a directory\n")
    assert await run(url, "checkpoint", "--to", str(afile), "--key-dir", str(keys)) == 2
    assert f"--to '{afile}': not a directory" in capsys.readouterr().err
    assert afile.read_text() == "not a directory\n"
    assert not keys.exists()
    # a witness timeout no socket can wait for is refused the same way (it failed after signing before)
    for timeout in ("1e10", "inf", "nan"):
        assert await run(url, "checkpoint", "--to", "http://127.0.0.1:9/add", "--timeout", timeout) == 2
        assert f"--timeout {float(timeout):g}: a witness needs a timeout above 0 seconds" in capsys.readouterr().err
    assert not keys.exists()
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0  # the directory exists
    assert len(list(notes.glob("*.note"))) == 1


async def test_verify_refuses_a_note_it_cannot_read_naming_the_file_and_says_what_it_skipped(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    await saves(url, 3, "i")
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    capsys.readouterr()
    (good,) = notes.glob("*.note")
    lines = good.read_text().split("\n")

    def superscript(path: Path) -> None:
        path.write_text("\n".join([lines[0], "\u00b2", *lines[2:]]))

    junk = {
        "x.note": ("is a directory", lambda p: p.mkdir()),
        "y.note": ("is a symbolic link", lambda p: p.symlink_to(tmp_path / "nonexistent")),
        "zero.note": ("is a symbolic link", lambda p: p.symlink_to("/dev/zero")),
        "f.note": ("is a FIFO", lambda p: os.mkfifo(p)),
        "big.note": ("holds over 1048576 bytes", lambda p: p.write_bytes(good.read_bytes() + b"x" * (1 << 20))),
        "z.note": ("the checkpoint's size '\u00b2' is not a decimal number", superscript),
    }
    for name, (said, make) in junk.items():
        path = notes / name
        make(path)
        code = await asyncio.wait_for(
            run(url, "verify", "--chain-only", "--checkpoints", str(notes), "--key-dir", str(keys)), 30
        )
        assert code == 1, name
        err = capsys.readouterr().err
        assert f"{path}: {said}" in err, err
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    (notes / "README.txt").write_text("hi\n")
    assert await run(url, "verify", "--chain-only", "--checkpoints", str(notes), "--key-dir", str(keys)) == 0
    captured = capsys.readouterr()
    assert f"skipped 1 entry of {notes} not named *.note (not read as notes): README.txt" in captured.err
    assert "holds the history of 1 checkpoint(s)" in captured.out


async def test_verify_refuses_a_note_the_signature_does_not_cover_byte_for_byte(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, notes, forged = tmp_path / "keys", tmp_path / "notes", tmp_path / "forged"
    notes.mkdir()
    forged.mkdir()
    await saves(url, 12, "i")
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    capsys.readouterr()
    (good,) = notes.glob("*.note")
    lines = good.read_text(encoding="utf-8").split("\n")
    lines[1] = "".join(chr(0x660 + int(d)) for d in lines[1])  # "12" in Arabic-Indic digits
    lines.insert(3, "unsigned extension line")
    (forged / good.name).write_text("\n".join(lines), encoding="utf-8")
    assert await run(url, "verify", "--chain-only", "--checkpoints", str(forged), "--key-dir", str(keys)) == 1
    assert f"{forged / good.name}: the checkpoint's body has 4 line(s)" in capsys.readouterr().err
