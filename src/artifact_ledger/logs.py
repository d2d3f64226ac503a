"""Logging and tracing: the ``artifact_ledger.*`` loggers and optional OpenTelemetry spans.

The library never configures logging: the package logger carries a ``NullHandler``, so
nothing is printed unless the application sets logging up (``logging.basicConfig`` or the
CLI's ``-v``). Loggers:

- ``artifact_ledger.writes``: one DEBUG line per committed write (the command, the artifact,
  its version and the log position); a WARNING for a write refused because a projection row
  disagrees with the log (``ProjectionDriftError``), for a write that gave up waiting for the
  write lock (``LockTimeoutError``), and for a write that took longer than
  :data:`SLOW_WRITE_SECONDS` (usually time spent waiting for another writer's lock).
- ``artifact_ledger.http``: the HTTP API's unexpected errors.

Spans: when ``opentelemetry-api`` is importable *and* the application has installed a tracer
provider, writes, reads and verify run inside spans named ``artifact_ledger.<operation>``
(tracer ``artifact_ledger``). Without either, :func:`span` is a no-op that costs one check.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from .errors import LockTimeoutError, ProjectionDriftError

if TYPE_CHECKING:
    from .writer import WriteBatch

__all__ = ["SLOW_WRITE_SECONDS", "committed", "configure", "refused", "span", "write_log"]

package_log = logging.getLogger("artifact_ledger")
package_log.addHandler(logging.NullHandler())

write_log = logging.getLogger("artifact_ledger.writes")

SLOW_WRITE_SECONDS = 1.0
"""A write that takes longer than this (lock wait included) is logged as a WARNING."""

_trace: Any
try:  # optional: spans only when opentelemetry-api is installed
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - the dev extra installs it
    _trace = None


def _tracer() -> Any:
    """The ``artifact_ledger`` tracer when an application installed a tracer provider, else None."""
    if _trace is None:
        return None
    provider = _trace.get_tracer_provider()
    if isinstance(provider, _trace.ProxyTracerProvider | _trace.NoOpTracerProvider):
        return None  # nobody listens: skip the span machinery on the hot path
    return provider.get_tracer("artifact_ledger")


def span(name: str, **attributes: str | int | bool) -> AbstractContextManager[Any]:
    """A span ``artifact_ledger.<name>`` around the block (a no-op without OpenTelemetry)."""
    tracer = _tracer()
    if tracer is None:
        return nullcontext()
    manager: AbstractContextManager[Any] = tracer.start_as_current_span(
        f"artifact_ledger.{name}", attributes=attributes
    )
    return manager


def command_name(action: object) -> str:
    """The manager method a command action belongs to: ``Commands.save.<locals>.action`` -> ``save``."""
    parts = getattr(action, "__qualname__", "").split(".")
    # a public method's private body (``save_all`` -> ``_save_all``) is named for the method
    return parts[1].lstrip("_") if len(parts) > 2 and parts[0] == "Commands" else "write"


def committed(command: str, batch: WriteBatch, result: object, started: float) -> None:
    """Log one committed write: DEBUG always, WARNING as well when it was slow."""
    elapsed = time.perf_counter() - started
    if elapsed >= SLOW_WRITE_SECONDS:
        write_log.warning(
            "slow write: %s took %.2f s to commit (another writer holding the write lock?)", command, elapsed
        )
    if not write_log.isEnabledFor(logging.DEBUG):
        return
    position = batch.head.position if batch.head is not None else 0
    events = batch.appended
    first = position - events + 1
    artifact = getattr(result, "id", None)
    touched = sorted(batch.touched)
    if artifact is None and len(touched) == 1:
        artifact = touched[0]
    if artifact is not None and events <= 1:
        version = batch.versions.get(str(artifact), getattr(result, "version", None))
        if events == 0:
            write_log.debug("%s: artifact %s unchanged at version %s (nothing appended)", command, artifact, version)
        else:
            write_log.debug("%s: artifact %s version %s at position %d", command, artifact, version, position)
        return
    if events == 0:
        write_log.debug("%s: nothing appended", command)
        return
    shown = ", ".join(f"{aid} v{batch.versions.get(aid)}" for aid in touched[:5])
    more = f" and {len(touched) - 5} more" if len(touched) > 5 else ""
    write_log.debug(
        "%s: %d events to %d artifacts (%s%s) at positions %d-%d",
        command,
        events,
        len(touched),
        shown,
        more,
        first,
        position,
    )


def refused(command: str, exc: BaseException) -> None:
    """Warn about a write the ledger refused for a reason an operator must look at."""
    if isinstance(exc, ProjectionDriftError):
        write_log.warning("%s refused: projection drift: %s", command, exc)
    elif isinstance(exc, LockTimeoutError):
        write_log.warning("%s gave up waiting for the write lock: %s", command, exc)


def configure(level: int = logging.DEBUG) -> logging.Handler:
    """Send ``artifact_ledger.*`` records at ``level`` and above to stderr (what the CLI's ``-v`` does).

    Returns the handler it added, so a caller can remove it again.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_log.addHandler(handler)
    package_log.setLevel(level)
    return handler
