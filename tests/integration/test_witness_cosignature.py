"""A witness's co-signature, required (``witness_keys`` / ``--witness-key``), on every backend and in the stdlib
verifier.

The threat it answers: whoever holds the ledger's own signing key (and the database) rewrites the log and
signs notes for the rewritten one. ``--key`` keys are alternatives (any one signature suffices, as a key
rotation needs), so ``--key LEDGER --key WITNESS`` accepted such a note on the ledger's signature alone, and
the documented hourly check let it through. A witness key given as ``--witness-key`` must have signed every
note; a note without its valid signature is refused, by the library, the CLI and the stdlib verifier alike.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, CheckpointSigner, InvalidArgumentError, InvalidCheckpointError, Ledger
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.checkpoint_dir import write_note
from artifact_ledger.checkpoints import cosign
from artifact_ledger.cli import main


async def _run(url: str, *argv: str) -> int:
    return await asyncio.to_thread(main, ["--db", url, *argv])


async def _ledger_notes(url: str, tmp_path: Path) -> tuple[Path, CheckpointSigner, CheckpointSigner, Path, Path]:
    """(a notes directory holding one note signed by the ledger alone, the ledger's signer, a witness,
    the note's file, a file holding the same note co-signed by the witness)."""
    keys, notes = tmp_path / "keys", tmp_path / "notes"
    notes.mkdir()
    witness = CheckpointSigner.generate("witness.example")
    async with Ledger.open(url) as ledger:
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(7)])
        made = await ledger.checkpoint(key_dir=keys)
        own = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys)
    alone = write_note(notes, made)
    both = tmp_path / "cosigned.note"
    both.write_text(cosign(made, witness).note())
    return notes, own, witness, alone, both


async def test_the_library_requires_every_witness_key(url: str, tmp_path: Path) -> None:
    _notes, own, witness, alone, both = await _ledger_notes(url, tmp_path)
    async with Ledger.open(url) as ledger:
        # --key semantics: any one of the keys given; the ledger's signature alone passes.
        check = await ledger.verify_checkpoint(
            alone.read_text(), verifier_keys=[own.verifier_key, witness.verifier_key]
        )
        assert check.ok
        with pytest.raises(InvalidCheckpointError, match=r"not co-signed by the witness key 'witness\.example\+"):
            await ledger.verify_checkpoint(
                alone.read_text(), verifier_keys=[own.verifier_key], witness_keys=[witness.verifier_key]
            )
        check = await ledger.verify_checkpoint(
            both.read_text(), verifier_keys=[own.verifier_key], witness_keys=[witness.verifier_key]
        )
        assert check.ok
        impostor = CheckpointSigner.generate("witness.example")  # the witness's name, another key
        with pytest.raises(InvalidCheckpointError, match="not co-signed"):
            await ledger.verify_checkpoint(both.read_text(), witness_keys=[impostor.verifier_key])


async def test_verify_witness_key_refuses_a_note_the_witness_did_not_sign(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes, own, witness, alone, both = await _ledger_notes(url, tmp_path)
    # The documented hourly check used to pass both keys as --key: the ledger's signature alone passed.
    assert (
        await _run(url, "verify", "--checkpoints", str(notes), "--key", own.verifier_key, "--key", witness.verifier_key)
        == 0
    )
    capsys.readouterr()
    code = await _run(
        url, "verify", "--checkpoints", str(notes), "--key", own.verifier_key, "--witness-key", witness.verifier_key
    )
    assert code == 1
    err = capsys.readouterr().err
    assert alone.name in err
    assert "not co-signed by the witness key" in err
    # The same note co-signed by the witness passes, and the JSON report says a witness was required.
    alone.write_text(both.read_text())
    code = await _run(url, "verify", "--checkpoints", str(notes), "--witness-key", witness.verifier_key, "--json")
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["witnesses_required"] == 1
    assert report["signatures_checked"] is True


async def test_verify_witness_key_usage_errors(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes, _own, _witness, _alone, _both = await _ledger_notes(url, tmp_path)
    capsys.readouterr()
    assert await _run(url, "verify", "--witness-key", "w+00000000+AAAA") == 2  # nothing to check it against
    assert "give --checkpoints" in capsys.readouterr().err
    assert await _run(url, "verify", "--checkpoints", str(notes), "--witness-key", "not-a-key") == 2
    assert "--witness-key" in capsys.readouterr().err


def test_the_stdlib_verifier_requires_every_witness_key(tmp_path: Path) -> None:
    own = CheckpointSigner.generate("operator")
    witness = CheckpointSigner.generate("witness.example")
    from artifact_ledger import Checkpoint

    made = cosign(Checkpoint(origin="artifact-ledger/01ARZ3NDEKTSV4RRFFQ69G5FAV", size=3, root="ab" * 32), own)
    alone, both = tmp_path / "alone.note", tmp_path / "both.note"
    alone.write_text(made.note())
    both.write_text(cosign(made, witness).note())

    def verifier(note: Path, *keys: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-S", "-I", standalone.__file__, "--checkpoint", str(note), *keys],
            capture_output=True,
            text=True,
            check=False,
        )

    loose = verifier(alone, "--key", own.verifier_key, "--key", witness.verifier_key)
    assert loose.returncode == 0, loose.stdout  # --key: alternatives
    strict = verifier(alone, "--key", own.verifier_key, "--witness-key", witness.verifier_key)
    assert strict.returncode == 1, strict.stdout
    assert "not co-signed by the witness witness.example" in strict.stdout
    done = verifier(both, "--key", own.verifier_key, "--witness-key", witness.verifier_key)
    assert done.returncode == 0, done.stdout
    assert "co-signed by: witness.example" in done.stdout
    bad = verifier(both, "--witness-key", "witness.example+00000000+AQ==")
    assert bad.returncode == 1
    assert "is not an Ed25519 verifier key" in bad.stdout


def _bogus_witness_lines(note: str, witness: CheckpointSigner, count: int) -> str:
    """``note`` with ``count`` more lines under the witness's name and key id whose signatures do not verify
    (the witness's own signature with one bit changed in S, so each is parsed and checked)."""
    line = next(x for x in note.split("\n") if x.startswith(f"\u2014 {witness.name} "))
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    extra = []
    for n in range(count):
        forged = bytearray(raw)
        forged[4 + 32 + n % 16] ^= 1 << (n % 8)  # a byte of S below its top one: S stays below the group order
        forged[4 + 48] ^= n // 128 + 1
        extra.append(f"\u2014 {witness.name} {base64.b64encode(bytes(forged)).decode()}\n")
    return note + "".join(extra)


async def test_a_witness_line_that_does_not_verify_is_refused_by_the_library_and_the_stdlib_verifier(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A note holding the witness's true co-signature and lines under the witness's name and key id that do not
    verify: the library refused it (an edited or forged note), the stdlib verifier took it on the true line,
    after checking every bogus one in plain Python (a 1 MiB note of them took minutes). Both refuse it now, the
    verifier after one check, and a repeated true line is checked once."""
    _notes, own, witness, _alone, both = await _ledger_notes(url, tmp_path)
    forged = tmp_path / "forged.note"
    forged.write_text(_bogus_witness_lines(both.read_text(), witness, 2000))
    async with Ledger.open(url) as ledger:
        with pytest.raises(InvalidCheckpointError, match="does not verify"):
            await ledger.verify_checkpoint(
                forged.read_text(), verifier_keys=[own.verifier_key], witness_keys=[witness.verifier_key]
            )
    checks: list[int] = []
    real = standalone.ed25519_verifies

    def counted(public: bytes, signature: bytes, message: bytes) -> bool:
        checks.append(1)
        return real(public, signature, message)

    monkeypatch.setattr(standalone, "ed25519_verifies", counted)
    argv = ["--checkpoint", str(forged), "--key", own.verifier_key, "--witness-key", witness.verifier_key]
    assert standalone.main(argv) == 1
    out = capsys.readouterr().out
    assert f"the signature of {witness.name}" in out
    assert "does not verify: the checkpoint was edited or forged" in out
    assert len(checks) <= 3, len(checks)  # the ledger's line, the witness's true line, one bogus line
    # The true note with its witness line repeated 2,000 times: still verified, each distinct line once.
    witness_line = next(x for x in both.read_text().split("\n") if x.startswith(f"\u2014 {witness.name} "))
    repeated = tmp_path / "repeated.note"
    repeated.write_text(both.read_text() + f"{witness_line}\n" * 2000)
    checks.clear()
    assert standalone.main([*argv[:1], str(repeated), *argv[2:]]) == 0
    assert "co-signed by: witness.example" in capsys.readouterr().out
    assert len(checks) == 2, len(checks)


async def test_a_witness_key_that_is_also_every_verifier_key_is_a_usage_error(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ledger's own key given as the witness's too (one value in two settings): the requirement was met by
    the ledger's signature alone, and a note only that key signed passed as co-signed. Refused before any note is
    read, by the library (InvalidArgumentError), the CLI (exit 2, --key or --key-dir) and the stdlib verifier
    (exit 2); a real witness beside the ledger's key is still required as before."""
    notes, own, witness, alone, both = await _ledger_notes(url, tmp_path)
    async with Ledger.open(url) as ledger:
        with pytest.raises(InvalidArgumentError, match="is every verifier key given"):
            await ledger.verify_checkpoint(
                alone.read_text(), verifier_keys=[own.verifier_key], witness_keys=[own.verifier_key]
            )
        # --key LEDGER --key WITNESS --witness-key WITNESS: the ledger's key is no witness, the witness required.
        with pytest.raises(InvalidCheckpointError, match="not co-signed"):
            await ledger.verify_checkpoint(
                alone.read_text(),
                verifier_keys=[own.verifier_key, witness.verifier_key],
                witness_keys=[witness.verifier_key],
            )
        assert (
            await ledger.verify_checkpoint(
                both.read_text(),
                verifier_keys=[own.verifier_key],
                witness_keys=[own.verifier_key, witness.verifier_key],
            )
        ).ok
    capsys.readouterr()
    for given in (["--key", own.verifier_key], ["--key-dir", str(tmp_path / "keys")]):
        code = await _run(url, "verify", "--checkpoints", str(notes), *given, "--witness-key", own.verifier_key)
        assert code == 2, given
        assert "is every verifier key given" in capsys.readouterr().err
    note = str(alone)
    assert standalone.main(["--checkpoint", note, "--key", own.verifier_key, "--witness-key", own.verifier_key]) == 2
    assert "the --witness-key is every --key" in capsys.readouterr().err
    assert (
        standalone.main(["--checkpoint", note, "--key", own.verifier_key, "--witness-key", witness.verifier_key]) == 1
    )


async def test_checking_signatures_needs_no_cryptography_package(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only signing needs ``artifact-ledger[sign]``: without the package, the library and ``verify
    --checkpoints --key/--witness-key`` check signatures with the stdlib verifier's own Ed25519 (they
    raised MissingExtraError), a true note passing and an edited one refused."""
    notes, own, witness, alone, both = await _ledger_notes(url, tmp_path)
    for name in (
        "cryptography",
        "cryptography.hazmat.primitives.asymmetric",
        "cryptography.hazmat.primitives.asymmetric.ed25519",
    ):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if it were not installed
    async with Ledger.open(url) as ledger:
        check = await ledger.verify_checkpoint(
            both.read_text(), verifier_keys=[own.verifier_key], witness_keys=[witness.verifier_key]
        )
        assert check.ok
        origin, _size, rest = both.read_text().split("\n", 2)
        with pytest.raises(InvalidCheckpointError, match="does not verify"):
            await ledger.verify_checkpoint(f"{origin}\n6\n{rest}", verifier_keys=[own.verifier_key])
    alone.write_text(both.read_text())
    assert await _run(url, "verify", "--checkpoints", str(notes), "--key", own.verifier_key, "--witness-key",
                      witness.verifier_key) == 0  # fmt: skip
