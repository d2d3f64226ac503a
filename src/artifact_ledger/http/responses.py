"""JSON response bodies: the ledger's own JSON encoder (``codec``), so no second JSON library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Response

from .. import codec


def json_bytes(value: Any) -> bytes:
    """JSON bytes of a plain-JSON value (keys sorted)."""
    return codec.dumps(value)


def json_response(value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response whose body is already plain JSON (a ``model_dump(mode="json")``)."""
    return Response(json_bytes(value), status_code=status, media_type="application/json", headers=headers)
