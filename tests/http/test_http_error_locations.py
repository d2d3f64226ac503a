"""No error response shows where the ledger lives: the library's messages name the database URL,
its SQLite file and the blob directory (for the CLI and library users); the HTTP layer puts
``<database>`` and ``<blob store>`` in their place and keeps the rest of the message."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from http_support import API, SECRET, assert_problem, create
from sqlalchemy.engine import make_url

from artifact_ledger import Ledger
from artifact_ledger.errors import LedgerError, LedgerUnavailableError, LockTimeoutError, MissingBlobError
from artifact_ledger.http.locations import BLOB_STORE, DATABASE, ledger_locations, url_locations
from artifact_ledger.http.problems import from_ledger_error
from artifact_ledger.manager import ArtifactManager
from artifact_ledger.store.errors import site_of, translate

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


def _where(ledger: Ledger) -> list[str]:
    """How the library's messages name the database: its URL (password masked) and, on SQLite, its file."""
    url = ledger.engine.url
    shown = [url.render_as_string(hide_password=True)]
    if url.get_backend_name() == "sqlite" and url.database:
        shown.append(os.path.abspath(url.database))
    return shown


def _refused(ledger: Ledger) -> LedgerError:
    """The library's own error for a database that refuses connections: its message names the URL."""
    error = translate(ConnectionRefusedError(111, "Connection refused"), site=site_of(ledger.engine))
    assert isinstance(error, LedgerUnavailableError)
    assert _where(ledger)[0] in str(error)
    return error


def _failing_reads(monkeypatch: pytest.MonkeyPatch, error: LedgerError) -> None:
    async def find_by_id(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(ArtifactManager, "find_by_id", find_by_id)


async def test_a_database_error_does_not_show_the_url(
    client: httpx.AsyncClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await create(client, {"n": 1})
    _failing_reads(monkeypatch, _refused(ledger))
    response = await client.get(f"{API}/{made['id']}")
    body = assert_problem(response, 503)
    assert body["detail"].startswith(f"the database connection failed at {DATABASE}: cannot connect")
    for where in _where(ledger):
        assert where not in response.text


async def test_a_file_path_in_a_server_fault_is_not_shown(
    client: httpx.AsyncClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await create(client, {"n": 1})
    hidden = _where(ledger)[-1]  # on SQLite the file, on PostgreSQL the URL
    _failing_reads(monkeypatch, MissingBlobError(f"blob {'0' * 64} is missing: no file {hidden}/x", blob_hash="0"))
    response = await client.get(f"{API}/{made['id']}")
    body = assert_problem(response, 500)
    assert body["detail"] == f"MissingBlobError: blob {'0' * 64} is missing: no file {DATABASE}/x"


def test_the_url_an_error_carries_is_hidden_even_without_the_ledger() -> None:
    where = "postgresql+asyncpg://app:***@db.internal:5432/ledger"
    problem = from_ledger_error(LockTimeoutError(f"the ledger at {where} waited", where=where))
    assert problem.detail == f"the ledger at {DATABASE} waited"


def test_a_password_and_a_sqlite_file_are_locations() -> None:
    secret = make_url("postgresql+asyncpg://app:s3cret@db.internal:5432/ledger")
    assert set(url_locations(secret)) == {
        "postgresql+asyncpg://app:***@db.internal:5432/ledger",
        "postgresql+asyncpg://app:s3cret@db.internal:5432/ledger",
    }
    sqlite = url_locations(make_url("sqlite+aiosqlite:///./ledger.db"))
    assert os.path.abspath("./ledger.db") in sqlite
    assert "ledger.db" not in sqlite  # a bare file name would be hidden wherever it appears


async def test_the_blob_directory_is_a_location(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    url = f"sqlite+aiosqlite:///{tmp_path / 'l.db'}"
    async with Ledger.open(url, secret=SECRET, blobs=f"file://{blobs}") as ledger:
        found = ledger_locations(ledger)
    assert found[str(blobs)] == BLOB_STORE
    assert found[str(tmp_path / "l.db")] == DATABASE
