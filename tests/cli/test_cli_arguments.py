"""Bad CLI arguments are usage errors (exit 2) with a message; the database password is never printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXE = shutil.which("artifact-ledger") or str(Path(sys.executable).with_name("artifact-ledger"))
SECRET_URL = "postgresql+asyncpg://ledger:s3cr3t-pw@db.invalid:5432/prod"


def run(*args: str, cwd: Path, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARTIFACT_LEDGER_URL"}
    if db is not None:
        env["ARTIFACT_LEDGER_URL"] = db
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("args", [["--help"], ["ls", "--help"], ["migrate", "--help"], ["verify", "--help"]])
def test_help_masks_the_password_of_the_environment_url(tmp_path: Path, args: list[str]) -> None:
    result = run(*args, cwd=tmp_path, db=SECRET_URL)
    assert result.returncode == 0
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    if args == ["--help"]:
        assert "ledger:***@db.invalid" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ls", "--limit", "-5"], "--limit"),
        (["ls", "--limit", "1.5"], "--limit"),
        (["ls", "--limit", "ten"], "--limit"),
        (["audit", "--limit", "99999999999"], "--limit"),
        (["audit", "--after", "-1"], "--after"),
        (["audit", "--since", "yesterday"], "--since"),
        (["verify", "--since", "nope"], "--since"),
        (["verify", "--trusted-head", "12:zz"], "--trusted-head"),
    ],
)
def test_bad_arguments_exit_2_before_touching_the_database(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert not (tmp_path / "artifacts.db").exists()


def test_db_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'after.db'}"
    result = run("migrate", "--db", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "after.db").exists()
    assert not (tmp_path / "artifacts.db").exists()
    listed = run("ls", "--db", url, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
