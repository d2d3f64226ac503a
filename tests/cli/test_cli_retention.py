"""The retention, hold and release commands through the CLI's entry point (the library's tests cover both backends)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


async def _seed(url: str) -> str:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"content": b"one"}))
        await m.save(ArtifactIn(id=a.id, data={"content": b"two"}))
        return str(a.id)


async def _types(url: str) -> list[str]:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        return [e.event_type for e in (await m.audit(limit=100)).entries]


def test_retention_dry_run_apply_hold_release(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    aid = asyncio.run(_seed(url))
    assert main(["--db", url, "hold", aid, "--reason", "audit"]) == 0
    assert main(["--db", url, "retention", "--keep-last", "1", "--apply"]) == 0
    assert "0 versions expired" in capsys.readouterr().out
    assert main(["--db", url, "release", aid, "--reason", "done"]) == 0
    assert main(["--db", url, "release", aid, "--reason", "again"]) == 3
    assert aid in capsys.readouterr().err
    before = asyncio.run(_types(url))
    assert main(["--db", url, "retention", "--keep-last", "1", "--keep-newer-than", "0s"]) == 0
    assert "1 versions would expire" in capsys.readouterr().out
    assert asyncio.run(_types(url)) == before  # the dry run recorded nothing
    assert main(["--db", url, "retention", "--keep-last", "1", "--apply", "--reason", "budget"]) == 0
    assert "1 versions expired" in capsys.readouterr().out
    assert (asyncio.run(_types(url)))[-1] == "retention.applied"
    assert main(["--db", url, "retention", "--keep-last", "0"]) == 2
    assert main(["--db", url, "retention"]) == 2
    with pytest.raises(SystemExit):
        main(["--db", url, "retention", "--keep-newer-than", "-3d"])
    assert main(["--db", url, "hold", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--reason", "x"]) == 3
    assert main(["--db", url, "hold", aid, "--reason", " "]) == 2


def test_a_reason_or_actor_too_long_is_bad_input(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    aid = asyncio.run(_seed(url))
    before = asyncio.run(_types(url))
    long_reason, long_actor = "r" * 10_001, "a" * 256
    for args in (
        ["hold", aid, "--reason", long_reason],
        ["hold", aid, "--reason", "audit", "--actor", long_actor],
        ["release", aid, "--reason", long_reason],
        ["retention", "--keep-last", "1", "--apply", "--reason", long_reason],
        ["gc", "--apply", "--actor", long_actor],
    ):
        capsys.readouterr()
        assert main(["--db", url, *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "reason is 10001 characters" in err or "actor is 256 characters" in err
    assert asyncio.run(_types(url)) == before  # nothing was recorded
