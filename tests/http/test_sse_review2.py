"""The live event stream, from a second adversarial review (a real server; SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from http_support import API, SECRET, assert_problem, messages
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.namespaces import postgres_schema

SSE = {"Accept": "text/event-stream"}
Serve = Callable[..., Awaitable[str]]


async def collect(url: str, count: int, headers: dict[str, str], prefix: str = "") -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("GET", f"{url}{prefix}{API}/$events", headers=headers) as response,
    ):
        assert response.status_code == 200
        async for message in messages(response):
            got.append(message)
            if len(got) == count:
                break
    return got


async def tasks_left(before: set[asyncio.Task[Any]], seconds: float = 30.0) -> set[asyncio.Task[Any]]:
    """The tasks, other than ``before`` and this one, still running once they have all ended or
    ``seconds`` have passed (the streams end within moments; a loaded machine takes longer)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        left = {task for task in asyncio.all_tasks() if not task.done()} - before - {asyncio.current_task()}
        if not left or asyncio.get_running_loop().time() > deadline:
            return left
        await asyncio.sleep(0.05)


async def test_line_separators_in_data_reach_a_line_splitting_client_whole(ledger: Ledger, live_server: Serve) -> None:
    """JSON leaves U+0085, U+2028 and U+2029 raw, and clients that split lines as str.splitlines
    does (httpx's aiter_lines, so httpx-based SSE readers) cut the data line there: the message's
    JSON was two broken fields. The data line now carries them as JSON escapes (the same value)."""
    url = await live_server()
    data = {"note": "a\u2028b\u2029c\x85d\re\nf"}
    async with ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data=data))
    (message,) = await asyncio.wait_for(collect(url, 1, SSE), 30)
    event = json.loads(message["data"])
    assert event["artifact_id"] == str(saved.id)
    assert event["payload"]["data"] == data
    assert message["id"] == "1"


@pytest.mark.parametrize("forged", ["-1", "abc", "1.0", "+1", "0x1", "1 2", "9" * 30, "9223372036854775808"])
async def test_a_forged_last_event_id_is_a_400_before_anything_streams(
    ledger: Ledger, live_server: Serve, forged: str
) -> None:
    url = await live_server()
    async with ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"n": 1}))
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{url}{API}/$events", headers={**SSE, "Last-Event-ID": forged})
    assert assert_problem(response, 400)["type"].endswith(":bad-position")
    assert forged in response.json()["detail"]


async def test_a_client_that_goes_away_leaves_no_stream_running(ledger: Ledger, live_server: Serve) -> None:
    """Readers that disconnect mid-replay, after the replay, or without reading a byte: each stream's
    task ends (none keeps polling the ledger for a client that is gone)."""
    url = await live_server()
    async with ledger.manager() as manager:
        for n in range(3):
            await manager.save(ArtifactIn(data={"n": n}))
    await asyncio.sleep(0.1)
    before = {task for task in asyncio.all_tasks() if not task.done()}
    for count in (1, 3):
        for _ in range(5):
            await asyncio.wait_for(collect(url, count, SSE), 30)
    port = int(url.rsplit(":", 1)[1])
    writers = []
    for _ in range(5):  # a raw client that asks and never reads
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {API}/$events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        writers.append(writer)
    await asyncio.sleep(0.3)
    for writer in writers:
        writer.close()
    left = await tasks_left(before)
    assert not left, left


async def test_a_namespace_stream_carries_only_that_namespace_s_events(
    ledger: Ledger, live_server: Serve, engine: AsyncEngine, backend: str
) -> None:
    """Positions start at 1 in every namespace; a stream under /ns/NAME (with a Last-Event-ID from
    another namespace too) never carries an event of the default ledger or of another namespace."""
    names = ("sse-a", "sse-b")
    try:
        for name in names:
            async with Ledger.open(engine, secret=SECRET, namespace=name) as spaced, spaced.manager() as manager:
                for n in range(2):
                    await manager.save(ArtifactIn(data={"namespace": name, "n": n}))
        async with ledger.manager() as manager:
            for n in range(4):
                await manager.save(ArtifactIn(data={"namespace": "default", "n": n}))
        url = await live_server()
        got = await asyncio.wait_for(collect(url, 2, SSE, prefix="/ns/sse-a"), 30)
        assert [json.loads(m["data"])["payload"]["data"]["namespace"] for m in got] == ["sse-a", "sse-a"]
        assert [m["id"] for m in got] == ["1", "2"]
        reader = asyncio.create_task(collect(url, 1, {**SSE, "Last-Event-ID": "2"}, prefix="/ns/sse-a"))
        # writes elsewhere wake nothing in sse-a (30 s: httpx's default 5 s timed a POST out under load)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for prefix in ("", "/ns/sse-b"):
                response = await client.post(f"{prefix}{API}", json={"data": {"namespace": prefix or "default"}})
                assert response.status_code == 201
            await asyncio.sleep(0.3)
            assert not reader.done()
            response = await client.post(f"/ns/sse-a{API}", json={"data": {"namespace": "sse-a", "n": 2}})
            assert response.status_code == 201
        (late,) = await asyncio.wait_for(reader, 30)
        assert (late["id"], json.loads(late["data"])["payload"]["data"]["n"]) == ("3", 2)
    finally:
        if backend == "postgresql":
            async with engine.begin() as conn:
                current = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
                for name in names:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{postgres_schema(current, name)}" CASCADE'))


async def test_clients_gone_while_the_stream_reads_the_log_leave_no_task_behind(
    ledger: Ledger, live_server: Serve
) -> None:
    """A client that stops reading and then drops the connection: uvicorn's send does nothing once
    the client is gone, so the stream ran on through its replay and was cancelled in the middle of a
    read of the log. On SQLite that cancellation left a task per stream forever (SQLAlchemy's graceful
    close of the aiosqlite connection, whose thread its forced close had already stopped). The read
    now runs to its end on its own (one batch) whatever happens to the stream."""
    async with ledger.manager() as manager:
        for batch in range(6):
            await manager.save_all([ArtifactIn(data={"b": batch, "n": n, "pad": "x" * 8000}) for n in range(250)])
    url = await live_server()
    port = int(url.rsplit(":", 1)[1])
    await asyncio.sleep(0.1)
    before = {task for task in asyncio.all_tasks() if not task.done()}
    writers = []
    for _ in range(5):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.pause_reading()  # a client that stops reading: the server's sends wait
        writer.write(f"GET {API}/$events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        writers.append(writer)
    await asyncio.sleep(1)
    for writer in writers:
        writer.transport.abort()
    left = await tasks_left(before)
    assert not left, [task.get_coro() for task in left]


async def test_the_largest_last_event_id_streams_nothing_and_fails_nothing(ledger: Ledger, live_server: Serve) -> None:
    """2**63 - 1, the largest position taken, is compared in SQL as a 64-bit integer on both backends."""
    url = await live_server()
    async with ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"n": 1}))
    headers = {**SSE, "Last-Event-ID": str(2**63 - 1)}
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", f"{url}{API}/$events", headers=headers) as response,
    ):
        assert response.status_code == 200
        lines: list[str] = []
        opened = asyncio.Event()

        async def read() -> None:
            async for line in response.aiter_lines():
                lines.append(line)
                if len(lines) == 2:
                    opened.set()

        reading = asyncio.ensure_future(read())
        try:
            # the stream's opening lines, however late a loaded machine sends them (0.5 s in all was
            # too little), then half a second more in which nothing comes and the stream stays open
            await asyncio.wait_for(opened.wait(), 30)
            await asyncio.sleep(0.5)
            assert not reading.done()  # neither ended nor failed: waiting for positions past the largest
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
    assert lines == ["retry: 1000", ""]
