"""Pure decisions: (current state, command) -> events. Every write invariant lives here.

No I/O: the caller loads the facts a command needs (under the write lock) and
passes them in; this module only says yes (with the events to append) or no
(with a specific :mod:`errors` exception naming the ids involved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from . import codec
from .errors import (
    ArtifactDeletedError,
    ArtifactHasChildrenError,
    ArtifactNotFoundError,
    ConcurrencyError,
    InvalidMoveError,
    VersionNotFoundError,
)
from .events import (
    ALIAS_EVENTS,
    CHAIN_UPGRADED,
    CREATED,
    DELETED,
    HOLD_EVENTS,
    LINK_EVENTS,
    MOVED,
    PROVENANCE_EVENTS,
    REDACTED,
    REDACTED_CODEC,
    RESTORED,
    RETENTION_APPLIED,
    REVERTED,
    UPDATED,
    ContentRef,
    NewEvent,
    RecordedEvent,
    content_of,
    stored_content,
)


@dataclass(frozen=True, slots=True)
class ArtifactState:
    """What the write side needs to know about one artifact stream."""

    id: str
    parent_id: str | None
    version: int
    data: Any
    content: ContentRef | None
    tags: tuple[str, ...]
    deleted: bool = False
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def data_json(self) -> bytes:
        return codec.dumps_trusted(self.data)


@dataclass(frozen=True, slots=True)
class SaveArtifact:
    """Create the artifact, or update it when its id exists (chapkit's ``save``)."""

    artifact_id: str
    parent_id: str | None
    data: Any
    content: ContentRef | None
    tags: tuple[str, ...]
    expected_version: int | None = None
    unset: frozenset[str] = frozenset()
    """Fields the caller did not set (``parent_id``, ``tags``, ``data``): an update keeps their
    current values, as chapkit's ``exclude_unset`` update does; a create uses the defaults."""


def with_unset_kept(cmd: SaveArtifact, current: ArtifactState | None) -> SaveArtifact:
    """``cmd`` with its unset fields taken from the live ``current`` state (nothing to keep otherwise)."""
    if not cmd.unset or current is None or current.deleted:
        return cmd
    unset = cmd.unset
    return replace(
        cmd,
        parent_id=current.parent_id if "parent_id" in unset else cmd.parent_id,
        tags=current.tags if "tags" in unset else cmd.tags,
        data=current.data if "data" in unset else cmd.data,
        content=current.content if "data" in unset else cmd.content,
        unset=frozenset(),
    )


@dataclass(frozen=True, slots=True)
class MoveArtifact:
    artifact_id: str
    new_parent_id: str | None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class RevertArtifact:
    """Make the state of ``to_version`` (data, content, tags and parent) the artifact's newest version."""

    artifact_id: str
    to_version: int
    expected_version: int | None = None


def version_not_found(artifact_id: str, version: int, latest: int) -> VersionNotFoundError:
    """The error for a version the stream does not have, naming the versions it does have."""
    return VersionNotFoundError(
        f"artifact {artifact_id} has no version {version}: its versions are 1 to {latest} (latest {latest})",
        artifact_id=artifact_id,
    )


_STREAM_KINDS: tuple[tuple[frozenset[str], str], ...] = (
    (ALIAS_EVENTS, "an alias"),
    (LINK_EVENTS, "a lineage link"),
    (HOLD_EVENTS, "a hold"),
    (frozenset({RETENTION_APPLIED}), "a retention run"),
    (frozenset({REDACTED}), "a redaction"),
    (frozenset({CHAIN_UPGRADED}), "the ledger's chain upgrade"),
)


def not_an_artifact(stream_id: str, event_type: str) -> ArtifactNotFoundError:
    """The error for the id of a stream that is not an artifact's (``event_type``: one of its events),
    such as an alias's or a link's, which the audit trail shows as an entry's ``artifact_id``."""
    kind = next((name for types, name in _STREAM_KINDS if event_type in types), "something other than an artifact")
    return ArtifactNotFoundError(
        f"artifact {stream_id} not found: {stream_id} is the stream of {kind} (event type {event_type}), "
        "not an artifact",
        artifact_id=stream_id,
    )


def is_artifact_stream(event_type: str) -> bool:
    """Whether a stream whose events include one of type ``event_type`` is an artifact's."""
    return event_type not in PROVENANCE_EVENTS


def _check_version(artifact_id: str, expected: int | None, actual: int) -> None:
    if expected is not None and expected != actual:
        raise ConcurrencyError(
            f"artifact {artifact_id} is at version {actual}, not the expected version {expected}; reload it and retry",
            artifact_id=artifact_id,
            expected=expected,
            actual=actual,
        )


def _state_payload(data: Any, content: ContentRef | None, tags: Sequence[str]) -> dict[str, Any]:
    return {"data": data, "content": stored_content(content), "tags": list(tags)}


def _check_parent(artifact_id: str, parent_id: str | None, parent_live: bool) -> None:
    if parent_id is not None and not parent_live:
        raise ArtifactNotFoundError(
            f"parent artifact {parent_id} of artifact {artifact_id} not found", artifact_id=parent_id
        )


def _check_not_own_descendant(artifact_id: str, new_parent_id: str | None, parent_in_subtree: bool) -> None:
    if new_parent_id == artifact_id:
        raise InvalidMoveError(f"artifact {artifact_id} cannot be its own parent")
    if parent_in_subtree:
        raise InvalidMoveError(
            f"cannot move artifact {artifact_id} under {new_parent_id}: {new_parent_id} is one of its descendants"
        )


def decide_save(
    cmd: SaveArtifact,
    current: ArtifactState | None,
    *,
    parent_live: bool,
    parent_in_subtree: bool = False,
) -> list[NewEvent]:
    """Events for a save: created, or moved and/or updated, or nothing when nothing changed."""
    aid = cmd.artifact_id
    if current is not None and current.deleted:
        raise ArtifactDeletedError(
            f"artifact {aid} was deleted (at version {current.version}); "
            f"restore it with manager.restore({aid!r}) before saving it again",
            artifact_id=aid,
        )
    _check_version(aid, cmd.expected_version, current.version if current else 0)
    _check_parent(aid, cmd.parent_id, parent_live)
    if current is None:
        payload = {"parent_id": cmd.parent_id, **_state_payload(cmd.data, cmd.content, cmd.tags)}
        return [NewEvent(aid, 1, CREATED, payload)]
    events: list[NewEvent] = []
    version = current.version
    if cmd.parent_id != current.parent_id:
        _check_not_own_descendant(aid, cmd.parent_id, parent_in_subtree)
        version += 1
        events.append(
            NewEvent(aid, version, MOVED, {"from_parent_id": current.parent_id, "to_parent_id": cmd.parent_id})
        )
    if cmd.tags != current.tags or cmd.content != current.content or codec.dumps_trusted(cmd.data) != current.data_json:
        version += 1
        events.append(NewEvent(aid, version, UPDATED, _state_payload(cmd.data, cmd.content, cmd.tags)))
    return events


def decide_move(
    cmd: MoveArtifact, current: ArtifactState | None, *, parent_live: bool, parent_in_subtree: bool
) -> list[NewEvent]:
    """A moved event, or nothing when the parent does not change."""
    aid = cmd.artifact_id
    if current is None:
        raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
    if current.deleted:  # an ArtifactNotFoundError too, as a move of a deleted artifact always raised
        raise ArtifactDeletedError(
            f"artifact {aid} was deleted (at version {current.version}); "
            f"restore it with manager.restore({aid!r}) before moving it",
            artifact_id=aid,
        )
    _check_version(aid, cmd.expected_version, current.version)
    _check_parent(aid, cmd.new_parent_id, parent_live)
    if cmd.new_parent_id == current.parent_id:
        return []
    _check_not_own_descendant(aid, cmd.new_parent_id, parent_in_subtree)
    payload = {"from_parent_id": current.parent_id, "to_parent_id": cmd.new_parent_id}
    return [NewEvent(aid, current.version + 1, MOVED, payload)]


def decide_delete(
    root: ArtifactState | None,
    subtree: Sequence[ArtifactState],
    *,
    cascade: bool,
    expected_version: int | None,
) -> list[NewEvent]:
    """Deleted events, deepest first; ``subtree`` lists the root's live descendants (root excluded).

    Deleting an id that is not live is a no-op (chapkit semantics).
    """
    if root is None or root.deleted:
        return []
    _check_version(root.id, expected_version, root.version)
    if subtree and not cascade:
        shown = ", ".join(s.id for s in subtree[:5]) + (" …" if len(subtree) > 5 else "")
        raise ArtifactHasChildrenError(
            f"artifact {root.id} has {len(subtree)} live descendant(s) ({shown}); "
            "delete them first or pass cascade=True to delete the whole subtree"
        )
    cascade_root = root.id if subtree else None
    events = [NewEvent(s.id, s.version + 1, DELETED, {"cascade_root": cascade_root}) for s in reversed(subtree)]
    events.append(NewEvent(root.id, root.version + 1, DELETED, {"cascade_root": cascade_root}))
    return events


def decide_restore(state: ArtifactState | None, artifact_id: str, *, parent_live: bool) -> list[NewEvent]:
    """A restored event carrying the state the artifact had when it was deleted."""
    if state is None:
        raise ArtifactNotFoundError(f"artifact {artifact_id} not found", artifact_id=artifact_id)
    if not state.deleted:
        return []
    if state.parent_id is not None and not parent_live:
        raise ArtifactNotFoundError(
            f"cannot restore artifact {artifact_id}: its parent {state.parent_id} is deleted; "
            f"restore {state.parent_id} first",
            artifact_id=state.parent_id,
        )
    payload = {"parent_id": state.parent_id, **_state_payload(state.data, state.content, state.tags)}
    return [NewEvent(artifact_id, state.version + 1, RESTORED, payload)]


def _kept(content: ContentRef | None) -> ContentRef | None:
    """Content as a state compares for a revert: erased content (a redaction) is none, which is how
    a reverted event writes it; so a revert repeated, or to a version whose content was erased while
    the current one's was too, finds the current state and appends nothing."""
    return None if content is None or content.codec == REDACTED_CODEC else content


def decide_revert(
    cmd: RevertArtifact,
    current: ArtifactState | None,
    target: ArtifactState | None,
    *,
    parent_live: bool,
    parent_in_subtree: bool,
) -> list[NewEvent]:
    """A reverted event carrying the state of version ``cmd.to_version``, or nothing if that is the current state.

    ``target`` is the stream folded up to ``to_version`` (None when the stream has no such version);
    ``parent_live``/``parent_in_subtree`` describe the parent that version had, as it is now.
    """
    aid = cmd.artifact_id
    if current is None:
        raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
    if current.deleted:
        raise ArtifactDeletedError(
            f"artifact {aid} was deleted (at version {current.version}); "
            f"restore it with manager.restore({aid!r}) before reverting it",
            artifact_id=aid,
        )
    _check_version(aid, cmd.expected_version, current.version)
    if target is None or not 1 <= cmd.to_version <= current.version:
        raise version_not_found(aid, cmd.to_version, current.version)
    if target.deleted:
        raise VersionNotFoundError(
            f"version {cmd.to_version} of artifact {aid} is its deletion, which has no state to revert to; "
            f"revert to version {cmd.to_version - 1} instead (latest is {current.version})",
            artifact_id=aid,
        )
    if target.parent_id != current.parent_id:
        if target.parent_id is not None and not parent_live:
            raise ArtifactNotFoundError(
                f"cannot revert artifact {aid} to version {cmd.to_version}: its parent then, "
                f"{target.parent_id}, is deleted; restore {target.parent_id} first",
                artifact_id=target.parent_id,
            )
        _check_not_own_descendant(aid, target.parent_id, parent_in_subtree)
    same = (
        target.parent_id == current.parent_id
        and target.tags == current.tags
        and _kept(target.content) == _kept(current.content)
        and target.data_json == current.data_json
    )
    if same:
        return []
    payload = {
        "parent_id": target.parent_id,
        **_state_payload(target.data, target.content, target.tags),
        "reverted_to": cmd.to_version,
    }
    return [NewEvent(aid, current.version + 1, REVERTED, payload)]


def evolve(state: ArtifactState | None, event: RecordedEvent) -> ArtifactState:
    """Apply one event to a stream's state: the fold that replay, restore and drift checks share."""
    payload, at, by = event.payload, event.recorded_at, event.actor
    if event.type == CREATED:
        return ArtifactState(
            event.artifact_id,
            payload["parent_id"],
            event.version,
            payload["data"],
            content_of(payload),
            tuple(payload["tags"]),
            created_at=at,
            created_by=by,
            updated_at=at,
            updated_by=by,
        )
    if state is None:
        if not is_artifact_stream(event.type):  # an alias's or a link's stream, say, read by its id
            raise not_an_artifact(event.artifact_id, event.type)
        raise ValueError(f"event {event.type} v{event.version} of artifact {event.artifact_id} has no prior state")
    if event.type in (RESTORED, REVERTED):
        return replace(
            state,
            parent_id=payload["parent_id"],
            version=event.version,
            data=payload["data"],
            content=content_of(payload),
            tags=tuple(payload["tags"]),
            deleted=False,
            updated_at=at,
            updated_by=by,
        )
    if event.type == UPDATED:
        return replace(
            state,
            version=event.version,
            data=payload["data"],
            content=content_of(payload),
            tags=tuple(payload["tags"]),
            updated_at=at,
            updated_by=by,
        )
    if event.type == MOVED:
        return replace(state, version=event.version, parent_id=payload["to_parent_id"], updated_at=at, updated_by=by)
    if event.type == DELETED:
        return replace(state, version=event.version, deleted=True, updated_at=at, updated_by=by)
    raise ValueError(f"unknown event type {event.type!r}")


def fold(events: Sequence[RecordedEvent]) -> ArtifactState | None:
    """The state of one stream after all of ``events`` (oldest first)."""
    state: ArtifactState | None = None
    for event in events:
        state = evolve(state, event)
    return state
