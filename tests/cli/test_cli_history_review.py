"""``audit``, ``show --as-of`` and ``history`` from an adversarial review (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from artifact_ledger import ArtifactIn, Ledger
from ledger_support import SECRET

EXE = shutil.which("artifact-ledger") or str(Path(sys.executable).with_name("artifact-ledger"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
    env["ARTIFACT_LEDGER_SECRET"] = "test-secret-for-the-suite"
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def seed(url: str) -> str:
    async def go() -> str:
        async with Ledger.open(url, secret=SECRET) as ledger, ledger.manager() as m:
            return str((await m.save(ArtifactIn(data={"n": 1}))).id)

    return asyncio.run(go())


def test_a_reversed_audit_window_exits_2_naming_both_ends(url: str) -> None:
    seed(url)
    swapped = run("audit", "--since", "2030-01-01", "--until", "2020-01-01", "--db", url)
    assert swapped.returncode == 2, swapped.stderr
    assert "since 2030-01-01T00:00:00+00:00 is after until 2020-01-01T00:00:00+00:00" in swapped.stderr
    assert "Traceback" not in swapped.stderr
    ordered = run("audit", "--since", "2020-01-01", "--until", "2030-01-01", "--json", "--db", url)
    assert ordered.returncode == 0, ordered.stderr


def test_a_time_before_year_1000_is_shown_with_four_digits(url: str) -> None:
    """``--as-of 0202-01-01`` (a typo for 2020) said ``not found as of 202-01-01``."""
    aid = seed(url)
    early = run("show", aid, "--as-of", "0202-01-01", "--db", url)
    assert early.returncode == 3, early.stderr
    assert f"artifact {aid} not found as of 0202-01-01 00:00:00 UTC" in early.stderr
    first = run("tree", aid, "--as-of", "0001-01-01T00:00:00Z", "--db", url)
    assert first.returncode == 3, first.stderr
    assert "as of 0001-01-01 00:00:00 UTC" in first.stderr


def test_show_at_the_version_that_is_a_deletion_says_so(url: str) -> None:
    """``show ID --version 2`` of an artifact deleted at version 2 said ``not found at version 2``
    while ``history`` listed that version; it says what version 2 is, as the HTTP API does (exit 3)."""

    async def go() -> str:
        async with Ledger.open(url, secret=SECRET) as ledger, ledger.manager() as m:
            doc = await m.save(ArtifactIn(data={"n": 1}))
            await m.delete_by_id(doc.id)
            return str(doc.id)

    aid = asyncio.run(go())
    deletion = run("show", aid, "--version", "2", "--db", url)
    assert deletion.returncode == 3, deletion.stderr
    assert f"version 2 of artifact {aid} is its deletion; `history {aid}` lists its versions" in deletion.stderr
    never = run("show", aid, "--version", "3", "--db", url)
    assert never.returncode == 3, never.stderr
    assert f"artifact {aid} has no version 3" in never.stderr
