"""Ambient attribution: who is writing and why, carried across awaits by a context variable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace

from .events import Attribution

_current: ContextVar[Attribution] = ContextVar("artifact_ledger_attribution", default=Attribution())  # noqa: B039  # frozen dataclass: immutable


@contextmanager
def attribution(
    *,
    actor: str | None = None,
    reason: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Iterator[Attribution]:
    """Every write inside this block is attributed to ``actor`` (with ``reason`` …) unless a call says otherwise.

    Nested blocks inherit what they do not set. Works across ``await`` and in
    tasks created inside the block (context variables are copied into them).
    """
    outer = _current.get()
    inner = Attribution(
        actor=actor if actor is not None else outer.actor,
        reason=reason if reason is not None else outer.reason,
        correlation_id=correlation_id if correlation_id is not None else outer.correlation_id,
        causation_id=causation_id if causation_id is not None else outer.causation_id,
    )
    token = _current.set(inner)
    try:
        yield inner
    finally:
        _current.reset(token)


def current(*, actor: str | None = None, reason: str | None = None) -> Attribution:
    """The ambient attribution, with explicit per-call values taking precedence."""
    ambient = _current.get()
    if actor is None and reason is None:
        return ambient
    return replace(
        ambient,
        actor=actor if actor is not None else ambient.actor,
        reason=reason if reason is not None else ambient.reason,
    )
