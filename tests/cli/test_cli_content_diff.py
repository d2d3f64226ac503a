"""`artifact-ledger diff` prints the content diff of each kind, and `--json` carries it (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.dataframe import DataFrame

EXE = shutil.which("artifact-ledger") or str(Path(sys.executable).with_name("artifact-ledger"))


@pytest.fixture
def db(url: str) -> str:
    """The shared ``url`` fixture: a SQLite file or a PostgreSQL database of its own."""
    return url


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
