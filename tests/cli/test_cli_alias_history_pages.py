"""``artifact-ledger alias history`` a page at a time (``--limit N``, ``--page P``), on SQLite and
PostgreSQL: it read every change of the alias and printed them all; it now reads one page in the
database (``alias_history_paginated``) and says on stderr which page comes next."""

from __future__ import annotations

import asyncio
import json

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main

CHANGES = 250


async def run(url: str, *argv: str) -> int:
    """The exit code (argparse's usage errors end in SystemExit)."""

    def call() -> int:
        try:
            return main(["--db", url, *argv])
        except SystemExit as exc:
            return int(exc.code or 0)

    return await asyncio.to_thread(call)


async def test_alias_history_is_printed_a_page_at_a_time(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        targets = [str((await m.save(ArtifactIn(data={"name": f"model-{n}"}))).id) for n in range(2)]
        for n in range(CHANGES):
            await m.set_alias("production", targets[n % 2], actor=f"user-{n}")
    capsys.readouterr()

    assert await run(url, "alias", "history", "production", "--json") == 0
    out = capsys.readouterr()
    first = json.loads(out.out)
    assert [c["actor"] for c in first] == [f"user-{n}" for n in range(100)]  # was all 250
    assert "more: page 1 of 3; continue with --page 2" in out.err

    assert await run(url, "alias", "history", "production", "--json", "--limit", "100", "--page", "3") == 0
    out = capsys.readouterr()
    assert [c["actor"] for c in json.loads(out.out)] == [f"user-{n}" for n in range(200, CHANGES)]
    assert "more:" not in out.err

    assert await run(url, "alias", "history", "production", "--limit", "120", "--page", "2") == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 120
    assert "actor=user-120" in lines[0]
    assert "actor=user-239" in lines[-1]
    assert "continue with --page 3" in out.err

    assert await run(url, "alias", "history", "production", "--page", "4") == 2
    assert "--page 4 is past the last page, 3, of the 250 change(s) of alias 'production'" in capsys.readouterr().err
    for bad in (["--limit", "0"], ["--limit", "1_0"], ["--page", "0"], ["--page", "-1"], ["--limit", "1000001"]):
        assert await run(url, "alias", "history", "production", *bad) == 2, bad
        assert bad[0] in capsys.readouterr().err
    assert await run(url, "alias", "history", "nobody") == 3
