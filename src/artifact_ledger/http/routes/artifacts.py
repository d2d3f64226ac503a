"""chapkit's ArtifactRouter routes: the list, create, read, update, delete, ``$tree``, ``$expand``,
``$metadata`` and ``$download``; with the ledger's strict semantics where chapkit is loose."""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined inside
# ``register`` from the annotations themselves, which string annotations would hide.

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...manager import ArtifactManager
from ...schemas import strip_content
from .. import download
from ..models import ArtifactBody, ArtifactJson, Page, TreeNodeJson
from ..responses import json_bytes, json_response
from ..service import JSON_BODY, AsOf, Caller, Id, IfMatch, Service, etag
from . import listing
from .common import artifact_json, not_found, precondition

MAX_PAGE_SIZE = 1000


def register(router: APIRouter, service: Service) -> None:
    Manager = Annotated[ArtifactManager, Depends(service.manager)]
    Writer = Annotated[Caller, Depends(service.writer)]
    reader = [Depends(service.reader)]
    prefix = router.prefix

    @router.get(
        "",
        dependencies=reader,
        response_model=Page[ArtifactJson] | list[ArtifactJson],
        summary="List artifacts (without content)",
        description="A JSON array of every live artifact ordered by id, streamed; with `page` or `size`, "
        "one page `{items,total,page,size,pages}`. `as_of` lists them as they were then.",
    )
    async def find_all(
        manager: Manager,
        as_of: AsOf,
        page: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    ) -> Response:
        if page is None and size is None:
            return StreamingResponse(_stream_all(service, as_of), media_type="application/json")
        page, size = page or 1, size or 50
        if as_of is not None:
            items, total = await listing.page_as_of(manager, as_of, page, size)
        else:
            items, total = await manager.find_paginated(page, size, include_content=False)
        return json_response(
            {
                "items": [artifact_json(i, content=False) for i in items],
                "total": total,
                "page": page,
                "size": size,
                "pages": (total + size - 1) // size,
            }
        )

    @router.post(
        "",
        status_code=201,
        dependencies=JSON_BODY,
        response_model=ArtifactJson,
        summary="Create an artifact",
        description="201 with `Location` and `ETag`. A client-assigned `id` that already exists is 409 "
        "(chapkit would update it: use PUT). An unknown `parent_id` is 404.",
    )
    async def create(request: Request, body: ArtifactBody, manager: Manager, caller: Writer) -> Response:
        artifact_in = body.to_artifact_in()
        out = await manager.save(
            artifact_in,
            expected_version=0 if artifact_in.id is not None else None,
            actor=caller.actor,
            reason=caller.reason,
        )
        service.notifier.notify()
        location = str(request.url.replace(path=f"{request.scope.get('root_path', '')}{prefix}/{out.id}", query=""))
        return json_response(artifact_json(out), status=201, headers={"Location": location, **etag(out.version)})

    @router.get(
        "/{entity_id}",
        dependencies=reader,
        response_model=ArtifactJson,
        summary="Read an artifact",
        description="With `as_of`, the artifact as it was then. `ETag` is its version; "
        "`If-None-Match` with it answers 304.",
    )
    async def find_by_id(
        entity_id: Id,
        manager: Manager,
        as_of: AsOf,
        if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
    ) -> Response:
        out = await manager.find_by_id(entity_id, as_of=as_of)
        if out is None:
            raise not_found(entity_id, as_of)
        tag = etag(out.version)
        if if_none_match is not None and tag["ETag"] in {t.strip() for t in if_none_match.split(",")}:
            return Response(status_code=304, headers=tag)
        return json_response(artifact_json(out), headers=tag)

    @router.put(
        "/{entity_id}",
        dependencies=JSON_BODY,
        response_model=ArtifactJson,
        summary="Update an artifact",
        description="Changes the fields the body sets (an unset `parent_id` keeps the parent). "
        '404 for an unknown or deleted id; `If-Match: "<version>"` makes it conditional (412).',
    )
    async def update(
        entity_id: Id, body: ArtifactBody, manager: Manager, caller: Writer, expected: IfMatch
    ) -> Response:
        if expected is None and not await manager.exists_by_id(entity_id):
            raise not_found(entity_id)
        async with precondition(expected):
            out = await manager.save(
                body.to_artifact_in(str(entity_id)), expected_version=expected, actor=caller.actor, reason=caller.reason
            )
        service.notifier.notify()
        return json_response(artifact_json(out), headers=etag(out.version))

    @router.delete(
        "/{entity_id}",
        status_code=204,
        summary="Delete an artifact",
        description="204. 409 when it has live children, unless `cascade=true` (the whole subtree). "
        "404 for an unknown or already deleted id. History is kept; `$restore` brings it back.",
    )
    async def delete(
        entity_id: Id,
        manager: Manager,
        caller: Writer,
        expected: IfMatch,
        cascade: Annotated[bool, Query(description="delete the whole subtree")] = False,
    ) -> Response:
        if not await manager.exists_by_id(entity_id):
            raise not_found(entity_id)
        async with precondition(expected):
            await manager.delete_by_id(
                entity_id, cascade=cascade, expected_version=expected, actor=caller.actor, reason=caller.reason
            )
        service.notifier.notify()
        return Response(status_code=204)

    @router.get(
        "/{entity_id}/$tree",
        dependencies=reader,
        response_model=TreeNodeJson,
        summary="The subtree rooted at an artifact (without content)",
        description="Children ordered by id; with `as_of`, the tree as it was then, moves included.",
    )
    async def tree(entity_id: Id, manager: Manager, as_of: AsOf) -> Response:
        node = await manager.build_tree(entity_id, include_content=False, as_of=as_of)
        if node is None:
            raise not_found(entity_id, as_of)
        return json_response(node.model_dump(mode="json"))

    @router.get(
        "/{entity_id}/$expand",
        dependencies=reader,
        response_model=TreeNodeJson,
        summary="An artifact with hierarchy labels, without children or content",
    )
    async def expand(entity_id: Id, manager: Manager) -> Response:
        node = await manager.expand_artifact(entity_id)
        if node is None:
            raise not_found(entity_id)
        value = node.model_dump(mode="json")
        value["data"] = strip_content(value["data"])
        return json_response(value, headers=etag(node.version))

    @router.get(
        "/{entity_id}/$metadata",
        dependencies=reader,
        response_model=dict[str, Any],
        summary="The artifact's data.metadata (JSON only)",
    )
    async def metadata(entity_id: Id, manager: Manager) -> Response:
        out = await manager.find_by_id(entity_id, include_content=False)
        if out is None:
            raise not_found(entity_id)
        meta = out.data.get("metadata", {}) if isinstance(out.data, dict) else {}
        return json_response(meta, headers=etag(out.version))

    @router.get(
        "/{entity_id}/$download",
        dependencies=reader,
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}, "description": "the content as a file"}},
        summary="Download the artifact's content",
        description="Bytes under the artifact's `content_type`; a DataFrame as CSV (`text/csv`) or JSON; "
        "JSON content as JSON. 404 when it has no content, 406 for Python objects with no file form.",
    )
    async def download_content(entity_id: Id, manager: Manager) -> Response:
        out = await manager.find_by_id(entity_id)
        if out is None:
            raise not_found(entity_id)
        body, media, filename = download.render(str(entity_id), out.data)
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "X-Content-Type-Options": "nosniff",
                **etag(out.version),
            },
        )


async def _stream_all(service: Service, as_of: datetime | None) -> AsyncIterator[bytes]:
    """Every live artifact as one JSON array, read in keyset pages: memory stays bounded."""
    async with service.ledger.sessions() as session:
        manager = ArtifactManager(service.ledger.repository(session), hierarchy=service.hierarchy)
        yield b"["
        first = True
        async for out in listing.iter_live(manager, as_of):
            yield (b"" if first else b",") + json_bytes(artifact_json(out, content=False))
            first = False
        yield b"]"
