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
from artifact_ledger.cli import main, render
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


def _damage(url: str, name: str, statement: str) -> None:
    """``statement`` run in namespace ``name`` (its SQLite file, or its PostgreSQL schema), behind the ledger's back."""

    async def run() -> None:
        if url.startswith("sqlite"):
            path = Path(make_url(url).database or "").with_name("ledger.db.namespaces") / f"{name}.db"
            engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        else:
            engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                if not url.startswith("sqlite"):
                    await conn.execute(text(f'SET search_path TO "{postgres_schema("public", name)}"'))
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_namespace_that_cannot_be_opened_does_not_hide_the_others(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every namespace is listed, each bad one with its reason, and only then the command fails: one with
    its guards dropped (1), beside one missing a table (4), exits 4; the guards alone exit 1."""
    for name in ("default", "a-unguarded", "b-no-closure", "c-fine"):
        assert main(["--db", url, "--namespace", name, "migrate"]) == 0
    unguard = (
        "DROP TRIGGER ledger_events_no_update"
        if url.startswith("sqlite")
        else "DROP TRIGGER ledger_events_append_only ON ledger_events"
    )
    _damage(url, "a-unguarded", unguard)
    capsys.readouterr()
    assert main(["--db", url, "namespaces", "--json"]) == 1
    captured = capsys.readouterr()
    listed = {row["namespace"]: row for row in json.loads(captured.out)}
    assert list(listed) == ["default", "a-unguarded", "b-no-closure", "c-fine"]
    assert "is not guarded" in listed["a-unguarded"]["error"]
    assert listed["a-unguarded"]["events"] is None
    assert all(listed[n]["error"] is None and listed[n]["ledger_id"] for n in ("default", "b-no-closure", "c-fine"))
    assert "1 of 4 namespaces cannot be opened ('a-unguarded')" in captured.err

    _damage(url, "b-no-closure", "DROP TABLE ledger_artifact_closure")
    monkeypatch.setattr(render.console, "width", 1000)  # each reason on one line of the table
    assert main(["--db", url, "namespaces"]) == 4
    captured = capsys.readouterr()
    table = " ".join(captured.out.split())
    for name in ("default", "a-unguarded", "b-no-closure", "c-fine"):
        assert name in table
    assert "cannot be opened: the ledger at" in table
    assert "lacks the ledger tables ledger_artifact_closure" in table
    assert "2 of 4 namespaces cannot be opened ('a-unguarded', 'b-no-closure')" in captured.err
