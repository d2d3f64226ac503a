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


ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["show", ID, "--version", "-1"], ["--version", "'-1'", "not a version number"]),
        (["show", ID, "--version", "99999999999"], ["--version", "'99999999999'"]),
        (["diff", ID, "-1"], ["v1", "'-1'", "not a version number"]),
        (["diff", ID, "1", "-5"], ["v2", "'-5'"]),
        (["patch", ID, "--set", "data.a=1", "--expected-version", "-1"], ["--expected-version", "'-1'"]),
        (["alias", "set", "prod", ID, "--version", "-1"], ["--version", "'-1'"]),
        (["redact", ID, "--version", "-1", "--reason", "r"], ["--version", "'-1'"]),
        (["alias", "set", "prod", ID, "--expected", "garbage"], ["--expected", "'garbage' is not an artifact id"]),
        (["alias", "set", "prod", ID, "--expected", f"{ID}@x"], ["--expected", f"'{ID}@x'", "'x' is not a version"]),
        (["alias", "rm", "prod", "--expected", f"{ID}@0"], ["--expected", f"'{ID}@0'", "'0' is not a version"]),
        (["alias", "rm", "prod", "--expected", "@2"], ["--expected", "'' is not an artifact id"]),
        (
            ["retention", "--keep-newer-than", "99999999999999999999d"],
            ["--keep-newer-than", "'99999999999999999999d' is too long", "36500d"],
        ),
        (["retention", "--keep-newer-than", "999999999d"], ["--keep-newer-than", "'999999999d' is too long"]),
        (["retention", "--keep-newer-than", "5215w"], ["--keep-newer-than", "'5215w' is too long"]),
        (
            ["gc", "--temporaries-older-than", "99999999999999999999d"],
            ["--temporaries-older-than", "'99999999999999999999d' is too long"],
        ),
        (["gc", "--temporaries-older-than", "3153600001s"], ["--temporaries-older-than", "'3153600001s' is too long"]),
    ],
)
def test_bad_versions_expected_targets_and_ages_exit_2_naming_the_value(
    tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    """Versions out of range, a malformed ``--expected`` and ages no clock can reach back to are usage errors
    (exit 2) naming the option and the value, not a traceback (exit 1), a failure (4) or not found (3)."""
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    assert not (tmp_path / "artifacts.db").exists()


def test_the_longest_age_is_accepted(tmp_path: Path) -> None:
    """36500d (and the same in other units) is the bound, not past it: a dry run over an empty ledger."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'ages.db'}"
    assert run("migrate", cwd=tmp_path, db=db).returncode == 0
    for age in ("36500d", "5214w", "876000h", "3153600000s"):
        result = run("retention", "--keep-newer-than", age, cwd=tmp_path, db=db)
        assert result.returncode == 0, result.stderr
        assert "0 versions would expire" in result.stdout
    result = run("gc", "--temporaries-older-than", "36500d", cwd=tmp_path, db=db)
    assert result.returncode == 0, result.stderr
