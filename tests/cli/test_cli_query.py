"""ls --where/--order-by/--as-of and patch --set through the CLI entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main
from artifact_ledger.cli.query import condition


@pytest.fixture
def db(url: str) -> str:
    """The shared ``url`` fixture: a SQLite file or a PostgreSQL database of its own."""
    return url


def seed(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))

    async def go() -> list[str]:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            root = await m.save(ArtifactIn(data={"name": "root"}))
            ids = [str(root.id)]
            for i, status in enumerate(["published", "draft", "published"]):
                out = await m.save(
                    ArtifactIn(
                        parent_id=root.id,
                        data={"name": f"d{i}", "metadata": {"status": status, "n": i}},
                        tags=["contract"] if i else [],
                    )
                )
                ids.append(str(out.id))
            return ids

    return asyncio.run(go())


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main([*args, "--json"]) == 0
    return [row["data"]["name"] for row in json.loads(capsys.readouterr().out)]


def test_ls_where_order_and_patch(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed(db, tmp_path, monkeypatch)
    base = ["--db", db, "ls"]
    assert listed(capsys, *base, "--where", "data.metadata.status=published", "--where", "level>=1") == ["d0", "d2"]
    assert listed(capsys, *base, "--where", "level>=1", "--order-by", "-data.metadata.n") == ["d2", "d1", "d0"]
    assert listed(capsys, *base, "--where", "tags~=contract", "--where", "data.metadata.n!=[1]") == ["d2"]
    assert listed(capsys, *base, "--where", "!data.metadata?") == ["root"]
    assert listed(capsys, *base, "--where", '{"$or": [{"level": 0}, {"data.metadata.n": 2}]}') == ["root", "d2"]
    assert listed(capsys, *base, "--limit", "2") == ["root", "d0"]
    assert main(["--db", db, "patch", ids[2], "--set", "data.metadata.status=published", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data"]["metadata"] == {"status": "published", "n": 1}
    assert listed(capsys, *base, "--where", "data.metadata.status=published") == ["d0", "d1", "d2"]
    assert listed(capsys, *base, "--where", "data.metadata.status=published", "--as-of", "2000-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    "bad",
    [
        "level>=x",
        "data.a'b=1",
        "colour=red",
        "nothing here",
        "=1",
        "data.a=1e999",
        "data.a>-1e400",
        "data.a=[1, 1e999]",
        "data.a\\.b=1",
        "data.a\\.b?",
        "{not json",
        '{"data.a": {"between": 1}}',
    ],
)
def test_bad_conditions_exit_2(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--db", "sqlite+aiosqlite:///nowhere.db", "ls", "--where", bad])
    assert info.value.code == 2
    assert "--where" in capsys.readouterr().err


def test_condition_syntax() -> None:
    assert condition("data.a.b=published") == {"data.a.b": {"eq": "published"}}
    assert condition("data.n>=0.5") == {"data.n": {"gte": 0.5}}
    assert condition('data.n="3"') == {"data.n": {"eq": "3"}}
    assert condition("data.n=[1,2]") == {"data.n": {"in": [1, 2]}}
    assert condition("data.s^=ab") == {"data.s": {"prefix": "ab"}}
    assert condition("data.s?") == {"data.s": {"exists": True}}
    assert condition("tags~=x") == {"tags": {"contains": "x"}}
    # NaN and Infinity are not JSON: text, as --set reads them
    assert condition("data.n=NaN") == {"data.n": {"eq": "NaN"}}
    assert condition("data.n!=-Infinity") == {"data.n": {"ne": "-Infinity"}}
    assert condition("data.n=[NaN]") == {"data.n": {"eq": "[NaN]"}}


@pytest.mark.parametrize(
    ("bad", "shown"),
    [("data.a=1e999", "1e999 is a number beyond the range"), ("data.a\\.b=1", "cannot name a key holding a dot")],
)
def test_out_of_range_numbers_and_escaped_keys_say_why(
    bad: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--db", "sqlite+aiosqlite:///nowhere.db", "ls", "--where", bad])
    assert info.value.code == 2
    assert shown in capsys.readouterr().err


def test_ls_where_over_a_row_that_is_not_json_is_drift(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A planted ``data`` that is not JSON: ``ls --where`` exits 4 with one line naming the artifact and
    the remedy (docs/cli.md), not the database's "malformed JSON" or cast error; rebuild repairs it."""
    ids = seed(db, tmp_path, monkeypatch)

    async def plant() -> None:
        async with Ledger.open(db) as ledger, ledger.engine.begin() as conn:
            await conn.execute(text("UPDATE ledger_artifacts SET data = '{oops' WHERE id = :id"), {"id": ids[2]})

    asyncio.run(plant())
    capsys.readouterr()
    for where in ("data.metadata.status=published", "tags~=contract"):
        assert main(["--db", db, "ls", "--where", where]) == 4
        err = capsys.readouterr().err
        assert err.startswith(f"artifact-ledger: artifact {ids[2]} has a ledger_artifacts row that cannot be read")
        assert "artifact-ledger rebuild" in err
        assert err.count("\n") == 1
    assert main(["--db", db, "rebuild"]) == 0
    capsys.readouterr()
    assert listed(capsys, "--db", db, "ls", "--where", "data.metadata.status=published") == ["d0", "d2"]
