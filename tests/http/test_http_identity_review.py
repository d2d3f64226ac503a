"""HTTP attribution and patch, from an adversarial review: an X-Reason the ledger refuses is a 400
that writes nothing, a token file's actor follows the rules of every write's actor, and a PATCH of
``content_type`` declares the content again (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from http_support import API, assert_problem, create

from artifact_ledger import InvalidArgumentError, Ledger
from artifact_ledger.http import Principal, TokenAuth

MERGE = {"content-type": "application/merge-patch+json"}


@pytest.mark.parametrize("reason", ["\x1b[2J\x1b[Hall good", "ring\x07", "tab\tthen\x7fdelete"])
async def test_an_x_reason_with_terminal_controls_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, ledger: Ledger, reason: str
) -> None:
    made = await create(client, {"n": 1})
    head = await ledger.head()
    patched = await client.patch(
        f"{API}/{made['id']}", content=json.dumps({"data": {"n": 2}}), headers={**MERGE, "X-Reason": reason}
    )
    body = assert_problem(patched, 400)
    assert body["type"].endswith("invalid-attribution")
    assert "reason" in body["detail"]
    assert_problem(await client.post(API, json={"data": {}}, headers={"X-Reason": reason}), 400)
    assert await ledger.head() == head


@pytest.mark.parametrize("actor", ["", "alice ", "ali\nce", "ad\u202emin", "jose\u0301"])
def test_a_token_s_actor_follows_the_rules_of_every_write(actor: str) -> None:
    with pytest.raises(InvalidArgumentError, match='"actor" must be a name') as raised:
        TokenAuth.from_mapping({"a-token": {"actor": actor, "role": "write"}})
    assert "a-token" not in str(raised.value)
    if actor.strip():
        assert actor not in str(raised.value)  # the file's contents stay out of the message
    with pytest.raises(InvalidArgumentError, match='"actor" must be a name'):
        TokenAuth({"a-token": Principal(actor, "write")})


def test_a_token_s_actor_may_be_any_visible_name() -> None:
    auth = TokenAuth.from_mapping({"t": {"actor": "José Müller", "role": "write"}, "u": {"actor": "svc:ci/42"}})
    assert auth.authenticate("t") == Principal("José Müller", "write")


async def test_a_patch_of_content_type_declares_the_content_again(client: httpx.AsyncClient) -> None:
    made = await create(client, {"n": 1})
    uploaded = await client.put(
        f"{API}/{made['id']}/$content", content=b"a,b\n1,2\n", headers={"Content-Type": "text/plain"}
    )
    assert uploaded.status_code == 200, uploaded.text
    response = await client.patch(
        f"{API}/{made['id']}", content=json.dumps({"data": {"content_type": "text/csv"}}), headers=MERGE
    )
    assert response.status_code == 200, response.text
    history: list[dict[str, Any]] = (await client.get(f"{API}/{made['id']}/$history")).json()["items"]
    assert [(item["version"], item["content_type"]) for item in history] == [
        (1, None),
        (2, "text/plain"),
        (3, "text/csv"),
    ]
    assert history[2]["content_hash"] == history[1]["content_hash"]
    download = await client.get(f"{API}/{made['id']}/$download")
    assert (download.content, download.headers["content-type"].split(";")[0]) == (b"a,b\n1,2\n", "text/csv")


async def test_an_x_reason_in_utf8_is_recorded_as_sent(client: httpx.AsyncClient, ledger: Ledger) -> None:
    """Header bytes arrive as Latin-1: a UTF-8 reason must be read as UTF-8, not recorded as mojibake."""
    response = await client.post(API, json={"data": {"a": 1}}, headers={"x-reason": "café ✓ für Jürgen".encode()})
    assert response.status_code == 201, response.text
    [event] = [e for e in await ledger.events_since(0) if e.artifact_id == response.json()["id"]]
    assert event.reason == "café ✓ für Jürgen"
    head = await ledger.head()
    bad = await client.post(API, json={"data": {"a": 2}}, headers={"x-reason": b"caf\xe9"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "urn:artifact-ledger:problem:bad-encoding"
    assert await ledger.head() == head
