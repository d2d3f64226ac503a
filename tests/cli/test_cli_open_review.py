"""The CLI's exit codes for what Ledger.open refuses: a bad argument is a usage error (exit 2) on
every command alike, found before anything is created; a URL's password is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from artifact_ledger.cli import main


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "ARTIFACT_LEDGER_URL",
        "ARTIFACT_LEDGER_BLOBS",
        "ARTIFACT_LEDGER_NAMESPACE",
        "ARTIFACT_LEDGER_READ_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("blobs", ["s3://bucket/blobs", "file://relative/blobs", "relative/blobs", "file:///srv/../x"])
@pytest.mark.parametrize("command", [["ls"], ["migrate"], ["demo", "--json"]])
def test_a_malformed_blobs_url_exits_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], blobs: str, command: list[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    assert main(["--db", db, "--blobs", blobs, *command]) == 2
    err = capsys.readouterr().err
    assert err.startswith("artifact-ledger: --blobs (or $ARTIFACT_LEDGER_BLOBS): ")
    assert err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_a_malformed_blobs_variable_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARTIFACT_LEDGER_BLOBS", "blobs")
    assert main(["--db", f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", "demo"]) == 2
    assert "$ARTIFACT_LEDGER_BLOBS" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", [["ls"], ["migrate"], ["demo", "--json"], ["verify"]])
def test_a_namespace_of_an_in_memory_database_exits_2_on_every_command(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same InvalidArgumentError exited 2 from `migrate` and 4 from the other commands."""
    assert main(["--db", "sqlite+aiosqlite://", "--namespace", "team-a", *command]) == 2
    assert "an in-memory SQLite database has no namespaces" in capsys.readouterr().err


def test_a_url_that_does_not_parse_never_prints_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", "postgresql+asyncpg://ledger:s3cret-pw@db.example:54x2/prod", "ls"]) == 4
    err = capsys.readouterr().err
    assert "not a database URL" in err
    assert "s3cret-pw" not in err
    assert not any(tmp_path.iterdir())


def test_a_chapkit_source_url_that_does_not_parse_never_prints_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    source = "postgresql+asyncpg://chapkit:s3cret-pw@db.example:54x2/prod"
    assert main(["--db", target, "import-chapkit", "--from", source, "--trust-source"]) == 4
    err = capsys.readouterr().err
    assert "the chapkit source is not a database URL" in err
    assert "s3cret-pw" not in err


def test_a_query_parameter_asyncpg_does_not_take_is_one_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", "postgresql+asyncpg://ledger:s3cret-pw@127.0.0.1:1/prod?sslmode=require", "ls"]) == 4
    err = capsys.readouterr().err
    assert "sslmode, which asyncpg does not take" in err
    assert "TypeError" not in err
    assert "s3cret-pw" not in err
