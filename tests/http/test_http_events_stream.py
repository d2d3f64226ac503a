"""The live event feed over a real server: replay, then live events, none skipped or repeated, resumable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from http_support import API, messages

from artifact_ledger import ArtifactIn, Ledger

SSE = {"Accept": "text/event-stream"}


async def collect(
    url: str, count: int, headers: dict[str, str], params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("GET", f"{url}{API}/$events", headers=headers, params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for message in messages(response):
            got.append(message)
            if len(got) == count:
                break
    return got


async def test_a_client_streaming_while_writers_write_sees_every_position_once_in_order(
    ledger: Ledger, live_server: Callable[..., Awaitable[str]]
) -> None:
    url = await live_server()
    async with ledger.manager() as manager:
        for n in range(5):  # history before the client connects: replayed
            await manager.save(ArtifactIn(data={"n": n}))
    writers, per_writer = 3, 20
    total = 5 + writers * per_writer
    reader = asyncio.create_task(collect(url, total, SSE))

    async def write_directly(w: int) -> None:  # through the library, as another process would
        async with ledger.manager() as manager:
            for n in range(per_writer // 2):
                await manager.save(ArtifactIn(data={"writer": w, "n": n}))
                await asyncio.sleep(0.005)

    async def write_over_http(w: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:  # not httpx's 5 s: a loaded machine
            for n in range(per_writer // 2):
                response = await client.post(API, json={"data": {"writer": w, "n": n, "http": True}})
                assert response.status_code == 201

    await asyncio.sleep(0.1)
    await asyncio.gather(*(write_directly(w) for w in range(writers)), *(write_over_http(w) for w in range(writers)))
    got = await asyncio.wait_for(reader, 60)
    positions = [int(m["id"]) for m in got]
    assert positions == list(range(1, total + 1))
    for message in got:
        event = json.loads(message["data"])
        assert event["position"] == int(message["id"])
        assert message["event"] == event["type"] == "artifact.created"


async def test_last_event_id_and_after_resume_exactly_after_that_position(
    ledger: Ledger, live_server: Callable[..., Awaitable[str]]
) -> None:
    url = await live_server()
    async with ledger.manager() as manager:
        for n in range(6):
            await manager.save(ArtifactIn(data={"n": n}))
    first = await collect(url, 2, SSE)
    assert [m["id"] for m in first] == ["1", "2"]
    resumed = await collect(url, 4, {**SSE, "Last-Event-ID": first[-1]["id"]})
    assert [m["id"] for m in resumed] == ["3", "4", "5", "6"]
    from_param = await collect(url, 1, SSE, params={"after": 5})
    assert [m["id"] for m in from_param] == ["6"]
    reader = asyncio.create_task(collect(url, 1, SSE, params={"after": 6}))
    await asyncio.sleep(0.2)
    assert not reader.done()  # nothing new yet: the stream waits
    async with ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"n": "late"}))
    late = await asyncio.wait_for(reader, 10)
    assert [m["id"] for m in late] == ["7"]
