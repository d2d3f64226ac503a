"""Signed checkpoints on every backend, played as the attacker they are for: someone with full write access
who drops the newest events, or forks the log, and recomputes everything the database holds."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactIn,
    Checkpoint,
    CheckpointSigner,
    InvalidCheckpointError,
    Ledger,
    MissingExtraError,
)
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.checkpoints import cosign
from artifact_ledger.transfer import export_ledger
from ledger_support import SECRET, delete_events, delete_openings_after, lower_checkpoints


async def saves(ledger: Ledger, count: int, tag: str) -> None:
    async with ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={tag: i}) for i in range(count)])


async def drop_newest(engine: AsyncEngine, keep: int) -> None:
    """What a DBA can do: switch the append-only guard off, delete the newest events, switch it on again."""
    async with engine.begin() as conn:
        await delete_events(conn, "position > :k", k=keep)
        await delete_openings_after(conn, keep)
        await lower_checkpoints(conn, keep)


async def test_a_checkpoint_is_a_signed_note_the_ledger_and_the_stdlib_verifier_check(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 21, "i")
        made = await ledger.checkpoint(key_dir=keys)
        own = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys)  # the same key, read back
        key_file = keys / f"{ledger.ledger_id}.ed25519"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert (made.size, made.root) == (21, (await ledger.merkle_root()).root)
        note = made.note()
        lines = note.split("\n")
        assert lines[0] == f"artifact-ledger/{ledger.ledger_id}"
        assert lines[1] == "21"
        assert lines[3] == ""
        assert lines[4].startswith(f"\u2014 artifact-ledger/{ledger.ledger_id} ")
        assert Checkpoint.parse(note, ledger_id=ledger.ledger_id) == made
        assert made.verified_by([own.verifier_key]) == [own.name]
        witness = CheckpointSigner.generate("witness.example")
        both = cosign(made, witness)
        assert both.verified_by([own.verifier_key, witness.verifier_key]) == [own.name, "witness.example"]
        await saves(ledger, 5, "j")
        check = await ledger.verify_checkpoint(both.note(), verifier_keys=[witness.verifier_key])
        assert check.ok
        assert (check.size, check.log_size) == (21, 26)
        await export_ledger(ledger.engine, tmp_path / "bundle")
    (tmp_path / "c.note").write_text(both.note())
    args = [str(tmp_path / "bundle"), "--checkpoint", str(tmp_path / "c.note")]
    assert standalone.main(args) == 0  # no key given: said so, signatures not checked
    assert standalone.main([*args, "--key", witness.verifier_key, "--key", own.verifier_key]) == 0
    stranger = CheckpointSigner.generate("witness.example")
    assert standalone.main([*args, "--key", stranger.verifier_key]) == 1
    forged = both.model_copy(update={"root": "00" * 32})
    (tmp_path / "forged.note").write_text(forged.note())
    assert standalone.main(["--checkpoint", str(tmp_path / "forged.note"), "--key", own.verifier_key]) == 1
    assert standalone.main([str(tmp_path / "bundle"), "--checkpoint", str(tmp_path / "forged.note")]) == 1
    (tmp_path / "cut.note").write_text(both.note()[:-30])
    assert standalone.main(["--checkpoint", str(tmp_path / "cut.note")]) == 2


async def test_dropping_the_newest_events_passes_verify_but_not_the_checkpoint(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 20, "i")
        kept = await ledger.checkpoint(signers=[])
        await drop_newest(engine, 17)
        await ledger.rebuild()  # the attacker recomputes the projections and the Merkle tree
        assert (await ledger.verify()).ok  # the chain alone cannot tell: a prefix of a chain is a chain
        check = await ledger.verify_checkpoint(kept)
        assert not check.ok
        assert check.problem == "the log holds 17 events, but the checkpoint recorded 20: the newest 3 were dropped"


async def test_a_fork_from_the_same_checkpoint_is_detected_at_its_size(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 12, "i")
        early = await ledger.checkpoint(signers=[])
        await saves(ledger, 8, "i")
        kept = await ledger.checkpoint(signers=[])
        await drop_newest(engine, 15)
        await ledger.rebuild()
        await saves(ledger, 9, "other")  # another history from position 16 on, chained and hashed by the ledger
        assert (await ledger.verify()).ok
        assert (await ledger.verify_checkpoint(early)).ok  # before the fork: the same history
        check = await ledger.verify_checkpoint(kept)
        assert not check.ok
        assert check.log_size == 24
        assert check.log_root != kept.root
        assert "first 20 events have the root" in (check.problem or "")
        assert "rewritten (or this is a fork)" in (check.problem or "")


async def test_bad_checkpoints_are_refused_by_name(engine: AsyncEngine, tmp_path: Path) -> None:
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 3, "i")
        signer = CheckpointSigner.generate("operator")
        made = await ledger.checkpoint(signers=[signer])
        note = made.note()
        with pytest.raises(InvalidCheckpointError, match="no blank line"):
            await ledger.verify_checkpoint(note.split("\n\n")[0])
        with pytest.raises(InvalidCheckpointError, match="truncated"):
            await ledger.verify_checkpoint(note[:-10])
        with pytest.raises(InvalidCheckpointError, match="not an artifact-ledger log"):
            await ledger.verify_checkpoint("example.com/log\n3\nAAAA\n\n\u2014 x AAAAAAA=\n")
        other = note.replace(str(ledger.ledger_id), "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        with pytest.raises(InvalidCheckpointError, match="not of this ledger"):
            await ledger.verify_checkpoint(other)
        edited = note.replace("\n3\n", "\n2\n", 1)
        with pytest.raises(InvalidCheckpointError, match="does not verify: the checkpoint was edited or forged"):
            await ledger.verify_checkpoint(edited, verifier_keys=[signer.verifier_key])
        resigned = await ledger.checkpoint(signers=[CheckpointSigner.generate("operator")])
        with pytest.raises(InvalidCheckpointError, match="signed by none of the 1 key"):
            await ledger.verify_checkpoint(resigned, verifier_keys=[signer.verifier_key])
        with pytest.raises(InvalidCheckpointError, match="not an Ed25519 verifier key"):
            await ledger.verify_checkpoint(made, verifier_keys=["operator+00000000+AAAA"])
        beyond = made.model_copy(update={"size": 9})
        check = await ledger.verify_checkpoint(beyond)
        assert not check.ok
        assert "recorded 9" in (check.problem or "")


def test_without_cryptography_signing_asks_for_the_extra_and_the_stdlib_verifier_still_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stdlib verifier checks Ed25519 signatures itself: with ``--key`` on a bare Python it verifies a
    true note and refuses an edited one (it used to print "signatures not checked" and exit 0 for both)."""
    signer = CheckpointSigner.generate("operator")
    made = cosign(Checkpoint(origin="artifact-ledger/01ARZ3NDEKTSV4RRFFQ69G5FAV", size=1, root="ab" * 32), signer)
    note = tmp_path / "c.note"
    note.write_text(made.note())
    forged = tmp_path / "forged.note"
    origin, _size, rest = made.note().split("\n", 2)
    forged.write_text(f"{origin}\n2\n{rest}")  # the size edited, the signature kept
    for name in (
        "cryptography",
        "cryptography.hazmat.primitives.asymmetric",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
    ):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if it were not installed
    with pytest.raises(MissingExtraError, match=r"artifact-ledger\[sign\]"):
        CheckpointSigner.generate("operator")
    report = standalone.check_checkpoint(standalone.parse_checkpoint(note.read_bytes()), None, [signer.verifier_key])
    assert report.ok
    assert report.detail["signatures"] == "verified: operator"
    refused = standalone.check_checkpoint(standalone.parse_checkpoint(forged.read_bytes()), None, [signer.verifier_key])
    assert not refused.ok
    assert "does not verify" in (refused.problem or "")
    for path, code in ((note, 0), (forged, 1)):
        done = subprocess.run(
            [sys.executable, "-S", "-I", standalone.__file__, "--checkpoint", str(path), "--key", signer.verifier_key],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == code, (path.name, done.stdout, done.stderr)
        assert "not checked" not in done.stdout


def _note_variants(note: str) -> dict[str, str]:
    """The same signed note altered in ways a signature over re-serialised fields would not notice."""
    lines = note.split("\n")
    origin, size, root, sig = lines[0], lines[1], lines[2], lines[4]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    noncanonical = root[:-2] + alphabet[alphabet.index(root[-2]) ^ 1] + "="
    sig_name, sig_field = sig.split(" ")[1:]
    sig_noncanonical = sig_field[:-2] + alphabet[alphabet.index(sig_field[-2]) ^ 1] + "="
    return {
        "extra body line": f"{origin}\n{size}\n{root}\nextension: evil\n\n{sig}\n",
        "arabic-indic size": f"{origin}\n{''.join(chr(0x660 + int(d)) for d in size)}\n{root}\n\n{sig}\n",
        "fullwidth size": f"{origin}\n{''.join(chr(0xFF10 + int(d)) for d in size)}\n{root}\n\n{sig}\n",
        "superscript size": f"{origin}\n\u00b2\n{root}\n\n{sig}\n",
        "leading zero size": f"{origin}\n0{size}\n{root}\n\n{sig}\n",
        "size beyond 64 bits": f"{origin}\n{2**64}\n{root}\n\n{sig}\n",
        "non-canonical base64 root": f"{origin}\n{size}\n{noncanonical}\n\n{sig}\n",
        "non-canonical base64 signature": f"{origin}\n{size}\n{root}\n\n\u2014 {sig_name} {sig_noncanonical}\n",
        "CRLF": note.replace("\n", "\r\n"),
        "BOM": "\ufeff" + note,
        "size + 1": f"{origin}\n{int(size) + 1}\n{root}\n\n{sig}\n",
    }


async def test_both_verifiers_check_the_notes_own_bytes_and_refuse_every_altered_note(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    async with Ledger.open(engine, secret=SECRET) as ledger:
        await saves(ledger, 12, "i")
        made = await ledger.checkpoint(key_dir=keys)
        vkey = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys).verifier_key
        assert (await ledger.verify_checkpoint(made.note(), verifier_keys=[vkey])).ok
        for name, text in _note_variants(made.note()).items():
            with pytest.raises(InvalidCheckpointError):  # never a bare ValueError, never accepted
                await ledger.verify_checkpoint(text, verifier_keys=[vkey])
            try:
                report = standalone.check_checkpoint(standalone.parse_checkpoint(text.encode()), None, [vkey])
            except standalone.BundleFormatError:
                continue
            assert not report.ok, name


def test_a_key_id_collision_tries_every_key_of_that_name_and_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standalone, "checkpoint_key_id", lambda name, public: "0badc0de")  # every key collides
    first, second = CheckpointSigner.generate("witness.example"), CheckpointSigner.generate("witness.example")
    signed = cosign(Checkpoint(origin="artifact-ledger/01TEST", size=1, root="11" * 32), second)
    note = signed.note()
    for keys in (
        [second.verifier_key],
        [first.verifier_key, second.verifier_key],
        [second.verifier_key, first.verifier_key],
    ):
        assert Checkpoint.parse(note).verified_by(keys) == ["witness.example"]
        assert standalone.check_checkpoint(standalone.parse_checkpoint(note.encode()), None, keys).ok
    with pytest.raises(InvalidCheckpointError, match="does not verify: the checkpoint was edited"):
        Checkpoint.parse(note).verified_by([first.verifier_key])
    assert not standalone.check_checkpoint(standalone.parse_checkpoint(note.encode()), None, [first.verifier_key]).ok
