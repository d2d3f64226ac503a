"""Ambient attribution: who is writing and why, carried across awaits by a context variable.

Two levels of checking. :func:`validate` is what the log can record at all (a string, short enough
for its column, no NUL, encodable as UTF-8): recorded history is held to it, so a bundle exported
from an older ledger imports. :func:`checked` is what a new write may be attributed to, on top of
that: an actor, correlation id or causation id is an identifier (not empty, no surrounding
whitespace, no control, format or line-separator characters, Unicode normal form NFC, so the same
name always has the same code points and ``audit(actor=...)`` finds it); a reason is free text but
neither empty nor holding control characters other than tab, line feed and carriage return (which
could rewrite a terminal or forge a log line).
"""

from __future__ import annotations

import unicodedata
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


_TEXT_CONTROLS = frozenset("\t\n\r")
"""The control characters a reason may hold: tab and line breaks."""
_REFUSED_IN_IDENTIFIERS = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Control and format characters (bidirectional overrides, zero-width characters) and line or
paragraph separators: invisible, or rewriting how a name is shown."""


def _refused_character(value: str, *, identifier: bool) -> str | None:
    """The first character of ``value`` a new write may not be attributed with, or None."""
    allowed = value if identifier else value.replace("\t", "").replace("\n", "").replace("\r", "")
    if allowed.isprintable():  # no character of categories C* or Z* but the space: nothing to look for
        return None
    for char in value:
        category = unicodedata.category(char)
        if identifier and category in _REFUSED_IN_IDENTIFIERS:
            return char
        if not identifier and category == "Cc" and char not in _TEXT_CONTROLS:
            return char
    return None


def _shown(char: str) -> str:
    """``U+001B`` with the character's Unicode name when it has one."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def check_identifier(name: str, value: object) -> None:
    """An actor, correlation id or causation id a new write may carry; else :class:`InvalidAttributionError`."""
    _check(name, value, MAX_ID_LENGTH)
    if value is None:
        return
    assert isinstance(value, str)  # _check refused anything else
    if not value.strip():
        raise InvalidAttributionError(f"{name} {value!r:.40} is empty; leave it out (None) to record none")
    if value != value.strip():
        raise InvalidAttributionError(f"{name} {value!r:.60} has white space around it; give {value.strip()!r:.60}")
    bad = _refused_character(value, identifier=True)
    if bad is not None:
        raise InvalidAttributionError(
            f"{name} {value!r:.60} holds {_shown(bad)}, a control or invisible character; "
            "give a visible name without it"
        )
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return
    nfc = unicodedata.normalize("NFC", value)
    if nfc != value:
        raise InvalidAttributionError(
            f"{name} {value!a:.60} is not in Unicode normal form NFC; give {nfc!a:.60} "
            "(the same text with its characters composed)"
        )


def _check_reason(value: object) -> None:
    _check("reason", value, MAX_REASON_LENGTH)
    if value is None:
        return
    assert isinstance(value, str)
    if not value.strip():
        raise InvalidAttributionError(f"reason {value!r:.40} is empty; leave it out (None) to record none")
    bad = _refused_character(value, identifier=False)
    if bad is not None:
        raise InvalidAttributionError(
            f"reason {value!r:.60} holds {_shown(bad)}, a control character; "
            "a reason is text (tabs and line breaks allowed)"
        )


def checked(who: Attribution) -> Attribution:
    """``who``, if a new write may be attributed to it (stricter than :func:`validate`); else
    :class:`InvalidAttributionError` naming the field and the character or problem."""
    check_identifier("actor", who.actor)
    _check_reason(who.reason)
    check_identifier("correlation_id", who.correlation_id)
    check_identifier("causation_id", who.causation_id)
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
        self._tokens.append(_current.set(checked(inner)))
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
    return checked(
        replace(
            ambient,
            actor=actor if actor is not None else ambient.actor,
            reason=reason if reason is not None else ambient.reason,
        )
    )
