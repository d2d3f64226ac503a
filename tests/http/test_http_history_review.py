"""History, revert and the audit trail over HTTP, from an adversarial review (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
from http_support import API, assert_problem, create


async def test_a_retried_revert_to_a_redacted_version_appends_nothing(client: httpx.AsyncClient) -> None:
    """A client retrying ``$revert`` to a version whose content was erased got a new version each time."""
    art = await create(client, {"name": "a", "content": {"secret": True}})
    aid = art["id"]
    assert (await client.put(f"{API}/{aid}", json={"data": {"name": "b"}})).status_code == 200
    erased = await client.post(f"{API}/{aid}/$redact", json={"version": 1}, headers={"X-Reason": "erasure request"})
    assert erased.status_code == 200, erased.text
    first = await client.post(f"{API}/{aid}/$revert", json={"to_version": 1})
    assert (first.status_code, first.headers["ETag"]) == (200, '"3"'), first.text
    retried = await client.post(f"{API}/{aid}/$revert", json={"to_version": 1})
    assert (retried.status_code, retried.headers["ETag"]) == (200, '"3"'), retried.text
    assert retried.json()["data"] == {"name": "a"}
    history = (await client.get(f"{API}/{aid}/$history")).json()
    assert [v["event_type"] for v in history["items"]] == ["artifact.created", "artifact.updated", "artifact.reverted"]


async def test_a_reversed_audit_window_is_400_naming_both_ends(client: httpx.AsyncClient) -> None:
    await create(client, {"n": 1})
    body = assert_problem(
        await client.get(f"{API}/$audit", params={"since": "2030-01-01", "until": "2020-01-01T00:00:00Z"}), 400
    )
    assert "since 2030-01-01T00:00:00+00:00 is after until 2020-01-01T00:00:00+00:00" in body["detail"]
    ok = await client.get(f"{API}/$audit", params={"since": "2020-01-01", "until": "2030-01-01"})
    assert len(ok.json()["items"]) == 1


async def test_revert_and_move_of_an_artifact_whose_content_was_erased(client: httpx.AsyncClient) -> None:
    """Both answered 500 (MissingBlobError for the erased reference's empty hash; nothing written);
    now 200 with the artifact without content."""
    parent = await create(client, {"name": "parent"})
    art = await create(client, {"name": "a", "content": {"secret": True}})
    aid = art["id"]
    erased = await client.post(f"{API}/{aid}/$redact", json={}, headers={"X-Reason": "erasure request"})
    assert erased.status_code == 200, erased.text
    same = await client.post(f"{API}/{aid}/$revert", json={"to_version": 1})
    assert (same.status_code, same.headers["ETag"], same.json()["data"]) == (200, '"1"', {"name": "a"})
    moved = await client.post(f"{API}/{aid}/$move", json={"parent_id": parent["id"]})
    assert (moved.status_code, moved.headers["ETag"], moved.json()["parent_id"]) == (200, '"2"', parent["id"])
