"""The OpenAPI schema fuzzed with schemathesis, in process, on SQLite and PostgreSQL.

schemathesis generates requests from the app's own ``/openapi.json`` (valid ones, then ones that
break the schema); each goes through httpx's ASGI transport to the app in the test's event loop
(the ledger's engine lives there), and schemathesis checks every response: never a 5xx, a
documented status and content type, headers and a body that match the schema. Examples per
operation are bounded (``FUZZ_EXAMPLES``) so both backends together stay well under a minute.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from http_support import API, create
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from artifact_ledger import CheckpointSigner, Ledger

FUZZ_EXAMPLES = int(os.environ.get("ARTIFACT_LEDGER_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
NEGATIVE = [*CHECKS, negative_data_rejection]


def _cases(operation: Any, mode: GenerationMode) -> list[Any]:
    """Up to ``FUZZ_EXAMPLES`` cases of one operation (generated without sending: the app is async)."""
    found: list[Any] = []

    @settings(
        max_examples=FUZZ_EXAMPLES,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def collect(case: Any) -> None:
        found.append(case)

    with contextlib.suppress(Unsatisfiable):  # negative mode: an operation with nothing to break
        collect()
    return found


def _broken_body(case: Any) -> bool:
    """Whether the case breaks the schema in its body: then it must be refused with a 4xx.

    A broken query or header value is not held to that: it travels as text, so a "number" sent for
    a string parameter (``actor=2.1e-36``) arrives as a perfectly good string.
    """
    meta = case.meta
    return meta is not None and meta.is_negative_at(ParameterLocation.BODY)


def _request(case: Any) -> dict[str, Any]:
    """httpx arguments of a schemathesis case (its transport speaks ``requests``)."""
    kwargs = case.as_transport_kwargs(base_url="http://test")
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "user-agent"},
    }
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        out["content" if isinstance(data, bytes | str) else "data"] = data
    return out


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
async def test_the_openapi_schema_holds_under_fuzzing(
    make_client: Any, ledger: Ledger, mode: GenerationMode, tmp_path: Path
) -> None:
    CheckpointSigner.for_ledger(str(ledger.ledger_id), tmp_path)  # GET /$checkpoint signs (without a key: a 500)
    client: httpx.AsyncClient = await make_client(max_body=1_000_000, key_dir=tmp_path)
    app = client._transport.app  # type: ignore[attr-defined]  # the app under test
    root = await create(client, {"metadata": {"n": 1}, "content": {"a": 1}})
    await create(client, {"metadata": {"n": 2}}, parent_id=root["id"])
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == f"{API}/$verify":
            continue  # no parameters, and it reads the whole ledger: the other tests call it
        for case in _cases(operation, mode):
            request = _request(case)
            response = await client.request(**request)
            sent += 1
            try:
                case.validate_response(response, checks=NEGATIVE if _broken_body(case) else CHECKS)
            except (AssertionError, BaseExceptionGroup) as exc:  # collected: every failure is reported
                failures.append(f"{request['method']} {request['url']} -> {response.status_code}: {str(exc)[:600]}")
    assert sent > 100
    assert failures == [], "\n\n".join(failures[:20])
    assert (await ledger.verify()).ok
