"""Checkpoints and proofs from a second adversarial review, on every backend: the ledger's signing key file
(made whole or not at all, read strictly, refused when others can read it) and checkpoints handed over as
objects rather than notes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from test_checkpoints import drop_newest

from artifact_ledger import ArtifactIn, Checkpoint, CheckpointSigner, InvalidCheckpointError, Ledger
from artifact_ledger.checkpoint_dir import check_directory, check_newest, write_note
from artifact_ledger.checkpoints import cosign
from artifact_ledger.errors import ChainBrokenError
from ledger_support import SECRET, delete_events, file_size_limit, merkle_rows, put_back_merkle_rows


async def saves(ledger: Ledger, count: int) -> None:
    async with ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={"i": i}) for i in range(count)])


async def test_a_signing_key_whose_write_fails_leaves_no_key_file(engine: AsyncEngine, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 3)
        key_file = keys / f"{ledger.ledger_id}.ed25519"
        with file_size_limit(20), pytest.raises(OSError, match="too large"):  # full after 20 of 65 bytes
            await ledger.checkpoint(key_dir=keys)
        assert not key_file.exists()  # no half key that every later checkpoint would choke on
        assert [p.name for p in keys.iterdir()] == []
        made = await ledger.checkpoint(key_dir=keys)
        signer = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys)
        assert made.verified_by([signer.verifier_key]) == [signer.name]
        assert oct(key_file.stat().st_mode & 0o777) == oct(0o600)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "holds no Ed25519 seed"),
        (b"abc\n", "holds no Ed25519 seed"),
        (b"zz" * 32 + b"\n", "holds no Ed25519 seed"),
        (b"00" * 31 + b"\n", "holds no Ed25519 seed"),
        (b"\xff\xfe" * 40, "holds no Ed25519 seed"),
        (b"0" * 100_000, "holds no Ed25519 seed"),
    ],
    ids=["empty", "short", "not-hex", "31-bytes", "binary", "huge"],
)
async def test_a_damaged_signing_key_file_is_refused_naming_it(
    engine: AsyncEngine, tmp_path: Path, content: bytes, says: str
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 2)
        key_file = keys / f"{ledger.ledger_id}.ed25519"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        with pytest.raises(InvalidCheckpointError, match=f"{key_file}.*{says}"):
            await ledger.checkpoint(key_dir=keys)
        assert key_file.read_bytes() == content  # never replaced: it may be the only copy of a real key


async def test_a_signing_key_others_can_read_or_that_is_no_regular_file_is_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 2)
        await ledger.checkpoint(key_dir=keys)
        key_file = keys / f"{ledger.ledger_id}.ed25519"
        key_file.chmod(0o644)
        with pytest.raises(InvalidCheckpointError, match=f"{key_file} has mode 0o644.*chmod 600"):
            await ledger.checkpoint(key_dir=keys)
        key_file.chmod(0o600)
        assert (await ledger.checkpoint(key_dir=keys)).signatures
        seed = key_file.read_bytes()
        key_file.unlink()
        os.mkfifo(key_file, 0o600)  # a FIFO would block the read for ever
        with pytest.raises(InvalidCheckpointError, match=f"{key_file}.*not a regular file"):
            await ledger.checkpoint(key_dir=keys)
        key_file.unlink()
        (tmp_path / "elsewhere").write_bytes(seed)
        (tmp_path / "elsewhere").chmod(0o600)
        key_file.symlink_to(tmp_path / "elsewhere")  # a link is not followed
        with pytest.raises(InvalidCheckpointError, match=f"{key_file}.*symbolic link"):
            await ledger.checkpoint(key_dir=keys)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("root", "zz", "root 'zz' is not a SHA-256 hash"),
        ("root", "AB" * 32, "is not a SHA-256 hash as 64 lowercase hex digits"),
        ("size", -1, "size -1 is not a tree size"),
        ("size", True, "size True is not a tree size"),
        ("size", 2**63, f"size {2**63} is not a tree size"),
        ("origin", "artifact-ledger/x\nextra", "origin 'artifact-ledger/x\\\\nextra' is not"),
        ("signatures", "bad-line", "signature"),
    ],
)
async def test_a_checkpoint_object_is_held_to_the_notes_rules(
    engine: AsyncEngine, tmp_path: Path, field: str, value: object, says: str
) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 4)
        made = await ledger.checkpoint(key_dir=tmp_path)
        vkey = CheckpointSigner.for_ledger(str(ledger.ledger_id), tmp_path).verifier_key
        if field == "origin":
            value = f"artifact-ledger/{ledger.ledger_id}\nextra"
            says = "origin .* is not"
        if field == "signatures":
            (line,) = made.signatures
            value = (line.model_copy(update={"key_id": "XYZ"}),)
            says = r"signature of .* \(key 'XYZ'\)"
        bad = made.model_copy(update={field: value})  # no validation, as a caller's own object may not have had
        for keys in ([], [vkey]):
            with pytest.raises(InvalidCheckpointError, match=says):
                await ledger.verify_checkpoint(bad, verifier_keys=keys)
        assert (await ledger.verify_checkpoint(made, verifier_keys=[vkey])).ok
        unsigned = await ledger.checkpoint(signers=[])
        assert (await ledger.verify_checkpoint(unsigned)).ok  # an object need not be signed


async def test_a_fork_under_the_stored_merkle_subtrees_is_contradicted_by_the_newest_note(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The newest note (the console's badge) against a log whose last 8 of 16 events were dropped and written
    again differently, its Merkle tables then put back as they were when the note was signed."""
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 16)
        write_note(notes, await ledger.checkpoint(key_dir=keys))
        vkey = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys).verifier_key
        async with engine.connect() as conn:
            signed_tree = await merkle_rows(conn)
    await drop_newest(engine, 8)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await ledger.rebuild()
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"forked": i}) for i in range(8)])
        async with engine.begin() as conn:
            await put_back_merkle_rows(conn, signed_tree)
        assert (await ledger.merkle_root(16)).root == Checkpoint.parse(next(notes.iterdir()).read_text()).root
        newest = await check_newest(ledger, notes, [vkey])
        assert newest.state == "contradicted", newest
        assert newest.problem is not None
        assert "history up to position 16 was rewritten (or this is a fork)" in newest.problem
        assert await check_directory(ledger, str(notes), [vkey]) == (1, newest.problem + _BRACKET_16)
        # the library's own check of the note: the root from the events too, never the stored subtrees
        check = await ledger.verify_checkpoint(next(notes.iterdir()).read_text(), verifier_keys=[vkey])
        assert not check.ok
        assert check.problem is not None
        assert "history up to position 16 was rewritten (or this is a fork)" in check.problem


_BRACKET_16 = "; no earlier checkpoint to bracket it: the change lies in positions 1-16"


@pytest.mark.parametrize(
    "name",
    ["w\x1b[2J\x1b[31mOK", "w\rOK: all verified", "w\u202eelif", "w\u200b", "w\tx", "w\u00a0x", "w\x07"],
    ids=["ansi", "carriage-return", "bidi-override", "zero-width", "tab", "nbsp", "bell"],
)
async def test_a_signature_line_whose_name_a_terminal_would_not_show_as_written_is_refused(
    engine: AsyncEngine, tmp_path: Path, name: str
) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 3)
        made = await ledger.checkpoint(key_dir=tmp_path)
        witness = CheckpointSigner.generate("witness.example")
        note = cosign(made, witness).note().replace("\u2014 witness.example ", f"\u2014 {name} ")
        with pytest.raises(InvalidCheckpointError, match="not a signature line") as caught:
            await ledger.verify_checkpoint(note)
        assert name not in str(caught.value)  # the message shows it escaped
        assert (await ledger.verify_checkpoint(cosign(made, witness).note())).ok
    with pytest.raises(InvalidCheckpointError, match="must be non-empty, printable"):
        CheckpointSigner.generate(name)  # no signer signs under such a name either


async def delete_event(engine: AsyncEngine, position: int) -> None:
    """What a DBA can do: the append-only guard off, one event deleted, the guard back on."""
    async with engine.begin() as conn:
        await delete_events(conn, "position = :p", p=position)


async def test_proofs_over_a_log_missing_an_event_name_the_position(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 40)
        await delete_event(engine, 3)
        for call in (
            lambda: ledger.prove_inclusion(3),
            lambda: ledger.prove_inclusion(5),
            lambda: ledger.merkle_root(5),
            lambda: ledger.prove_consistency(4, 40),
        ):
            with pytest.raises(ChainBrokenError, match="no event at position 3") as caught:
                await call()
            assert caught.value.position == 3
        assert (await ledger.prove_inclusion(20, 40)).verify()  # proofs that need no event below 16 still work
