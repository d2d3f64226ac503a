"""The stateless half of the bundle rules: one event's envelope and payload, each checked alone.

What can be judged from an event by itself lives here: its ids are ULIDs, its type and schema
version are known, its numbers fit, its attribution is storable, its payload has exactly the keys,
types and canonical bytes the writer gives that event type, and a retention event's lists are
well formed. What needs the events before it (versions, parents, cycles, live children) is
:class:`~artifact_ledger.bundle_check.EventRules`, which calls these and reports through its
``fail``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from . import codec
from . import verify_bundle as spec
from .aliases import alias_payload
from .ambient import validate as validate_attribution
from .arguments import MAX_POSITION, MAX_VERSION
from .chain_v2 import encode_text
from .commands import MAX_TAG_LENGTH, MAX_TAGS, MAX_TYPE_LENGTH
from .content.codecs import DEFAULT_MEDIA_TYPE
from .content.encoding import MAX_MEDIA_TYPE_LENGTH
from .errors import BundleRuleError, InvalidAttributionError
from .events import (
    ALIAS_EVENTS,
    CHAIN_UPGRADED,
    CREATED,
    CURRENT_SCHEMA_VERSION,
    DELETED,
    EVENT_TYPES,
    HOLD_EVENTS,
    HOLD_SET,
    LINK_EVENTS,
    MOVED,
    REDACTED,
    RESTORED,
    RETENTION_APPLIED,
    REVERTED,
    UPDATED,
    Attribution,
)
from .lineage import link_payload

Fail = Callable[[spec.Event, str, str], BundleRuleError]
"""Makes the refusal of an event: ``fail(event, rule, detail)`` (see ``EventRules.fail``)."""

ULID_TEXT: Final = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}\Z")
"""A ULID as the ledger writes it: 26 upper-case Crockford base32 characters, at most 128 bits."""
MAX_SIZE: Final = 2**63 - 1

_STATE_KEYS: Final = frozenset({"content", "data", "tags"})
_PAYLOAD_KEYS: Final = {
    CREATED: _STATE_KEYS | {"parent_id"},
    UPDATED: _STATE_KEYS,
    RESTORED: _STATE_KEYS | {"parent_id"},
    REVERTED: _STATE_KEYS | {"parent_id", "reverted_to"},
    MOVED: frozenset({"from_parent_id", "to_parent_id"}),
    DELETED: frozenset({"cascade_root"}),
    **dict.fromkeys(ALIAS_EVENTS, frozenset(alias_payload("", None, None, False, None))),
    **dict.fromkeys(LINK_EVENTS, frozenset(link_payload("", "", 0, "", 0))),
    **dict.fromkeys(HOLD_EVENTS, frozenset({"artifact_id", "held"})),
    RETENTION_APPLIED: frozenset({"policy", "expired", "deleted", "part", "parts"}),
    REDACTED: frozenset({"artifact_id", "erased", "fields", "version"}),
    CHAIN_UPGRADED: frozenset({"format"}),
}
_POLICY_KEYS: Final = frozenset({"keep_last", "keep_aliased", "keep_newer_than", "cutoff"})
_CONTENT_KEYS: Final = frozenset({"codec", "hash", "media_type", "size"})
_FROM_CROCKFORD: Final = str.maketrans("0123456789ABCDEFGHJKMNPQRSTVWXYZ", "0123456789abcdefghijklmnopqrstuv")


def event_number(event_id: str) -> int:
    """A ULID's 128-bit value (so two spellings of one id count as the same id)."""
    return int(event_id.translate(_FROM_CROCKFORD), 32)


def check_envelope(event: spec.Event, fail: Fail, *, seen: set[int], last_time: str | None) -> None:
    """Ids, uniqueness of the event id (against ``seen``), type, schema version, numbers, time, attribution."""
    if not ULID_TEXT.match(event.event_id):
        raise fail(event, "ulid", f"event id {event.event_id[:60]!r} is not a ULID")
    if not ULID_TEXT.match(event.artifact_id):
        raise fail(event, "ulid", f"artifact id {event.artifact_id[:60]!r} is not a ULID")
    if event_number(event.event_id) in seen:
        raise fail(event, "unique-event-id", f"event id {event.event_id} was used by an earlier event")
    if event.type not in EVENT_TYPES:
        raise fail(event, "type", f"unknown event type {event.type[:60]!r} (known: {sorted(EVENT_TYPES)})")
    if event.schema_version != CURRENT_SCHEMA_VERSION:
        raise fail(
            event,
            "schema-version",
            f"schema_version {event.schema_version} is not one this version reads ({CURRENT_SCHEMA_VERSION})",
        )
    if event.position > MAX_POSITION:
        raise fail(event, "number", f"position {event.position} is beyond {MAX_POSITION}")
    if event.version > MAX_VERSION:
        raise fail(event, "number", f"version {event.version} is beyond {MAX_VERSION} (32-bit versions)")
    if last_time is not None and event.recorded_at < last_time:
        raise fail(event, "time", f"recorded_at {event.recorded_at} is before the previous event's {last_time}")
    try:
        validate_attribution(Attribution(event.actor, event.reason, event.correlation_id, event.causation_id))
    except InvalidAttributionError as exc:
        raise fail(event, "attribution", str(exc)) from None


def check_payload(event: spec.Event, fail: Fail) -> dict[str, Any]:
    """The payload parsed, once it has exactly the keys, value types and canonical bytes of its event type."""
    try:
        payload = codec.loads(event.payload)
    except orjson.JSONDecodeError as exc:
        raise fail(event, "payload", f"the payload is not JSON ({exc})") from None
    if type(payload) is not dict:
        raise fail(event, "payload", "the payload is not a JSON object")
    wanted = _PAYLOAD_KEYS[event.type]
    if set(payload) != wanted:
        # A member a redaction erased is missing by right: the opening holds its digest (chain format 2).
        erased = set(event.opening.erased) if event.opening is not None else set()
        missing = sorted(k for k in wanted - set(payload) if "[" + encode_text(k) + "]" not in erased)
        extra = sorted(set(payload) - wanted)
        if missing or extra:
            raise fail(event, "payload", f"the payload has the wrong keys (missing {missing}, unexpected {extra})")
    for key in ("parent_id", "from_parent_id", "to_parent_id", "cascade_root"):
        if key in payload:
            check_id_or_none(event, fail, payload[key], key)
    if "data" in payload:
        _check_state(event, fail, payload)
    if "reverted_to" in payload:
        value = payload["reverted_to"]
        if type(value) is not int or not 1 <= value <= MAX_VERSION:
            raise fail(event, "payload", f"reverted_to must be a version number, not {value!r:.60}")
    if codec.dumps_trusted(payload) != event.payload.encode():
        raise fail(event, "canonical", "the payload is not written as the ledger writes it")
    return payload


def check_id_or_none(event: spec.Event, fail: Fail, value: Any, key: str) -> None:
    """``value`` (the payload's ``key``) is None or a ULID."""
    if value is not None and (type(value) is not str or not ULID_TEXT.match(value)):
        raise fail(event, "ulid", f"{key} {value!r:.60} is not a ULID")


def _check_state(event: spec.Event, fail: Fail, payload: dict[str, Any]) -> None:
    """The data, tags and content reference of a state event are what the writer could store."""
    data = payload["data"]
    try:
        codec.dumps_stored(data)
    except (codec.NotJSONError, codec.UnstorableError) as exc:
        raise fail(event, "payload", f"data: {exc}") from None
    if isinstance(data, dict):
        if data.get("content") is not None:
            raise fail(event, "payload", "data holds 'content': content is stored as a blob reference")
        kind = data.get("type")
        if isinstance(kind, str) and len(kind) > MAX_TYPE_LENGTH:
            raise fail(event, "payload", f"data['type'] is {len(kind)} characters; the most is 255")
    tags = payload["tags"]
    if type(tags) is not list or len(tags) > MAX_TAGS:
        raise fail(event, "payload", f"tags must be a list of at most {MAX_TAGS} strings, not {tags!r:.60}")
    for tag in tags:
        if type(tag) is not str or len(tag) > MAX_TAG_LENGTH or "\x00" in tag:
            raise fail(event, "payload", f"tag {tag!r:.60} is not a string of at most 255 characters")
    content = payload.get("content")  # absent: erased by a redaction (check_payload made sure)
    if content is None:
        return
    if type(content) is not dict or set(content) != _CONTENT_KEYS:
        raise fail(event, "payload", f"content must be an object with keys {sorted(_CONTENT_KEYS)}")
    if content["codec"] not in DEFAULT_MEDIA_TYPE:
        raise fail(event, "payload", f"content codec {content['codec']!r:.60} is not one the ledger writes")
    if type(content["hash"]) is not str or not spec.HEX64.match(content["hash"]):
        raise fail(event, "payload", f"content hash {content['hash']!r:.80} is not 64 lowercase hex digits")
    size = content["size"]
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        raise fail(event, "number", f"content size {size!r:.60} is not an integer from 0 to {MAX_SIZE}")
    media = content["media_type"]
    if media is not None and (type(media) is not str or len(media) > MAX_MEDIA_TYPE_LENGTH or "\x00" in media):
        raise fail(event, "payload", f"content media_type {media!r:.60} is not a storable content type")


def check_provenance_payload(
    event: spec.Event, fail: Fail, payload: dict[str, Any], family: str, removed: bool
) -> tuple[str, ...]:
    """An alias's or a link's payload: ids, version numbers, an alias's name and flag, no self-link.

    Returns the payload keys naming the artifacts at its ends (which must be live unless ``removed``).
    """
    ends = ("artifact_id",) if family == "alias" else ("src_id", "dst_id")
    for key in ends:
        check_id_or_none(event, fail, payload[key], key)
    for key in ("version", "from_version", "src_version", "dst_version"):
        value = payload.get(key)
        if value is not None and (type(value) is not int or not 1 <= value <= MAX_VERSION):
            raise fail(event, "payload", f"{key} must be a version number, not {value!r:.60}")
    if family == "alias":
        if type(payload["name"]) is not str or not payload["name"] or type(payload["protected"]) is not bool:
            raise fail(event, "payload", "an alias event needs a name and a protected flag")
        if (payload["artifact_id"] is None) != removed or (payload["version"] is None) != removed:
            raise fail(event, "payload", f"{event.type} must {'not ' if removed else ''}name an artifact version")
    elif payload["src_id"] == payload["dst_id"]:
        raise fail(event, "payload", f"link from {payload['src_id']} to itself")
    return ends


def check_hold_payload(event: spec.Event, fail: Fail, payload: dict[str, Any]) -> tuple[str, bool]:
    """A hold event's ``(artifact_id, held)``: an id, and held exactly when the hold is set."""
    target = payload["artifact_id"]
    check_id_or_none(event, fail, target, "artifact_id")
    held = payload["held"]
    if type(target) is not str or type(held) is not bool or held != (event.type == HOLD_SET):
        raise fail(event, "payload", f"{event.type} needs an artifact_id and held={event.type == HOLD_SET}")
    return target, held


def check_retention_run(event: spec.Event, fail: Fail, payload: dict[str, Any], version: int) -> None:
    """A ``retention.applied`` event: its policy's keys, its place among its run's parts, its lists."""
    policy, part, parts = payload["policy"], payload["part"], payload["parts"]
    if type(policy) is not dict or set(policy) != _POLICY_KEYS:
        raise fail(event, "payload", f"a retention policy must be an object with keys {sorted(_POLICY_KEYS)}")
    if type(part) is not int or type(parts) is not int or not 1 <= part <= parts or part != version:
        raise fail(event, "payload", f"part {part!r:.20} of {parts!r:.20} is not this event's place in its run")
    expired, deleted = payload["expired"], payload["deleted"]
    if type(expired) is not list or type(deleted) is not list:
        raise fail(event, "payload", "a retention event's expired and deleted must be lists")
    for item in expired:
        if (
            type(item) is not list
            or len(item) != 3
            or type(item[0]) is not str
            or not ULID_TEXT.match(item[0])
            or type(item[1]) is not int
            or not 1 <= item[1] <= MAX_VERSION
            or type(item[2]) is not str
            or not spec.HEX64.match(item[2])
        ):
            raise fail(event, "payload", f"an expired version must be [artifact id, version, hash], not {item!r:.80}")
    for item in deleted:
        if (
            type(item) is not list
            or len(item) != 2
            or type(item[0]) is not str
            or not spec.HEX64.match(item[0])
            or type(item[1]) is not int
            or not 0 <= item[1] <= MAX_SIZE
        ):
            raise fail(event, "payload", f"a deleted blob must be [hash, size], not {item!r:.80}")
