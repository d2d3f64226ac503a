"""``--namespace`` and ``artifact-ledger namespaces`` through the CLI's entry point, on SQLite and
PostgreSQL (a fresh database per test, dropped afterwards)."""

from __future__ import annotations

import json

import pytest

from artifact_ledger.cli import main


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
