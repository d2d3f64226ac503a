"""The HTTP API (extra ``[server]``): chapkit's artifact routes plus the ledger's, over FastAPI.

``create_app(ledger_or_url, *, hierarchy=None, read_only=False, auth=None)`` builds a whole app;
``artifact_router(ledger, ...)`` gives the routes to mount into an app of your own. The layer is
thin: every route is a call or two into :class:`~artifact_ledger.ArtifactManager` or
:class:`~artifact_ledger.Ledger`. See docs/http.md.

The web console lives in ``artifact_ledger.http.console``: when that package exposes
``console_router`` (an ``APIRouter``, or a function of the app's :class:`Service` returning one),
``create_app`` includes it.
"""

from __future__ import annotations

from ..errors import MissingExtraError

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as _exc:
    raise MissingExtraError(
        f"the HTTP API needs {_exc.name or 'fastapi and uvicorn'}, which is not installed: "
        "pip install 'artifact-ledger[server]'"
    ) from _exc

from .app import PREFIX, artifact_router, create_app
from .auth import Principal, TokenAuth
from .head import HeadAsGet
from .limits import DEFAULT_MAX_BODY, BodyLimit
from .service import Service
from .strictjson import DEFAULT_MAX_JSON_VALUES

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_JSON_VALUES",
    "PREFIX",
    "BodyLimit",
    "HeadAsGet",
    "Principal",
    "Service",
    "TokenAuth",
    "artifact_router",
    "create_app",
]
