"""Errors as ``application/problem+json`` (RFC 9457): the one place HTTP statuses are chosen.

Every :class:`~artifact_ledger.errors.LedgerError` maps to a status by its class (:data:`STATUSES`,
most specific class first); the HTTP layer's own refusals raise :class:`Problem`. Routes use
:class:`ProblemRoute`, which turns both, and FastAPI's request validation errors, into problem
responses inside the route itself, so a router mounted into someone else's app answers the same
way without their exception handlers. :func:`install` adds the same handling to a whole app (for
unknown paths, wrong methods and anything raised outside a route).

A detail never shows where the ledger lives: the database URL, its file and the blob directory
that the library's messages name become ``<database>`` and ``<blob store>`` (:func:`hide`); the
server log keeps the whole message of a 5xx.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope

from .. import errors
from ..projections.projector import ProjectionError
from ..sync import SyncUsageError
from ..transfer import ImportConflictError
from .locations import ERROR_ATTRIBUTES, error_locations
from .responses import json_bytes
from .strictjson import DuplicateMemberError, TooManyValuesError, loads_unique

log = logging.getLogger("artifact_ledger.http")

MEDIA_TYPE: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:artifact-ledger:problem:"

STATUSES: Final[Sequence[tuple[type[errors.LedgerError], int]]] = (
    # An id or parent id that is not a ULID (in a body or a query, where the ledger finds it; the HTTP
    # layer answers a malformed *path* id with 400 itself): bad input, though an ArtifactNotFoundError.
    (errors.MalformedIdError, 400),
    # Not found: unknown ids and parents, versions an artifact never had.
    (errors.ArtifactDeletedError, 409),  # a write naming a deleted artifact: restore it first
    (errors.ArtifactNotFoundError, 404),
    (errors.HoldNotFoundError, 404),  # release of an artifact that holds no hold
    (errors.RedactedError, 410),  # a redaction erased these bytes; the redaction event says who and why
    (errors.ContentExpiredError, 410),  # a retention policy expired these bytes; data and history stay
    (errors.AliasNotFoundError, 404),  # no such alias (now, or at the as_of asked for)
    (errors.ContentNotFoundError, 404),  # the version asked for has no content
    (errors.ConcurrencyError, 409),  # 412 when the request carried If-Match (see routes)
    (errors.InvalidMoveError, 409),
    (errors.ArtifactHasChildrenError, 409),
    (errors.ArtifactAliasedError, 409),  # remove the alias first, or delete with cascade=true
    (errors.AliasProtectedError, 409),  # moving or removing a protected alias needs a reason
    (errors.TransactionAbortedError, 409),
    (ImportConflictError, 409),
    # The request is well formed but the ledger's rules refuse what it asks for.
    (errors.InvalidArtifactDataError, 422),
    (errors.InvalidLinkError, 422),  # a self link, a derived_from cycle, an unknown link kind
    (errors.InvalidBundleError, 422),
    (errors.ChapkitRowError, 422),  # a source row that cannot be imported as it is
    (errors.InvalidCheckpointError, 422),  # a checkpoint note that is unreadable, foreign, edited or re-signed
    # A malformed argument: a bad filter or cursor, an alias name the ledger does not accept.
    (errors.ProofRangeError, 400),  # a proof of a tree the log does not hold (the message names the sizes)
    (errors.InvalidArgumentError, 400),
    (errors.InvalidAttributionError, 400),
    # The server's own faults: damaged storage, a projection that disagrees with the log, content
    # that fails its hash or signature, a missing optional dependency, tampered guards, a bug.
    (errors.MissingBlobError, 500),  # a blob the log references is not in the store
    (errors.UntrustedContentError, 500),
    (errors.BlobStoreError, 500),  # the configured blob directory cannot be used
    (errors.ProjectionDriftError, 500),
    (errors.ChainBrokenError, 500),  # an event a write rests on no longer matches its hash
    (ProjectionError, 500),
    (errors.IntegrityViolationError, 500),
    (errors.SchemaTamperedError, 500),
    (errors.MissingExtraError, 500),
    (errors.StorageCorruptError, 500),
    (errors.ConcurrentUseError, 500),
    (SyncUsageError, 500),
    (errors.NotAReplicaError, 500),  # the server was configured with a read_url that is no standby
    (errors.CitusUnavailableError, 503),  # the database has no Citus 12+ to distribute namespaces over
    (errors.LedgerUnavailableError, 503),
    (errors.SchemaOutOfDateError, 503),
    (errors.LedgerError, 500),
)
"""LedgerError class -> HTTP status; the first class the error is an instance of wins."""

Hidden = Callable[[], Mapping[str, str]]
"""The texts no detail may show (where the ledger lives), each with the placeholder shown instead."""

ON_WRITES: Final[Sequence[tuple[type[errors.LedgerError], int]]] = (
    # Content under a codec this process has not registered: on a read it is stored content the
    # server cannot decode (its own fault, 500); on a write it is the content type the request sent.
    (errors.UnknownCodecError, 422),
)
"""Statuses that differ when the request writes (any method but GET, HEAD and OPTIONS)."""
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

TITLES: Final[Mapping[int, str]] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


ERROR_STATUSES: Final = (400, 401, 403, 404, 405, 406, 409, 410, 412, 413, 415, 422, 500, 503)


def documented_responses() -> dict[int | str, dict[str, Any]]:
    """The error responses every route documents in the OpenAPI schema: problem+json bodies."""
    from .models import ProblemJson  # models imports nothing from here; kept local to stay that way

    schema = {"$ref": "#/components/schemas/ProblemJson"}
    return {
        status: {
            "model": ProblemJson,
            "description": TITLES[status],
            "content": {MEDIA_TYPE: {"schema": schema}},
        }
        for status in ERROR_STATUSES
    }


class Problem(Exception):
    """An HTTP error the routes raise: status, a type slug, the detail in words, and extra members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _slug(TITLES.get(status, "error"))
        self.headers = dict(headers or {})
        self.extensions = extensions


def _slug(name: str) -> str:
    """``ArtifactNotFoundError`` -> ``artifact-not-found``; ``Not Found`` -> ``not-found``."""
    name = name.removesuffix("Error").replace(" ", "")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def status_for(error_class: type[errors.LedgerError]) -> int:
    """The status of errors of ``error_class``: that of the first class in :data:`STATUSES` it derives from."""
    return next(status for cls, status in STATUSES if issubclass(error_class, cls))


def status_of(exc: errors.LedgerError, *, writing: bool = False) -> int:
    """The status of ``exc``; ``writing``: raised by a request that writes (:data:`ON_WRITES`)."""
    if writing:
        for cls, status in ON_WRITES:
            if isinstance(exc, cls):
                return status
    return status_for(type(exc))


def hide(text: str, hidden: Mapping[str, str]) -> str:
    """``text`` with each key of ``hidden`` (the longest first) replaced by its placeholder."""
    for secret in sorted(hidden, key=len, reverse=True):
        text = text.replace(secret, hidden[secret])
    return text


def shown_message(exc: errors.LedgerError, hidden: Hidden | None = None) -> str:
    """The message of ``exc`` without the URLs it carries as attributes nor the texts ``hidden`` gives."""
    locations = error_locations(getattr(exc, name, None) for name in ERROR_ATTRIBUTES)
    if hidden is not None:
        locations.update(hidden())
    return hide(str(exc), locations)


def from_ledger_error(exc: errors.LedgerError, *, writing: bool = False, hidden: Hidden | None = None) -> Problem:
    """The problem for a ledger error: its status, its class as the type, its message as the detail
    (without where the ledger lives: see :func:`shown_message`)."""
    status = status_of(exc, writing=writing)
    extensions: dict[str, Any] = {}
    for name in ("artifact_id", "expected", "actual"):
        value = getattr(exc, name, None)
        if value is not None:
            extensions[name] = value if isinstance(value, int | str) else str(value)
    headers = {"Retry-After": "1"} if status == 503 else None
    message = shown_message(exc, hidden)
    detail = message if status < 500 or status == 503 else f"{type(exc).__name__}: {message}"
    return Problem(status, detail, kind=_slug(type(exc).__name__), headers=headers, **extensions)


def _validation_problem(exc: RequestValidationError) -> Problem:
    problems = list(exc.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return Problem(400, "the request body is not valid JSON", kind="malformed-json")
    shown = [
        {
            "location": [str(part) for part in p.get("loc", ())],
            "message": str(p.get("msg", "")),
            "type": str(p.get("type", "")),
        }
        for p in problems[:20]
    ]
    where = "; ".join(f"{'.'.join(e['location'])}: {e['message']}" for e in shown)
    return Problem(422, f"the request is not valid: {where}", kind="validation-failed", errors=shown)


def response_for(problem: Problem, instance: str | None) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.kind,
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(problem.extensions)
    return Response(json_bytes(body), status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers)


def to_problem(exc: BaseException, *, writing: bool = False, hidden: Hidden | None = None) -> Problem | None:
    """The problem an exception stands for, or None for an unexpected one (a bug: 500)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, errors.LedgerError):
        return from_ledger_error(exc, writing=writing, hidden=hidden)
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc)
    if isinstance(exc, StarletteHTTPException):
        headers = dict(exc.headers or {})
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        return Problem(exc.status_code, detail, headers=headers)
    return None


def handle(exc: BaseException, request: Request, hidden: Hidden | None = None) -> Response:
    """The problem+json response for ``exc``; ``hidden``: the texts its detail must not show."""
    problem = to_problem(exc, writing=request.method not in READ_METHODS, hidden=hidden)
    if problem is None:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        problem = Problem(500, "an unexpected error occurred; the server log has the details", kind="internal")
    elif problem.status >= 500:
        logged = f"{type(exc).__name__}: {exc}" if isinstance(exc, errors.LedgerError) else problem.detail
        log.error("%s on %s %s: %s", problem.kind, request.method, request.url.path, logged)
    return response_for(problem, request.url.path)


class ProblemRoute(APIRoute):
    """An APIRoute whose errors come back as problem+json, wherever the router is mounted.

    With ``max_body`` set (:meth:`limited`), the route also refuses a request body over that many
    bytes with 413: a ``Content-Length`` over it before a byte is read, a body without one (chunked)
    the moment the bytes received pass it. So a router mounted into an app without the
    :class:`~artifact_ledger.http.BodyLimit` middleware still has its limit. With ``hidden``,
    its error details do not show the texts that gives (where the ledger lives).
    """

    max_body: int | None = None
    max_json_values: int | None = None
    hidden: Hidden | None = None

    @classmethod
    def limited(
        cls, max_body: int | None, hidden: Hidden | None = None, max_json_values: int | None = None
    ) -> type[ProblemRoute]:
        """This route class with a body limit of ``max_body`` bytes and ``max_json_values`` JSON
        values (None: no limit), and ``hidden``."""
        members = {
            "max_body": max_body,
            "max_json_values": max_json_values,
            "hidden": None if hidden is None else staticmethod(hidden),
        }
        return type(f"{cls.__name__}Limited{max_body}", (cls,), members)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()
        limit, hidden, max_values = self.max_body, self.hidden, self.max_json_values

        async def handler(request: Request) -> Response:
            try:
                utf8_target(request.scope)
                receive = request.receive
                if limit is not None:
                    declared_length(request.headers, limit)
                    receive = counted_receive(receive, limit)
                strict = StrictJsonRequest(request.scope, receive)
                strict.max_values = max_values
                return await inner(strict)
            except Exception as exc:
                # FastAPI answers any error of reading or parsing the body with a bare 400 ("There
                # was an error parsing the body"): the error it wraps says what was wrong.
                reason = exc.__cause__ if isinstance(exc, StarletteHTTPException) and exc.__cause__ else exc
                if isinstance(reason, BodyTooLarge):
                    return response_for(
                        Problem(413, str(reason), kind="body-too-large", headers={"Connection": "close"}),
                        request.url.path,
                    )
                if isinstance(reason, ClientDisconnect):
                    # Nobody is left to answer, and nothing was written: the body never arrived whole.
                    log.info("client gone before the body of %s %s was complete", request.method, request.url.path)
                    detail = "the client disconnected before the request body was complete; nothing was written"
                    return response_for(Problem(400, detail, kind="client-disconnected"), request.url.path)
                return handle(reason if isinstance(reason, Problem) else exc, request, hidden)

        return handler


def utf8_target(scope: Scope) -> None:
    """400 when the request's path or query, percent-decoded, is not UTF-8 (``%FF``, an encoded
    surrogate ``%ED%A0%80``): the server reads each bad byte as U+FFFD, so an alias name, a filter
    or an actor would silently become another text."""
    raw_path = scope.get("raw_path")
    part = "path"
    try:
        if isinstance(raw_path, bytes):
            unquote_to_bytes(raw_path).decode("utf-8")
        part = "query"
        parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise Problem(
            400,
            f"the request {part} is not UTF-8 once percent-decoded ({exc.reason} at byte {exc.start}): "
            "percent-encode the UTF-8 bytes of each character (é is %C3%A9)",
            kind="bad-encoding",
        ) from None


def parse_json_body(body: bytes, max_values: int | None = None) -> Any:
    """A request body as JSON, every refusal a 400 problem naming what is wrong (FastAPI's own
    parse answers most of them "There was an error parsing the body"). Text that is not JSON
    raises ``JSONDecodeError`` still, which FastAPI turns into the ``malformed-json`` problem.
    A body that may hold more than ``max_values`` values is a 413 ``too-many-values`` before it
    is parsed (its bytes alone bound what parsing it would cost)."""
    try:
        return loads_unique(body, max_values)
    except json.JSONDecodeError:
        raise
    except TooManyValuesError as exc:
        detail = (
            f"the request body holds more than {exc.limit:,} JSON values, the limit of this server "
            "(serve --max-json-values); large content goes up as bytes through PUT /{id}/$content"
        )
        raise Problem(413, detail, kind="too-many-values", headers={"Connection": "close"}) from None
    except DuplicateMemberError as exc:
        raise Problem(400, f"the request body is ambiguous: {exc}", kind="duplicate-member") from None
    except UnicodeDecodeError as exc:
        detail = f"the request body is not UTF-8 ({exc.reason} at byte {exc.start}); send JSON as UTF-8"
        raise Problem(400, detail, kind="malformed-json") from None
    except RecursionError:
        raise Problem(
            400, "the request body nests arrays and objects too deeply to be read", kind="malformed-json"
        ) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise Problem(
            400, f"the request body holds a number that cannot be read: {str(exc).split(';')[0]}", kind="malformed-json"
        ) from None


class StrictJsonRequest(Request):
    """The request the routes see: its JSON body is read by :func:`parse_json_body`, refused past
    ``max_values`` values."""

    max_values: int | None = None

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body(), self.max_values)
        return self._json


class BodyTooLarge(Exception):
    """Raised while reading a request body past the limit; the body limit middleware answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than the limit of {limit:,} bytes")
        self.limit = limit


def declared_length(headers: Mapping[str, str], limit: int) -> int | None:
    """The request's ``Content-Length`` (None without one): 400 when it is not a number, and
    :class:`BodyTooLarge` when it is over ``limit``, before a byte of the body is read."""
    value = headers.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise Problem(400, "Content-Length is not a number", kind="bad-content-length")
    length = int(value)
    if length > limit:
        raise BodyTooLarge(limit)
    return length


def counted_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once the body received passes ``limit`` bytes."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


def install(app: FastAPI, hidden: Hidden | None = None) -> None:
    """Answer every error of ``app`` (unknown paths, wrong methods, validation) as problem+json;
    ``hidden``: the texts no detail may show."""

    async def on_error(request: Request, exc: Exception) -> Response:
        return handle(exc, request, hidden)

    app.add_exception_handler(StarletteHTTPException, on_error)
    app.add_exception_handler(RequestValidationError, on_error)
    app.add_exception_handler(errors.LedgerError, on_error)
    app.add_exception_handler(Problem, on_error)
