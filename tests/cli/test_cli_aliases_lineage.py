"""``artifact-ledger alias`` and ``artifact-ledger lineage`` through the entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

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


async def _seed(url: str) -> tuple[str, str]:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        data = await m.save(ArtifactIn(data={"name": "data"}))
        model = await m.save(ArtifactIn(data={"name": "model"}))
        await m.link(model.id, data.id, "derived_from")
        return str(model.id), str(data.id)


def run(url: str, *argv: str) -> int:
    return main(["--db", url, *argv])


async def test_alias_commands(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = await _seed(url)
    capsys.readouterr()
    assert await _run(url, "alias", "set", "production", model, "--actor", "alice", "--json") == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1
    assert await _run(url, "alias", "protect", "production") == 0
    assert await _run(url, "alias", "rm", "production") == 2  # protected: needs --reason
    assert "reason" in capsys.readouterr().err
    assert await _run(url, "alias", "set", "production", model, "--expected", f"{model}@2") == 2
    assert await _run(url, "alias", "set", "", model) == 2
    assert await _run(url, "alias", "history", "production", "--json") == 0
    history = json.loads(capsys.readouterr().out)
    assert [h["type"] for h in history] == ["alias.set", "alias.protected"]
    assert history[0]["actor"] == "alice"
    assert await _run(url, "alias", "rm", "production", "--reason", "retired") == 0
    assert await _run(url, "alias", "show", "production") == 3
    capsys.readouterr()
    assert await _run(url, "alias", "ls", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


async def test_lineage_command(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    model, data = await _seed(url)
    capsys.readouterr()
    assert await _run(url, "lineage", model) == 0
    out = capsys.readouterr().out
    assert "derived_from" in out
    assert data in out
    assert await _run(url, "lineage", data, "--downstream", "--format", "mermaid") == 0
    assert capsys.readouterr().out.startswith("flowchart TB")
    assert await _run(url, "lineage", model, "--format", "prov") == 0
    assert "wasDerivedFrom" in json.loads(capsys.readouterr().out)
    assert await _run(url, "lineage", model, "--kind", "nope") == 2


async def _run(url: str, *argv: str) -> int:
    import asyncio

    return await asyncio.to_thread(run, url, *argv)
