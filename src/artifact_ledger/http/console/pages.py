"""How a console page is made: templates, security headers, error and sign-in pages, parameters.

Every console route goes through :class:`ConsoleRoute`, so an error comes back as an HTML page
with the status of the API's problem for it, and every response carries the security headers (a
Content-Security-Policy that allows nothing from elsewhere and no inline script or style).
Templates are autoescaped: artifact data is always shown as text.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ...events import EVENT_TYPES
from ..auth import Principal
from ..integers import parse_whole
from ..problems import TITLES, Problem, to_problem
from ..service import parse_instant
from . import views

log = logging.getLogger("artifact_ledger.http.console")

HERE: Final = Path(__file__).parent
COOKIE: Final = "artifact_ledger_console"

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts say Origin: null
}
STATIC: Final = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["segment"] = views.path_segment
templates.globals.update(
    show_time=views.show_time,
    iso_time=views.iso_time,
    input_time=views.input_time,
    event_types=sorted(EVENT_TYPES),
)


class SignInRequired(Exception):
    """Tokens are configured and the request carries none that is known."""

    def __init__(self, *, unknown: bool) -> None:
        super().__init__("sign in with a token" if not unknown else "that token is not known")
        self.unknown = unknown


def render(
    request: Request, template: str, *, status: int = 200, me: Principal | None = None, **context: Any
) -> HTMLResponse:
    page = templates.get_template(template).render(request_path=request.url.path, me=me, **context)
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, exc: BaseException) -> HTMLResponse:
    """An error as a page: the status and message of the API's problem for it (500 for a bug)."""
    service = getattr(request.app.state, "ledger_service", None)  # create_app's: where the ledger lives
    problem = to_problem(exc, hidden=None if service is None else service.locations)
    if problem is None:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        problem = Problem(500, "an unexpected error occurred; the server log has the details", kind="internal")
    title = TITLES.get(problem.status, "Error")
    response = render(request, "error.html", status=problem.status, title=title, detail=problem.detail)
    response.headers.update(problem.headers)
    return response


def signin_page(request: Request, *, unknown: bool, status: int = 401) -> HTMLResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(request, "signin.html", status=status, unknown=unknown, next=safe_next(target))


class ConsoleRoute(APIRoute):
    """Errors come back as HTML pages; every response carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
            except SignInRequired as exc:
                response = signin_page(request, unknown=exc.unknown)
            except Exception as exc:
                response = error_page(request, exc)
            response.headers.update(SECURITY_HEADERS)
            return response

        return handler


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ---- parameters (query values arrive as text; a bad one is a 400 page naming it) ----------------
def instant(value: str | None, what: str = "as_of") -> datetime | None:
    return None if value is None or not value.strip() else parse_instant(value, what)


def number(value: str | None, what: str, *, low: int, high: int) -> int | None:
    if value is None or not value.strip():
        return None
    return parse_whole(value.strip(), what, low=low, high=high)


def text_filter(value: str | None) -> str | None:
    return value.strip() if value is not None and value.strip() else None


def same_site(request: Request) -> None:
    """A form post from another site is refused (the browser names its origin)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if urllib.parse.urlsplit(origin).netloc != host:
        raise Problem(403, "a sign-in form from another site is refused", kind="cross-site")
