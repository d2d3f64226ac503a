"""Helpers of the console tests (imported by name: ``from console_support import ...``).

A real uvicorn server over a fresh ledger, and tampering with its log.

The server runs in a thread with its own event loop (the browser is driven synchronously from
the test's thread); data is written through the JSON API or, for content the API cannot send
(DataFrames, bytes), through the library on the server's own loop (:meth:`Served.call`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from artifact_ledger import ArtifactHierarchy, Keyring, Ledger, create_engine
from artifact_ledger.http import Principal, create_app

CHROMIUM = os.environ.get("ARTIFACT_LEDGER_CHROMIUM", "/usr/bin/chromium")
PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SECRET = Keyring.from_secret("test-secret-for-the-suite")
API = "/api/v1/artifacts"
COOKIE = "artifact_ledger_console"
HIERARCHY = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction", 2: "evaluation"})
TOKENS = {
    "alice-token": Principal("alice", "write"),
    "bob-token": Principal("bob", "write"),
    "eve-token": Principal("eve", "read"),
}
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A console (and API) served by uvicorn on a loopback port, over a fresh ledger."""

    def __init__(self, backend: str, tmp_path: Path, **options: Any) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.options = options
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ledger: Ledger | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: uvicorn.Server | None = None
        self.failure: BaseException | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"console-server-{backend}", daemon=True)

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Served:
        self.thread.start()
        if not self.ready.wait(60) or self.failure is not None:
            raise AssertionError(f"the console server did not start: {self.failure!r}")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the console server did not stop"
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test's thread by start() / stop()
            self.failure = exc
            self.ready.set()

    async def _main(self) -> None:
        schema = f"console_{uuid.uuid4().hex[:12]}"
        engine: AsyncEngine
        if self.backend == "postgresql":
            admin = create_async_engine(PG_URL)
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
        else:
            engine = create_engine(f"sqlite+aiosqlite:///{self.tmp_path / 'console.db'}")
        try:
            async with Ledger.open(engine, secret=SECRET) as ledger:
                self.ledger = ledger
                self.loop = asyncio.get_running_loop()
                app = create_app(ledger, poll_interval=0.05, **self.options)
                config = uvicorn.Config(
                    app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
                )
                self.server = uvicorn.Server(config)
                serving = asyncio.create_task(self.server.serve())
                while not self.server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no "started" event
                    await asyncio.sleep(0.02)
                self.ready.set()
                await serving
        finally:
            await engine.dispose()
            if self.backend == "postgresql":
                async with admin.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                await admin.dispose()

    # ---- talking to it --------------------------------------------------------------------------
    def call(self, work: Callable[[Ledger], Awaitable[T]]) -> T:
        """Run ``await work(ledger)`` on the server's loop (the ledger's engine lives there)."""
        assert self.loop is not None
        assert self.ledger is not None
        ledger = self.ledger

        async def run() -> T:
            return await work(ledger)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(60)

    def api(self, token: str | None = "alice-token") -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base + API, headers=headers, timeout=30)

    def create(self, data: Any, *, token: str = "alice-token", reason: str | None = None, **fields: Any) -> str:
        with self.api(token) as client:
            headers = {"X-Reason": reason} if reason else {}
            response = client.post(self.base + API, json={"data": data, **fields}, headers=headers)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])


async def tamper_actor(conn: AsyncConnection, position: int, actor: str) -> None:
    """Rewrite one event's actor with the append-only triggers off, as a DBA could (then put them back)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("ALTER TABLE ledger_events DISABLE TRIGGER USER"))
        await conn.execute(text("UPDATE ledger_events SET actor = :a WHERE position = :p"), {"a": actor, "p": position})
        await conn.execute(text("ALTER TABLE ledger_events ENABLE TRIGGER USER"))
        return
    rows = await conn.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_events'")
    )
    triggers = rows.all()
    for name, _ in triggers:
        await conn.execute(text(f'DROP TRIGGER "{name}"'))
    await conn.execute(text("UPDATE ledger_events SET actor = :a WHERE position = :p"), {"a": actor, "p": position})
    for _, ddl in triggers:
        await conn.execute(text(ddl))


async def tamper(ledger: Ledger, position: int, actor: str = "mallory") -> None:
    async with ledger.engine.begin() as conn:
        await tamper_actor(conn, position, actor)
