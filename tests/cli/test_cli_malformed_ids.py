"""A malformed id is bad input, from an adversarial review: ``show nope`` (and every command taking an
id or a parent id) exited 3, "not found", as for an unknown id; it exits 2 with one line naming the
value, as HTTP answers 400 for it, while a well-formed unknown id still exits 3 (SQLite and PostgreSQL).
The library's error for it stays an ``ArtifactNotFoundError`` (chapkit's callers catch that)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    InvalidArgumentError,
    Ledger,
    MalformedIdError,
)
from artifact_ledger.cli import main

UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

# Each command with ID where an id goes; the exit code of a well-formed id no artifact has.
COMMANDS = {
    "show": (["show", "ID"], 3),
    "tree": (["tree", "ID"], 3),
    "history": (["history", "ID"], 3),
    "diff": (["diff", "ID", "1", "2"], 3),
    "audit --artifact": (["audit", "--artifact", "ID"], 0),
    "audit --subtree": (["audit", "--subtree", "ID"], 0),
    "ls --parent": (["ls", "--parent", "ID"], 0),
    "patch": (["patch", "ID", "--set", "data.a=1"], 3),
    "alias set": (["alias", "set", "prod", "ID"], 3),
    "alias ls --id": (["alias", "ls", "--id", "ID"], 0),
    "lineage": (["lineage", "ID"], 3),
    "hold": (["hold", "ID", "--reason", "r"], 3),
    "release": (["release", "ID", "--reason", "r"], 3),
    "redact": (["redact", "ID", "--reason", "r"], 3),
}


@pytest.fixture
def db(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared ``url`` fixture with one artifact saved (a ledger there), keys in the test's directory."""
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))

    async def seed() -> None:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            await m.save(ArtifactIn(data={"n": 1}))

    asyncio.run(seed())
    return url


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_malformed_id_exits_2_naming_it_and_an_unknown_one_3(
    db: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv, unknown_exit = COMMANDS[command]
    for value in ("nope", UNKNOWN + "0", "8" + UNKNOWN[1:]):  # not base32, 27 characters, beyond 128 bits
        assert main(["--db", db, *(value if arg == "ID" else arg for arg in argv)]) == 2, value
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert f"'{value}'" in err
        assert "not found" not in err
    assert main(["--db", db, *(UNKNOWN if arg == "ID" else arg for arg in argv)]) == unknown_exit
    capsys.readouterr()


async def test_the_library_raises_an_error_both_not_found_and_invalid(manager: ArtifactManager) -> None:
    for call in (
        manager.find_by_id("nope"),
        manager.history("nope"),
        manager.move("nope", None),
        manager.delete_by_id("nope"),
        manager.save(ArtifactIn.model_construct(parent_id="nope", data={})),
    ):
        with pytest.raises(MalformedIdError, match="'nope'") as caught:
            await call
        assert isinstance(caught.value, ArtifactNotFoundError)  # what chapkit's callers catch
        assert isinstance(caught.value, InvalidArgumentError)
        assert caught.value.artifact_id == "nope"
    assert await manager.find_by_id(UNKNOWN) is None  # an unknown id is no error, as in chapkit
