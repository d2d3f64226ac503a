"""``POST /{id}/$redact`` on SQLite and PostgreSQL: erasure over HTTP, 410 for erased content, bad requests."""

from __future__ import annotations

import httpx
from http_support import API, assert_problem, create

from artifact_ledger import Ledger


async def test_redact_over_http_then_reads_say_gone(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await create(client, {"name": "ada", "email": "ada@example.org"})
    aid = made["id"]
    response = await client.post(
        f"{API}/{aid}/$redact", json={"fields": ["email"]}, headers={"X-Reason": "erasure request", "X-Actor": "dpo"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["artifact_id"] == aid
    assert body["erased"] == [[1, 1, ['["data","email"]']]]
    current = (await client.get(f"{API}/{aid}")).json()
    assert current["data"] == {"name": "ada"}
    assert "ada@example.org" not in (await client.get(f"{API}/{aid}/$history")).text
    # Content: erased, then every read of it is 410 Gone with the artifact and version named.
    upload = await client.put(
        f"{API}/{aid}/$content", content=b"scan bytes", headers={"content-type": "application/octet-stream"}
    )
    assert upload.status_code == 200, upload.text
    erased = await client.post(f"{API}/{aid}/$redact", json={"version": 2, "reason": "erasure request"})
    assert erased.status_code == 200, erased.text
    assert len(erased.json()["blobs_deleted"]) == 1
    gone = assert_problem(await client.get(f"{API}/{aid}"), 410)
    assert f"artifact {aid} version 2 was redacted" in gone["detail"]
    assert_problem(await client.get(f"{API}/{aid}/$download"), 410)
    assert (await ledger.verify()).ok


async def test_bad_redactions_are_refused_and_write_nothing(client: httpx.AsyncClient, ledger: Ledger) -> None:
    made = await create(client, {"name": "x"})
    aid = made["id"]
    head = (await ledger.verify()).head_position
    assert_problem(await client.post(f"{API}/{aid}/$redact", json={"fields": ["nope"], "reason": "r"}), 400)
    assert_problem(await client.post(f"{API}/{aid}/$redact", json={"fields": ["name"]}), 400)  # no reason
    assert_problem(await client.post(f"{API}/{aid}/$redact", json={"version": 5, "reason": "r"}), 404)
    assert_problem(await client.post(f"{API}/{aid}/$redact", json={"reason": "r"}), 404)  # it has no content
    assert_problem(await client.post(f"{API}/{aid}/$redact", json={"fields": "name", "reason": "r"}), 422)
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert_problem(await client.post(f"{API}/{unknown}/$redact", json={"reason": "r"}), 404)
    assert (await ledger.verify()).head_position == head


async def test_a_read_only_server_refuses_redaction(make_client: object) -> None:
    client = await make_client(read_only=True)  # type: ignore[operator]
    response = await client.post(f"{API}/01ARZ3NDEKTSV4RRFFQ69G5FAV/$redact", json={"reason": "r"})
    assert response.status_code in (403, 405)
