"""Ledger.open's arguments, reviewed as an operator gets them wrong: each bad one is refused with a
specific error before anything is created, and no message repeats a URL's password."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from artifact_ledger import BlobStoreError, InvalidArgumentError, Ledger, LedgerError, create_engine
from ledger_support import PG_URL, SECRET


def _missing(path: str) -> bool:
    return not os.path.exists(path)


async def _nothing_at(url: str) -> bool:
    """Whether the database ``url`` names holds no table (a SQLite file: is not there at all)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _missing(str(parsed.database))
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return not await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://ledger:s3cret-pw@db.example:notaport/prod",
        "postgresql+asyncpg ://ledger:s3cret-pw@db.example/prod",
    ],
)
async def test_a_url_that_does_not_parse_never_shows_its_password(url: str) -> None:
    with pytest.raises(LedgerError, match="not a database URL") as raised:
        create_engine(url)
    assert "s3cret-pw" not in str(raised.value)
    with pytest.raises(LedgerError) as opened:
        async with Ledger.open(url, secret=SECRET):
            pass
    assert "s3cret-pw" not in str(opened.value)
    assert "supported drivers are aiosqlite" in str(opened.value)


@pytest.mark.parametrize("url", ["postgresql+psycopg2://u@h/db", "mysql+aiomysql://u@h/db", "sqlite+pysqlite:///x"])
def test_an_unsupported_driver_names_the_supported_ones(url: str) -> None:
    with pytest.raises(LedgerError, match=r"the supported drivers are aiosqlite .* and asyncpg"):
        create_engine(url)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        (
            "sslmode=require",
            "sslmode, which asyncpg does not take (asyncpg spells libpq's sslmode as ssl: ?ssl=require)",
        ),
        ("ssl=require&application_name=x", "application_name, which asyncpg does not take"),
    ],
)
def test_a_query_parameter_asyncpg_does_not_take_is_refused_naming_it(query: str, fragment: str) -> None:
    """Such a URL used to make an engine whose every connection failed with a bare TypeError."""
    with pytest.raises(LedgerError) as raised:
        create_engine(f"postgresql+asyncpg://ledger:s3cret-pw@db.example/prod?{query}")
    assert fragment in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)
    assert "ledger:***@db.example" in str(raised.value)


async def test_the_query_parameters_asyncpg_takes_still_work() -> None:
    host = make_url(PG_URL).host or "127.0.0.1"
    url = make_url(PG_URL).set(host=None).update_query_dict({"host": host, "ssl": "disable"})
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT 1")).scalar_one() == 1
    finally:
        await engine.dispose()


@pytest.mark.parametrize("lock_timeout", [0, -1, -0.5, math.nan, -math.inf, True, False, "5", [5]])
async def test_a_bad_lock_timeout_is_an_invalid_argument(url: str, lock_timeout: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="lock_timeout must be a number of seconds above 0"):
        async with Ledger.open(url, secret=SECRET, lock_timeout=lock_timeout):
            pass
    assert await _nothing_at(url)


async def test_a_lock_timeout_beside_an_engine_of_ones_own_is_an_invalid_argument(url: str) -> None:
    engine = create_engine(url)
    try:
        with pytest.raises(InvalidArgumentError, match="lock_timeout configures the engine"):
            async with Ledger.open(engine, secret=SECRET, lock_timeout=5):
                pass
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        (123, "secret must be a str, bytes or a Keyring"),
        (["a-list-of-secrets"], "secret must be a str, bytes or a Keyring"),
        ("", "secret is an empty str"),
        (b"short", "secret has 5 bytes; a bytes pickle-signing key needs at least 16"),
    ],
)
async def test_a_bad_secret_is_refused_before_anything_is_created(url: str, secret: Any, fragment: str) -> None:
    """It used to be refused only after the ledger's tables (and SQLite file) were made."""
    with pytest.raises(InvalidArgumentError, match=fragment):
        async with Ledger.open(url, secret=secret):
            pass
    assert await _nothing_at(url)


@pytest.mark.parametrize("create", ["no", 0, None])
async def test_create_must_be_a_bool(url: str, create: Any) -> None:
    """``create="no"`` used to be true, and created the ledger it was meant to refuse."""
    with pytest.raises(InvalidArgumentError, match="create must be True or False"):
        async with Ledger.open(url, secret=SECRET, create=create):
            pass
    assert await _nothing_at(url)


@pytest.mark.parametrize(
    "blobs", ["s3://bucket/blobs", "file://relative/blobs", "file:relative", "relative/blobs", "file:///srv/../etc"]
)
async def test_a_malformed_blobs_url_is_refused_before_anything_is_created(url: str, blobs: str) -> None:
    """It used to be refused only after the ledger's tables (and SQLite file) were made."""
    with pytest.raises(BlobStoreError):
        async with Ledger.open(url, secret=SECRET, blobs=blobs):
            pass
    assert await _nothing_at(url)
