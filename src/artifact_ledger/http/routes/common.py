"""Helpers the route modules share: an artifact as JSON, the 404 of an artifact, If-Match -> 412."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from ...errors import ConcurrencyError
from ...schemas import ArtifactHierarchy, ArtifactOut, ArtifactTreeNode, strip_content
from ...schemas.artifacts import json_safe
from ..problems import Problem


def artifact_json(out: ArtifactOut, *, content: bool = True) -> dict[str, Any]:
    """An artifact as JSON; content that is not JSON is described (``{"_type": ..}``).

    The ledger's data is plain JSON (it is read back through the ledger's JSON codec) except
    ``data["content"]``, the decoded content: only that goes through the model's JSON
    serializer. The rest is passed on as it is, not copied value by value (a copy in Python,
    one call per value, of data that can hold a million of them).
    """
    value = out.model_dump(mode="json", exclude={"data"})
    data = out.data
    if isinstance(data, dict) and "content" in data:
        data = {**data, "content": json_safe(data["content"])} if content else strip_content(data)
    value["data"] = data
    return value


def expanded_json(out: ArtifactOut, hierarchy: ArtifactHierarchy | None) -> dict[str, Any]:
    """``$expand``'s body: ``out`` (read without content) with its hierarchy labels, ``children: null``."""
    node = ArtifactTreeNode.from_artifact(out)
    if hierarchy is not None:
        node.hierarchy = hierarchy.name
        node.level_label = hierarchy.label_for(out.level)
    node.children = None
    value = node.model_dump(mode="json")
    value["data"] = strip_content(value["data"])
    return value


def not_found(artifact_id: object, when: datetime | None = None) -> Problem:
    at = f" as of {when.isoformat()}" if when is not None else ""
    return Problem(404, f"no live artifact {artifact_id}{at}", kind="artifact-not-found", artifact_id=str(artifact_id))


@asynccontextmanager
async def precondition(expected: int | None) -> AsyncIterator[None]:
    """Inside: a version mismatch of a request that carried ``If-Match`` is 412 (409 without one)."""
    try:
        yield
    except ConcurrencyError as exc:
        if expected is None:
            raise
        raise Problem(
            412,
            f"If-Match names version {expected} but artifact {exc.artifact_id} is at version {exc.actual}: "
            "read it again and retry",
            kind="precondition-failed",
            expected=expected,
            actual=exc.actual,
        ) from exc
