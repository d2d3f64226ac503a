"""What every route needs: the ledger, the caller's identity, a manager per request, parsed parameters.

:class:`Service` is built once per router; its methods are FastAPI dependencies. Nothing here
knows SQL: the routes go through :class:`~artifact_ledger.ArtifactManager` and
:class:`~artifact_ledger.Ledger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Final

from fastapi import Depends, Header, Path, Query, Request
from ulid import ULID

from ..errors import InvalidArgumentError, LedgerError
from ..ledger import Ledger
from ..manager import ArtifactManager
from ..schemas import ArtifactHierarchy
from .auth import Principal, TokenAuth, bearer_token
from .integers import MAX_VERSION, whole_number
from .locations import ledger_locations
from .problems import READ_METHODS as SAFE_METHODS
from .problems import Problem
from .strictjson import DEFAULT_MAX_JSON_VALUES

DEFAULT_MAX_BODY: Final = 64 * 1024 * 1024

LedgerSource = Ledger | Callable[[], Ledger]
"""A ledger, or a function returning the ledger (for apps that open it at startup)."""

ULID_PATTERN: Final = re.compile(r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}")
READ_METHODS: Final = "GET"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a write is attributed to (None: no authentication configured) and why (``X-Reason``)."""

    actor: str | None
    reason: str | None


class Notifier:
    """Wakes the event streams of this process when a route here has written (others are polled).

    ``generation`` counts the writes notified: a stream takes it before it reads the log and
    passes it to :meth:`wait`, so a write notified between its read and its wait wakes it at once
    instead of being missed until the poll interval."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self.generation = 0

    def notify(self) -> None:
        self.generation += 1
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, seconds: float, since: int | None = None) -> None:
        """Return after the next :meth:`notify` or after ``seconds``, whichever comes first; at once
        if a notify came after the caller read ``since`` from :attr:`generation`."""
        if since is not None and since != self.generation:
            return
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


class Service:
    """The per-router configuration and the dependencies the routes declare."""

    def __init__(
        self,
        ledger: LedgerSource,
        *,
        hierarchy: ArtifactHierarchy | None = None,
        read_only: bool = False,
        auth: TokenAuth | None = None,
        poll_interval: float = 0.5,
        heartbeat: float = 15.0,
        max_body: int = DEFAULT_MAX_BODY,
        max_content: int | None = None,
        key_dir: str | os.PathLike[str] | None = None,
        checkpoints: str | os.PathLike[str] | None = None,
        checkpoint_keys: Sequence[str] = (),
        max_json_values: int = DEFAULT_MAX_JSON_VALUES,
    ) -> None:
        for name, value, unit in (
            ("max_body", max_body, "bytes"),
            ("max_content", max_content, "bytes"),
            ("max_json_values", max_json_values, "values"),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidArgumentError(f"{name} must be a positive number of {unit}, not {value!r}")
        self._ledger = ledger
        self.max_body = max_body
        self.max_content = max_body if max_content is None else max_content
        self.max_json_values = max_json_values
        self.hierarchy = hierarchy
        self.read_only = read_only
        self.auth = auth
        self.poll_interval = poll_interval
        self.heartbeat = heartbeat
        self.notifier = Notifier()
        # Checkpoints: the signing key's directory (None: the key directory, as Ledger.checkpoint),
        # the directory of notes the console verifies against, and the verifier keys they must carry.
        self.key_dir = None if key_dir is None else FilePath(key_dir)
        self.checkpoints = None if checkpoints is None else FilePath(checkpoints)
        self.checkpoint_keys = tuple(checkpoint_keys)

    @property
    def ledger(self) -> Ledger:
        return self._ledger if isinstance(self._ledger, Ledger) else self._ledger()

    def locations(self) -> dict[str, str]:
        """Where the ledger lives (its URL, file, blob directory): texts no error detail shows."""
        try:
            return ledger_locations(self.ledger)
        except LedgerError:  # not open (yet, or any more)
            return {}

    # ---- identity -------------------------------------------------------------------------------
    def principal(self, request: Request) -> Principal | None:
        """The authenticated caller (None when no tokens are configured); 401 without a valid token."""
        if self.auth is None:
            return None
        token = bearer_token(request.headers.get("authorization"))
        principal = self.auth.authenticate(token) if token is not None else None
        if principal is None:
            detail = "an Authorization: Bearer <token> header is required" if token is None else "unknown token"
            raise Problem(
                401, detail, kind="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="artifact-ledger"'}
            )
        return principal

    async def reader(self, request: Request) -> Principal | None:
        return self.principal(request)

    async def writer(self, request: Request) -> Caller:
        """Who may write: 405 on a read-only server, 401 without a token, 403 for a read token."""
        if self.read_only:
            raise Problem(
                405,
                "this server is read-only: it refuses every write",
                kind="read-only",
                headers={"Allow": READ_METHODS},
            )
        principal = self.principal(request)
        if principal is not None and not principal.can_write:
            raise Problem(403, f"the token of {principal.actor!r} may only read", kind="forbidden")
        return Caller(actor=principal.actor if principal else None, reason=x_reason(request))

    async def gate(self, request: Request) -> None:
        """The identity check of ``request`` by its method, before it reaches a route: a read
        (GET, HEAD, OPTIONS) needs a token, anything else what :meth:`writer` asks."""
        if request.method in SAFE_METHODS:
            await self.reader(request)
        else:
            await self.writer(request)

    async def manager(self) -> AsyncIterator[ArtifactManager]:
        """An :class:`ArtifactManager` on a fresh session, closed after the response."""
        async with self.ledger.sessions() as session:
            yield ArtifactManager(self.ledger.repository(session), hierarchy=self.hierarchy)


def x_reason(request: Request) -> str | None:
    """The ``X-Reason`` header as UTF-8 text (None without one, or empty).

    HTTP hands header bytes over as Latin-1, so ``café`` sent as UTF-8 would be recorded as
    ``cafÃ©``: the bytes are read again as UTF-8, and bytes that are not UTF-8 are a 400."""
    raw = request.headers.get("x-reason")
    if not raw:
        return None
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise Problem(
            400,
            "the X-Reason header is not UTF-8: send the reason's UTF-8 bytes (or percent-free ASCII)",
            kind="bad-encoding",
        ) from None


# ---- parameters ---------------------------------------------------------------------------------
def parse_ulid(value: str, what: str = "artifact id") -> ULID:
    """A path id: 400 when it is not a ULID (an unknown one is the route's 404)."""
    if ULID_PATTERN.fullmatch(value) is None:
        raise Problem(
            400,
            f"{what} {value[:64]!r} is not a ULID (26 Crockford base32 characters, the first 0-7)",
            kind="malformed-id",
        )
    return ULID.from_str(value.upper())


async def artifact_id(entity_id: Annotated[str, Path(description="the artifact's ULID")]) -> ULID:
    return parse_ulid(entity_id)


def parse_instant(value: str, what: str) -> datetime:
    """An ISO 8601 instant; without a zone it means UTC. 400 when it is not one."""
    try:
        instant = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Problem(
            400, f"{what} {value[:64]!r} is not an ISO 8601 time (e.g. 2026-11-26T09:00:00Z)", kind="bad-time"
        ) from None
    try:
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
    except OverflowError:
        raise Problem(
            400, f"{what} {value[:64]!r} is outside the range of representable times", kind="bad-time"
        ) from None


async def as_of_param(
    as_of: Annotated[
        str | None, Query(description="ISO 8601 instant: the state as it was then (no zone means UTC)")
    ] = None,
) -> datetime | None:
    return None if as_of is None else parse_instant(as_of, "as_of")


async def if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The version an ``If-Match: "<version>"`` names (``*``: any version, like no header); 400 if malformed."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        text = text[1:-1]
    version = whole_number(text, 1, MAX_VERSION)  # ASCII digits: str.isdigit() takes '²', which int() refuses
    if version is None:
        raise Problem(
            400, f'If-Match must be one version as an entity tag, e.g. "3" (got {if_match[:40]!r})', kind="bad-if-match"
        )
    return version


ContentType = Annotated[str | None, Header(alias="Content-Type", include_in_schema=False)]
"""The request's Content-Type (left out of the OpenAPI schema: the request body's media type says it)."""


async def json_body(content_type: ContentType = None) -> None:
    """Routes with a JSON body: 415 for any other content type (a form, text, none at all)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        shown = f"{content_type[:60]!r}" if content_type else "none"
        raise Problem(
            415, f"the body must be JSON, sent as Content-Type: application/json (got {shown})", kind="not-json"
        )


JSON_BODY: Final = [Depends(json_body)]

MERGE_PATCH: Final = "application/merge-patch+json"


async def merge_patch_body(content_type: ContentType = None) -> None:
    """``PATCH``: 415 for anything but ``application/merge-patch+json`` (``Accept-Patch`` says so)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != MERGE_PATCH:
        shown = f"{content_type[:60]!r}" if content_type else "none"
        raise Problem(
            415,
            f"PATCH takes an RFC 7396 merge patch sent as Content-Type: {MERGE_PATCH} (got {shown})",
            kind="not-merge-patch",
            headers={"Accept-Patch": MERGE_PATCH},
        )


MERGE_PATCH_BODY: Final = [Depends(merge_patch_body)]


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


Id = Annotated[ULID, Depends(artifact_id)]
AsOf = Annotated[datetime | None, Depends(as_of_param)]
IfMatch = Annotated[int | None, Depends(if_match)]
