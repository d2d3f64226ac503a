"""Helpers of the HTTP tests (imported by name: ``from http_support import ...``)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest

from artifact_ledger import Keyring, provenance_page_reads

API = "/api/v1/artifacts"
SECRET = Keyring.from_secret("test-secret-for-the-suite")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create(client: httpx.AsyncClient, data: Any, **fields: Any) -> dict[str, Any]:
    """POST an artifact; the created artifact's JSON."""
    response = await client.post(API, json={"data": data, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is ``status`` as problem+json; its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = dict(response.json())
    assert body["status"] == status
    assert body["type"].startswith("urn:artifact-ledger:problem:")
    assert body["title"]
    assert body["detail"]
    return body


async def messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parsed SSE messages (``id``, ``event``, ``data``) of a streaming response, as a line-splitting client
    reads them (httpx's ``aiter_lines`` splits where ``str.splitlines`` does); comments skipped."""
    fields: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def assert_pages_are_slices(
    client: httpx.AsyncClient, url: str, whole: list[dict[str, Any]], sizes: Iterable[int]
) -> None:
    """``url`` pages its list (``page``/``size``) as slices of ``whole``: by default one page of up to 100,
    and for each size every page, and one past the end (empty, with the total)."""
    default = (await client.get(url)).json()
    assert default == {"items": whole, "total": len(whole), "page": 1, "size": 100, "pages": 1}
    for size in sizes:
        pages = -(-len(whole) // size)
        for page in range(1, pages + 2):  # and one past the end: empty, with the total
            response = await client.get(url, params={"page": page, "size": size})
            assert response.status_code == 200, response.text
            assert response.json() == {
                "items": whole[(page - 1) * size : page * size],
                "total": len(whole),
                "page": page,
                "size": size,
                "pages": pages,
            }


def count_event_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The positions of the events ``provenance_page_reads`` builds from rows from now on, in order."""
    read: list[int] = []
    from_row = provenance_page_reads.event_from_row

    def counting(row: Any, *args: Any) -> Any:
        event = from_row(row, *args)
        read.append(event.position)
        return event

    monkeypatch.setattr(provenance_page_reads, "event_from_row", counting)
    return read
