"""The web console at ``/``: server-rendered pages (Jinja2) with a little plain JavaScript.

``create_app`` includes :func:`console_router`; everything it shows comes from the app itself
(templates and static files of this package, no build step, nothing fetched from elsewhere).
Pages: the artifact tree (now or as of an instant), an artifact (data, content preview,
download, history, diff between two versions, aliases, a lineage picture), the aliases and
each alias's history, the audit trail and the verify report.
See docs/console.md.
"""

from __future__ import annotations

from .routes import console_router

__all__ = ["console_router"]
