"""``checkpoint_dir.check_newest``: the log against the newest note of its ledger in a directory (the console)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Checkpoint, CheckpointSigner, InvalidCheckpointError, Ledger
from artifact_ledger.checkpoint_dir import check_directory, check_newest, write_note
from ledger_support import SECRET


async def saves(ledger: Ledger, count: int, tag: str = "i") -> None:
    async with ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={tag: i}) for i in range(count)])


async def test_the_newest_note_of_the_ledger_decides(engine: AsyncEngine, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    operator = CheckpointSigner.generate("operator")
    async with Ledger.open(engine, secret=SECRET) as ledger:
        missing = await check_newest(ledger, notes)
        assert (missing.state, missing.problem) == ("unreadable", f"no checkpoint directory at {notes}")
        notes.mkdir()
        assert (await check_newest(ledger, notes)).state == "none"
        await saves(ledger, 5)
        write_note(notes, await ledger.checkpoint(signers=[operator]))
        await saves(ledger, 3)
        newest = write_note(notes, await ledger.checkpoint(signers=[operator]))
        other = Checkpoint(origin="artifact-ledger/01ARZ3NDEKTSV4RRFFQ69G5FAV", size=500, root="cd" * 32)
        write_note(notes, other.model_copy(update={"signatures": (operator.sign(other),)}))
        await saves(ledger, 2)

        found = await check_newest(ledger, notes, [operator.verifier_key])
        assert (found.state, found.file, found.notes) == ("verified", newest.name, 2)
        assert found.checkpoint is not None
        assert found.checkpoint.size == 8
        assert found.verified_signers == ("operator",)
        assert found.signers == ("operator",)
        assert found.written_at is not None
        assert found.check is not None
        assert found.check.log_size == 10
        unchecked = await check_newest(ledger, notes)
        assert (unchecked.state, unchecked.verified_signers) == ("verified", None)

        stranger = CheckpointSigner.generate("stranger")
        refused = await check_newest(ledger, notes, [stranger.verifier_key])
        assert refused.state == "unreadable"
        assert refused.problem == f"{newest}: the checkpoint of size 8 is signed by none of the 1 key(s) given"

        forged = Checkpoint.parse(newest.read_text()).model_copy(update={"root": "00" * 32})
        (notes / "000000000009-forged.note").write_text(forged.note())  # size 8 too; its name sorts last
        edited = await check_newest(ledger, notes, [operator.verifier_key])
        assert edited.state == "unreadable"
        assert "does not verify: the checkpoint was edited or forged" in str(edited.problem)
        contradicted = await check_newest(ledger, notes)  # no keys: the forged root is compared, and differs
        assert contradicted.state == "contradicted"
        assert str(contradicted.problem).startswith("checkpoint 000000000009-forged.note (size 8): the log's first 8")

        (notes / "000000000009-forged.note").write_text("origin\n")
        broken = await check_newest(ledger, notes)
        assert broken.state == "unreadable"
        assert str(broken.problem).startswith(f"{notes / '000000000009-forged.note'}: ")


async def test_the_cli_check_is_unchanged_by_the_move(engine: AsyncEngine, tmp_path: Path) -> None:
    """``verify --checkpoints`` still refuses a note of another ledger in its directory (the console passes it over)."""
    notes = tmp_path / "notes"
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 2)
        write_note(notes, await ledger.checkpoint(signers=[CheckpointSigner.generate("operator")]))
        assert await check_directory(ledger, str(notes), []) == (1, None)
        other = Checkpoint(origin="artifact-ledger/01ARZ3NDEKTSV4RRFFQ69G5FAV", size=1, root="cd" * 32)
        signer = CheckpointSigner.generate("w")
        write_note(notes, other.model_copy(update={"signatures": (signer.sign(other),)}))
        assert (await check_newest(ledger, notes)).state == "verified"
        with pytest.raises(InvalidCheckpointError, match="is of the log 'artifact-ledger/01ARZ3NDEKTSV4RRFFQ69G5FAV'"):
            await check_directory(ledger, str(notes), [])


async def test_check_newest_raises_nothing_and_never_blocks_on_what_the_directory_holds(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    operator = CheckpointSigner.generate("operator")
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 3)
        good = write_note(notes, await ledger.checkpoint(signers=[operator]))
        lines = good.read_text().split("\n")
        (notes / "z.note").write_text("\n".join([lines[0], "\u00b2", *lines[2:]]))
        found = await asyncio.wait_for(check_newest(ledger, notes, [operator.verifier_key]), 10)
        assert found.state == "unreadable"
        assert f"{notes / 'z.note'}: the checkpoint's size '\u00b2' is not a decimal number" in str(found.problem)
        (notes / "z.note").unlink()
        os.mkfifo(notes / "f.note")
        found = await asyncio.wait_for(check_newest(ledger, notes, [operator.verifier_key]), 10)
        assert (found.state, found.problem) == (
            "unreadable",
            f"{notes / 'f.note'}: is a FIFO, not a note file (a note is a regular file)",
        )
        (notes / "f.note").unlink()
        assert (await check_newest(ledger, notes, [operator.verifier_key])).state == "verified"
