"""The console's routes: the tree, an artifact, aliases, the audit trail, the verify report, sign-in.

How a page is rendered and guarded is in :mod:`.pages`; the tree's model in :mod:`.tree`.

Reads follow the API's identity rules: with tokens configured every page needs one, taken from
an ``Authorization: Bearer`` header or from the console's sign-in cookie (HttpOnly,
SameSite=Strict, set by ``POST /signin``; the JSON API never reads it). The console only reads:
it never writes to the ledger.

Every response carries a Content-Security-Policy that allows nothing from elsewhere and no
inline script or style; templates are autoescaped, so artifact data is always shown as text.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from ...errors import ArtifactNotFoundError, ContentExpiredError, RedactedError
from ...events import EVENT_TYPES, expand_event_types
from ...manager import ArtifactManager
from ...schemas import ArtifactTreeNode
from .. import download
from ..auth import Principal, bearer_token
from ..problems import Problem
from ..service import Service, parse_ulid
from . import lineage_svg, paging, views
from .pages import (
    COOKIE,
    CSP,
    HERE,
    SECURITY_HEADERS,
    STATIC,
    ConsoleRoute,
    SignInRequired,
    error_page,
    instant,
    number,
    render,
    safe_next,
    same_site,
    signin_page,
    templates,
    text_filter,
)
from .tree import ROOTS_PER_PAGE, TREE_BUDGET, ChildrenPage, TreeRow, children_page, draw, roots_page
from .verify_view import checkpoint_view, when

__all__ = [  # the names this module held before pages.py and tree.py took them over stay importable here
    "COOKIE",
    "CSP",
    "HERE",
    "HISTORY_PAGE",
    "ROOTS_PER_PAGE",
    "SECURITY_HEADERS",
    "STATIC",
    "TREE_BUDGET",
    "ConsoleRoute",
    "SignInRequired",
    "TreeRow",
    "console_router",
    "draw",
    "error_page",
    "render",
    "roots_page",
    "safe_next",
    "same_site",
    "signin_page",
    "templates",
]

AUDIT_PAGE: Final = 50
HISTORY_PAGE: Final = 100
"""Versions listed on one page of an artifact's history (and picked from lists to compare, up to this many)."""
LINEAGE_DEPTH: Final = 2
"""Hops of lineage drawn on an artifact page, each way."""
ALIAS_PAGE: Final = 100
"""Aliases listed on one page of the aliases page (their targets' names looked up in one read)."""
MAX_POSITION: Final = 2**63 - 1
MAX_PAGE: Final = 2**31 - 1


def console_router(service: Service) -> APIRouter:
    """The console's routes over ``service`` (the app's ledger, hierarchy and tokens)."""
    router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
    labels = dict(service.hierarchy.level_labels) if service.hierarchy is not None else {}

    def identify(request: Request) -> Principal | None:
        """The caller, by the API's rules: None when no tokens are configured."""
        if service.auth is None:
            return None
        token = bearer_token(request.headers.get("authorization")) or request.cookies.get(COOKIE) or None
        principal = service.auth.authenticate(token) if token else None
        if principal is None:
            raise SignInRequired(unknown=token is not None)
        return principal

    @asynccontextmanager
    async def reading() -> AsyncIterator[ArtifactManager]:
        async with service.ledger.sessions() as session:
            yield ArtifactManager(service.ledger.repository(session), hierarchy=service.hierarchy)

    @router.get("/", response_class=HTMLResponse)
    async def tree_page(request: Request, as_of: str | None = None, page: str | None = None) -> Response:
        me = identify(request)
        when = instant(as_of)
        page_no = number(page, "page", low=1, high=MAX_PAGE) or 1
        async with reading() as manager:
            roots, total = await roots_page(manager, when, page_no)
            trees: list[ArtifactTreeNode] = []
            for root in roots:
                tree = await manager.build_tree(root.id, include_content=False, as_of=when)
                if tree is not None:
                    trees.append(tree)
        pages = (total + ROOTS_PER_PAGE - 1) // ROOTS_PER_PAGE
        if page_no > max(pages, 1):
            raise Problem(
                404, f"page {page_no} of the tree is past the last one, page {max(pages, 1)}", kind="page-not-found"
            )
        budget = [TREE_BUDGET]
        rows = draw(trees, budget, labels)
        return render(request, "tree.html", me=me, rows=rows, when=when, page=page_no, pages=pages, total_roots=total)

    @router.get("/artifacts/{artifact_id}", response_class=HTMLResponse)
    async def artifact_page(
        request: Request,
        artifact_id: str,
        version: str | None = None,
        as_of: str | None = None,
        diff_from: str | None = None,
        diff_to: str | None = None,
        children: str | None = None,
        history: str | None = None,
        aliases: str | None = None,
        provenance: str | None = None,
    ) -> Response:
        me = identify(request)
        aid = parse_ulid(artifact_id)
        at_version = number(version, "version", low=1, high=MAX_PAGE)
        when = instant(as_of)
        children_no = number(children, "children", low=1, high=MAX_PAGE) or 1
        history_no = number(history, "history", low=1, high=MAX_PAGE)
        aliases_no = number(aliases, "aliases", low=1, high=MAX_PAGE) or 1
        provenance_no = number(provenance, "provenance", low=1, high=MAX_PAGE)
        kept = {
            "version": at_version,
            "as_of": views.iso_time(when) if when else None,
            "history": history_no,
            "aliases": aliases_no if aliases_no > 1 else None,
            "provenance": provenance_no,
        }
        async with reading() as manager:
            try:
                _, latest = await manager.history_paginated(aid, 1, 1)  # how many versions: one event read
            except ArtifactNotFoundError:
                raise Problem(404, f"no artifact {aid} in this ledger", kind="artifact-not-found") from None
            if at_version is not None and at_version > latest:
                raise Problem(
                    404, f"artifact {aid} has versions 1 to {latest}, not {at_version}", kind="version-not-found"
                )
            # The history is listed a page at a time: by default the page of the version shown (the
            # newest page for the latest), so a long history is not one enormous page.
            history_pages = (latest + HISTORY_PAGE - 1) // HISTORY_PAGE
            history_page = history_no or ((at_version or latest) - 1) // HISTORY_PAGE + 1
            if history_page > history_pages:
                raise Problem(
                    404,
                    f"page {history_page} of the history of artifact {aid} is past the last one, page {history_pages}",
                    kind="page-not-found",
                )
            versions, _ = await manager.history_paginated(aid, history_page, HISTORY_PAGE)
            last = versions[-1] if history_page == history_pages else None
            if last is None:
                last = (await manager.history_paginated(aid, latest, 1))[0][0]
            shown_version = at_version
            content_gone: str | None = None  # why the content is not shown: redacted or expired
            try:
                if at_version is not None:
                    out = await manager.find_by_id(aid, version=at_version)  # None: the version is its deletion
                else:
                    out = await manager.find_by_id(aid, as_of=when)
            except (RedactedError, ContentExpiredError) as gone:
                content_gone = str(gone)
                if at_version is not None:
                    out = await manager.find_by_id(aid, include_content=False, version=at_version)
                else:
                    out = await manager.find_by_id(aid, include_content=False, as_of=when)
            if at_version is None and out is not None:
                shown_version = out.version
            kids: ChildrenPage | None = None  # its children now (or at `when`), not at a past version
            if at_version is None and out is not None:
                subtree = await manager.build_tree(aid, include_content=False, as_of=when)
                kids = children_page(subtree, children_no, TREE_BUDGET, labels)
            low = number(diff_from, "from", low=1, high=latest)
            high = number(diff_to, "to", low=1, high=latest)
            diff = None
            if low is not None or high is not None:
                diff = await manager.diff(aid, low or 1, high or latest)
            # Both a page at a time, read in the database (either list can be long).
            alias_page = await paging.artifact_aliases(
                manager, aid, aliases_no, paging.Link(f"/artifacts/{aid}", "aliases", kept, "aliases-heading")
            )
            provenance_page = await paging.artifact_provenance(
                manager, aid, provenance_no, paging.Link(f"/artifacts/{aid}", "provenance", kept, "provenance-heading")
            )
            upstream = await manager.lineage(aid, direction="upstream", depth=LINEAGE_DEPTH, as_of=when)
            downstream = await manager.lineage(aid, direction="downstream", depth=LINEAGE_DEPTH, as_of=when)
        picked_from = low if low is not None else max(1, latest - 1)
        picked_to = high if high is not None else latest
        return render(
            request,
            "artifact.html",
            me=me,
            artifact_id=str(aid),
            out=out,
            versions=versions,
            latest=last,
            history_page=history_page,
            history_pages=history_pages,
            history_first=(history_page - 1) * HISTORY_PAGE + 1,
            pick_from_list=latest <= HISTORY_PAGE,
            shown_version=shown_version,
            when=when,
            at_version=at_version,
            name=views.display_name(out) if out is not None else "",
            level_label=labels.get(out.level) if out is not None else None,
            data_text=views.data_without_content(out.data) if out is not None else "",
            preview=views.preview(out.data) if out is not None else views.Preview("none"),
            content_gone=content_gone,
            children=kids,
            diff=diff,
            pretty=views.pretty_json,
            picked_from=picked_from,
            picked_to=picked_to,
            aliases=alias_page,
            provenance=provenance_page,
            picture=lineage_svg.layout(str(aid), upstream, downstream),
            lineage_depth=LINEAGE_DEPTH,
            node_w=lineage_svg.NODE_W,
            node_h=lineage_svg.NODE_H,
        )

    @router.get("/aliases", response_class=HTMLResponse)
    async def aliases_page(request: Request, page: str | None = None) -> Response:
        me = identify(request)
        page_no = number(page, "page", low=1, high=MAX_PAGE) or 1
        async with reading() as manager:
            found, total = await manager.aliases_paginated(page_no, ALIAS_PAGE)  # one page read in the database
            pages = (total + ALIAS_PAGE - 1) // ALIAS_PAGE
            if page_no > max(pages, 1):
                raise Problem(
                    404,
                    f"page {page_no} of the aliases is past the last one, page {max(pages, 1)}",
                    kind="page-not-found",
                )
            names: dict[str, str] = {}
            for out in await manager.find_all_by_id(sorted({str(a.artifact_id) for a in found}), include_content=False):
                names[str(out.id)] = views.display_name(out)
        return render(
            request,
            "aliases.html",
            me=me,
            aliases=found,
            names=names,
            page=page_no,
            pages=pages,
            total=total,
            first=(page_no - 1) * ALIAS_PAGE + 1,
        )

    @router.get("/aliases/{name:path}", response_class=HTMLResponse)
    async def alias_page(request: Request, name: str, page: str | None = None) -> Response:
        me = identify(request)
        page_no = number(page, "page", low=1, high=MAX_PAGE)
        link = paging.Link(f"/aliases/{views.path_segment(name)}", "page", {}, "alias-history-heading")
        async with reading() as manager:
            changes, last = await paging.alias_changes(manager, name, page_no, link)  # the newest page: one read
            current = None
            target_name = ""
            if last is not None and last.artifact_id is not None:
                current = last  # the alias stands where its last change left it
                out = await manager.find_by_id(last.artifact_id, include_content=False)
                target_name = views.display_name(out) if out is not None else ""
        return render(
            request,
            "alias.html",
            me=me,
            alias_name=name,
            changes=changes,
            current=current,
            target_name=target_name,
        )

    @router.get("/artifacts/{artifact_id}/download")
    async def download_page(request: Request, artifact_id: str, version: str | None = None) -> Response:
        identify(request)
        aid = parse_ulid(artifact_id)
        at_version = number(version, "version", low=1, high=MAX_PAGE)
        async with reading() as manager:
            out = await manager.find_by_id(aid, version=at_version)
        if out is None:
            raise Problem(404, f"no live artifact {aid}", kind="artifact-not-found")
        body, media, filename = download.render(str(aid), out.data)
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    @router.get("/audit", response_class=HTMLResponse)
    async def audit_page(
        request: Request,
        actor: str | None = None,
        type: str | None = None,
        since: str | None = None,
        until: str | None = None,
        artifact: str | None = None,
        after: str | None = None,
    ) -> Response:
        me = identify(request)
        event_type = text_filter(type)
        if event_type is not None and not set(expand_event_types([event_type])) <= EVENT_TYPES:  # alias.* allowed
            raise Problem(
                400, f"unknown event type {event_type[:60]!r}; known: {', '.join(sorted(EVENT_TYPES))}", kind="bad-type"
            )
        who, where = text_filter(actor), text_filter(artifact)
        low, high = instant(since, "since"), instant(until, "until")
        start = number(after, "after", low=0, high=MAX_POSITION) or 0
        async with reading() as manager:
            page = await manager.audit(
                artifact_id=None if where is None else parse_ulid(where, "artifact"),
                actor=who,
                event_type=event_type,
                since=low,
                until=high,
                after=start,
                limit=AUDIT_PAGE,
            )
        query = {
            "actor": who or "",
            "type": event_type or "",
            "since": views.input_time(low),
            "until": views.input_time(high),
            "artifact": where or "",
        }
        shown = {k: v for k, v in query.items() if v}
        next_link = None
        if page.next_after is not None:
            next_link = "/audit?" + urllib.parse.urlencode({**shown, "after": page.next_after})
        first_link = "/audit?" + urllib.parse.urlencode(shown) if start else None
        return render(
            request,
            "audit.html",
            me=me,
            entries=page.entries,
            query=query,
            filtered=bool(shown),
            next_link=next_link,
            first_link=first_link,
            after=start,
        )

    @router.get("/verify", response_class=HTMLResponse)
    async def verify_page(request: Request) -> Response:
        me = identify(request)
        ledger = service.ledger
        report = await ledger.verify()
        checkpoint = await checkpoint_view(service, ledger)
        return render(request, "verify.html", me=me, report=report, checkpoint=checkpoint, show_when=when)

    @router.get("/verify.json")
    async def verify_badge(request: Request) -> Response:
        """What the badge in every page's header shows (fetched by console.js)."""
        try:
            identify(request)
        except SignInRequired:
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        ledger = service.ledger
        report = await ledger.verify()
        checkpoint = await checkpoint_view(service, ledger)
        return JSONResponse(
            {
                "ok": report.ok and checkpoint.ok,
                "events_checked": report.events_checked,
                "broken_position": report.broken_position,
                "reason": report.reason,
                "problem": report.problem,
                "badge": checkpoint.badge(report),
                "checkpoint": checkpoint.as_json(),
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/signin", response_class=HTMLResponse)
    async def signin_form(request: Request, next: str | None = None) -> Response:
        if service.auth is None:
            return RedirectResponse(safe_next(next), status_code=303)
        return render(request, "signin.html", unknown=False, next=safe_next(next))

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        same_site(request)
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        target = safe_next((form.get("next") or ["/"])[0])
        if service.auth is None:
            return RedirectResponse(target, status_code=303)
        token = (form.get("token") or [""])[0].strip()
        principal = service.auth.authenticate(token) if token else None
        if principal is None:
            return render(request, "signin.html", status=401, unknown=bool(token), next=target)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
        )
        return response

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        same_site(request)
        response = RedirectResponse("/signin" if service.auth is not None else "/", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/static/console/{name}")
    async def static(name: str) -> Response:
        media = STATIC.get(name)
        if media is None:
            raise Problem(404, f"no console file {name[:60]!r}", kind="not-found")
        return Response((HERE / "static" / name).read_bytes(), media_type=media, headers={"Cache-Control": "no-cache"})

    return router
