"""The rules ``import`` holds every bundle event to: the ones a live write obeys, checked without I/O.

A bundle is untrusted input. The standalone verifier (``verify_bundle``) proves that its files
are intact (every line parses, the hash chain links, blobs match their names); :class:`EventRules`
proves that a writer of this ledger could have produced each event, in order, given what came
before it: ids are ULIDs, each stream starts with ``artifact.created`` and counts its versions
from 1 without gaps, parents exist and are live, moves make no cycle, deletes leave no live
child behind, times never go backwards, types and schema versions are known, numbers fit their
columns, attribution is text the log can hold, and every payload has exactly the shape (and the
canonical bytes) the writer gives it.

The checker is fed one event at a time and keeps one small record per artifact (version,
parent, deleted, live children), so it is linear in the events and flat in memory apart from
that. It never looks anything up: when it meets an artifact it knows nothing about and was told
that the log before the bundle is not empty (an incremental bundle), it raises
:class:`NeedState` before changing anything, the importer loads that artifact from the target's
log (:meth:`EventRules.learn`) and checks the event again.

Every refusal is a :class:`~artifact_ledger.errors.BundleRuleError` naming the bundle, the line
of ``events.jsonl``, the position and the rule (the names are listed in ``RULES``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from . import codec
from . import verify_bundle as spec
from .bundle_shapes import (
    MAX_SIZE,
    ULID_TEXT,
    check_envelope,
    check_hold_payload,
    check_payload,
    check_provenance_payload,
    check_retention_run,
    event_number,
)
from .errors import BundleRuleError
from .events import (
    ALIAS_EVENTS,
    ALIAS_REMOVED,
    CREATED,
    DELETED,
    HOLD_EVENTS,
    LEDGER_EVENTS,
    LINK_REMOVED,
    MOVED,
    PROVENANCE_EVENTS,
    RESTORED,
    RETENTION_APPLIED,
    REVERTED,
    UPDATED,
)

__all__ = ["MAX_SIZE", "RULES", "ULID_TEXT", "EventRules", "NeedState", "Stream", "state_digest"]

RULES: Final = {
    "ulid": "event ids, artifact ids and parent ids are canonical ULIDs (26 Crockford base32 characters)",
    "unique-event-id": "no two events share an event id",
    "type": "the event type is one this version knows",
    "schema-version": "the payload's schema version is one this version reads",
    "number": "positions fit 63 bits, versions 31 bits, sizes 63 bits",
    "stream-start": "a stream starts with artifact.created, and only once",
    "version": "versions within a stream are dense from 1",
    "live": "only a live artifact is updated, moved, deleted or reverted; only a deleted one is restored",
    "parent": "a parent exists and is live when the event happens",
    "cycle": "a move never puts an artifact under itself or one of its descendants",
    "children": "an artifact with live children is not deleted (a cascade deletes them first)",
    "time": "recorded_at never goes backwards along the chain",
    "attribution": "actor, reason, correlation and causation ids are text the log can hold",
    "payload": "the payload has exactly the shape the writer gives this event type",
    "canonical": "the payload is the writer's canonical JSON (sorted keys, no whitespace)",
}
"""Rule name -> what it requires (``docs/bundle-format.md`` lists the same)."""


@dataclass(slots=True)
class Stream:
    """What the rules need to know about one artifact: its last version, parent, and whether it is deleted."""

    version: int
    parent: str | None
    deleted: bool
    children: int | None = 0
    """Live children; None: not known yet (an artifact of the target's log, see :class:`NeedState`)."""
    delta: int = 0
    """Children gained minus children lost by the bundle's events while ``children`` is unknown."""
    states: list[tuple[str | None, int] | None] | None = None
    """Per version (index ``version - 1``): (parent, :func:`state_digest`) after it, None for a deletion;
    None: the history is not known. Restores and reverts must carry a state the stream had."""


def state_digest(data: Any, content: Any, tags: Any) -> int:
    """A short digest of an artifact's data, content reference and tags (what a state event carries)."""
    return int.from_bytes(hashlib.blake2b(codec.dumps_trusted([data, content, tags]), digest_size=8).digest(), "big")


ERASED: Final = -1
"""The digest of a state some of whose leaves a redaction erased: what it held cannot be compared,
so the rules that compare states (an update that changes nothing, a restore's or a revert's
state) are not applied to it (state digests are never negative)."""


def _erased(event: spec.Event) -> bool:
    return event.opening is not None and bool(event.opening.erased)


def _comparable(a: tuple[str | None, int] | None, b: tuple[str | None, int] | None) -> bool:
    return a is not None and b is not None and a[1] != ERASED and b[1] != ERASED


def _last_state(stream: Stream) -> tuple[str | None, int] | None:
    if stream.states is None:
        return None
    return next((s for s in reversed(stream.states) if s is not None), None)


class NeedState(Exception):
    """The checker needs the target's ``stream`` (its state) or ``children`` (its live children) of ``artifact_id``."""

    def __init__(self, artifact_id: str, what: str) -> None:
        super().__init__(f"{what} of {artifact_id}")
        self.artifact_id = artifact_id
        self.what = what


_ABSENT: Final = Stream(0, None, True, 0)
"""Marks an id the target's log has no events of."""


class EventRules:
    """Checks bundle events in order; see the module docstring.

    ``where`` names the bundle in messages, ``first_position`` is the position on line 1 of
    ``events.jsonl``. ``complete``: the checker has seen the whole log before the first event
    it is given (a bundle from position 1), so an unknown id has no events; otherwise it raises
    :class:`NeedState`. ``last_time``: the canonical ``recorded_at`` of the event before.
    """

    def __init__(self, where: str, first_position: int, *, complete: bool, last_time: str | None = None) -> None:
        self.where = where
        self.first_position = first_position
        self.complete = complete
        self.last_time = last_time
        self.streams: dict[str, Stream] = {}
        self.event_ids: set[int] = set()

    # ---- what the importer tells the checker --------------------------------------------------------
    def learn(
        self,
        artifact_id: str,
        state: tuple[int, str | None, bool] | None,
        states: list[tuple[str | None, int] | None] | None = None,
    ) -> None:
        """The target log's (version, parent, deleted) of ``artifact_id`` (None: no events) and,
        when known, its states per version (see :attr:`Stream.states`)."""
        if state is None:
            self.streams[artifact_id] = _ABSENT
        else:
            self.streams[artifact_id] = Stream(state[0], state[1], state[2], None, states=states)

    def learn_children(self, artifact_id: str, live_children: int) -> None:
        """How many live children ``artifact_id`` has in the target (before this import's events)."""
        stream = self.streams[artifact_id]
        if stream.children is None:
            stream.children, stream.delta = live_children + stream.delta, 0

    # ---- checking -------------------------------------------------------------------------------------
    def fail(self, event: spec.Event, rule: str, detail: str) -> BundleRuleError:
        line = event.position - self.first_position + 1
        return BundleRuleError(
            f"bundle {self.where}: {spec.EVENTS} line {line} (position {event.position}, {event.type}): "
            f"{detail} (rule: {rule})",
            file=spec.EVENTS,
            line=line,
            rule=rule,
        )

    def _stream(self, artifact_id: str) -> Stream | None:
        stream = self.streams.get(artifact_id)
        if stream is None:
            if self.complete:
                return None
            raise NeedState(artifact_id, "stream")
        return None if stream is _ABSENT else stream

    def _live(self, artifact_id: str | None) -> bool:
        if artifact_id is None:
            return True
        stream = self._stream(artifact_id)
        return stream is not None and not stream.deleted

    def _ancestors(self, event: spec.Event, parent_id: str) -> set[str]:
        """``parent_id`` and its ancestors (every one live: a live artifact's parent is live)."""
        seen: set[str] = set()
        current: str | None = parent_id
        while current is not None:
            if current in seen:  # cannot happen while every event passed: say so rather than loop
                raise self.fail(event, "cycle", f"the parents above {parent_id} already form a cycle at {current}")
            seen.add(current)
            stream = self._stream(current)
            current = stream.parent if stream is not None else None
        return seen

    def check(self, event: spec.Event) -> None:
        """Refuse ``event`` with a :class:`BundleRuleError` unless a writer could have produced it next.

        Raises :class:`NeedState` (having changed nothing) when it needs the target's state first.
        """
        check_envelope(event, self.fail, seen=self.event_ids, last_time=self.last_time)
        payload = check_payload(event, self.fail)
        self._transition(event, payload)
        self.event_ids.add(event_number(event.event_id))
        self.last_time = event.recorded_at

    # ---- the stream's rules ---------------------------------------------------------------------------
    def _transition(self, event: spec.Event, payload: dict[str, Any]) -> None:
        """Check ``event`` against its stream and parents; then (only then) apply it."""
        aid, kind = event.artifact_id, event.type
        stream = self._stream(aid)
        if kind in PROVENANCE_EVENTS:
            self._provenance(event, payload, stream)
            return
        if kind == CREATED:
            if stream is not None:
                raise self.fail(event, "stream-start", f"artifact {aid} already exists (version {stream.version})")
            self._version(event, 0)
            parent = payload["parent_id"]
            self._parent(event, parent)
            digest = (
                ERASED if _erased(event) else state_digest(payload["data"], payload.get("content"), payload["tags"])
            )
            self.streams[aid] = Stream(1, parent, False, 0, states=[(parent, digest)])
            self._adopt(parent, +1)
            return
        if stream is None:
            raise self.fail(event, "stream-start", f"artifact {aid} has no artifact.created event before this one")
        self._version(event, stream.version)
        carried = None
        if "data" in payload:
            carried = (
                payload.get("parent_id", stream.parent),
                ERASED if _erased(event) else state_digest(payload["data"], payload.get("content"), payload["tags"]),
            )
        after: tuple[str | None, int] | None = None
        last = _last_state(stream)
        if kind == RESTORED:
            if not stream.deleted:
                raise self.fail(event, "live", f"artifact {aid} is not deleted, so it cannot be restored")
            if payload["parent_id"] != stream.parent:
                raise self.fail(
                    event, "payload", f"a restore keeps the parent {stream.parent}, not {payload['parent_id']}"
                )
            if _comparable(carried, last) and carried != last:
                raise self.fail(event, "payload", "a restore carries a state the artifact did not have when deleted")
            self._parent(event, stream.parent)
            stream.deleted = False
            self._adopt(stream.parent, +1)
        elif stream.deleted:
            raise self.fail(event, "live", f"artifact {aid} is deleted (restore it first)")
        elif kind == DELETED:
            if stream.parent is not None:
                self._stream(stream.parent)  # its count of children changes: it must be known
            if stream.children is None:
                raise NeedState(aid, "children")
            if stream.children:
                raise self.fail(event, "children", f"artifact {aid} still has {stream.children} live children")
            stream.deleted = True
            self._adopt(stream.parent, -1)
            self._record(stream, None)
            stream.version = event.version
            return
        elif kind == UPDATED:
            if _comparable(carried, last) and carried == last:
                raise self.fail(event, "payload", "an update that changes nothing (the writer records no event)")
        elif kind == MOVED:
            if payload["from_parent_id"] != stream.parent:
                raise self.fail(
                    event, "payload", f"from_parent_id {payload['from_parent_id']} is not the parent {stream.parent}"
                )
            if payload["to_parent_id"] == stream.parent:
                raise self.fail(event, "payload", "a move to the parent the artifact already has")
            self._reparent(event, stream, payload["to_parent_id"])
        elif kind == REVERTED:
            target = payload["reverted_to"]
            if target > stream.version:
                raise self.fail(event, "payload", f"reverted_to {target} is beyond version {stream.version}")
            if stream.states is not None and len(stream.states) == stream.version:
                then = stream.states[target - 1]
                if then is None:
                    raise self.fail(
                        event, "payload", f"version {target} is a deletion, which has no state to revert to"
                    )
                if _comparable(carried, then) and carried != then:
                    raise self.fail(event, "payload", f"the state carried is not the state of version {target}")
                if _comparable(carried, last) and carried == last:
                    raise self.fail(event, "payload", "a revert to the current state (the writer records no event)")
            if payload["parent_id"] != stream.parent:
                self._reparent(event, stream, payload["parent_id"])
        after = carried if carried is not None else (stream.parent, last[1]) if last is not None else None
        self._record(stream, after)
        stream.version = event.version

    @staticmethod
    def _record(stream: Stream, state: tuple[str | None, int] | None) -> None:
        """Append the state after this version (a deletion: None) while the history is known."""
        if stream.states is not None and len(stream.states) == stream.version:
            stream.states.append(state)
        else:
            stream.states = None

    def _provenance(self, event: spec.Event, payload: dict[str, Any], stream: Stream | None) -> None:
        """An alias's or a link's stream: dense versions, one kind of stream, live artifacts named.

        ``Stream.deleted`` here means "removed" (an alias pointing nowhere, a link not held);
        ``Stream.parent`` holds the stream's kind (``alias`` or ``link``)."""
        aid, kind = event.artifact_id, event.type
        if kind in HOLD_EVENTS or kind == RETENTION_APPLIED:
            self._retention(event, payload, stream)
            return
        if kind in LEDGER_EVENTS:  # a redaction or the switch to chain format 2: one event, a stream of its own
            if stream is not None:
                raise self.fail(event, "stream-start", f"stream {aid} already has events; a {kind} starts its own")
            self._version(event, 0)
            self.streams[aid] = Stream(1, "ledger", True, 0)  # never a live artifact
            return
        family = "alias" if kind in ALIAS_EVENTS else "link"
        if stream is not None and stream.parent != family:
            raise self.fail(event, "stream-start", f"stream {aid} is not an {family} stream")
        self._version(event, stream.version if stream is not None else 0)
        removed = kind in (ALIAS_REMOVED, LINK_REMOVED)
        ends = check_provenance_payload(event, self.fail, payload, family, removed)
        if family == "link" and (stream is not None and not stream.deleted) != removed:
            raise self.fail(
                event, "payload", f"{kind} of link stream {aid}, which {'is not' if removed else 'is'} held"
            )
        if not removed:
            for key in ends:
                if not self._live(payload[key]):
                    raise self.fail(event, "live", f"{key} {payload[key]} is not a live artifact")
        version = stream.version + 1 if stream is not None else 1
        self.streams[aid] = Stream(version, family, removed, 0)

    def _retention(self, event: spec.Event, payload: dict[str, Any], stream: Stream | None) -> None:
        """A hold's stream (one artifact, set and released in turn) or a retention run's (its parts).

        ``Stream.deleted`` here means "not held"; ``Stream.parent`` holds the stream's kind."""
        aid, kind = event.artifact_id, event.type
        family = "retention" if kind == RETENTION_APPLIED else "hold"
        if stream is not None and stream.parent != family:
            raise self.fail(event, "stream-start", f"stream {aid} is not a {family} stream")
        self._version(event, stream.version if stream is not None else 0)
        version = stream.version + 1 if stream is not None else 1
        if family == "hold":
            target, held = check_hold_payload(event, self.fail, payload)
            if (stream is not None and not stream.deleted) == held:
                raise self.fail(
                    event, "payload", f"{kind} of hold stream {aid}, which {'is' if held else 'is not'} held"
                )
            found = self._stream(target)
            if found is None or found.parent in ("alias", "link", "hold", "retention", "ledger"):
                raise self.fail(event, "live", f"artifact_id {target} is not an artifact")
            self.streams[aid] = Stream(version, family, not held, 0)
            return
        check_retention_run(event, self.fail, payload, version)
        self.streams[aid] = Stream(version, family, False, 0)

    def _version(self, event: spec.Event, current: int) -> None:
        if event.version != current + 1:
            raise self.fail(
                event,
                "version",
                f"artifact {event.artifact_id} is at version {current}; the next event must be version "
                f"{current + 1}, not {event.version}",
            )

    def _parent(self, event: spec.Event, parent_id: str | None) -> None:
        if parent_id == event.artifact_id:
            raise self.fail(event, "cycle", f"artifact {parent_id} cannot be its own parent")
        if not self._live(parent_id):
            raise self.fail(
                event, "parent", f"parent {parent_id} of artifact {event.artifact_id} is not a live artifact"
            )

    def _reparent(self, event: spec.Event, stream: Stream, parent_id: str | None) -> None:
        if stream.parent is not None:
            self._stream(stream.parent)  # the old parent's count changes: it must be known
        self._parent(event, parent_id)
        if parent_id is not None and event.artifact_id in self._ancestors(event, parent_id):
            raise self.fail(
                event, "cycle", f"moving {event.artifact_id} under {parent_id}, one of its descendants, makes a cycle"
            )
        self._adopt(stream.parent, -1)
        self._adopt(parent_id, +1)
        stream.parent = parent_id

    def _adopt(self, parent_id: str | None, change: int) -> None:
        if parent_id is None:
            return
        parent = self.streams.get(parent_id)
        if parent is None or parent is _ABSENT:
            return
        if parent.children is None:  # a target artifact whose children are counted when needed
            parent.delta += change
        else:
            parent.children += change
