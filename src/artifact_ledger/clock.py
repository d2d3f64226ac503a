"""The injectable UTC clock: every timestamp the ledger records comes from one of these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A zero-argument callable returning a timezone-aware UTC datetime."""


def system_clock() -> datetime:
    """Now, in UTC, with microseconds."""
    return datetime.now(UTC)


class FixedClock:
    """A clock for tests: starts at ``start`` and advances by ``step`` on every call."""

    def __init__(self, start: datetime, step: timedelta = timedelta(microseconds=1)) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start datetime")
        self._now = start.astimezone(UTC)
        self._step = step

    def __call__(self) -> datetime:
        now = self._now
        self._now = now + self._step
        return now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward without returning a reading."""
        self._now += delta


def ensure_utc(value: datetime, *, what: str = "datetime") -> datetime:
    """Return ``value`` in UTC; a naive datetime is refused (we never guess a time zone)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(
            f"{what} {value.isoformat()} is naive; pass a timezone-aware datetime "
            "(for example datetime(..., tzinfo=UTC))"
        )
    return value.astimezone(UTC)
