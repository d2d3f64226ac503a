"""PATCH and PUT of a deleted artifact, from an adversarial review: 404 whether or not the request
carries If-Match, as the routes say (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest
from http_support import API, assert_problem, create

from artifact_ledger import Ledger

MERGE = {"content-type": "application/merge-patch+json"}


@pytest.mark.parametrize("if_match", [None, '"1"', '"2"'])
async def test_a_write_to_a_deleted_artifact_is_404_with_or_without_if_match(
    client: httpx.AsyncClient, ledger: Ledger, if_match: str | None
) -> None:
    made = await create(client, {"n": 1})
    assert (await client.delete(f"{API}/{made['id']}")).status_code == 204
    head = await ledger.head()
    headers = {} if if_match is None else {"If-Match": if_match}
    patched = await client.patch(f"{API}/{made['id']}", content=b'{"data": {"n": 2}}', headers={**MERGE, **headers})
    assert assert_problem(patched, 404)["type"].endswith(":artifact-not-found")
    put = await client.put(f"{API}/{made['id']}", json={"data": {"n": 2}}, headers=headers)
    assert assert_problem(put, 404)["type"].endswith(":artifact-not-found")
    assert await ledger.head() == head
