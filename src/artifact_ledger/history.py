"""The ledger's memory: version history, point-in-time state, diffs and the audit trail.

Everything here reads the log and its temporal closure through :mod:`queries` (SQLAlchemy Core,
the caller's session, never a commit) and maps rows and folded states to the models of
:mod:`schemas`. The read side (:mod:`reads`) adds content decoding and hierarchy labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from ulid import ULID

from . import codec, history_pages, queries, temporal
from .clock import ensure_utc
from .decide import ArtifactState, evolve, is_artifact_stream, not_an_artifact, version_not_found
from .errors import ArtifactNotFoundError
from .events import EVENT_TYPES, REDACTED_CODEC, ContentRef, RecordedEvent, content_pair, expand_event_types
from .ids import ulid_from_text
from .jsondiff import json_patch
from .queries import Executor
from .schemas import (
    ArtifactDiff,
    ArtifactVersion,
    AuditEntry,
    AuditPage,
    ContentChange,
    PatchOperation,
    ValueChange,
    construct,
)
from .store.tables import events

Values = tuple[
    str, str | None, int, int, Any, str | None, str | None, list[str], datetime, datetime, str | None, str | None
]
"""An artifact row ready to become a model: id, parent_id, level, version, data (decoded, without
content), content_hash, content_codec, tags, created_at, updated_at, created_by, updated_by."""

MAX_AUDIT_PAGE = 10_000


def utc(value: datetime, what: str) -> datetime:
    """An aware datetime in UTC; a naive one is refused (the ledger never guesses a time zone)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    return ensure_utc(value, what=what)


def point(version: int | None, as_of: datetime | None) -> dict[str, Any]:
    """The keyword arguments of :func:`temporal.tree_at` for a ``version=`` or ``as_of=`` read."""
    if version is not None and as_of is not None:
        raise ValueError("pass version= or as_of=, not both")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version must be an int, not {type(version).__name__}")
        return {"version": version}
    assert as_of is not None
    return {"instant": utc(as_of, "as_of")}


async def check_stream(db: Executor, artifact_id: str, version: int | None = None) -> int:
    """The stream's latest version; ``ArtifactNotFoundError`` without events, ``VersionNotFoundError``
    if ``version`` is not one of its versions."""
    latest = await queries.latest_version(db, artifact_id)
    if latest is None:
        raise ArtifactNotFoundError(f"artifact {artifact_id} not found", artifact_id=artifact_id)
    if version is not None and not 1 <= version <= latest:
        raise version_not_found(artifact_id, version, latest)
    return latest


async def check_artifact_stream(db: Executor, artifact_id: str, version: int | None = None) -> int:
    """:func:`check_stream`, and ``ArtifactNotFoundError`` naming what the stream is when it is not an
    artifact's (an alias's or a link's id, which the audit trail shows as an ``artifact_id``)."""
    latest = await check_stream(db, artifact_id, version)
    first = (await db.execute(select(events.c.type).where(events.c.artifact_id == artifact_id).limit(1))).scalar()
    if first is not None and not is_artifact_stream(str(first)):
        raise not_an_artifact(artifact_id, str(first))
    return latest


def tree_values(rows: Sequence[Row[Any]]) -> list[Values]:
    """Rows of :func:`temporal.tree_at` as :data:`Values` (the payload carries data, content, tags)."""
    out: list[Values] = []
    for r in rows:
        payload = codec.loads(r.payload)
        content_hash, content_codec = content_pair(payload)
        out.append(
            (
                r.id,
                r.parent_id,
                int(r.level),
                int(r.version),
                payload["data"],
                content_hash,
                content_codec,
                payload["tags"],
                r.created_at,
                r.updated_at,
                r.created_by,
                r.updated_by,
            )
        )
    return out


# ---- history ---------------------------------------------------------------------------------------


def version_of(event: RecordedEvent, state: ArtifactState, ulids: dict[str, ULID] | None = None) -> ArtifactVersion:
    """The history entry for ``event``, given the state it produced (``ulids``: parsed ids to reuse)."""
    ulids = {} if ulids is None else ulids
    c = state.content
    if c is not None and c.codec == REDACTED_CODEC:  # erased: no hash, type or size to show
        c = None
    reverted_to = event.payload.get("reverted_to")
    parent = state.parent_id
    values = {
        "artifact_id": _ulid(ulids, event.artifact_id),
        "version": event.version,
        "event_type": event.type,
        "position": event.position,
        "parent_id": _ulid(ulids, parent) if parent else None,
        "data": state.data,
        "content_hash": c.hash if c else None,
        "content_type": c.media_type if c else None,
        "content_size": c.size if c else None,
        "tags": list(state.tags),
        "deleted": state.deleted,
        "recorded_at": event.recorded_at,
        "actor": event.actor,
        "reason": event.reason,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "event_id": event.event_id,
        "reverted_to": int(reverted_to) if reverted_to is not None else None,
        "redacted": [],
    }
    return construct(ArtifactVersion, values)


def _ulid(cache: dict[str, ULID], text: str) -> ULID:
    found = cache.get(text)
    if found is None:
        found = cache[text] = ulid_from_text(text)
    return found


def fold_versions(
    events: Sequence[RecordedEvent], erased: Mapping[int, list[str]] | None = None, *, skip: int = 0
) -> list[tuple[ArtifactVersion, ArtifactState]]:
    """Each event of one stream with the state after it, oldest first (``erased``: position ->
    the names a redaction erased from that event, see :func:`queries.stream_erasures`).

    ``skip``: leave out the first ``skip`` entries (a page further on). Their events are still
    folded, since each state builds on the one before, but no entry is built for them."""
    out: list[tuple[ArtifactVersion, ArtifactState]] = []
    state: ArtifactState | None = None
    ulids: dict[str, ULID] = {}
    for index, event in enumerate(events):
        state = evolve(state, event)
        if index < skip:
            continue
        version = version_of(event, state, ulids)
        if erased and event.position in erased:
            version.redacted = erased[event.position]
        out.append((version, state))
    return out


# ---- diff --------------------------------------------------------------------------------------------


def _change(old: Any, new: Any) -> ValueChange | None:
    return None if old == new else ValueChange(old=old, new=new)


def diff_states(
    artifact_id: str,
    versions: tuple[int, int],
    states: tuple[ArtifactState, ArtifactState],
    levels: tuple[int | None, int | None],
) -> ArtifactDiff:
    """The structured difference between two states of one artifact (pure)."""
    old, new = states
    content = None
    a, b = old.content, new.content
    # erased: it had content, but nothing of it is left to show (not "no content")
    a_erased = a is not None and a.codec == REDACTED_CODEC
    b_erased = b is not None and b.codec == REDACTED_CODEC
    # Two erased sides look alike whatever they held: whether the content changed cannot be told,
    # so two versions whose content was redacted are reported as such, never as unchanged.
    if a != b or (a_erased and b_erased and versions[0] != versions[1]):
        a = None if a_erased else a
        b = None if b_erased else b
        content = ContentChange(
            old_hash=a.hash if a else None,
            new_hash=b.hash if b else None,
            old_size=a.size if a else None,
            new_size=b.size if b else None,
            old_type=a.media_type if a else None,
            new_type=b.media_type if b else None,
            old_redacted=a_erased,
            new_redacted=b_erased,
        )
    parent = None
    if old.parent_id != new.parent_id:
        parent = ValueChange(
            old=ULID.from_str(old.parent_id) if old.parent_id else None,
            new=ULID.from_str(new.parent_id) if new.parent_id else None,
        )
    return ArtifactDiff(
        artifact_id=ULID.from_str(artifact_id),
        from_version=versions[0],
        to_version=versions[1],
        data=[PatchOperation(**op) for op in json_patch(old.data, new.data)],
        content=content,
        parent=parent,
        level=_change(*levels),
        tags=_change(list(old.tags), list(new.tags)),
        deleted=_change(old.deleted, new.deleted),
    )


async def _state_at(db: Executor, artifact_id: str, version: int, latest: int) -> tuple[ArtifactVersion, ArtifactState]:
    """The entry and state of the ``version``-th event of one stream (see :func:`diff`)."""
    read = await history_pages.read_one(db, artifact_id, version)
    folded = fold_versions(read.events, skip=read.lead)
    if not folded:  # a stream with fewer events than its highest version says (a damaged log)
        raise version_not_found(artifact_id, version, latest)
    return folded[-1]


async def diff(
    db: Executor, artifact_id: str, v1: int, v2: int | None
) -> tuple[ArtifactDiff, tuple[ContentRef | None, ContentRef | None]]:
    """Each version's state from the few events it is made of (``history_pages.read_one``: the
    last one before it that sets each field, and its own), not from the fold of every event
    before it; levels from the temporal closure.

    Also returns the content references of both versions (for the content diff)."""
    for v in (v1, v2):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise TypeError(f"versions must be ints, not {type(v).__name__}")
    latest = await check_stream(db, artifact_id, v1)
    to_version = latest if v2 is None else v2
    await check_stream(db, artifact_id, to_version)
    # The later version first: a damaged log fails as the fold of every event up to it did.
    states = {v: await _state_at(db, artifact_id, v, latest) for v in sorted({v1, to_version}, reverse=True)}
    (a_version, a_state), (b_version, b_state) = states[v1], states[to_version]
    levels = [await temporal.level_at(db, artifact_id, v.position) for v in (a_version, b_version)]
    result = diff_states(artifact_id, (v1, to_version), (a_state, b_state), (levels[0], levels[1]))
    return result, (a_state.content, b_state.content)


# ---- audit -------------------------------------------------------------------------------------------


def _strings(value: str | Sequence[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(i, str) for i in items):
        raise TypeError(f"{what} must be a string or a sequence of strings")
    return items


async def audit(
    db: Executor,
    *,
    artifact_id: str | None,
    subtree_of: str | None,
    actor: str | Sequence[str] | None,
    event_type: str | Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
    after: int,
    limit: int,
) -> AuditPage:
    """One keyset page of the audit trail (see ``ArtifactManager.audit``)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_PAGE:
        raise ValueError(f"limit must be an int from 1 to {MAX_AUDIT_PAGE} (got {limit!r})")
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError(f"after must be a position >= 0 (got {after!r})")
    types = _strings(event_type, "event_type")
    types = None if types is None else expand_event_types(types)
    unknown = sorted(set(types or ()) - EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; known types: {', '.join(sorted(EVENT_TYPES))}")
    rows = await temporal.audit_rows(
        db,
        after=after,
        limit=limit + 1,
        artifact_id=artifact_id,
        subtree_of=subtree_of,
        actors=_strings(actor, "actor"),
        types=types,
        since=utc(since, "since") if since is not None else None,
        until=utc(until, "until") if until is not None else None,
    )
    entries = [audit_entry(queries.event_from_core(r)) for r in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(entries=entries, next_after=entries[-1].position if more else None)


def audit_entry(event: RecordedEvent) -> AuditEntry:
    return AuditEntry.model_construct(
        position=event.position,
        event_id=event.event_id,
        artifact_id=ULID.from_str(event.artifact_id),
        version=event.version,
        event_type=event.type,
        recorded_at=event.recorded_at,
        actor=event.actor,
        reason=event.reason,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        details={k: v for k, v in event.payload.items() if k != "data"},
    )
