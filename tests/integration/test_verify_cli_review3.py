"""``verify``, ``diff`` and ``rebuild`` at the command line, from the reviews (SQLite and PostgreSQL):
--key without --checkpoints, ESC in a data diff, a problem text holding markup, a refused rebuild."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from test_integrity_support import tampered

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main


@pytest.fixture(autouse=True)
def key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))


def seed(url: str, *datas: dict[str, object]) -> str:
    """One artifact with a version per data; its id."""

    async def run() -> str:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            a = await m.save(ArtifactIn(data=datas[0]))
            for data in datas[1:]:
                await m.save(ArtifactIn(id=a.id, data=data))
            return str(a.id)

    return asyncio.run(run())


def run_sql(url: str, statement: str, *, tamper: bool = False, **params: object) -> None:
    async def run() -> None:
        engine = create_async_engine(url)
        try:
            if tamper:
                async with tampered(engine) as conn:  # the guards off, put back as an attack leaves them
                    await conn.execute(text(statement), params)
            else:
                async with engine.begin() as conn:
                    await conn.execute(text(statement), params)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_key_options_without_checkpoints_are_usage_errors(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(url, {"n": 1})
    for option in (["--key", "name+00000000+AAAA"], ["--key-dir", "/nonexistent"]):
        assert main(["--db", url, "verify", *option]) == 2
        assert f"{option[0]} checks the signatures of checkpoint notes: give --checkpoints" in capsys.readouterr().err
    assert main(["--db", url, "verify"]) == 0


def test_a_data_diff_holding_esc_and_a_problem_holding_markup_print_as_written(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aid = seed(url, {"k\x1b[2Jey": 1}, {"k\x1b[2Jey": 2})
    capsys.readouterr()
    assert main(["--db", url, "diff", aid, "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out
    assert "k\\x1b[2Jey" in out
    # a projection row whose actor holds markup: quoted by the problem, printed as written
    run_sql(url, "UPDATE ledger_artifacts SET updated_by = '[/x]' WHERE id = :id", id=aid)
    assert main(["--db", url, "verify"]) == 1
    assert "BROKEN" in capsys.readouterr().out


def test_a_rebuild_refused_for_a_broken_chain_exits_1(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(url, {"n": 1})
    run_sql(url, "UPDATE ledger_events SET payload = replace(payload, '1', '2') WHERE position = 1", tamper=True)
    capsys.readouterr()
    assert main(["--db", url, "rebuild"]) == 1
    assert "cannot rebuild the projections" in capsys.readouterr().err
