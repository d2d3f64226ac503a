"""Event types: stable names, payload shapes, and the upcasters that read old payloads.

Three shapes, one mapper: a :class:`NewEvent` is what ``decide`` produces; a
:class:`RecordedEvent` is what the log holds once it has a position and a hash;
the read models live in ``schemas``. Type names are stable strings and never
Python import paths; a payload is never rewritten: an old ``schema_version`` is
upcast on read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from .chain_v2 import Opening

CREATED: Final = "artifact.created"
UPDATED: Final = "artifact.updated"
MOVED: Final = "artifact.moved"
DELETED: Final = "artifact.deleted"
RESTORED: Final = "artifact.restored"
REVERTED: Final = "artifact.reverted"

ALIAS_SET: Final = "alias.set"
ALIAS_REMOVED: Final = "alias.removed"
ALIAS_PROTECTED: Final = "alias.protected"
LINK_ADDED: Final = "link.added"
LINK_REMOVED: Final = "link.removed"
HOLD_SET: Final = "hold.set"
HOLD_RELEASED: Final = "hold.released"
RETENTION_APPLIED: Final = "retention.applied"
REDACTED: Final = "artifact.redacted"
CHAIN_UPGRADED: Final = "ledger.chain_upgraded"

ALIAS_EVENTS: Final = frozenset({ALIAS_SET, ALIAS_REMOVED, ALIAS_PROTECTED})
"""Events of an alias's own stream; each payload carries the alias's whole state (see ``aliases.py``)."""
LINK_EVENTS: Final = frozenset({LINK_ADDED, LINK_REMOVED})
"""Events of a lineage link's own stream (see ``lineage.py``)."""
HOLD_EVENTS: Final = frozenset({HOLD_SET, HOLD_RELEASED})
"""Events of a hold's own stream (one per held artifact, see ``retention.py``)."""
RETENTION_EVENTS: Final = HOLD_EVENTS | {RETENTION_APPLIED}
"""Holds and applications of a retention policy (each application a stream of its own)."""
LEDGER_EVENTS: Final = frozenset({REDACTED, CHAIN_UPGRADED})
"""Events about the ledger itself, each on a stream of its own: a redaction, the switch to chain format 2."""
PROVENANCE_EVENTS: Final = ALIAS_EVENTS | LINK_EVENTS | RETENTION_EVENTS | LEDGER_EVENTS
"""Events whose stream is not an artifact's: an alias's, a link's, a hold's or a retention run's."""

ARTIFACT_EVENTS: Final = frozenset({CREATED, UPDATED, MOVED, DELETED, RESTORED, REVERTED})
"""Events of an artifact's stream."""

EVENT_TYPES: Final = ARTIFACT_EVENTS | PROVENANCE_EVENTS
"""The registry of event type names this version writes and reads."""


def expand_event_types(types: Sequence[str]) -> list[str]:
    """Event type filters with each ``prefix.*`` pattern replaced by the known types it matches
    (``alias.*``: ``alias.protected``, ``alias.removed``, ``alias.set``); a pattern matching no
    known type, and any other name, is kept as given (the caller refuses unknown names)."""
    out: list[str] = []
    for t in types:
        matched = sorted(k for k in EVENT_TYPES if k.startswith(t[:-1])) if t.endswith(".*") else []
        out.extend(matched or [t])
    return list(dict.fromkeys(out))


CURRENT_SCHEMA_VERSION: Final = 1

STATE_EVENTS: Final = frozenset({CREATED, UPDATED, RESTORED, REVERTED})
"""Events whose payload carries the artifact's full state (data, content ref, tags)."""

# Payload shapes (schema_version 1):
#   artifact.created  {"parent_id": str|None, "data": JSON, "content": ContentRef|None, "tags": [str]}
#   artifact.updated  {"data": JSON, "content": ContentRef|None, "tags": [str]}
#   artifact.restored {"parent_id": str|None, "data": JSON, "content": ContentRef|None, "tags": [str]}
#   artifact.moved    {"from_parent_id": str|None, "to_parent_id": str|None}
#   artifact.deleted  {"cascade_root": str|None}
#   artifact.reverted {"parent_id": str|None, "data": JSON, "content": ContentRef|None, "tags": [str],
#                      "reverted_to": int}   (the state of version reverted_to, as a new version)
#   alias.set / alias.removed / alias.protected
#                     {"name": str, "artifact_id": str|None, "version": int|None, "protected": bool,
#                      "from_artifact_id": str|None, "from_version": int|None}   (stream: the alias's own id)
#   link.added / link.removed
#                     {"kind": str, "src_id": str, "src_version": int, "dst_id": str, "dst_version": int}
#                     (stream: the link's own id)
#   hold.set / hold.released
#                     {"artifact_id": str, "held": bool}   (stream: the hold's own id, one per artifact)
#   retention.applied {"policy": {"keep_last": int|None, "keep_aliased": bool, "keep_newer_than": float|None,
#                                 "cutoff": str|None}, "expired": [[artifact_id, version, hash]],
#                      "deleted": [[hash, size]], "part": int, "parts": int}
#                     (stream: the run's own id; a run of many versions is several parts)
# ContentRef = {"hash": hex sha256, "codec": str, "media_type": str|None, "size": int}


@dataclass(frozen=True, slots=True)
class ContentRef:
    """A pointer from an event to a content blob."""

    hash: str
    codec: str
    media_type: str | None
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "codec": self.codec, "media_type": self.media_type, "size": self.size}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ContentRef | None:
        if raw is None:
            return None
        return cls(raw["hash"], raw["codec"], raw.get("media_type"), int(raw["size"]))


REDACTED_CODEC: Final = "redacted"
"""The codec of :data:`ERASED_CONTENT`: no blob, the content reference itself was erased."""
ERASED_CONTENT: Final = ContentRef("", REDACTED_CODEC, None, 0)
"""The content of a version whose content reference a redaction erased from its payload (the
payload has no ``content`` member at all; every state event is written with one, null or not).
Projected as ``content_hash`` NULL with ``content_codec`` ``redacted``; reads of it raise
:class:`~artifact_ledger.errors.RedactedError`; a later version built from it has no content."""


def content_of(payload: dict[str, Any]) -> ContentRef | None:
    """The content reference of a state event's payload: None, a blob, or :data:`ERASED_CONTENT`."""
    if "content" not in payload:
        return ERASED_CONTENT
    return ContentRef.from_json(payload["content"])


def content_pair(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(hash, codec) of a state event's content as the projections store them (erased: NULL, ``redacted``)."""
    if "content" not in payload:
        return None, REDACTED_CODEC
    content = payload["content"]
    return (content["hash"], content["codec"]) if content else (None, None)


def stored_content(content: ContentRef | None) -> dict[str, Any] | None:
    """A content reference as a new event's payload holds it (erased content is written as none)."""
    return None if content is None or content.codec == REDACTED_CODEC else content.to_json()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event decided but not yet appended (no position, time or hash yet)."""

    artifact_id: str
    version: int
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who did it and why; stamped on every event of one command."""

    actor: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as the log holds it."""

    position: int
    event_id: str
    artifact_id: str
    version: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    recorded_at: datetime
    actor: str | None
    reason: str | None
    correlation_id: str | None
    causation_id: str | None
    prev_hash: bytes
    hash: bytes
    payload_json: bytes = b""
    """The canonical payload bytes, when the writer already has them (saves a re-encode)."""
    opening: Opening | None = None
    """What opens the commitment of an event sealed under chain format 2 (None: format 1)."""


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(type, schema_version) -> function producing the payload at schema_version + 1."""


def register_upcaster(event_type: str, from_version: int, upcaster: Upcaster) -> None:
    """Teach the reader how to lift ``event_type`` payloads from ``from_version`` to the next."""
    _UPCASTERS[(event_type, from_version)] = upcaster


def upcast(event_type: str, schema_version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload in the current schema version; stored payloads are never rewritten."""
    while schema_version < CURRENT_SCHEMA_VERSION:
        payload = _UPCASTERS[(event_type, schema_version)](payload)
        schema_version += 1
    return payload
