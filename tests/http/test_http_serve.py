"""``artifact-ledger serve`` as it ships: a real process on a free port, talked to over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from http_support import API, free_port
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL with nothing in it yet: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"
        return
    name = f"serve_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def wait_until_up(base: str, headers: dict[str, str], process: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        # a new interpreter loads the library and opens the ledger: a few seconds here, several times
        # that on a loaded machine (it was given 30 s)
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve exited early: {process.communicate()}")
            try:
                if (await client.get(API, params={"page": 1})).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("serve did not come up")


async def test_serve_answers_over_http_with_tokens(db_url: str, tmp_path: Path) -> None:
    tokens = tmp_path / "secret-tokens.json"
    tokens.write_text(json.dumps({"w-s3cret": {"actor": "alice", "role": "write"}, "r-s3cret": {"actor": "eve"}}))
    port = free_port()
    # Popen only starts the process (no waiting); the server is then talked to asynchronously.
    process = subprocess.Popen(  # noqa: ASYNC220
        [
            sys.executable,
            "-m",
            "artifact_ledger",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--tokens",
            str(tokens),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    write = {"Authorization": "Bearer w-s3cret"}
    try:
        await wait_until_up(base, write, process)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:  # not httpx's 5 s: a loaded machine
            assert (await client.get(API)).status_code == 401
            created = await client.post(API, json={"data": {"n": 1}}, headers={**write, "X-Reason": "over the wire"})
            assert created.status_code == 201
            assert created.json()["created_by"] == "alice"
            art = created.json()["id"]
            read = {"Authorization": "Bearer r-s3cret"}
            assert (await client.post(API, json={"data": {}}, headers=read)).status_code == 403
            assert (await client.get(f"{API}/{art}", headers=read)).headers["ETag"] == '"1"'
            audit = (await client.get(f"{API}/$audit", headers=read)).json()["items"]
            assert [(e["actor"], e["reason"]) for e in audit] == [("alice", "over the wire")]
            assert (await client.get(f"{API}/$verify", headers=read)).json()["ok"] is True
            async with client.stream("GET", f"{API}/$events", headers={**read, "Accept": "text/event-stream"}) as sse:
                lines = []
                async for line in sse.aiter_lines():
                    lines.append(line)
                    if line.startswith("data:"):
                        break
            assert "id: 1" in lines
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "s3cret" not in output
    assert str(tokens) not in output
    assert "serving" in output


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "artifact_ledger",
            "serve",
            "--host",
            "0.0.0.0",
            "--db",
            f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--tokens" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_serve_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "tokens.json"
    bad.write_text('{"tok": {"actor": "a", "role": "root"}}')
    for args in (["--port", "0"], ["--port", "http"], ["--max-body", "lots"], ["--tokens", str(bad)]):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "artifact_ledger",
                "serve",
                *args,
                "--db",
                f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert "tok" not in result.stderr.replace("--tokens", "").replace("token", "") or args[0] != "--tokens"


async def test_serve_max_content_is_the_upload_limit_apart_from_max_body(db_url: str) -> None:
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - only starts the process
        [
            sys.executable,
            "-m",
            "artifact_ledger",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--max-body",
            "1K",
            "--max-content",
            "8K",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(base, {}, process)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:  # not httpx's 5 s: a loaded machine
            art = (await client.post(API, json={"data": {"n": 1}})).json()["id"]
            head = len((await client.get(f"{API}/$audit")).json()["items"])
            too_big_json = await client.post(API, json={"data": {"x": "y" * 2000}})
            assert too_big_json.status_code == 413, too_big_json.text
            assert too_big_json.headers["content-type"] == "application/problem+json"
            fits = await client.put(f"{API}/{art}/$content", content=b"z" * 8192, headers={"content-type": "image/png"})
            assert fits.status_code == 200, fits.text  # over --max-body, within --max-content
            over = await client.put(f"{API}/{art}/$content", content=b"z" * 8193, headers={"content-type": "image/png"})
            assert over.status_code == 413, over.text
            assert "8192" in over.json()["detail"] or "8,192" in over.json()["detail"]
            audit = (await client.get(f"{API}/$audit")).json()["items"]
            assert len(audit) == head + 1  # only the upload that fitted was recorded
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def test_serve_refuses_a_bad_max_content(tmp_path: Path) -> None:
    for value in ("lots", "0", "2T"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "artifact_ledger",
                "serve",
                "--max-content",
                value,
                "--db",
                f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (value, result.stderr)
        assert "--max-content" in result.stderr
        assert not (tmp_path / "x.db").exists()
