"""The library and the stdlib verifier read the same checkpoint note, signature and key by the same rules.

``verify_bundle.py`` is what a third party runs, so a note or a verifier key the library refuses must not
pass there (and the other way round). Each case below is fed to ``Ledger.verify_checkpoint`` (on every
backend) and to the verifier, as a third party runs it, against a bundle of the same log: both refuse it,
each with a message. The verifier used to take any signer name (a control or space character included)
and any key id on a verifier key (a key could claim another key's id), and checked a note's root before
its signatures; the library took a verifier key with extra base64 padding.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Checkpoint, CheckpointSigner, InvalidCheckpointError, Ledger
from artifact_ledger import verify_bundle as standalone
from artifact_ledger.checkpoints import cosign
from artifact_ledger.transfer import export_ledger
from ledger_support import SECRET

WEIRD_NAMES = {
    "tab": "witness\tx",
    "carriage return": "witness\rx",
    "ANSI escape": "\x1b[32mwitness",
    "no-break space": "witness\u00a0x",
    "zero-width space": "witness\u200bx",
    "right-to-left override": "\u202ewitness",
}


def _renamed(note: str, name: str) -> str:
    """``note`` with one more signature line: a copy of its first, under ``name`` (the signature still verifies
    over the body: only the line's name differs)."""
    line = note.rstrip("\n").split("\n")[-1]
    return note + f"\u2014 {name} {line.split(' ')[2]}\n"


def _key(name: str, key_id: str, public: bytes, algorithm: bytes = b"\x01", pad: str = "") -> str:
    return f"{name}+{key_id}+{base64.b64encode(algorithm + public).decode()}{pad}"


def _cases(made: Checkpoint, own: CheckpointSigner) -> dict[str, tuple[str, list[str]]]:
    """(note, verifier keys) the library refuses, by what is wrong with them."""
    note, key = made.note(), own.verifier_key
    real = CheckpointSigner.generate("witness.example")
    impostor = CheckpointSigner.generate("witness.example")
    # The impostor's signature, on a line that carries the real witness's key id.
    raw = base64.b64decode(impostor.sign(made).signature)
    real_id = real.verifier_key.split("+")[1]
    borrowed = note + f"\u2014 witness.example {base64.b64encode(bytes.fromhex(real_id) + raw).decode()}\n"
    public = own.public_key
    own_id = key.split("+")[1]
    forged_root = made.model_copy(update={"root": "00" * 32})
    beyond = cosign(made.model_copy(update={"size": made.size + 3, "signatures": ()}), own)
    rewritten = cosign(made.model_copy(update={"root": "11" * 32, "signatures": ()}), own)
    cases: dict[str, tuple[str, list[str]]] = {}
    for label, name in WEIRD_NAMES.items():
        cases[f"signer name with a {label}, no key"] = (_renamed(note, name), [])
        cases[f"signer name with a {label}, beside a verified line"] = (_renamed(note, name), [key])
    cases |= {
        "a key claiming another key's id": (borrowed, [_key("witness.example", real_id, impostor.public_key)]),
        "a key whose id is not derived from it": (note, [_key(own.name, "0badc0de", public)]),
        "a key of another algorithm": (note, [_key(own.name, own_id, public, algorithm=b"\x02")]),
        "a key in base64 with extra padding": (note, [_key(own.name, own_id, public, pad="=")]),
        "a key whose name holds a space": (note, [key.replace("/", " ", 1)]),
        "a key whose name holds a tab": (note, [key.replace("/", "\t", 1)]),
        "an edited root, checked against the log": (forged_root.note(), [key]),
        "a signed note beyond the log": (beyond.note(), [key]),
        "a signed note of another history": (rewritten.note(), [key]),
    }
    if own_id.upper() != own_id:  # an id of digits alone (one key in 40) has no capitals to show
        cases["a key id in capitals"] = (note, [_key(own.name, own_id.upper(), public)])
    return cases


def _library_refuses(outcome: object) -> str:
    if isinstance(outcome, InvalidCheckpointError):
        return str(outcome)
    assert not getattr(outcome, "ok", True), outcome
    return str(outcome.problem)  # type: ignore[attr-defined]


async def test_the_library_and_the_stdlib_verifier_refuse_the_same_checkpoints(
    engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    async with Ledger.open(engine, secret=SECRET) as ledger:
        async with ledger.manager() as manager:
            await manager.save_all([ArtifactIn(data={"i": i}) for i in range(6)])
        made = await ledger.checkpoint(key_dir=keys)
        own = CheckpointSigner.for_ledger(str(ledger.ledger_id), keys)
        await export_ledger(ledger.engine, tmp_path / "bundle")
        note_file = tmp_path / "c.note"
        note_file.write_text(made.note())
        assert (await ledger.verify_checkpoint(made.note(), verifier_keys=[own.verifier_key])).ok
        args = [str(tmp_path / "bundle"), "--checkpoint", str(note_file)]
        assert standalone.main([*args, "--key", own.verifier_key]) == 0
        capsys.readouterr()
        refused: dict[str, tuple[str, str]] = {}
        for name, (note, verifier_keys) in _cases(made, own).items():
            try:
                outcome: object = await ledger.verify_checkpoint(note, verifier_keys=verifier_keys)
            except InvalidCheckpointError as exc:
                outcome = exc
            library = _library_refuses(outcome)
            note_file.write_text(note)
            code = standalone.main([*args, *(a for k in verifier_keys for a in ("--key", k))])
            shown = capsys.readouterr()
            assert code in (1, 2), (name, shown.out)  # 1: the note fails, 2: it is no note
            said = (shown.out + shown.err).strip()
            assert said, name
            refused[name] = (library, said)
    for name in ("a key claiming another key's id", "a key whose id is not derived from it"):
        assert "not an Ed25519 verifier key" in refused[name][0]
        assert "not an Ed25519 verifier key" in refused[name][1]
    for label in WEIRD_NAMES:
        library, verifier = refused[f"signer name with a {label}, no key"]
        assert "not a signature line" in library
        assert "not a signature line" in verifier
    library, verifier = refused["an edited root, checked against the log"]  # the signature first, as the library
    assert "does not verify: the checkpoint was edited or forged" in library
    assert "does not verify: the checkpoint was edited or forged" in verifier
    library, verifier = refused["a signed note beyond the log"]
    assert "dropped" in library
    assert "dropped" in verifier


def test_one_rule_for_verifier_keys() -> None:
    """``parse_verifier_key`` in both: a signer's name, canonical base64, Ed25519, the derived key id."""
    from artifact_ledger.checkpoints import parse_verifier_key

    signer = CheckpointSigner.generate("witness.example")
    key = signer.verifier_key
    assert (
        parse_verifier_key(key)
        == standalone.parse_verifier_key(key)
        == (
            "witness.example",
            key.split("+")[1],
            signer.public_key,
        )
    )
    other = CheckpointSigner.generate("witness.example").verifier_key
    for bad in (
        key + "=",
        key + "==",
        f"{key.split('+')[0]}+{other.split('+')[1]}+{key.split('+')[2]}",
        key.replace("witness.example", "witness example"),
        key.replace("witness.example", ""),
        key.replace("witness.example", "witness\x1bexample"),
    ):
        assert standalone.parse_verifier_key(bad) is None, bad
        with pytest.raises(InvalidCheckpointError, match="not an Ed25519 verifier key"):
            parse_verifier_key(bad)
