"""Retention: which versions keep their content, holds, and the events that record both. Pure, no I/O.

A policy keeps the content of the last ``keep_last`` data versions of every artifact, of the
versions an alias points at (``keep_aliased``), of versions saved after a cutoff
(``keep_newer_than``) and of every version of a held artifact. Content is content-addressed
and shared, so retention decides per content hash: a hash that a kept version references is
kept for every version that has it; every other version's content *expires*, and its blob
(with the chunks of content saved as a stream, unless a kept stream shares them) is deleted.

The caller folds the log into :class:`LogFacts` (under the write lock for a real run) and
passes it in; :func:`plan` says what expires, :func:`parts` cuts the record of it into bounded
``retention.applied`` payloads. Holds have a stream of their own per artifact, like aliases:
:func:`decide_hold` and :func:`decide_release` append to it or refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from .errors import HoldNotFoundError, InvalidArgumentError
from .events import ALIAS_EVENTS, HOLD_RELEASED, HOLD_SET, RETENTION_APPLIED, STATE_EVENTS, NewEvent

__all__ = [
    "PART_ITEMS",
    "ExpiredContent",
    "HoldState",
    "LogFacts",
    "RetentionPolicy",
    "RetentionReport",
    "decide_hold",
    "decide_release",
    "parts",
    "plan",
]

PART_ITEMS: Final = 1000
"""At most this many expired versions plus deleted blobs per ``retention.applied`` event (a run
that expires more appends several events, ``part`` 1 to ``parts``, in one transaction; a single
content's own blobs are never split, so one part may exceed this by the chunks of one stream)."""

MAX_REASON_LENGTH: Final = 10_000

MAX_KEEP_NEWER_THAN: Final = timedelta(days=365_000)
"""The longest ``keep_newer_than`` (about 1,000 years): a run's cutoff is its time minus it, and a
date before the year 1 cannot be represented."""


# ---- the policy ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """What keeps its content; everything else expires. At least one rule must be given.

    ``keep_last``: the last N data versions of each artifact (N >= 1; moves and deletions are
    not data versions). ``keep_aliased``: every version an alias points at. ``keep_newer_than``:
    versions saved less than this long before the run. Held artifacts keep all their content
    whatever the policy.
    """

    keep_last: int | None = None
    keep_aliased: bool = False
    keep_newer_than: timedelta | None = None

    def __post_init__(self) -> None:
        n = self.keep_last
        if n is not None and (type(n) is not int or n < 1):
            raise InvalidArgumentError(f"keep_last must be a whole number of versions, 1 or more, not {n!r:.40}")
        if type(self.keep_aliased) is not bool:
            raise InvalidArgumentError(f"keep_aliased must be True or False, not {self.keep_aliased!r:.40}")
        t = self.keep_newer_than
        if t is not None and (not isinstance(t, timedelta) or t < timedelta(0)):
            raise InvalidArgumentError(f"keep_newer_than must be a timedelta of 0 or more, not {t!r:.60}")
        if t is not None and t > MAX_KEEP_NEWER_THAN:
            raise InvalidArgumentError(
                f"keep_newer_than={t!r} is too long: the cutoff, the run's time minus it, would fall before "
                f"the year 1. Give at most {MAX_KEEP_NEWER_THAN.days} days (about 1,000 years), which keeps "
                "every version saved since then"
            )
        if n is None and not self.keep_aliased and t is None:
            raise InvalidArgumentError(
                "a retention policy needs at least one rule (keep_last, keep_aliased or keep_newer_than); "
                "one with none would expire every version's content"
            )

    def to_json(self, cutoff: datetime | None) -> dict[str, Any]:
        return {
            "keep_last": self.keep_last,
            "keep_aliased": self.keep_aliased,
            "keep_newer_than": None if self.keep_newer_than is None else self.keep_newer_than.total_seconds(),
            "cutoff": None if cutoff is None else cutoff.isoformat(),
        }


class ExpiredContent(BaseModel):
    """One version whose content a run expires (or, in a dry run, would)."""

    model_config = ConfigDict(frozen=True)

    artifact_id: str
    version: int
    hash: str


class RetentionReport(BaseModel):
    """What a retention run expired (``dry_run``: what it would expire; nothing was changed)."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    policy: dict[str, Any]
    versions_examined: int
    """Data versions whose content was looked at (those without content and those expired before excluded)."""
    versions_kept: int
    expired: list[ExpiredContent]
    blobs: list[str]
    """The blob hashes deleted (would be): expired content no kept version shares, and its chunks."""
    bytes_freed: int
    positions: list[int]
    """The ``retention.applied`` events appended (empty for a dry run, or when nothing expired)."""


# ---- facts from the log -------------------------------------------------------------------------------
@dataclass(slots=True)
class _Version:
    version: int
    recorded_at: datetime
    hash: str | None
    codec: str | None


@dataclass(slots=True)
class LogFacts:
    """What retention needs from the log, folded event by event (:meth:`add`), oldest first."""

    versions: dict[str, list[_Version]] = field(default_factory=dict)
    """artifact id -> its data versions (state events), oldest first."""
    aliases: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    """alias stream -> the (artifact id, version) it points at now (None: removed)."""
    holds: dict[str, bool] = field(default_factory=dict)
    """artifact id -> held now."""
    expired: set[tuple[str, int]] = field(default_factory=set)
    """(artifact id, version) whose content an earlier run expired."""
    codecs: dict[str, str] = field(default_factory=dict)
    """content hash -> its codec (``chunks``: a manifest of content saved as a stream)."""

    def add(self, position: int, artifact_id: str, version: int, kind: str, at: datetime, payload: Any) -> None:
        if kind in STATE_EVENTS:
            content = payload.get("content")
            digest: str | None = None
            if content:
                digest = str(content["hash"])
                self.codecs[digest] = content["codec"]
            self.versions.setdefault(artifact_id, []).append(
                _Version(version, at, digest, content["codec"] if content else None)
            )
        elif kind in ALIAS_EVENTS:
            target = payload["artifact_id"]
            self.aliases[artifact_id] = None if target is None else (target, payload["version"])
        elif kind in (HOLD_SET, HOLD_RELEASED):
            self.holds[payload["artifact_id"]] = bool(payload["held"])
        elif kind == RETENTION_APPLIED:
            self.expired.update((aid, v) for aid, v, _ in payload["expired"])


@dataclass(slots=True)
class Plan:
    """The versions a policy expires and the blobs that go with them."""

    examined: int
    kept: int
    expired: list[ExpiredContent]
    hashes: list[str]
    """Distinct content hashes expired (their blobs, and their chunks, are the candidates to delete)."""
    keep_hashes: set[str]


def plan(facts: LogFacts, policy: RetentionPolicy, now: datetime) -> Plan:
    """Which versions' content ``policy`` expires at ``now``; the hashes any kept version still has."""
    cutoff = None if policy.keep_newer_than is None else now - policy.keep_newer_than
    keep: set[str] = set()
    aliased: dict[str, set[int]] = {}
    if policy.keep_aliased:
        for target in facts.aliases.values():
            if target is not None:
                aliased.setdefault(target[0], set()).add(target[1])
    kept = examined = 0
    for aid, versions in facts.versions.items():
        held = facts.holds.get(aid, False)
        last = len(versions) - (policy.keep_last or 0)
        pinned = aliased.get(aid, set())
        for i, v in enumerate(versions):
            if v.hash is None:
                continue
            nxt = versions[i + 1].version if i + 1 < len(versions) else None
            # An alias may point at a move or a deletion's version: it shows the state before it.
            is_aliased = any(p >= v.version and (nxt is None or p < nxt) for p in pinned)
            if (
                held
                or (policy.keep_last is not None and i >= last)
                or is_aliased
                or (cutoff is not None and v.recorded_at > cutoff)
            ):
                keep.add(v.hash)
    expired: list[ExpiredContent] = []
    hashes: dict[str, None] = {}
    for aid, versions in facts.versions.items():
        for v in versions:
            if v.hash is None or (aid, v.version) in facts.expired:
                continue
            examined += 1
            if v.hash in keep:
                kept += 1
                continue
            expired.append(ExpiredContent(artifact_id=aid, version=v.version, hash=v.hash))
            hashes[v.hash] = None
    return Plan(examined, kept, expired, list(hashes), keep)


def parts(
    expired: Sequence[ExpiredContent], deleted: dict[str, list[tuple[str, int]]], policy_json: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ``retention.applied`` payloads of one run: ``deleted`` maps each expired content hash to the
    (hash, size) of the blobs deleted with it; every part holds whole contents, about PART_ITEMS items."""
    by_hash: dict[str, list[ExpiredContent]] = {}
    for e in expired:
        by_hash.setdefault(e.hash, []).append(e)
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    size = 0
    for digest, versions in by_hash.items():
        blobs = deleted.get(digest, [])
        items = len(versions) + len(blobs)
        if current is None or (size and size + items > PART_ITEMS):
            current = {"policy": policy_json, "expired": [], "deleted": []}
            out.append(current)
            size = 0
        current["expired"].extend([e.artifact_id, e.version, e.hash] for e in versions)
        current["deleted"].extend([h, s] for h, s in blobs)
        size += items
    for i, part in enumerate(out, 1):
        part["part"], part["parts"] = i, len(out)
    return out


def expired_blob_hashes(payload: Any) -> Iterable[str]:
    """The blob hashes a ``retention.applied`` payload deleted."""
    return (h for h, _ in payload["deleted"])


# ---- holds ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HoldState:
    """A hold stream as its last event left it."""

    artifact_id: str
    stream_id: str
    stream_version: int
    held: bool


def checked_reason(reason: Any, what: str) -> str:
    """A hold or a release needs a reason: a non-empty str."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidArgumentError(f"{what} needs a reason (a non-empty str), not {reason!r:.40}")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgumentError(f"reason is {len(reason)} characters long; the most is {MAX_REASON_LENGTH}")
    return reason


def decide_hold(artifact_id: str, state: HoldState | None, new_stream_id: str) -> list[NewEvent]:
    """Hold ``artifact_id`` (the caller checked it exists); already held: a no-op that appends nothing."""
    if state is not None and state.held:
        return []
    stream = state.stream_id if state else new_stream_id
    version = state.stream_version + 1 if state else 1
    return [NewEvent(stream, version, HOLD_SET, {"artifact_id": artifact_id, "held": True})]


def decide_release(artifact_id: str, state: HoldState | None) -> list[NewEvent]:
    """Release the hold on ``artifact_id``; one that is not held is :class:`HoldNotFoundError`."""
    if state is None or not state.held:
        raise HoldNotFoundError(f"artifact {artifact_id} is not held: there is no hold to release")
    payload = {"artifact_id": artifact_id, "held": False}
    return [NewEvent(state.stream_id, state.stream_version + 1, HOLD_RELEASED, payload)]
