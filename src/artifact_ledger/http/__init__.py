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

from importlib.util import find_spec

from ..errors import MissingExtraError

_NEEDED = ("fastapi", "starlette", "uvicorn")
_missing = [name for name in _NEEDED if find_spec(name) is None]
if _missing:
    raise MissingExtraError(
        f"the HTTP API needs {', '.join(_missing)}, which are not installed: pip install 'artifact-ledger[server]'"
    )

from .app import PREFIX, artifact_router, create_app  # noqa: E402
from .auth import Principal, TokenAuth  # noqa: E402
from .limits import DEFAULT_MAX_BODY, BodyLimit  # noqa: E402
from .service import Service  # noqa: E402

__all__ = [
    "DEFAULT_MAX_BODY",
    "PREFIX",
    "BodyLimit",
    "Principal",
    "Service",
    "TokenAuth",
    "artifact_router",
    "create_app",
]
