"""The event feed's content negotiation and wake-ups (every backend for the HTTP part)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from http_support import API

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http.service import Notifier
from artifact_ledger.http.sse import accepts_stream


@pytest.mark.parametrize(
    ("accept", "stream"),
    [
        ("text/event-stream", True),
        ("Text/Event-Stream", True),
        ("application/json, text/event-stream;q=0.5", True),
        ("text/event-stream; charset=utf-8", True),
        ("text/event-stream;q=0", False),
        ("text/event-stream; q=0.0, application/json", False),
        ("text/event-stream;q=oops", False),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        ("text/event-streams", False),
    ],
)
def test_the_stream_is_what_accept_asks_for_with_a_quality_above_zero(accept: str, stream: bool) -> None:
    assert accepts_stream(accept) is stream


async def test_a_refused_stream_gets_the_json_page(ledger: Ledger, client: httpx.AsyncClient) -> None:
    async with ledger.manager() as m:
        await m.save(ArtifactIn(data={"n": 1}))
    response = await client.get(f"{API}/$events", headers={"Accept": "text/event-stream;q=0, application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert [e["position"] for e in response.json()["items"]] == [1]


async def test_a_notify_between_a_stream_s_read_and_its_wait_wakes_it_at_once() -> None:
    notifier = Notifier()
    seen = notifier.generation  # as a stream does before it reads the log
    notifier.notify()  # a write lands while it reads
    await asyncio.wait_for(notifier.wait(3600, seen), 10)  # returns at once: the hour is never waited
    woken = asyncio.ensure_future(notifier.wait(3600, notifier.generation))
    await asyncio.sleep(0)
    assert not woken.done()
    notifier.notify()
    await asyncio.wait_for(woken, 10)
