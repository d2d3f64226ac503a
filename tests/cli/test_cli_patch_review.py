"""``patch --actor/--reason`` from an adversarial review: an actor or reason the ledger refuses is a
usage error (exit 2) that writes nothing, through the CLI entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main


@pytest.fixture
def db(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared ``url`` fixture (a SQLite file or a PostgreSQL database of its own), keys in the test's directory."""
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))
    return url


def _saved(url: str) -> str:
    async def go() -> str:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            return str((await m.save(ArtifactIn(data={"n": 1}))).id)

    return asyncio.run(go())


def _versions(url: str, artifact_id: str) -> list[tuple[str | None, str | None]]:
    async def go() -> list[tuple[str | None, str | None]]:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            return [(v.actor, v.reason) for v in await m.history(artifact_id)]

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("option", "value", "shown"),
    [
        ("--actor", "", "actor '' is empty"),
        ("--actor", "o\nps", "U+000A"),
        ("--reason", "\x1b[31mlooks fine", "U+001B"),
    ],
)
def test_an_actor_or_reason_the_ledger_refuses_is_a_usage_error(
    db: str, capsys: pytest.CaptureFixture[str], option: str, value: str, shown: str
) -> None:
    artifact_id = _saved(db)
    assert main(["--db", db, "patch", artifact_id, "--set", "data.n=2", option, value]) == 2
    assert shown in capsys.readouterr().err
    assert _versions(db, artifact_id) == [(None, None)]
    assert main(["--db", db, "patch", artifact_id, "--set", "data.n=2", "--actor", "ops", "--reason", "a\nb"]) == 0
    assert _versions(db, artifact_id) == [(None, None), ("ops", "a\nb")]


def _data(url: str, artifact_id: str) -> object:
    async def go() -> object:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            found = await m.find_by_id(artifact_id)
            assert found is not None
            return found.data

    return asyncio.run(go())


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``argv``; argparse must refuse it (exit 2). Its stderr."""
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "[NaN]", " NaN "])
def test_set_nan_or_infinity_keeps_the_text(db: str, capsys: pytest.CaptureFixture[str], value: str) -> None:
    """``NaN``/``Infinity`` are not JSON, so ``--set`` reads them as text, as any other non-JSON value."""
    artifact_id = _saved(db)
    assert main(["--db", db, "patch", artifact_id, "--set", f"data.x={value}"]) == 0
    assert _data(db, artifact_id) == {"n": 1, "x": value.strip()}


@pytest.mark.parametrize("value", ["1e999", "-1e999", "[1, 1e400]", "1" * 5000])
def test_set_a_number_beyond_range_is_a_usage_error(db: str, capsys: pytest.CaptureFixture[str], value: str) -> None:
    artifact_id = _saved(db)
    err = _usage_error(capsys, "--db", db, "patch", artifact_id, "--set", f"data.x={value}")
    for fragment in ("--set", f"{value.strip('[]').split(', ')[-1][:40]} is a number beyond the range", "quote it"):
        assert fragment in err
    assert _versions(db, artifact_id) == [(None, None)]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("99999999999999999999999", "beyond 64 bits"), ('"a\\u0000b"', "NUL"), ('"\\udc00"', "surrogate")],
)
def test_set_data_the_ledger_refuses_is_a_usage_error(
    db: str, capsys: pytest.CaptureFixture[str], value: str, shown: str
) -> None:
    """A value the ledger will not store came from the user's ``--set``: exit 2 naming it, nothing written."""
    artifact_id = _saved(db)
    assert main(["--db", db, "patch", artifact_id, "--set", f"data.x={value}"]) == 2
    err = capsys.readouterr().err
    for fragment in (shown, "data['x']", artifact_id):
        assert fragment in err
    assert _versions(db, artifact_id) == [(None, None)]


def test_set_and_unset_escape_dots_and_backslashes_in_keys(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    artifact_id = _saved(db)
    sets = ["data.a\\.b=1", "data.c\\\\d=2", "data.e\\\\.f=3", "data.g.h\\.i=4"]
    assert main(["--db", db, "patch", artifact_id, *(arg for s in sets for arg in ("--set", s))]) == 0
    assert _data(db, artifact_id) == {"n": 1, "a.b": 1, "c\\d": 2, "e\\": {"f": 3}, "g": {"h.i": 4}}
    assert main(["--db", db, "patch", artifact_id, "--unset", "data.a\\.b", "--unset", "data.g.h\\.i"]) == 0
    assert _data(db, artifact_id) == {"n": 1, "c\\d": 2, "e\\": {"f": 3}, "g": {}}


@pytest.mark.parametrize("path", ["data.a\\b=1", "data.a\\=1", "--unset=data.a\\"])
def test_a_backslash_escaping_nothing_is_a_usage_error(db: str, capsys: pytest.CaptureFixture[str], path: str) -> None:
    artifact_id = _saved(db)
    option = [path] if path.startswith("--unset") else ["--set", path]
    err = _usage_error(capsys, "--db", db, "patch", artifact_id, *option)
    assert "a backslash in a path must be followed by '.' or '\\'" in err
    assert _versions(db, artifact_id) == [(None, None)]


def test_ls_where_finds_the_text_set_finds(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--where`` reads ``NaN`` as ``--set`` does, so the text that was set is the text found."""
    artifact_id = _saved(db)
    assert main(["--db", db, "patch", artifact_id, "--set", "data.x=NaN"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "ls", "--where", "data.x=NaN", "--json"]) == 0
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == [artifact_id]
    assert main(["--db", db, "ls", "--where", "data.x!=NaN", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
