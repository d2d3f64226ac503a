"""``--namespace`` and ``artifact-ledger namespaces`` through the CLI's entry point, on SQLite and
PostgreSQL (a fresh database per test, dropped afterwards)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from artifact_ledger import Ledger
from artifact_ledger.cli import main
from artifact_ledger.namespaces import postgres_schema


def test_namespaces_through_the_cli(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", url, "demo", "--json"]) == 0
    assert main(["--db", url, "--namespace", "team-a", "demo", "--json"]) == 0
    capsys.readouterr()

    assert main(["--db", url, "namespaces", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["namespace"] for row in listed] == ["default", "team-a"]
    assert all(row["events"] > 0 for row in listed)
    assert listed[0]["ledger_id"] != listed[1]["ledger_id"]

    assert main(["--db", url, "ls", "--namespace", "team-a", "--json"]) == 0
    team_a = {row["id"] for row in json.loads(capsys.readouterr().out)}
    assert main(["--db", url, "ls", "--json"]) == 0
    default = {row["id"] for row in json.loads(capsys.readouterr().out)}
    assert team_a
    assert default
    assert not team_a & default  # two demos, two ledgers

    some = sorted(team_a)[0]
    assert main(["--db", url, "--namespace", "team-a", "show", some, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == some
    assert main(["--db", url, "show", some]) == 3  # not in the default namespace
    capsys.readouterr()
    assert main(["--db", url, "verify", "--namespace", "team-a"]) == 0
    assert "OK" in capsys.readouterr().out


def test_unknown_and_bad_namespaces(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", url, "demo", "--json"]) == 0
    capsys.readouterr()
    assert main(["--db", url, "--namespace", "nope", "ls"]) == 3
    assert "no namespace 'nope'" in capsys.readouterr().err
    assert main(["--db", url, "namespaces", "--json"]) == 0
    assert [row["namespace"] for row in json.loads(capsys.readouterr().out)] == ["default"]  # nothing created
    with pytest.raises(SystemExit) as exited:
        main(["--db", url, "--namespace", "Team A", "ls"])
    assert exited.value.code == 2
    assert "not a namespace name" in capsys.readouterr().err


def test_namespaces_where_there_is_no_ledger_says_so(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """As every command says it (exit 3, nothing created), not an empty table and exit 0."""
    assert main(["--db", url, "namespaces"]) == 3
    assert "no ledger at" in capsys.readouterr().err
    assert main(["--db", url, "namespaces", "--json"]) == 3
    capsys.readouterr()
    assert main(["--db", url, "ls"]) == 3  # still nothing there: the listing created nothing
    assert "no ledger at" in capsys.readouterr().err


def test_namespace_from_the_environment(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACT_LEDGER_NAMESPACE", "from-env")
    assert main(["--db", url, "demo", "--json"]) == 0
    capsys.readouterr()
    monkeypatch.delenv("ARTIFACT_LEDGER_NAMESPACE")
    assert main(["--db", url, "namespaces", "--json"]) == 0
    # only the namespace written to exists: no default ledger was made beside it
    assert [row["namespace"] for row in json.loads(capsys.readouterr().out)] == ["from-env"]


def _strays(url: str) -> None:
    """Things beside the namespaces that look like one: on SQLite a folder and a text file named
    ``*.db`` in ``FILE.namespaces/``; on PostgreSQL schemas named and labelled like a namespace's
    whose label does not derive to their name, and an empty namespace schema (its tables dropped)."""
    if url.startswith("sqlite"):
        folder = Path(make_url(url).database or "").with_name("ledger.db.namespaces")
        (folder / "folder.db").mkdir()
        (folder / "notes.db").write_text("not a database\n")
        return

    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for schema, name in (
                    ("al_ns_0123456789abcdef01234567", "fake"),
                    (postgres_schema("public", "gone"), "gone"),
                ):
                    await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                    label = f"artifact-ledger namespace {name} of schema public"
                    await conn.execute(text(f"""COMMENT ON SCHEMA "{schema}" IS '{label}'"""))
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_strays_that_look_like_namespaces_are_not_listed(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A stray folder or file is not a namespace: the listing leaves it out instead of failing on it."""
    assert main(["--db", url, "--namespace", "team-a", "demo", "--json"]) == 0
    _strays(url)
    capsys.readouterr()
    assert main(["--db", url, "namespaces", "--json"]) == 0
    assert [row["namespace"] for row in json.loads(capsys.readouterr().out)] == ["team-a"]

    async def listed() -> list[str]:
        async with Ledger.open(url, namespace="team-a", create=False) as ledger:
            return await ledger.namespaces()

    assert asyncio.run(listed()) in (["default", "team-a"], ["default", "gone", "team-a"])
