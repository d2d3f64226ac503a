"""``patch --actor/--reason`` from an adversarial review: an actor or reason the ledger refuses is a
usage error (exit 2) that writes nothing, through the CLI entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main
from ledger_support import PG_URL, pg_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
        return
    name = f"p_{uuid.uuid4().hex[:10]}"

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
