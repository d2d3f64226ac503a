"""``show`` and ``diff`` of versions whose content a retention run expired (SQLite and PostgreSQL): like
redacted content, the data, history and the rest of the diff are shown, with a note that the content expired."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main
from ledger_support import PG_URL, pg_engine


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        return
    name = f"cli_{uuid.uuid4().hex[:10]}"
    admin = pg_engine().execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


async def run(url: str, *argv: str) -> int:
    return await asyncio.to_thread(main, ["--db", url, *argv])


async def expired(url: str) -> str:
    """An artifact of three versions, the content of the first two expired by ``retention --keep-last 1``."""
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "report", "n": 1, "content": "first draft\n"}))
        await m.save(ArtifactIn(id=a.id, data={"name": "report", "n": 2, "content": "second draft\n"}))
        await m.save(ArtifactIn(id=a.id, data={"name": "report", "n": 3, "content": "final\n"}))
    assert await run(url, "retention", "--keep-last", "1", "--apply", "--reason", "budget") == 0
    return str(a.id)


async def test_show_of_expired_content_prints_the_data_and_a_note(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    aid = await expired(url)
    capsys.readouterr()
    assert await run(url, "show", aid, "--version", "1") == 0
    out = capsys.readouterr().out
    assert '"name": "report"' in out
    assert '"n": 1' in out
    assert "first draft" not in out
    joined = " ".join(out.split())  # the note wraps at the terminal's width
    assert f"content not shown: the content of artifact {aid} version 1 expired: the retention event at" in joined
    assert await run(url, "show", aid, "--version", "2", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["data"] == {"name": "report", "n": 2}
    assert "version 2" in shown["content_unavailable"]
    assert "expired" in shown["content_unavailable"]
    assert await run(url, "show", aid) == 0  # the kept version: its content, no note
    out = capsys.readouterr().out
    assert "final" in out
    assert "content not shown" not in out


async def test_diff_with_expired_content_shows_the_data_diff_and_notes_the_content(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aid = await expired(url)
    capsys.readouterr()
    for versions in (["1", "2"], ["2", "3"], ["1"]):  # both sides expired, the old side only, to the latest
        assert await run(url, "diff", aid, *versions) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert f"artifact {aid}: version {versions[0]} ->" in out
        assert f"~ /n: {versions[0]} ->" in out
        assert f"content not compared: the content of artifact {aid} version {versions[0]}" in out
        assert "expired: the retention event at position" in out
    assert await run(url, "diff", aid, "1", "2", "--json") == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["from_version"] == 1
    assert diff["to_version"] == 2
    assert diff["content_diff"] is None
    assert "expired" in diff["content_unavailable"]
    assert [op["path"] for op in diff["data"]] == ["/n"]
    assert await run(url, "diff", aid, "3", "3", "--json") == 0  # nothing expired on either side: no note
    assert "content_unavailable" not in json.loads(capsys.readouterr().out)
