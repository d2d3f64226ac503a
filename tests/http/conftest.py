"""Fixtures of the HTTP tests: an app over a fresh ledger, on SQLite (a file) and PostgreSQL.

The app runs in the test's own event loop through httpx's ASGI transport, so the ledger's engine
and the app share one loop; the streaming tests start uvicorn on a free loopback port instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from http_support import SECRET, free_port
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import Ledger
from artifact_ledger.http import create_app


@pytest.fixture(params=["sqlite-file", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite (a file: the server's default) and PostgreSQL."""
    return str(request.param)


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(ledger: Ledger) -> AsyncIterator[MakeClient]:
    """``await make_client(read_only=..., auth=..., max_body=...)``: a client of a new app on the ledger."""
    clients: list[httpx.AsyncClient] = []

    async def make(**options: Any) -> httpx.AsyncClient:
        app = create_app(ledger, poll_interval=0.05, **options)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: MakeClient) -> httpx.AsyncClient:
    return await make_client()


@pytest.fixture
async def blob_client(blob_ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on ``blob_ledger`` (its content in the blob store ``blob_root`` names)."""
    app = create_app(blob_ledger, poll_interval=0.05)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


@pytest.fixture
async def live_server(ledger: Ledger) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """``await live_server(**create_app options)`` -> base URL of uvicorn serving it on loopback."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**options: Any) -> str:
        app: FastAPI = create_app(ledger, poll_interval=0.05, **options)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
        )
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        deadline = asyncio.get_running_loop().time() + 30  # 4 s (as it was) is short on a loaded machine
        while not task.done() and asyncio.get_running_loop().time() < deadline:
            if server.started:
                return f"http://127.0.0.1:{port}"
            await asyncio.sleep(0.02)
        raise RuntimeError("uvicorn did not start")

    yield start
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
