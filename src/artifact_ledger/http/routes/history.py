"""The ledger's routes for one artifact: ``$history``, ``$versions/{n}``, ``$diff``, ``$move``,
``$revert`` and ``$restore``."""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined inside
# ``register`` from the annotations themselves, which string annotations would hide.

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from ...manager import ArtifactManager
from ..integers import PageNo, PageSize, VersionNo
from ..models import ArtifactJson, MoveBody, Page, RevertBody, VersionJson
from ..problems import Problem
from ..responses import json_response
from ..service import JSON_BODY, Caller, Id, IfMatch, Service, etag
from .common import artifact_json, precondition

Version = Annotated[VersionNo, Path(description="a version number, from 1")]


def register(router: APIRouter, service: Service) -> None:
    Manager = Annotated[ArtifactManager, Depends(service.manager)]
    Writer = Annotated[Caller, Depends(service.writer)]
    reader = [Depends(service.reader)]

    @router.get(
        "/{entity_id}/$history",
        dependencies=reader,
        response_model=Page[VersionJson],
        summary="Every version of an artifact, oldest first, deletions included (without content)",
    )
    async def history(
        entity_id: Id,
        manager: Manager,
        page: Annotated[PageNo, Query()] = 1,
        size: Annotated[PageSize, Query()] = 100,
    ) -> Response:
        versions, total = await manager.history_paginated(entity_id, page, size)
        return json_response(
            {
                "items": [v.model_dump(mode="json") for v in versions],
                "total": total,
                "page": page,
                "size": size,
                "pages": (total + size - 1) // size,
            }
        )

    @router.get(
        "/{entity_id}/$versions/{version}",
        dependencies=reader,
        response_model=ArtifactJson,
        summary="The artifact exactly as it was at a version",
        description="404 for a version it never had, and for the version that is its deletion.",
    )
    async def at_version(entity_id: Id, version: Version, manager: Manager) -> Response:
        out = await manager.find_by_id(entity_id, version=version)
        if out is None:
            raise Problem(
                404,
                f"version {version} of artifact {entity_id} is its deletion; $history lists every version",
                kind="version-deleted",
                artifact_id=str(entity_id),
            )
        return json_response(artifact_json(out), headers=etag(version))

    @router.get(
        "/{entity_id}/$diff",
        dependencies=reader,
        response_model=dict[str, object],
        summary="What changed between two versions",
        description="Data as JSON-patch operations, content hash and size, parent, level, tags, deletion. "
        "`to` defaults to the latest version.",
    )
    async def diff(
        entity_id: Id,
        manager: Manager,
        from_version: Annotated[VersionNo, Query(alias="from")],
        to_version: Annotated[VersionNo | None, Query(alias="to")] = None,
    ) -> Response:
        result = await manager.diff(entity_id, from_version, to_version)
        return json_response(result.model_dump(mode="json"))

    @router.post(
        "/{entity_id}/$move",
        dependencies=JSON_BODY,
        response_model=ArtifactJson,
        summary="Move an artifact (and its subtree) under another parent",
        description="`parent_id: null` makes it a root. 404 for an unknown parent, 409 for a move under "
        "itself or a descendant, 412 when `If-Match` names another version.",
    )
    async def move(entity_id: Id, body: MoveBody, manager: Manager, caller: Writer, expected: IfMatch) -> Response:
        async with precondition(expected):
            out = await manager.move(
                entity_id, body.parent_id, expected_version=expected, actor=caller.actor, reason=caller.reason
            )
        service.notifier.notify()
        return json_response(artifact_json(out), headers=etag(out.version))

    @router.post(
        "/{entity_id}/$revert",
        dependencies=JSON_BODY,
        response_model=ArtifactJson,
        summary="Append a version whose state equals an earlier one",
        description="History is never rewritten: the revert is a new version. Nothing is appended when "
        "the artifact already equals that version.",
    )
    async def revert(entity_id: Id, body: RevertBody, manager: Manager, caller: Writer, expected: IfMatch) -> Response:
        async with precondition(expected):
            out = await manager.revert(
                entity_id,
                to_version=body.to_version,
                expected_version=expected,
                actor=caller.actor,
                reason=caller.reason,
            )
        service.notifier.notify()
        return json_response(artifact_json(out), headers=etag(out.version))

    @router.post(
        "/{entity_id}/$restore",
        response_model=ArtifactJson,
        summary="Bring a deleted artifact back as it was when deleted",
        description="A live artifact comes back unchanged. 404 for an unknown id or a deleted parent.",
    )
    async def restore(entity_id: Id, manager: Manager, caller: Writer) -> Response:
        out = await manager.restore(entity_id, actor=caller.actor, reason=caller.reason)
        service.notifier.notify()
        return json_response(artifact_json(out), headers=etag(out.version))
