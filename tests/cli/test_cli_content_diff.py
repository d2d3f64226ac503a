"""`artifact-ledger diff` prints the content diff of each kind, and `--json` carries it (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.dataframe import DataFrame
from ledger_support import PG_URL, pg_engine

EXE = shutil.which("artifact-ledger") or str(Path(sys.executable).with_name("artifact-ledger"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'diff.db'}"
        return
    name = f"cdiff_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = pg_engine()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def seed(url: str) -> dict[str, str]:
    pairs = {
        "text": ("alpha\nbeta\n", "alpha\ngamma\n"),
        "json": ({"f1": 0.7}, {"f1": 0.8}),
        "frame": (DataFrame(columns=["a"], data=[[1]]), DataFrame(columns=["a", "b"], data=[[1, 2], [3, 4]])),
        "bytes": (b"abc", b"abcdef"),
    }

    async def go() -> dict[str, str]:
        ids = {}
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            for name, (old, new) in pairs.items():
                art = await m.save(ArtifactIn(data={"content": old}))
                await m.save(ArtifactIn(id=art.id, data={"content": new}))
                ids[name] = str(art.id)
        return ids

    return asyncio.run(go())


def run(*args: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
    done = subprocess.run(
        [EXE, *args], env={**base, "COLUMNS": "100"}, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_diff_prints_each_kind_and_json(db: str) -> None:
    ids = seed(db)
    out = run("--db", db, "diff", ids["text"], "1", "2")
    assert "content (text): +1 -1 lines" in out
    assert "-beta" in out
    assert "+gamma" in out
    assert "~ /f1: 0.7 -> 0.8" in run("--db", db, "diff", ids["json"], "1")
    frame = run("--db", db, "diff", ids["frame"], "1", "2")
    assert "rows +1 -0 ~0" in frame
    assert "columns added: b" in frame
    assert "(+3 bytes)" in run("--db", db, "diff", ids["bytes"], "1", "2")
    doc = json.loads(run("--db", db, "diff", ids["text"], "1", "2", "--json"))
    assert doc["content_diff"]["kind"] == "text"
    assert doc["content_diff"]["lines_added"] == 1


def test_diff_shows_control_characters_of_content_escaped(db: str) -> None:
    # the spans and column names were written raw: content could clear the screen, retitle the
    # terminal or write its clipboard (OSC 52) when someone ran `diff`
    hostile = "\x1b[2J\x1b]52;c;cHduZWQ=\x07"

    async def go() -> tuple[str, str]:
        async with Ledger.open(db) as ledger, ledger.manager() as m:
            doc = await m.save(ArtifactIn(data={"content": "title\nbody\n"}))
            await m.save(ArtifactIn(id=doc.id, data={"content": f"title\nbody{hostile}\n"}))
            frame = await m.save(ArtifactIn(data={"content": DataFrame(columns=["a"], data=[[1]])}))
            await m.save(ArtifactIn(id=frame.id, data={"content": DataFrame(columns=["a", hostile], data=[[1, 2]])}))
            return str(doc.id), str(frame.id)

    doc_id, frame_id = asyncio.run(go())
    for aid in (doc_id, frame_id):
        out = run("--db", db, "diff", aid, "1", "2")
        assert "\x1b" not in out
        assert "\x07" not in out
        assert r"\x1b[2J\x1b]52;c;cHduZWQ=\x07" in out
