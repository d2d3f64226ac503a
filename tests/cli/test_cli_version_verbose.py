"""--version prints the one version; -v/--verbose turns the artifact_ledger.* loggers on (stderr)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import artifact_ledger
from artifact_ledger._version import __version__


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "artifact_ledger", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_version(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"artifact-ledger {__version__}"
    assert artifact_ledger.__version__ == __version__


def test_verbose_logs_each_write_on_stderr(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    quiet = run("--db", url, "demo", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "artifact_ledger.writes" not in quiet.stderr
    (tmp_path / "ledger.db").unlink()
    for flag_first in (True, False):
        args = ("-v", "--db", url, "demo") if flag_first else ("--db", url, "demo", "--verbose")
        loud = run(*args, cwd=tmp_path)
        assert loud.returncode == 0, loud.stderr
        logged = [line for line in loud.stderr.splitlines() if " DEBUG artifact_ledger.writes: " in line]
        assert logged, loud.stderr
        assert any(": artifact " in line and " at position 1" in line for line in logged), logged
        for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
            (tmp_path / name).unlink(missing_ok=True)
