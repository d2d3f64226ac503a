"""``GET /{id}/$expand`` carries no content, so content that expired or was redacted does not fail it.

Before the fix ``$expand`` decoded the content it then left out, and answered 410 where ``$tree``
and ``$metadata`` on the same artifact answered 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from http_support import API, assert_problem, create

from artifact_ledger import ArtifactHierarchy, Ledger, RetentionPolicy
from artifact_ledger.schemas import strip_content

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
HIERARCHY = ArtifactHierarchy(name="ml", level_labels={0: "training", 1: "prediction"})


async def _with_content(client: httpx.AsyncClient) -> dict[str, Any]:
    """An artifact with data.metadata and uploaded content (version 2)."""
    made = await create(client, {"name": "run", "metadata": {"run": 7}})
    upload = await client.put(
        f"{API}/{made['id']}/$content", content=b"model bytes", headers={"content-type": "application/octet-stream"}
    )
    assert upload.status_code == 200, upload.text
    return dict(upload.json())


async def _assert_reads_without_content_succeed(client: httpx.AsyncClient, aid: str, version: int) -> None:
    expanded = await client.get(f"{API}/{aid}/$expand")
    assert expanded.status_code == 200, expanded.text
    body = expanded.json()
    assert body["id"] == aid
    assert body["version"] == version
    assert body["data"] == {"name": "run", "metadata": {"run": 7}, "content_type": "application/octet-stream"}
    assert body["children"] is None
    assert (body["hierarchy"], body["level_label"]) == ("ml", "training")
    assert expanded.headers["ETag"] == f'"{version}"'
    assert (await client.get(f"{API}/{aid}/$tree")).status_code == 200
    assert (await client.get(f"{API}/{aid}/$metadata")).json() == {"run": 7}


async def test_expand_of_an_artifact_whose_content_expired_is_200(make_client: MakeClient, ledger: Ledger) -> None:
    client = await make_client(hierarchy=HIERARCHY)
    made = await _with_content(client)
    await asyncio.sleep(0.01)
    report = await ledger.apply_retention(RetentionPolicy(keep_newer_than=timedelta(0)), dry_run=False, reason="t")
    assert report.expired, report
    assert_problem(await client.get(f"{API}/{made['id']}/$download"), 410)  # the content itself is gone
    await _assert_reads_without_content_succeed(client, made["id"], made["version"])


async def test_expand_of_an_artifact_whose_content_was_redacted_is_200(make_client: MakeClient) -> None:
    client = await make_client(hierarchy=HIERARCHY)
    made = await _with_content(client)
    erased = await client.post(f"{API}/{made['id']}/$redact", json={"version": made["version"], "reason": "gdpr"})
    assert erased.status_code == 200, erased.text
    assert_problem(await client.get(f"{API}/{made['id']}"), 410)  # the content itself is gone
    await _assert_reads_without_content_succeed(client, made["id"], made["version"])


async def test_expand_of_live_content_matches_the_library_without_content(
    make_client: MakeClient, ledger: Ledger
) -> None:
    client = await make_client(hierarchy=HIERARCHY)
    made = await _with_content(client)
    async with ledger.manager(HIERARCHY) as manager:
        node = await manager.expand_artifact(made["id"])
    assert node is not None
    expected = node.model_dump(mode="json")
    expected["data"] = strip_content(expected["data"])
    assert (await client.get(f"{API}/{made['id']}/$expand")).json() == expected
