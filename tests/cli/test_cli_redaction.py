"""``artifact-ledger redact`` and ``upgrade-chain`` through the CLI's entry point, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main
from artifact_ledger.verify_bundle import verify_bundle


async def _seed(url: str) -> str:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "ada", "email": "ada@example.org", "content": b"scan"}))
        await m.save(ArtifactIn(id=a.id, data={"name": "ada", "email": "ada@example.org", "content": b"scan 2"}))
        return str(a.id)


def test_redact_fields_and_content_then_verify_and_export(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aid = asyncio.run(_seed(url))
    assert main(["--db", url, "redact", aid, "--field", "email", "--reason", "erasure request 7", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [(v, paths) for _, v, paths in done["erased"]] == [(1, ['["data","email"]']), (2, ['["data","email"]'])]
    assert main(["--db", url, "redact", aid, "--version", "1", "--reason", "erasure request 7"]) == 0
    out = capsys.readouterr().out
    assert "1 blob(s) deleted" in out
    assert f"recorded as the artifact.redacted event at position {done['position'] + 1}" in out
    assert main(["--db", url, "show", aid, "--version", "1"]) == 0
    shown = capsys.readouterr().out
    assert "ada@example.org" not in shown
    assert "was redacted" in shown
    assert main(["--db", url, "verify"]) == 0
    capsys.readouterr()
    assert main(["--db", url, "export", str(tmp_path / "bundle")]) == 0
    assert verify_bundle(tmp_path / "bundle").ok


def test_redact_refuses_bad_requests_with_exit_codes(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    aid = asyncio.run(_seed(url))
    assert main(["--db", url, "redact", aid, "--field", "phone", "--reason", "x"]) == 2
    assert "no data field 'phone'" in capsys.readouterr().err
    assert main(["--db", url, "redact", aid, "--version", "9", "--reason", "x"]) == 3
    assert "has no version 9" in capsys.readouterr().err
    assert main(["--db", url, "redact", aid, "--field", "email", "--reason", " "]) == 2
    assert main(["--db", url, "redact", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--reason", "x"]) != 0
    with pytest.raises(SystemExit):
        main(["--db", url, "redact", aid, "--field", "email"])  # --reason is required
    assert main(["--db", url, "upgrade-chain", "--reason", "already"]) == 0
    assert "from position 1 on" in capsys.readouterr().out
