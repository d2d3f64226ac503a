"""The per-namespace prefix of the HTTP API: ``/ns/{name}/...`` serves namespace ``name``.

:func:`~artifact_ledger.http.create_app` mounts :class:`NamespaceApps` at ``/ns``. A request
under ``/ns/{name}`` goes to an app of its own for that namespace, built with the same options
(auth, read-only, limits) over ``Ledger.open(base, namespace=name, create=False)``, so every
route of the API exists under the prefix unchanged (the console does not: its links are
absolute paths; ``artifact-ledger serve --namespace NAME`` serves a namespace's console):
``/ns/team-a/api/v1/artifacts/{id}`` is ``/api/v1/artifacts/{id}`` of namespace ``team-a``.

With tokens configured, a request under ``/ns`` is authenticated before its namespace is looked
up (401 without a known token, 403 for a read token writing, whatever the name), so a client
without a token cannot learn which namespaces exist. The server never creates a namespace: a
name that is not one of the database's namespaces is 404 (and nothing is created; the detail
names the namespace only, never where the database is), a name that breaks the naming rule 400. A namespace's ledger is
opened on its first request and stays open until the app shuts down. ``GET /ns`` lists the
namespaces (readers only, like every read).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import LedgerNotFoundError
from ..keys import KeyFileKeyring
from ..ledger import Ledger
from ..namespaces import DEFAULT, check_name
from ..store.blobs import store_of
from .problems import Problem
from .service import LedgerSource

__all__ = ["NAMESPACE_PREFIX", "NamespaceApps"]

NAMESPACE_PREFIX: Final = "/ns"

BuildApp = Callable[[Ledger], ASGIApp]
"""Makes the app of one namespace's ledger (``create_app`` with the server's options)."""

Guard = Callable[[Request], Awaitable[None]]
"""The identity check of a request (raises the 401 or 403 :class:`Problem`), run before the namespace is looked up."""


def _blob_location(ledger: Ledger) -> str | None:
    """The ``blobs=`` URL the served ledger was opened with (None: blobs in the database)."""
    location = store_of(ledger.engine).location
    if location == "database":
        return None
    suffix = f".namespaces/{ledger.namespace}"
    if ledger.namespace != DEFAULT and location.endswith(suffix):
        location = location[: -len(suffix)]
    return "file://" + os.path.abspath(location)


class NamespaceApps:
    """An ASGI app routing ``/{name}/rest`` to the app of namespace ``name`` (see the module)."""

    def __init__(self, source: LedgerSource, build: BuildApp, *, guard: Guard | None = None) -> None:
        self._source = source
        self._build = build
        self._guard = guard
        self._apps: dict[str, ASGIApp] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    def _served(self) -> Ledger:
        return self._source if isinstance(self._source, Ledger) else self._source()

    async def _open(self, name: str) -> ASGIApp:
        app = self._apps.get(name)
        if app is not None:
            return app
        async with self._lock:
            app = self._apps.get(name)
            if app is not None:
                return app
            served = self._served()
            # A keyring of a secret (argument or environment) serves every namespace, as
            # Ledger.open would give it; a key file is found by each namespace's own ledger id.
            secret = None if isinstance(served.keyring, KeyFileKeyring) else served.keyring
            if name == served.namespace:
                ledger = served
            else:
                ledger = await self._stack.enter_async_context(
                    Ledger.open(
                        served._base,  # the database the served ledger lives in
                        namespace=name,
                        create=False,
                        secret=secret,
                        blobs=_blob_location(served),
                    )
                )
            app = self._apps[name] = self._build(ledger)
            return app

    async def names(self) -> list[str]:
        """The database's namespaces, ``default`` first."""
        return await self._served().namespaces()

    async def aclose(self) -> None:
        """Close the namespaces' ledgers opened so far (at the app's shutdown)."""
        self._apps.clear()
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._guard is not None and scope["type"] == "http":
            await self._guard(Request(scope))  # before anything about the name is told
        # The path below the mount: Starlette keeps the full path and moves the prefix to root_path.
        full, root = str(scope["path"]), str(scope.get("root_path", ""))
        path = full[len(root) :] if root and full.startswith(root) else full
        name, slash, _ = path.removeprefix("/").partition("/")
        if not slash:
            raise Problem(404, f"no route {NAMESPACE_PREFIX}{path}: use {NAMESPACE_PREFIX}/NAME/api/v1/artifacts/...")
        check_name(name)  # InvalidArgumentError (400) naming the rule
        try:
            app = await self._open(name)
        except LedgerNotFoundError:
            raise _unknown(name) from None
        child: dict[str, Any] = dict(scope)
        child["root_path"] = scope.get("root_path", "") + "/" + name
        await app(child, receive, send)


def _unknown(name: str) -> Problem:
    """The 404 of a namespace the database does not hold; the library's message names the database, this does not."""
    return Problem(
        404,
        f"no namespace {name!r}; nothing was created (GET {NAMESPACE_PREFIX} lists the namespaces)",
        kind="namespace-not-found",
        namespace=name,
    )
