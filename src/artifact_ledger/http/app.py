"""``create_app`` (a whole FastAPI app) and ``artifact_router`` (to mount into an app of your own)."""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from .. import __version__
from ..errors import LedgerUnavailableError
from ..ledger import Ledger
from ..schemas import ArtifactHierarchy
from . import problems
from .auth import TokenAuth
from .head import HeadAsGet
from .limits import DEFAULT_MAX_BODY, BodyLimit
from .namespaced import NAMESPACE_PREFIX, NamespaceApps
from .problems import ProblemRoute
from .routes import artifacts, history, log, proofs, provenance, redaction
from .service import LedgerSource, Service
from .strictjson import DEFAULT_MAX_JSON_VALUES

PREFIX = "/api/v1/artifacts"


def alias_prefix_for(prefix: str) -> str:
    """Where the alias routes go beside artifact routes under ``prefix``: ``/api/v1/artifacts`` ->
    ``/api/v1/aliases``; a prefix not ending in ``/artifacts`` gets them under ``{prefix}/$aliases``."""
    head, _, last = prefix.rpartition("/")
    return f"{head}/aliases" if last == "artifacts" else f"{prefix}/$aliases"


def build_router(
    service: Service, *, prefix: str = PREFIX, tags: list[str] | None = None, alias_prefix: str | None = None
) -> APIRouter:
    """The routes of ``service``: the artifacts' under ``prefix``, the aliases' under ``alias_prefix``
    (default :func:`alias_prefix_for`); errors come back as problem+json wherever it is mounted."""
    route_class = ProblemRoute.limited(service.max_body, service.locations, service.max_json_values)
    responses = problems.documented_responses()
    artifact_routes = APIRouter(
        prefix=prefix, tags=list(tags or ["artifacts"]), route_class=route_class, responses=responses
    )
    log.register(artifact_routes, service)  # /$audit, /$verify, /$events before /{entity_id} matches them
    proofs.register(artifact_routes, service)  # /$checkpoint, /$proof/... likewise
    artifacts.register(artifact_routes, service)
    history.register(artifact_routes, service)
    provenance.register_lineage(artifact_routes, service)
    redaction.register(artifact_routes, service)
    alias_routes = APIRouter(
        prefix=alias_prefix or alias_prefix_for(prefix), tags=["aliases"], route_class=route_class, responses=responses
    )
    provenance.register_aliases(alias_routes, service, prefix)
    router = APIRouter()
    router.include_router(alias_routes)  # first: {prefix}/$aliases must not be taken for an artifact id
    router.include_router(artifact_routes)
    return router


def artifact_router(
    ledger: LedgerSource,
    *,
    hierarchy: ArtifactHierarchy | None = None,
    read_only: bool = False,
    auth: TokenAuth | None = None,
    prefix: str = PREFIX,
    tags: list[str] | None = None,
    poll_interval: float = 0.5,
    max_body: int = DEFAULT_MAX_BODY,
    max_content: int | None = None,
    alias_prefix: str | None = None,
    key_dir: str | os.PathLike[str] | None = None,
    max_json_values: int = DEFAULT_MAX_JSON_VALUES,
) -> APIRouter:
    """chapkit's artifact routes plus the ledger's, on ``ledger`` (or a function returning it).

    Mount it with ``app.include_router(artifact_router(ledger))``. Errors are problem+json without
    any handler of yours. Each route refuses a body over ``max_body`` bytes with 413 by itself
    (``PUT /{id}/$content`` one over ``max_content``, default ``max_body``), and a JSON body of
    more than ``max_json_values`` values with 413 before parsing it; the
    :class:`BodyLimit` middleware adds the byte limit for the rest of your app. The alias routes
    go under ``alias_prefix`` (default: ``/api/v1/aliases`` beside ``/api/v1/artifacts``; for
    another ``prefix``, ``{prefix}/$aliases``). ``key_dir``: where ``GET /$checkpoint`` finds the
    ledger's signing key (default: the key directory).
    """
    service = Service(
        ledger,
        hierarchy=hierarchy,
        read_only=read_only,
        auth=auth,
        poll_interval=poll_interval,
        max_body=max_body,
        max_content=max_content,
        key_dir=key_dir,
        max_json_values=max_json_values,
    )
    return build_router(service, prefix=prefix, tags=tags, alias_prefix=alias_prefix)


class _Opened:
    """The ledger ``create_app`` opens from a URL or engine at startup and closes at shutdown."""

    def __init__(self, source: str | URL | AsyncEngine) -> None:
        self.source = source
        self.ledger: Ledger | None = None

    def __call__(self) -> Ledger:
        if self.ledger is None:
            raise LedgerUnavailableError("the ledger is not open: the app has not started (or has shut down)")
        return self.ledger


def create_app(
    ledger_or_url: Ledger | str | URL | AsyncEngine,
    *,
    hierarchy: ArtifactHierarchy | None = None,
    read_only: bool = False,
    auth: TokenAuth | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    poll_interval: float = 0.5,
    console: bool = True,
    max_content: int | None = None,
    key_dir: str | os.PathLike[str] | None = None,
    checkpoints: str | os.PathLike[str] | None = None,
    checkpoint_keys: Sequence[str] = (),
    namespaces: bool = True,
    max_json_values: int = DEFAULT_MAX_JSON_VALUES,
) -> FastAPI:
    """A FastAPI app serving the ledger's API under ``/api/v1/artifacts`` (and the console, when installed).

    A :class:`Ledger` is used as it is (you close it); a URL or engine is opened at startup and closed
    at shutdown. ``auth``: bearer tokens (:class:`TokenAuth`); None serves everyone, so bind such an
    app to a loopback address only. ``read_only`` refuses every write with 405. ``max_body``: request
    bodies over this many bytes are refused with 413; ``max_content`` (default ``max_body``) is the
    limit of a content upload (``PUT /{id}/$content``). ``max_json_values``: JSON bodies of more
    values than this are refused with 413 before they are parsed (a small body of many tiny objects
    costs far more memory than its bytes). ``key_dir``: where ``GET /$checkpoint``
    finds the ledger's signing key, ``<ledger id>.ed25519`` (default: the key directory; the server
    never makes one). ``checkpoints``: a directory of checkpoint notes (``artifact-ledger checkpoint
    --to DIR``) the console's verify page checks the log against (the newest of this ledger), each
    note signed by one of ``checkpoint_keys`` (verifier keys) when any are given.
    ``namespaces``: also serve every namespace of the ledger's database under ``/ns/{name}/``
    (the same API routes, without the console, with the same options; see :mod:`artifact_ledger.http.namespaced`),
    and list them at ``GET /ns``.
    """
    opened: _Opened | None = None
    source: LedgerSource
    if isinstance(ledger_or_url, Ledger):
        source = ledger_or_url
    else:
        opened = _Opened(ledger_or_url)
        source = opened

    others: NamespaceApps | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if opened is None:
                yield
                return
            async with Ledger.open(opened.source) as ledger:
                opened.ledger = ledger
                try:
                    yield
                finally:
                    if others is not None:
                        await others.aclose()  # before the engine they share goes
                    opened.ledger = None
        finally:
            if others is not None:
                await others.aclose()

    app = FastAPI(
        title="artifact-ledger",
        version=__version__,
        description="Hierarchical artifacts in an append-only, hash-chained event log: chapkit's artifact "
        "API plus history, point-in-time reads, diffs, audit, verification and a live event feed.",
        lifespan=lifespan,
    )
    service = Service(
        source,
        hierarchy=hierarchy,
        read_only=read_only,
        auth=auth,
        poll_interval=poll_interval,
        max_body=max_body,
        max_content=max_content,
        key_dir=key_dir,
        checkpoints=checkpoints,
        checkpoint_keys=checkpoint_keys,
        max_json_values=max_json_values,
    )
    app.state.ledger_service = service
    problems.install(app, service.locations)
    # The app-wide backstop (unknown paths, the console); each API route has its own limit.
    app.add_middleware(BodyLimit, max_body=max(service.max_body, service.max_content))
    app.add_middleware(HeadAsGet)  # outermost: every GET route, the console's too, answers HEAD
    app.include_router(build_router(service))
    if console:
        _include_console(app, service)
    if namespaces:
        options: dict[str, Any] = {
            "hierarchy": hierarchy,
            "read_only": read_only,
            "auth": auth,
            "max_body": max_body,
            "poll_interval": poll_interval,
            # The console's pages link by absolute paths (/artifacts/...), which under /ns/{name}/
            # would lead to the default namespace's pages: serve a namespace's console with
            # `serve --namespace NAME` instead.
            "console": False,
            "max_content": max_content,
            "key_dir": key_dir,
            "checkpoints": checkpoints,
            "checkpoint_keys": checkpoint_keys,
            "namespaces": False,
            "max_json_values": max_json_values,
        }
        others = NamespaceApps(source, lambda ledger: create_app(ledger, **options), guard=service.gate)
        app.state.namespace_apps = others
        _include_namespaces(app, service, others)
    return app


def _include_namespaces(app: FastAPI, service: Service, others: NamespaceApps) -> None:
    """``GET /ns`` (the namespaces, for readers) and ``/ns/{name}/...`` (each namespace's app)."""
    route_class = ProblemRoute.limited(None, service.locations)
    router = APIRouter(route_class=route_class, responses=problems.documented_responses(), tags=["namespaces"])

    @router.get(
        NAMESPACE_PREFIX,
        summary="The namespaces of the ledger's database, default first",
        dependencies=[Depends(service.reader)],
    )
    async def list_namespaces() -> dict[str, list[str]]:
        return {"namespaces": await others.names()}

    app.include_router(router)
    app.mount(NAMESPACE_PREFIX, others)


def _include_console(app: FastAPI, service: Service) -> None:
    """The web console's hook: ``artifact_ledger.http.console.console_router``, when that package exists.

    ``console_router`` is an ``APIRouter``, or a function taking the app's :class:`Service` (the
    ledger, hierarchy, identity checks and event notifier) and returning one.
    """
    try:
        module: Any = importlib.import_module(f"{__package__}.console")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.console":
            raise
        return
    hook = getattr(module, "console_router", None)
    if hook is None:
        return
    router = hook if isinstance(hook, APIRouter) else hook(service)
    app.include_router(router)
