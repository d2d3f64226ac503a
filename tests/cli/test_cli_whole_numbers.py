"""Whole-number options, from an adversarial review (SQLite and PostgreSQL): ``int()`` read
``show ID --version 1_0`` as version 10, and `` 1``, ``+1`` and ``١`` (an Arabic-Indic one) as 1, in
``--version``, ``diff``'s versions, ``--limit``, ``--after``, ``--level``, ``--depth`` and
``--keep-last``; each is plain ASCII digits now, else a usage error (exit 2) naming the option and
the value, before the ledger is read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main

OPTIONS = {
    "--version": ["show", "ID", "--version", "{}"],
    "v1": ["diff", "ID", "{}"],
    "v2": ["diff", "ID", "1", "{}"],
    "--expected-version": ["patch", "ID", "--set", "data.n=2", "--expected-version", "{}"],
    "--limit": ["ls", "--limit", "{}"],
    "--after": ["audit", "--after", "{}"],
    "--level": ["ls", "--level", "{}"],
    "--depth": ["lineage", "ID", "--depth", "{}"],
    "--keep-last": ["retention", "--keep-last", "{}"],
}


@pytest.fixture
def db(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The shared ``url`` fixture with one artifact at version 1 (and 10 events' worth of nothing else)."""
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))

    async def seed() -> str:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            return str((await m.save(ArtifactIn(data={"n": 1}))).id)

    return url, asyncio.run(seed())


@pytest.mark.parametrize("option", list(OPTIONS))
def test_a_whole_number_option_takes_ascii_digits_only(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str], option: str
) -> None:
    url, aid = db
    argv = [aid if arg == "ID" else arg for arg in OPTIONS[option]]
    for value in ("1_0", "+1", "١", "1.0", "1e0", "0x1"):  # surrounding spaces are stripped, as before
        with pytest.raises(SystemExit) as exited:
            main(["--db", url, *(value if arg == "{}" else arg for arg in argv)])
        assert exited.value.code == 2, value
        err = capsys.readouterr().err
        assert f"argument {option}: " in err, err
        assert repr(value) in err, err
    assert main(["--db", url, *("1" if arg == "{}" else arg for arg in argv)]) == 0
    capsys.readouterr()
