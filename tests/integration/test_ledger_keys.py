"""The pickle-signing key belongs to the ledger (its id), not to the spelling of its URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Keyring, Ledger, UntrustedContentError, create_engine
from artifact_ledger.keys import KEY_DIR_ENV, SECRET_ENV, key_file_for, ledger_key_file
from ledger_support import PG_URL, pg_engine

PICKLED = {"weights", "bias"}  # a set is not JSON: it is stored as signed pickle


@pytest.fixture
def key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No secret in the environment, the key directory and home (old key files) under ``tmp_path``."""
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "keys"))
    return tmp_path / "keys"


@pytest.fixture
async def pg_spellings() -> AsyncIterator[tuple[str, str]]:
    """One fresh PostgreSQL database, as two URLs: by 127.0.0.1 and by localhost."""
    name = f"keys_{uuid.uuid4().hex[:10]}"
    root = create_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with root.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name)
    try:
        yield (
            url.set(host="127.0.0.1").render_as_string(hide_password=False),
            url.set(host="localhost").render_as_string(hide_password=False),
        )
    finally:
        async with root.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await root.dispose()


async def save_pickle(url: str | AsyncEngine) -> tuple[str, str]:
    async with Ledger.open(url) as ledger, ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"name": "model", "content": PICKLED}))
        assert ledger.ledger_id is not None
        return str(out.id), ledger.ledger_id


async def read_pickle(url: str | AsyncEngine, artifact_id: str) -> object:
    async with Ledger.open(url, create=False) as ledger, ledger.manager() as manager:
        found = await manager.find_by_id(artifact_id)
    assert found is not None
    return found.data["content"]


def write_key(path: Path) -> Path:
    """A key file as an older version (or an operator) wrote it: one random key, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(os.urandom(32).hex() + "\n")
    path.chmod(0o600)
    return path


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def only_key_files(key_dir: Path) -> list[str]:
    return sorted(p.name for p in key_dir.iterdir()) if key_dir.exists() else []


async def test_two_spellings_of_one_postgresql_database_share_the_key(
    key_dir: Path, pg_spellings: tuple[str, str]
) -> None:
    by_ip, by_name = pg_spellings
    artifact_id, ledger_id = await save_pickle(by_ip)
    assert await read_pickle(by_name, artifact_id) == PICKLED
    assert await read_pickle(by_ip, artifact_id) == PICKLED
    assert only_key_files(key_dir) == [f"{ledger_id}.key"]
    assert os.stat(key_dir / f"{ledger_id}.key").st_mode & 0o777 == 0o600
    assert os.stat(key_dir).st_mode & 0o777 == 0o700


async def test_two_spellings_of_one_sqlite_file_share_the_key(
    key_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    artifact_id, ledger_id = await save_pickle("sqlite+aiosqlite:///data/ledger.db")
    assert await read_pickle(f"sqlite+aiosqlite:///{tmp_path / 'data' / '..' / 'data' / 'ledger.db'}", artifact_id) == (
        PICKLED
    )
    assert only_key_files(key_dir) == [f"{ledger_id}.key"]
    assert not (tmp_path / "data" / "ledger.db.key").exists()  # new ledgers keep no key beside the file


async def test_the_ledger_id_is_made_once_and_kept(key_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    async with Ledger.open(url) as first:
        made = first.ledger_id
    async with Ledger.open(url, create=False) as again:
        assert again.ledger_id == made
    assert made is not None
    assert len(made) == 26
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    async with Ledger.open(other) as ledger:
        assert ledger.ledger_id != made


async def test_an_old_sqlite_key_beside_the_file_is_still_used(key_dir: Path, tmp_path: Path) -> None:
    """A ledger from before: its pickles were signed with ``<db>.key``; they stay readable."""
    database = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{database}"
    old_key = write_key(Path(f"{database}.key"))
    async with Ledger.open(url, secret=Keyring.from_key_file(old_key, create=False)) as ledger:
        async with ledger.manager() as manager:
            out = await manager.save(ArtifactIn(data={"content": PICKLED}))
        ledger_id = ledger.ledger_id
    assert only_key_files(key_dir) == []
    assert await read_pickle(url, str(out.id)) == PICKLED  # no secret: found through the old file
    assert same_bytes(key_dir / f"{ledger_id}.key", old_key)  # copied under the ledger's id
    os.unlink(old_key)
    assert await read_pickle(url, str(out.id)) == PICKLED  # the copy alone is enough now


async def test_an_old_postgresql_key_by_url_is_still_used(key_dir: Path, pg_spellings: tuple[str, str]) -> None:
    by_ip, by_name = pg_spellings
    old_key = key_file_for(make_url(by_ip))
    assert old_key is not None
    assert str(old_key).startswith(os.environ["HOME"])
    write_key(old_key)
    async with Ledger.open(by_ip, secret=Keyring.from_key_file(old_key, create=False)) as ledger:
        async with ledger.manager() as manager:
            out = await manager.save(ArtifactIn(data={"content": PICKLED}))
        ledger_id = ledger.ledger_id
    assert ledger_id is not None
    assert await read_pickle(by_ip, str(out.id)) == PICKLED  # the old spelling finds the old file, copies it
    assert ledger_key_file(ledger_id) == key_dir / f"{ledger_id}.key"
    assert await read_pickle(by_name, str(out.id)) == PICKLED  # and now every spelling reads it


async def test_another_ledgers_key_does_not_open_these_pickles(key_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    artifact_id, ledger_id = await save_pickle(url)
    os.unlink(key_dir / f"{ledger_id}.key")
    write_key(key_dir / f"{ledger_id}.key")  # the key was lost and replaced
    with pytest.raises(UntrustedContentError):
        await read_pickle(url, artifact_id)


async def test_a_migrated_ledger_gets_an_id_and_the_engine_path_reads_it(key_dir: Path, pg_schema: str) -> None:
    """On PostgreSQL, through an engine given to ``Ledger.open``: the id comes with the migration."""
    from artifact_ledger import migrate

    engine = pg_engine(pg_schema)
    try:
        await migrate.upgrade(engine, "0001")
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT value FROM ledger_info WHERE key = 'ledger_id'"))).scalar_one()
        artifact_id, ledger_id = await save_pickle(engine)
        assert ledger_id == stored
        assert await read_pickle(engine, artifact_id) == PICKLED
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path, pg_spellings: tuple[str, str]) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    return pg_spellings[0]


async def test_reads_never_create_a_key_only_signing_does(key_dir: Path, ledger_url: str) -> None:
    """Opening, listing and reading JSON need no key: the key file appears with the first pickle."""
    async with Ledger.open(ledger_url) as ledger, ledger.manager() as manager:
        plain = await manager.save(ArtifactIn(data={"name": "plain", "content": {"a": 1}}))
        assert (await manager.find_by_id(plain.id)) is not None
        assert len(await manager.find_all()) == 1
        assert only_key_files(key_dir) == []
    artifact_id, ledger_id = await save_pickle(ledger_url)
    assert only_key_files(key_dir) == [f"{ledger_id}.key"]
    assert await read_pickle(ledger_url, artifact_id) == PICKLED


async def test_a_reader_without_the_key_is_told_where_it_looked_and_mints_none(key_dir: Path, ledger_url: str) -> None:
    """On another machine (no key file): the pickle is refused naming the file; no key is made."""
    artifact_id, ledger_id = await save_pickle(ledger_url)
    key_file = key_dir / f"{ledger_id}.key"
    key_file.rename(key_dir / "elsewhere.key")
    with pytest.raises(UntrustedContentError, match=f"{ledger_id}.key does not exist"):
        await read_pickle(ledger_url, artifact_id)
    async with Ledger.open(ledger_url, create=False) as ledger:
        assert (await ledger.verify()).ok  # blobs are checked by their hash: no key needed
    assert not key_file.exists()
    (key_dir / "elsewhere.key").rename(key_file)  # the operator copies it back: readable again
    assert await read_pickle(ledger_url, artifact_id) == PICKLED
