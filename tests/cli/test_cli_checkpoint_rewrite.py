"""The attack checkpoints are for, played end to end through the CLI on SQLite and PostgreSQL.

Someone with full write access rewrites one event's payload, recomputes every later hash by the
(unkeyed, public) recipe, and rebuilds the projections and the Merkle tree with the ledger's own
``rebuild``. The database then agrees with itself: plain ``verify`` passes (the documented limit of
an unkeyed chain). ``verify --checkpoints`` compares the log with the signed notes kept outside
the database: the note taken before the rewritten position still holds, the first one after it
does not, and the report names that checkpoint and its size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import run, saves
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_ledger import CheckpointSigner, Ledger
from ledger_support import recompute_chain_from


async def _guards_off(conn: AsyncConnection) -> list[str]:
    """Turn the append-only guards of ``ledger_events`` off; returns the DDL that puts SQLite's back."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("ALTER TABLE ledger_events DISABLE TRIGGER USER"))
        return []
    rows = await conn.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_events'")
    )
    triggers = list(rows)
    for name, _ in triggers:
        await conn.execute(text(f'DROP TRIGGER "{name}"'))
    return [sql for _, sql in triggers]


async def _guards_on(conn: AsyncConnection, recreate: list[str]) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("ALTER TABLE ledger_events ENABLE TRIGGER USER"))
    for ddl in recreate:
        await conn.execute(text(ddl))


async def rewrite_and_recompute(db_url: str, position: int, old: str, new: str) -> None:
    """The attacker: edit one payload, recompute the hash of it and of every later event, rebuild.

    An event sealed under chain format 2 is recomputed with its own salt, which the attacker reads
    from ``ledger_openings`` like everything else in the database."""
    async with Ledger.open(db_url) as ledger:
        async with ledger.engine.begin() as conn:
            recreate = await _guards_off(conn)
            await recompute_chain_from(conn, position, old, new)
            await _guards_on(conn, recreate)
        await ledger.rebuild()  # the projections and the Merkle tree now agree with the rewritten log


async def test_a_rewritten_and_recomputed_event_passes_verify_but_not_the_checkpoints(
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()  # checkpoint --to never makes the directory
    await saves(url, 10, "score")  # positions 1-10
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    await saves(url, 6, "score")  # positions 11-16
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    async with Ledger.open(url) as ledger:
        vkey = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys).verifier_key
    capsys.readouterr()

    await rewrite_and_recompute(url, 13, '"score":2', '"score":97')  # the third save of the second batch
    async with Ledger.open(url) as ledger, ledger.manager() as manager:
        assert [a.data["score"] for a in await manager.find_all()].count(97) == 1  # the lie is what readers see
    assert await run(url, "verify") == 0  # the chain and the projections agree with themselves
    assert "OK" in capsys.readouterr().out

    assert await run(url, "verify", "--checkpoints", str(notes), "--key", vkey, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["checkpoints_checked"] == 2
    problem = report["checkpoint_problem"]
    assert "(size 16)" in problem or "size 16" in problem, problem
    assert "history up to position 16 was rewritten (or this is a fork)" in problem
    assert "(size 10) still holds: the change lies in positions 11-16" in problem  # the two notes bracket it
    assert await run(url, "verify", "--checkpoints", str(notes), "--key", vkey) == 1
    out = capsys.readouterr().out
    assert "history up to position 16 was rewritten" in out

    # the note from before the rewritten position still holds: the change happened between 10 and 16
    early = tmp_path / "early"
    early.mkdir()
    first = min(notes.glob("*.note"), key=lambda note: note.stat().st_mtime_ns)
    (early / first.name).write_bytes(first.read_bytes())
    assert await run(url, "verify", "--checkpoints", str(early), "--key", vkey) == 0
    assert "holds the history of 1 checkpoint(s)" in capsys.readouterr().out


async def test_the_rewrite_is_found_between_the_two_checkpoints_that_bracket_it(
    url: str,
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    async with Ledger.open(url) as ledger:
        notes = []
        for _ in range(3):
            await saves(url, 5, "n")
            notes.append((await ledger.checkpoint(key_dir=keys)).note())
    await rewrite_and_recompute(url, 8, '"n":2', '"n":3')  # inside the second checkpoint's range
    async with Ledger.open(url) as ledger:
        assert (await ledger.verify()).ok
        checks = [await ledger.verify_checkpoint(note) for note in notes]
    assert [check.ok for check in checks] == [True, False, False]
    assert "position 10 was rewritten" in (checks[1].problem or "")


async def test_notes_re_signed_by_the_attacker_pass_only_when_signatures_are_not_checked(
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys, notes, theirs = tmp_path / "keys", tmp_path / "notes", tmp_path / "attacker-keys"
    notes.mkdir()  # checkpoint --to never makes the directory
    await saves(url, 8, "score")
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(keys)) == 0
    capsys.readouterr()
    assert await run(url, "verify", "--checkpoints", str(notes), "--key-dir", str(keys), "--json") == 0
    assert json.loads(capsys.readouterr().out)["signatures_checked"] is True
    assert await run(url, "verify", "--checkpoints", str(notes), "--key-dir", str(keys)) == 0
    out = capsys.readouterr().out
    assert "the log holds the history of 1 checkpoint(s)" in out
    assert "BROKEN" not in out
    assert "signatures not checked" not in out

    await rewrite_and_recompute(url, 3, '"score":2', '"score":-1')
    for note in notes.glob("*.note"):  # the attacker can write where the notes are kept, too
        note.unlink()
    assert await run(url, "checkpoint", "--to", str(notes), "--key-dir", str(theirs)) == 0  # signed by their key
    capsys.readouterr()

    assert await run(url, "verify", "--checkpoints", str(notes)) == 0  # taken at its word...
    out = capsys.readouterr().out
    assert "signatures not checked" in out  # ...and the report says so
    assert await run(url, "verify", "--checkpoints", str(notes), "--json") == 0
    assert json.loads(capsys.readouterr().out)["signatures_checked"] is False

    assert await run(url, "verify", "--checkpoints", str(notes), "--key-dir", str(keys)) == 1
    err = capsys.readouterr().err
    assert "000000000008-" in err  # the note's file is named
    assert "sign" in err

    empty = tmp_path / "no-keys"
    empty.mkdir()
    assert await run(url, "verify", "--checkpoints", str(notes), "--key-dir", str(empty)) == 2
    async with Ledger.open(url) as ledger:
        assert f"no signing key of ledger {ledger.ledger_id} in {empty}" in capsys.readouterr().err
    assert list(empty.iterdir()) == []  # a check never mints a key
