"""Aliases: named pointers at an artifact version (``production``, ``staging``), as events.

Pure rules, no I/O, in the manner of ``decide.py``: the caller loads the alias's state and the
target artifact under the write lock and passes them in; these functions say yes (with the
events to append) or no (a specific error naming the alias, the ids and the versions).

Every alias has an event stream of its own (a ULID made when the name is first set): its
events carry the alias's whole state, so the alias at any log position is the payload of its
stream's last event at or before it, and the projection row is the payload of the last one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import AliasNotFoundError, AliasProtectedError, ConcurrencyError, InvalidAliasNameError
from .events import ALIAS_PROTECTED, ALIAS_REMOVED, ALIAS_SET, NewEvent

__all__ = [
    "MAX_ALIAS_LENGTH",
    "RESERVED_ALIASES",
    "AliasState",
    "alias_payload",
    "checked_alias_name",
    "decide_protect",
    "decide_remove",
    "decide_set",
    "state_from_payload",
]

MAX_ALIAS_LENGTH = 200
RESERVED_ALIASES = frozenset({"latest"})
"""Names that mean something else where aliases are read (``latest``: an artifact's current version)."""
_CONTROL = frozenset(("Cc", "Cs", "Cf", "Zl", "Zp"))
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")


def checked_alias_name(name: Any) -> str:
    """``name`` if the ledger accepts it as an alias name, else :class:`InvalidAliasNameError`."""
    if not isinstance(name, str):
        raise InvalidAliasNameError(f"an alias name must be a str, not {type(name).__name__}")
    if not name or not name.strip():
        raise InvalidAliasNameError("an alias name must not be empty or only whitespace")
    if len(name) > MAX_ALIAS_LENGTH:
        raise InvalidAliasNameError(f"alias name {name[:40]!r}… is {len(name)} characters; at most {MAX_ALIAS_LENGTH}")
    if name != name.strip():
        raise InvalidAliasNameError(f"alias name {name!r} has leading or trailing whitespace")
    # str.isprintable() is False for every character of these categories (and for other spaces
    # and unassigned ones): most names never need the per-character look-up.
    bad = None if name.isprintable() else next((c for c in name if unicodedata.category(c) in _CONTROL), None)
    if bad is not None:
        raise InvalidAliasNameError(f"alias name {name!r} holds the control character U+{ord(bad):04X}")
    if name in RESERVED_ALIASES or name.startswith("$") or _ULID.match(name):
        raise InvalidAliasNameError(
            f"alias name {name!r} is reserved (``latest``, names starting with '$' and names that read as an "
            "artifact id are)"
        )
    return name


@dataclass(frozen=True, slots=True)
class AliasState:
    """An alias as its stream's last event left it (``artifact_id`` None: removed)."""

    name: str
    stream_id: str
    stream_version: int
    artifact_id: str | None
    version: int | None
    protected: bool
    position: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


def alias_payload(
    name: str,
    artifact_id: str | None,
    version: int | None,
    protected: bool,
    previous: AliasState | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "artifact_id": artifact_id,
        "version": version,
        "protected": protected,
        "from_artifact_id": previous.artifact_id if previous else None,
        "from_version": previous.version if previous else None,
    }


def state_from_payload(stream_id: str, stream_version: int, payload: dict[str, Any]) -> AliasState:
    return AliasState(
        payload["name"],
        stream_id,
        stream_version,
        payload["artifact_id"],
        payload["version"],
        bool(payload["protected"]),
    )


def _target(state: AliasState | None) -> str:
    if state is None or state.artifact_id is None:
        return "nothing"
    return f"{state.artifact_id} version {state.version}"


def _needs_reason(state: AliasState | None, reason: str | None, what: str) -> None:
    if state is not None and state.protected and state.artifact_id is not None and not reason:
        raise AliasProtectedError(
            f"alias {state.name!r} is protected (it points at {_target(state)}): {what} it needs a reason "
            "(reason=... or ledger.context(reason=...))"
        )


def _expected(state: AliasState | None, name: str, expected_target: tuple[str, int | None] | None) -> None:
    if expected_target is None:
        return
    want_id, want_version = expected_target
    actual_id = state.artifact_id if state else None
    actual_version = state.version if state else None
    if actual_id != want_id or (want_version is not None and actual_version != want_version):
        wanted = want_id if want_version is None else f"{want_id} version {want_version}"
        raise ConcurrencyError(
            f"alias {name!r} points at {_target(state)}, not at {wanted} as expected: another writer moved it; "
            "read it again and retry",
            artifact_id=actual_id,
            expected=want_version,
            actual=actual_version,
        )


def decide_set(
    name: str,
    state: AliasState | None,
    new_stream_id: str,
    artifact_id: str,
    version: int,
    *,
    expected_target: tuple[str, int | None] | None,
    reason: str | None,
) -> list[NewEvent]:
    """Point ``name`` at ``artifact_id`` ``version`` (the caller checked the artifact has that version).

    Protection ends with the alias: a removed alias (``remove_alias``, or a cascade delete of its
    artifact) is set again without a reason, and unprotected, whatever it was when removed.
    """
    _expected(state, name, expected_target)
    if state is not None and state.artifact_id == artifact_id and state.version == version:
        return []  # already there: a no-op appends nothing
    _needs_reason(state, reason, "moving")
    protected = state is not None and state.artifact_id is not None and state.protected
    stream = state.stream_id if state else new_stream_id
    next_version = state.stream_version + 1 if state else 1
    return [NewEvent(stream, next_version, ALIAS_SET, alias_payload(name, artifact_id, version, protected, state))]


def decide_remove(
    name: str,
    state: AliasState | None,
    *,
    expected_target: tuple[str, int | None] | None = None,
    reason: str | None,
    cascade: bool = False,
) -> list[NewEvent]:
    """Remove ``name``; an alias that does not exist is :class:`AliasNotFoundError`."""
    if state is None or state.artifact_id is None:
        raise AliasNotFoundError(f"no alias named {name!r}")
    _expected(state, name, expected_target)
    if not cascade:
        _needs_reason(state, reason, "removing")
    payload = alias_payload(name, None, None, state.protected, state)
    return [NewEvent(state.stream_id, state.stream_version + 1, ALIAS_REMOVED, payload)]


def decide_protect(name: str, state: AliasState | None, protected: bool, *, reason: str | None) -> list[NewEvent]:
    """Protect ``name`` (or, with ``protected=False``, lift the protection: that needs a reason)."""
    if state is None or state.artifact_id is None:
        raise AliasNotFoundError(f"no alias named {name!r}")
    if state.protected == protected:
        return []
    if not protected:
        _needs_reason(state, reason, "unprotecting")
    payload = alias_payload(name, state.artifact_id, state.version, protected, state)
    return [NewEvent(state.stream_id, state.stream_version + 1, ALIAS_PROTECTED, payload)]
