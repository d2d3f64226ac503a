"""Routes over the whole log: ``$audit``, ``$verify`` and ``$events`` (JSON pages or a live SSE stream)."""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined inside
# ``register`` from the annotations themselves, which string annotations would hide.

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...events import EVENT_TYPES, expand_event_types
from ...manager import ArtifactManager
from .. import sse
from ..integers import MAX_POSITION, PageSize, Position, parse_whole
from ..models import ArtifactJson, AuditEntryJson, EventJson, KeysetPage, VerifyJson
from ..problems import Problem
from ..responses import json_response
from ..service import AsOf, Service, parse_instant, parse_ulid
from . import listing


def register(router: APIRouter, service: Service) -> None:
    Manager = Annotated[ArtifactManager, Depends(service.manager)]
    reader = [Depends(service.reader)]

    @router.get(
        "/$audit",
        dependencies=reader,
        response_model=KeysetPage[AuditEntryJson],
        summary="The attributed event trail, filtered, in position order",
        description="Filters: `actor` and `type` (repeatable), `since <= recorded_at < until`, `artifact`, "
        "`subtree` (artifacts in that subtree when the event happened). One page of `limit` entries after "
        "position `after`; pass `next_after` back as `after` for the next page (null on the last).",
    )
    async def audit(
        manager: Manager,
        actor: Annotated[list[str] | None, Query()] = None,
        event_type: Annotated[list[str] | None, Query(alias="type")] = None,
        since: Annotated[str | None, Query(description="ISO 8601; no zone means UTC")] = None,
        until: Annotated[str | None, Query(description="ISO 8601; no zone means UTC")] = None,
        artifact: Annotated[str | None, Query(description="only this artifact's events")] = None,
        subtree: Annotated[str | None, Query(description="only events of artifacts in this subtree")] = None,
        after: Annotated[Position, Query()] = 0,
        limit: Annotated[PageSize, Query()] = 100,
    ) -> Response:
        unknown = sorted(set(expand_event_types(event_type or ())) - set(EVENT_TYPES))  # alias.* allowed
        if unknown:
            raise Problem(
                400, f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(EVENT_TYPES))}", kind="bad-type"
            )
        page = await manager.audit(
            artifact_id=None if artifact is None else parse_ulid(artifact, "artifact"),
            subtree_of=None if subtree is None else parse_ulid(subtree, "subtree"),
            actor=actor or None,
            event_type=event_type or None,
            since=None if since is None else parse_instant(since, "since"),
            until=None if until is None else parse_instant(until, "until"),
            after=after,
            limit=limit,
        )
        return json_response(
            {"items": [e.model_dump(mode="json") for e in page.entries], "next_after": page.next_after}
        )

    @router.get("/$schema", dependencies=reader, response_model=dict[str, Any], summary="JSON schema of an artifact")
    async def schema() -> Response:
        return json_response(ArtifactJson.model_json_schema())

    @router.get(
        "/$stats",
        dependencies=reader,
        response_model=dict[str, int],
        summary="How many artifacts are live",
        description="chapkit's `{total}`. With `where`, how many live artifacts match it (the filter "
        "language of the list); with `as_of`, how many were live (and matched) at that instant.",
    )
    async def stats(
        manager: Manager,
        as_of: AsOf,
        where: Annotated[
            str | None, Query(description="a JSON object of conditions, as the list's `where` takes")
        ] = None,
    ) -> Response:
        return json_response({"total": await manager.count(listing.parse_where(where), as_of=as_of)})

    @router.get(
        "/$verify",
        dependencies=reader,
        response_model=VerifyJson,
        summary="Verify the hash chain, blobs and projections",
        description="`ok` is false when anything is broken; `broken_position`, `reason` and `problem` say "
        "where and why. Reads the whole ledger: it takes as long as the ledger is large.",
    )
    async def verify() -> Response:
        report = await service.ledger.verify()
        return json_response(dataclasses.asdict(report))

    @router.get(
        "/$events",
        dependencies=reader,
        response_model=KeysetPage[EventJson],
        responses={200: {"content": {sse.MEDIA_TYPE: {}}}},
        summary="The log after a position: a JSON page, or a live Server-Sent Events stream",
        description="JSON: up to `limit` events after position `after`. With `Accept: text/event-stream`: "
        "every event after `after` (or after `Last-Event-ID`), then each new one as it commits; each "
        "event's SSE `id` is its position.",
    )
    async def events(
        request: Request,
        after: Annotated[Position, Query()] = 0,
        limit: Annotated[PageSize, Query()] = 100,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> Response:
        if sse.accepts_stream(request.headers.get("accept", "")):
            if last_event_id is not None and last_event_id.strip():
                after = parse_whole(
                    last_event_id.strip(), "Last-Event-ID", low=0, high=MAX_POSITION, kind="bad-position"
                )
            return StreamingResponse(
                sse.follow(service, after),
                media_type=sse.MEDIA_TYPE,
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        found = await service.ledger.events_since(after, limit=limit)
        return json_response(
            {
                "items": [sse.event_json(e) for e in found],
                "next_after": found[-1].position if len(found) == limit else None,
            }
        )
