"""The argparse types of the options several commands share: versions and ages.

Each refuses a value out of its range while the arguments are parsed (a usage error, exit 2,
naming the option and the value), before any database is opened and before anything is signed.
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

from ..arguments import MAX_POSITION, MAX_VERSION, whole_number

__all__ = ["MAX_AGE", "count", "duration", "signed_whole", "version"]

MAX_AGE = timedelta(days=36_500)
"""The longest age ``--keep-newer-than`` and ``--temporaries-older-than`` take: 100 years (36500d), past any
retention policy; an age without a bound could reach back before the first date a ``datetime`` holds."""

_DURATION = re.compile(r"\A([0-9]+)([smhdw])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def version(text: str) -> int:
    """A version number (``--version``, ``--expected-version``, ``diff``'s versions): a whole number from 0
    to the largest version a ledger stores (0 names no version: not found, as any version the artifact never had)."""
    value = signed_whole(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a version number: {text!r} (a whole number, 1 or more)")
    if not 0 <= value <= MAX_VERSION:
        raise argparse.ArgumentTypeError(f"not a version number: {text!r} (versions run from 1 to {MAX_VERSION:,})")
    return value


def signed_whole(text: str) -> int | None:
    """``text`` as a whole number in plain ASCII digits (a leading ``-`` allowed, so that the option's
    own range can name it), or None: ``int()`` also reads ``1_0`` as 10, ``+1`` and ``١`` as 1."""
    return whole_number(text.strip(), -MAX_POSITION, MAX_POSITION)


def count(text: str) -> int:
    """A whole number of 0 or more in plain ASCII digits (``--level``, ``--depth``, ``--keep-last``; the
    command checks the upper bound)."""
    value = whole_number(text.strip(), 0, MAX_POSITION)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a whole number of 0 or more: {text!r} (ASCII digits only)")
    return value


def duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``: a non-negative whole number and a unit, at most :data:`MAX_AGE`."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30d, 12h, 90m, 2w or 45s (not negative)")
    count, unit = int(match.group(1)), match.group(2)
    if count * _UNIT_SECONDS[unit] > MAX_AGE.total_seconds():
        raise argparse.ArgumentTypeError(
            f"{text!r} is too long: a duration is at most {MAX_AGE.days}d (100 years, or "
            f"{MAX_AGE.days // 7}w, {MAX_AGE.days * 24}h)"
        )
    return timedelta(**{_UNITS[unit]: count})
