"""Aliases and lineage: the alias routes (``/api/v1/aliases/...``) and, on an artifact,
``$aliases``, ``$lineage`` and ``$links``."""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined inside
# ``register_*`` from the annotations themselves, which string annotations would hide.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from ulid import ULID

from ...lineage import LineageGraph
from ...manager import ArtifactManager
from ...provenance import MAX_LINEAGE_DEPTH, Alias
from ..integers import PageNo as PageNumber
from ..integers import PageSize as PageLength
from ..integers import VersionNo, Whole
from ..models import (
    AliasBody,
    AliasChangeJson,
    AliasJson,
    ArtifactJson,
    AuditEntryJson,
    CursorPage,
    LineageJson,
    LinkBody,
    LinkJson,
    Page,
    ProvJson,
    TargetBody,
)
from ..problems import Problem
from ..responses import json_response
from ..service import JSON_BODY, AsOf, Caller, Id, Service, etag, parse_ulid
from .common import artifact_json, not_found

MERMAID_MEDIA = "text/plain; charset=utf-8"

AliasName = Annotated[
    str,
    Path(
        description="the alias name, percent-encoded in the URL (spaces, non-ASCII letters and '/' are allowed; "
        "a name ending in /$history or /$protect reaches those routes)"
    ),
]
PageNo = Annotated[PageNumber, Query()]
PageSize = Annotated[PageLength, Query()]
Depth = Annotated[int, Whole(0, MAX_LINEAGE_DEPTH)]


def _page(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    """chapkit's page of ``items`` (page ``page`` of ``size``, read in the database) out of ``total``."""
    return {"items": items, "total": total, "page": page, "size": size, "pages": (total + size - 1) // size}


def alias_json(alias: Alias) -> dict[str, Any]:
    return alias.model_dump(mode="json")


OptPageNo = Annotated[PageNumber | None, Query(description="chapkit's page number (default 1)")]
OptPageSize = Annotated[PageLength | None, Query(description="chapkit's page size (default 100)")]
Limit = Annotated[PageLength | None, Query(description="keyset page size")]
After = Annotated[str | None, Query(description="the next_cursor of the previous keyset page (an alias name)")]
PAGING = (
    "With `page` and/or `size` (or neither): chapkit's page `{items,total,page,size,pages}` (default page 1 "
    "of 100). With `limit` and/or `after`: one keyset page `{items, next_cursor}` (pass `next_cursor` back "
    "as `after`; null on the last page); both ways at once is 400."
)


async def alias_listing(
    manager: ArtifactManager, aid: ULID | None, page: int | None, size: int | None, limit: int | None, after: str | None
) -> Response:
    """One page of the aliases (of artifact ``aid``, or every alias), either way of paging."""
    if limit is not None or after is not None:
        if page is not None or size is not None:
            raise Problem(
                400,
                "page/size (offsets) and limit/after (a cursor) are two ways of paging the list: use one",
                kind="mixed-paging",
            )
        limit = limit or 100
        found = await manager.aliases(aid, limit=limit + 1, after=after)
        more = len(found) > limit
        items = [alias_json(a) for a in found[:limit]]
        return json_response({"items": items, "next_cursor": found[limit - 1].name if more else None})
    page, size = page or 1, size or 100
    listed, total = await manager.aliases_paginated(page, size, id=aid)
    return json_response(
        {
            "items": [alias_json(a) for a in listed],
            "total": total,
            "page": page,
            "size": size,
            "pages": (total + size - 1) // size,
        }
    )


def _expected(value: str | TargetBody | None) -> str | tuple[str, int] | None:
    if isinstance(value, TargetBody):
        return value.artifact_id if value.version is None else (value.artifact_id, value.version)
    return value


def graph_json(graph: LineageGraph) -> dict[str, Any]:
    """A lineage graph as JSON: nodes nearest first, edges in a stable order."""
    nodes = sorted(graph.nodes.items(), key=lambda item: (item[1], item[0]))
    edges = sorted(graph.edges, key=lambda e: (e.src_id, e.src_version, e.kind, e.dst_id, e.dst_version))
    return {
        "root": graph.root,
        "direction": graph.direction,
        "nodes": [{"id": aid, "distance": hops, "label": graph.labels.get(aid)} for aid, hops in nodes],
        "edges": [
            {
                "src_id": e.src_id,
                "src_version": e.src_version,
                "kind": e.kind,
                "dst_id": e.dst_id,
                "dst_version": e.dst_version,
            }
            for e in edges
        ],
    }


def register_aliases(router: APIRouter, service: Service, artifacts_prefix: str) -> None:
    """The alias routes, on a router whose prefix is the aliases' (``/api/v1/aliases``);
    ``artifacts_prefix`` is where the artifact routes are (for ``Content-Location``)."""
    Manager = Annotated[ArtifactManager, Depends(service.manager)]
    Writer = Annotated[Caller, Depends(service.writer)]
    reader = [Depends(service.reader)]

    @router.get(
        "",
        dependencies=reader,
        response_model=Page[AliasJson] | CursorPage[AliasJson],
        summary="Every alias, by name",
        description=PAGING,
    )
    async def list_aliases(
        manager: Manager, page: OptPageNo = None, size: OptPageSize = None, limit: Limit = None, after: After = None
    ) -> Response:
        return await alias_listing(manager, None, page, size, limit, after)

    # The suffixed routes first: ``{name:path}`` alone would take ``x/$history`` as a name.
    @router.get(
        "/{name:path}/$history",
        dependencies=reader,
        response_model=Page[AliasChangeJson],
        summary="Every change of an alias, oldest first: who set, moved, protected or removed it, and why",
        description="404 when no alias of that name was ever set.",
    )
    async def alias_history(name: AliasName, manager: Manager, page: PageNo = 1, size: PageSize = 100) -> Response:
        changes, total = await manager.alias_history_paginated(name, page, size)  # one page read in the database
        return json_response(_page([c.model_dump(mode="json") for c in changes], total, page, size))

    @router.post(
        "/{name:path}/$protect",
        response_model=AliasJson,
        summary="Protect an alias: moving or removing it then needs a reason",
        description="`protected=false` lifts the protection (that needs a reason too, in `X-Reason`). "
        "404 for an unknown alias.",
    )
    async def protect_alias(
        name: AliasName,
        manager: Manager,
        caller: Writer,
        protected: Annotated[bool, Query(description="false lifts the protection")] = True,
    ) -> Response:
        alias = await manager.protect_alias(name, protected=protected, actor=caller.actor, reason=caller.reason)
        service.notifier.notify()
        return json_response(alias_json(alias))

    @router.get(
        "/{name:path}",
        dependencies=reader,
        response_model=ArtifactJson,
        summary="Resolve an alias: the artifact version it points at",
        description="With `as_of`, the version it pointed at then (404 when the alias did not exist then). "
        "`Content-Location` is that version's URL; `ETag` its version.",
    )
    async def resolve_alias(name: AliasName, manager: Manager, as_of: AsOf) -> Response:
        out = await manager.resolve_alias(name, as_of=as_of)
        location = f"{artifacts_prefix}/{out.id}/$versions/{out.version}"
        return json_response(artifact_json(out), headers={**etag(out.version), "Content-Location": location})

    @router.put(
        "/{name:path}",
        dependencies=JSON_BODY,
        response_model=AliasJson,
        summary="Set or move an alias",
        description="Points the alias at `version` (default: the current one) of `artifact_id`; setting it "
        "where it already points appends nothing. `expected_target` makes it a compare-and-set (409 when "
        "the alias points elsewhere); a protected alias needs a `reason` (409 without one). 400 for a name "
        "the ledger does not accept, 404 for an unknown artifact or version.",
    )
    async def set_alias(name: AliasName, body: AliasBody, manager: Manager, caller: Writer) -> Response:
        alias = await manager.set_alias(
            name,
            body.artifact_id,
            version=body.version,
            expected_target=_expected(body.expected_target),
            actor=caller.actor,
            reason=body.reason or caller.reason,
        )
        service.notifier.notify()
        return json_response(alias_json(alias))

    @router.delete(
        "/{name:path}",
        status_code=204,
        summary="Remove an alias",
        description="204. A protected alias needs a reason (`X-Reason`; 409 without one). `expected_target` "
        "(and `expected_version`) make it conditional (409 when the alias points elsewhere).",
    )
    async def remove_alias(
        name: AliasName,
        manager: Manager,
        caller: Writer,
        expected_target: Annotated[str | None, Query(description="the artifact id the alias must point at now")] = None,
        expected_version: Annotated[
            VersionNo | None, Query(description="with expected_target: the version too")
        ] = None,
    ) -> Response:
        expected: str | tuple[str, int] | None = None
        if expected_target is not None:
            target = str(parse_ulid(expected_target, "expected_target"))
            expected = target if expected_version is None else (target, expected_version)
        elif expected_version is not None:
            raise Problem(400, "expected_version needs expected_target (the artifact id)", kind="bad-expected-target")
        await manager.remove_alias(name, expected_target=expected, actor=caller.actor, reason=caller.reason)
        service.notifier.notify()
        return Response(status_code=204)


def register_lineage(router: APIRouter, service: Service) -> None:
    """``$aliases``, ``$lineage`` and ``$links`` of an artifact, on the artifact router."""
    Manager = Annotated[ArtifactManager, Depends(service.manager)]
    Writer = Annotated[Caller, Depends(service.writer)]
    reader = [Depends(service.reader)]

    @router.get(
        "/{entity_id}/$aliases",
        dependencies=reader,
        response_model=Page[AliasJson] | CursorPage[AliasJson],
        summary="The aliases pointing at an artifact, by name",
        description=f"{PAGING} 404 for an unknown or deleted artifact.",
    )
    async def aliases_of(
        entity_id: Id,
        manager: Manager,
        page: OptPageNo = None,
        size: OptPageSize = None,
        limit: Limit = None,
        after: After = None,
    ) -> Response:
        if not await manager.exists_by_id(entity_id):
            raise not_found(entity_id)
        return await alias_listing(manager, entity_id, page, size, limit, after)

    @router.get(
        "/{entity_id}/$provenance",
        dependencies=reader,
        response_model=Page[AuditEntryJson],
        summary="The alias and link events that named an artifact, in log order",
        description="Each alias set, move or removal that pointed an alias at the artifact or away from "
        "it, and each link added or removed from or to it, with actor and reason (`$history` is the "
        "artifact's own versions). 404 for an id the ledger never had.",
    )
    async def provenance_history(entity_id: Id, manager: Manager, page: PageNo = 1, size: PageSize = 100) -> Response:
        entries, total = await manager.provenance_history_paginated(entity_id, page, size)  # one page in the database
        return json_response(_page([e.model_dump(mode="json") for e in entries], total, page, size))

    @router.get(
        "/{entity_id}/$lineage",
        dependencies=reader,
        response_model=LineageJson | ProvJson,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="What an artifact was made from (upstream) or what was made from it (downstream)",
        description="Up to `depth` hops (default: all), following the link kinds `kind` (repeatable; default: "
        "every kind), as the links stood `as_of`. `format=json` (nodes and edges), `mermaid` (a Mermaid "
        "flowchart, text/plain) or `prov` (a W3C PROV-JSON document). 422 for an unknown kind.",
    )
    async def lineage(
        entity_id: Id,
        manager: Manager,
        as_of: AsOf,
        direction: Literal["upstream", "downstream", "both"] = "upstream",
        depth: Annotated[Depth | None, Query(description="hops; default: all")] = None,
        kind: Annotated[list[str] | None, Query(description="link kinds to follow (repeatable)")] = None,
        format: Literal["json", "mermaid", "prov"] = "json",
    ) -> Response:
        graph = await manager.lineage(entity_id, direction=direction, depth=depth, kinds=kind or None, as_of=as_of)
        if format == "mermaid":
            return Response(graph.to_mermaid(), media_type=MERMAID_MEDIA)
        if format == "prov":
            return json_response(graph.to_prov())
        return json_response(graph_json(graph))

    @router.post(
        "/{entity_id}/$links",
        dependencies=JSON_BODY,
        response_model=LinkJson,
        summary="Link an artifact to another: it *kind* the target (e.g. a model derived_from a dataset)",
        description="Between versions (default: the current ones); linking again what is linked appends "
        "nothing. 404 for an unknown artifact or version, 422 for a link to itself, a derived_from cycle "
        "(the detail names it) or an unknown kind.",
    )
    async def link(entity_id: Id, body: LinkBody, manager: Manager, caller: Writer) -> Response:
        edge = await manager.link(
            entity_id,
            body.target_id,
            body.kind,
            src_version=body.version,
            dst_version=body.target_version,
            actor=caller.actor,
            reason=body.reason or caller.reason,
        )
        service.notifier.notify()
        return json_response(
            {
                "src_id": edge.src_id,
                "src_version": edge.src_version,
                "kind": edge.kind,
                "dst_id": edge.dst_id,
                "dst_version": edge.dst_version,
            }
        )

    @router.delete(
        "/{entity_id}/$links/{kind}/{target_id}",
        status_code=204,
        summary="Remove a link",
        description="Between versions `version` and `target_version` (default: the current ones). "
        "404 when there is no such link.",
    )
    async def unlink(
        entity_id: Id,
        kind: Annotated[str, Path(max_length=64, description="the link's kind")],
        target_id: Annotated[str, Path(description="the other end's ULID")],
        manager: Manager,
        caller: Writer,
        version: Annotated[VersionNo | None, Query()] = None,
        target_version: Annotated[VersionNo | None, Query()] = None,
    ) -> Response:
        target = parse_ulid(target_id, "target id")
        removed = await manager.unlink(
            entity_id,
            target,
            kind,
            src_version=version,
            dst_version=target_version,
            actor=caller.actor,
            reason=caller.reason,
        )
        if not removed:
            raise Problem(
                404,
                f"no {kind} link from artifact {entity_id} to {target}; $lineage lists the links",
                kind="link-not-found",
                artifact_id=str(entity_id),
            )
        service.notifier.notify()
        return Response(status_code=204)
