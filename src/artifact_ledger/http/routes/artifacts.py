"""chapkit's ArtifactRouter routes: the list, create, read, update, delete, ``$tree``, ``$expand``,
``$metadata`` and ``$download``; with the ledger's strict semantics where chapkit is loose."""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined inside
# ``register`` from the annotations themselves, which string annotations would hide.

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...content.streams import StreamedContent
from ...errors import ArtifactDeletedError
from ...manager import ArtifactManager
from ...query import FindPage
from .. import download
from ..integers import PageNo, PageSize, VersionNo
from ..limits import read_body
from ..models import ArtifactBody, ArtifactJson, CursorPage, MergePatchBody, Page, TreeNodeJson
from ..problems import Problem, ProblemRoute
from ..responses import json_bytes, json_response
from ..service import JSON_BODY, MERGE_PATCH, MERGE_PATCH_BODY, AsOf, Caller, Id, IfMatch, Service, etag
from . import listing
from .common import artifact_json, expanded_json, not_found, precondition

DEFAULT_LIMIT = 100


logger = logging.getLogger(__name__)


def register(router: APIRouter, service: Service) -> None:
    Manager = Annotated[ArtifactManager, Depends(service.manager)]
    Writer = Annotated[Caller, Depends(service.writer)]
    reader = [Depends(service.reader)]
    prefix = router.prefix

    @router.get(
        "",
        dependencies=reader,
        response_model=Page[ArtifactJson] | CursorPage[ArtifactJson] | list[ArtifactJson],
        summary="List artifacts (without content), filtered and ordered",
        description="A JSON array of every live artifact matching `where`, ordered by `order_by`, streamed. "
        "With `limit` and/or `after`: one keyset page `{items, next_cursor}` (pass `next_cursor` back as "
        "`after`). With `page` and/or `size`: chapkit's page `{items,total,page,size,pages}`. `as_of` "
        "asks the same question of the state at that instant. `where` is a JSON object in the filter "
        "language of `ArtifactManager.find`; a bad filter, ordering or cursor is 400.",
    )
    async def find_all(
        manager: Manager,
        as_of: AsOf,
        where: Annotated[
            str | None,
            Query(
                description='a JSON object of conditions, e.g. {"data.metadata.status": "published", '
                '"level": {"gte": 1}}; keys data.<path>, tags, parent_id, level, version, created_at, '
                "updated_at, created_by, updated_by; operators eq ne lt lte gt gte in nin contains prefix "
                "exists; $and, $or, $not"
            ),
        ] = None,
        order_by: Annotated[
            str, Query(description="id, created_at, updated_at or data.<path>; '-' in front for descending")
        ] = "id",
        limit: Annotated[PageSize | None, Query(description="keyset page size")] = None,
        after: Annotated[str | None, Query(description="the next_cursor of the previous keyset page")] = None,
        page: Annotated[PageNo | None, Query()] = None,
        size: Annotated[PageSize | None, Query()] = None,
    ) -> Response:
        question = listing.Listing(manager, listing.parse_where(where), order_by, as_of)
        keyset = limit is not None or after is not None
        if keyset and (page is not None or size is not None):
            raise Problem(
                400,
                "page/size (offsets) and limit/after (a cursor) are two ways of paging the list: use one",
                kind="mixed-paging",
            )
        if keyset:
            found = await question.page(limit or DEFAULT_LIMIT, after)
            items = [artifact_json(i, content=False) for i in found.items]
            return json_response({"items": items, "next_cursor": found.next_cursor})
        if page is None and size is None:
            first = await question.page(listing.READ_PAGE, None)  # a bad question is a 400, not a broken 200
            return StreamingResponse(_stream_all(service, question, first), media_type="application/json")
        page, size = page or 1, size or 50
        items_out, total = await question.offset_page(page, size)
        return json_response(
            {
                "items": [artifact_json(i, content=False) for i in items_out],
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
        async with precondition(expected), _deleted_is_not_found(entity_id):
            out = await manager.save(
                body.to_artifact_in(str(entity_id)), expected_version=expected, actor=caller.actor, reason=caller.reason
            )
        service.notifier.notify()
        return json_response(artifact_json(out), headers=etag(out.version))

    @router.patch(
        "/{entity_id}",
        dependencies=MERGE_PATCH_BODY,
        response_model=ArtifactJson,
        summary="Change part of an artifact (RFC 7396 merge patch)",
        description="The body, sent as `application/merge-patch+json`, is a merge patch of the artifact: "
        "`data` merges into its data (a member set to null is removed; the content is kept unless the "
        "patch sets `content`), `tags` replaces the tags. A patch that changes nothing appends nothing "
        '(the version stays). 404 for an unknown or deleted id; `If-Match: "<version>"` makes it '
        "conditional (412); another content type is 415.",
    )
    async def patch(
        entity_id: Id,
        body: Annotated[MergePatchBody, Body(media_type=MERGE_PATCH)],
        manager: Manager,
        caller: Writer,
        expected: IfMatch,
    ) -> Response:
        if "data" in body.model_fields_set and body.data is None:
            raise Problem(
                422,
                f"a patch cannot remove the data of artifact {entity_id}: patch its members (null removes one)",
                kind="validation-failed",
            )
        tags = None if "tags" not in body.model_fields_set else (body.tags or [])
        if expected is None and not await manager.exists_by_id(entity_id):
            raise not_found(entity_id)
        async with precondition(expected), _deleted_is_not_found(entity_id):
            out = await manager.patch(
                entity_id,
                body.data or {},
                tags=tags,
                expected_version=expected,
                actor=caller.actor,
                reason=caller.reason,
            )
        service.notifier.notify()
        return json_response(artifact_json(out), headers=etag(out.version))

    async def upload_content(
        request: Request,
        entity_id: Id,
        manager: Manager,
        caller: Writer,
        expected: IfMatch,
        content_type: Annotated[str | None, Header(alias="Content-Type", include_in_schema=False)] = None,
    ) -> Response:
        media = _content_type(content_type)
        if expected is None and not await manager.exists_by_id(entity_id):
            raise not_found(entity_id)  # before reading a body that would be thrown away
        received = await read_body(request, service.max_content)
        content = bytes(received)
        received.clear()  # one copy of the body from here on: the one the ledger stores
        async with precondition(expected):
            out = await manager.patch(
                entity_id,
                {"content": content, "content_type": media},
                expected_version=expected,
                actor=caller.actor,
                reason=caller.reason,
            )
        service.notifier.notify()
        return json_response(artifact_json(out, content=False), headers=etag(out.version))

    router.add_api_route(
        "/{entity_id}/$content",
        upload_content,
        methods=["PUT"],
        dependencies=[Depends(service.writer)],
        response_model=ArtifactJson,
        summary="Upload an artifact's content as raw bytes",
        description="The request body becomes the artifact's content (bytes) and its `Content-Type` the "
        "artifact's `content_type` (none: `application/octet-stream`); the rest of its data is kept. "
        "`$download` gives the same bytes back. The body is read in chunks as it arrives and refused "
        "with 413 the moment it passes the server's content limit (a `Content-Length` over it before a "
        'byte is read). Uploading the content it already has appends nothing. `If-Match: "<version>"` '
        "makes it conditional (412).",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        route_class_override=ProblemRoute.limited(service.max_content, service.locations),
    )

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
        # Not manager.expand_artifact: it decodes the content, which $expand leaves out, so expired
        # or redacted content would fail a request that never shows it (410).
        out = await manager.find_by_id(entity_id, include_content=False)
        if out is None:
            raise not_found(entity_id)
        return json_response(expanded_json(out, manager.hierarchy), headers=etag(out.version))

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
        "JSON content as JSON. `version`: the content of that version (default: the current one). 404 when "
        "it has no content (or the version is its deletion), 406 for Python objects with no file form.",
    )
    async def download_content(
        entity_id: Id,
        manager: Manager,
        version: Annotated[VersionNo | None, Query(description="a version number, from 1")] = None,
    ) -> Response:
        out = await manager.find_by_id(entity_id, version=version)
        if out is None:
            if version is not None:
                raise Problem(
                    404,
                    f"version {version} of artifact {entity_id} is its deletion, which has no content",
                    kind="version-deleted",
                    artifact_id=str(entity_id),
                )
            raise not_found(entity_id)
        content = out.data.get("content") if isinstance(out.data, dict) else None
        if isinstance(content, StreamedContent):
            media, filename = download.described(str(entity_id), out.data)
            chunks = _stream_content(service, str(entity_id), out.version)
            first = await anext(chunks, b"")  # errors about the id, the version or expiry: a problem, not a 200
            return StreamingResponse(
                _then(first, chunks),
                media_type=media,
                headers={
                    "Content-Disposition": f'attachment; filename="{filename}"',
                    "Content-Length": str(content.size),
                    "X-Content-Type-Options": "nosniff",
                    **etag(out.version),
                },
            )
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


@asynccontextmanager
async def _deleted_is_not_found(entity_id: object) -> AsyncIterator[None]:
    """Inside: the artifact of the path found deleted is 404, as the route says (and as without
    ``If-Match``, where the route looks first); another deleted artifact (a parent) stays 409."""
    try:
        yield
    except ArtifactDeletedError as exc:
        if str(exc.artifact_id) != str(entity_id):
            raise
        raise not_found(entity_id) from None


async def _stream_content(service: Service, artifact_id: str, version: int) -> AsyncIterator[bytes]:
    """The content of ``artifact_id`` at ``version`` a chunk at a time, each chunk checked against its
    hash before it is sent, on a session of its own (the request's closes with the route). A chunk that
    fails its check raises in its place: the response is cut short of its Content-Length, never
    completed with other bytes."""
    async with service.ledger.sessions() as session:
        manager = ArtifactManager(service.ledger.repository(session), hierarchy=service.hierarchy)
        async for chunk in manager.open_content(artifact_id, version=version):
            yield chunk


async def _then(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    except Exception as exc:
        logger.error("download aborted mid-stream: %s", exc)
        raise


async def _stream_all(service: Service, question: listing.Listing, first: FindPage) -> AsyncIterator[bytes]:
    """Every match as one JSON array, read in keyset pages on a session of its own (the request's
    closes with the route): memory holds one page."""
    async with service.ledger.sessions() as session:
        manager = ArtifactManager(service.ledger.repository(session), hierarchy=service.hierarchy)
        rest = listing.Listing(manager, question.where, question.order_by, question.as_of)
        yield b"["
        separator = b""
        async for out in rest.walk(first):
            yield separator + json_bytes(artifact_json(out, content=False))
            separator = b","
        yield b"]"


def _content_type(value: str | None) -> str:
    """The media type an upload declares (``application/octet-stream`` when none); 400 when it is not one."""
    if value is None or not value.strip():
        return "application/octet-stream"
    text = value.strip()
    if len(text) > 200 or download.MEDIA_TYPE.fullmatch(text) is None:
        raise Problem(
            400,
            f"Content-Type {text[:60]!r} is not a media type such as application/octet-stream or text/csv",
            kind="bad-content-type",
        )
    return text
