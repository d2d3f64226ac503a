"""Ambient attribution: who is writing and why, carried across awaits by a context variable."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import replace

from .errors import InvalidAttributionError
from .events import Attribution

MAX_ID_LENGTH = 255
"""Longest actor, correlation id or causation id (their columns are VARCHAR(255))."""
MAX_REASON_LENGTH = 10_000


def _check(name: str, value: object, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidAttributionError(f"{name} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidAttributionError(f"{name} is {len(value)} characters long; the most is {limit}")
    if "\x00" in value:
        raise InvalidAttributionError(f"{name} {value[:40]!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidAttributionError(f"{name} {value[:40]!r} is not valid Unicode text ({exc.reason})") from None


def validate(who: Attribution) -> Attribution:
    """``who``, if the log can record it; else :class:`InvalidAttributionError` naming the field."""
    _check("actor", who.actor, MAX_ID_LENGTH)
    _check("reason", who.reason, MAX_REASON_LENGTH)
    _check("correlation_id", who.correlation_id, MAX_ID_LENGTH)
    _check("causation_id", who.causation_id, MAX_ID_LENGTH)
    return who


_current: ContextVar[Attribution] = ContextVar("artifact_ledger_attribution", default=Attribution())  # noqa: B039  # frozen dataclass: immutable


class attribution:  # used like a function: `with attribution(actor=...)`
    """Every write inside this block is attributed to ``actor`` (with ``reason`` …) unless a call says otherwise.

    Use it with ``with`` or ``async with``. Nested blocks inherit what they do not
    set. Works across ``await`` and in tasks created inside the block (context
    variables are copied into them).
    """

    def __init__(
        self,
        *,
        actor: str | None = None,
        reason: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> None:
        self._values = (actor, reason, correlation_id, causation_id)
        self._tokens: list[Token[Attribution]] = []

    def __enter__(self) -> Attribution:
        actor, reason, correlation_id, causation_id = self._values
        outer = _current.get()
        inner = Attribution(
            actor=actor if actor is not None else outer.actor,
            reason=reason if reason is not None else outer.reason,
            correlation_id=correlation_id if correlation_id is not None else outer.correlation_id,
            causation_id=causation_id if causation_id is not None else outer.causation_id,
        )
        self._tokens.append(_current.set(validate(inner)))
        return inner

    def __exit__(self, *_: object) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> Attribution:
        return self.__enter__()

    async def __aexit__(self, *_: object) -> None:
        self.__exit__()


def current(*, actor: str | None = None, reason: str | None = None) -> Attribution:
    """The ambient attribution, with explicit per-call values taking precedence."""
    ambient = _current.get()
    if actor is None and reason is None:
        return ambient
    return validate(
        replace(
            ambient,
            actor=actor if actor is not None else ambient.actor,
            reason=reason if reason is not None else ambient.reason,
        )
    )
