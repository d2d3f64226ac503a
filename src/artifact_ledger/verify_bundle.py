"""Verify an artifact-ledger bundle, and Merkle proofs, using only the Python standard library.

    python verify_bundle.py BUNDLE [--head POSITION:HASH] [--json]
    python verify_bundle.py [BUNDLE] --proof FILE [--proof FILE ...] [--json]
    python -m artifact_ledger.verify BUNDLE [--head POSITION:HASH] [--json]

This file imports nothing outside the standard library and nothing from artifact-ledger,
so an auditor can copy it alone and run it with a bare interpreter (``python -S -I``).
It recomputes every event's chained hash from the bundle (``docs/bundle-format.md``),
checks every blob against its SHA-256, and compares the bundle's head with the manifest
and, with ``--head``, with a head recorded elsewhere. Exit status: 0 verified, 1 the
bundle fails verification (the first broken position and why are printed), 2 usage error.

The bytes each hash covers are specified in ``docs/chain.md``. The library defines them in
``chain.py``; this file restates them (``canonical_envelope``, ``chained_hash``) with the
standard library alone, and the golden vectors in ``tests/vectors`` hold both to the same bytes.

``--proof FILE`` checks an inclusion or consistency proof written by ``Ledger.prove_inclusion``
or ``Ledger.prove_consistency`` (their JSON): the RFC 9162 Merkle hashing and audit-path
algorithms are restated here too (``merkle_leaf``, ``verify_inclusion``, ``verify_consistency``;
the library's are in ``merkle.py``, ``tests/vectors/merkle.json`` pins both). With a bundle that
starts at position 1, each proof's root must also be the root of the bundle's own events.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import math
import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

FORMAT = "artifact-ledger-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
BLOBS = "blobs"
GENESIS_HEX = "0" * 64
REANCHOR_WINDOW = 1024

MODIFIED = "modified"
DELETED = "deleted"
REORDERED = "reordered"
INSERTED = "inserted"
BLOB_CORRUPTED = "blob_corrupted"
BLOB_MISSING = "blob_missing"
MALFORMED = "malformed"

OPENING = "opening"
REDACTED = "artifact.redacted"
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
EVENT_FIELDS = (
    "position",
    "event_id",
    "artifact_id",
    "version",
    "type",
    "schema_version",
    "payload",
    "recorded_at",
    "actor",
    "reason",
    "correlation_id",
    "causation_id",
    "prev_hash",
    "hash",
)
ENVELOPE_FIELDS = (
    "actor",
    "artifact_id",
    "causation_id",
    "correlation_id",
    "event_id",
    "position",
    "reason",
    "recorded_at",
    "schema_version",
    "type",
    "version",
)
"""The members of the hashed envelope, in the order they are written (sorted by name)."""
_OPTIONAL_TEXT = ("actor", "reason", "correlation_id", "causation_id")
_REQUIRED_TEXT = ("artifact_id", "event_id", "recorded_at", "type")
_INTEGERS = ("position", "schema_version", "version")
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
"""The integers hashed JSON can hold; one beyond them is refused, never read as a float."""
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\Z")
_CHUNK = 1 << 20
MAX_CHUNK = 64 << 20
"""The largest chunk a manifest may list (the ledger writes 4 MiB chunks): a bound on what is read at once."""


class BundleFormatError(ValueError):
    """The bundle (or one line of it) does not have the documented structure."""


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: what the bundle holds and where its chain starts and ends."""

    first_position: int
    prev_hash: str
    head_position: int
    head_hash: str
    event_count: int
    events_sha256: str
    blob_count: int
    blob_bytes: int
    created_at: str | None = None
    generator: str | None = None
    merkle_size: int | None = None
    """The size of the Merkle tree ``merkle_root`` is the root of: ``head_position`` (absent in older bundles)."""
    merkle_root: str | None = None
    """The RFC 9162 Merkle root (hex) of the log's first ``merkle_size`` events."""
    merkle_frontier: tuple[str, ...] | None = None
    """An incremental bundle's base: the roots of the complete subtrees of the tree of the first
    ``first_position - 1`` events, largest first (empty for a bundle from position 1)."""


@dataclass(frozen=True)
class Event:
    """One line of ``events.jsonl``: a stored event, field for field (hashes as hex)."""

    position: int
    event_id: str
    artifact_id: str
    version: int
    type: str
    schema_version: int
    payload: str
    recorded_at: str
    actor: str | None
    reason: str | None
    correlation_id: str | None
    causation_id: str | None
    prev_hash: str
    hash: str
    opening: Opening | None = None
    """Chain format 2 only (the line's ``opening`` member): what opens the event's commitment."""


@dataclass(frozen=True)
class Opening:
    """A format-2 event's opening: the event salt, or the kept leaf salts and the erased leaves' digests."""

    salt: bytes | None
    salts: dict[str, bytes]
    erased: dict[str, bytes]


@dataclass
class BundleReport:
    """The outcome: ``ok``, or the first broken position (None: no event's), ``reason`` and ``problem``."""

    ok: bool
    events_checked: int = 0
    blobs_checked: int = 0
    broken_position: int | None = None
    reason: str | None = None
    problem: str | None = None
    head_position: int = 0
    head_hash: str = GENESIS_HEX
    manifest: dict[str, Any] = field(default_factory=dict)
    merkle: str | None = None
    """What became of the Merkle root: checked (naming it), or why not ("no Merkle root in manifest")."""
    format_2_from: int | None = None
    """The position of the first event sealed under chain format 2 (None: the events read were all format 1)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Broken(Exception):
    def __init__(self, position: int | None, reason: str, problem: str) -> None:
        super().__init__(problem)
        self.position = position
        self.reason = reason
        self.problem = problem


# ---- parsing -----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _int64(text: str) -> int:
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError(f"the integer {text[:40]} is beyond 64 bits (-2**63 to 2**64-1)")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is beyond the range of a double")
    return value


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (a code point UTF-8 cannot encode), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _surrogate_problem(text: str, what: str) -> str | None:
    at = lone_surrogate(text)
    if at is None:
        return None
    return f"{what} {text[:40]!r} holds a lone surrogate (U+{ord(text[at]):04X} at index {at}), which is not UTF-8 text"


def _check_strings(value: Any) -> None:
    """Refuse a lone surrogate in any string or key of a parsed JSON value (only ``\\u`` escapes make one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            problem = _surrogate_problem(item, "a string")
            if problem is not None:
                raise ValueError(problem)
        elif type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)


def loads(raw: bytes | str) -> Any:
    """Strict JSON, as the ledger writes it; every failure is a ValueError naming the problem.

    Refused: NaN and infinities, numbers beyond a double, integers beyond 64 bits (the
    ledger's reader would turn them into floats), duplicate keys, invalid UTF-8 and
    strings holding a lone surrogate (a ``\\ud800`` escape without its pair).
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_int64,
            parse_float=_finite,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if "\\u" in text:
        _check_strings(value)
    return value


def _int(record: dict[str, Any], key: str, where: str, minimum: int = 0) -> int:
    value = record.get(key)
    if type(value) is not int or value < minimum:
        raise BundleFormatError(f"{where}: {key} must be an integer >= {minimum}, not {value!r}")
    return value


def _hex(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if type(value) is not str or not HEX64.match(value):
        raise BundleFormatError(f"{where}: {key} must be 64 lowercase hex digits, not {value!r}")
    return value


def _text(record: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if type(value) is not str:
        raise BundleFormatError(f"{where}: {key} must be a string, not {value!r}")
    return value


def parse_manifest(raw: bytes) -> Manifest:
    """The manifest from the bytes of ``manifest.json``; :class:`BundleFormatError` names what is wrong."""
    try:
        record = loads(raw)
    except ValueError as exc:
        raise BundleFormatError(f"{MANIFEST} is not valid JSON ({exc})") from None
    if type(record) is not dict:
        raise BundleFormatError(f"{MANIFEST} must hold a JSON object")
    if record.get("format") != FORMAT:
        raise BundleFormatError(f"{MANIFEST}: format is {record.get('format')!r}, not {FORMAT!r}")
    version = record.get("format_version")
    if version != FORMAT_VERSION or type(version) is not int:
        raise BundleFormatError(
            f"{MANIFEST}: format_version {version!r} is not {FORMAT_VERSION}, the version this verifier reads"
        )
    if record.get("hash_algorithm") != "sha256":
        raise BundleFormatError(f"{MANIFEST}: hash_algorithm is {record.get('hash_algorithm')!r}, not 'sha256'")
    manifest = Manifest(
        first_position=_int(record, "first_position", MANIFEST, 1),
        prev_hash=_hex(record, "prev_hash", MANIFEST),
        head_position=_int(record, "head_position", MANIFEST),
        head_hash=_hex(record, "head_hash", MANIFEST),
        event_count=_int(record, "event_count", MANIFEST),
        events_sha256=_hex(record, "events_sha256", MANIFEST),
        blob_count=_int(record, "blob_count", MANIFEST),
        blob_bytes=_int(record, "blob_bytes", MANIFEST),
        created_at=_text(record, "created_at", MANIFEST, optional=True),
        generator=_text(record, "generator", MANIFEST, optional=True),
        **_merkle_fields(record),
    )
    if manifest.head_position < manifest.first_position - 1:
        raise BundleFormatError(f"{MANIFEST}: head_position {manifest.head_position} is before first_position")
    if manifest.event_count == 0 and (
        manifest.head_position != manifest.first_position - 1 or manifest.head_hash != manifest.prev_hash
    ):
        raise BundleFormatError(f"{MANIFEST}: a bundle without events must end where it starts (prev_hash)")
    if manifest.first_position == 1 and manifest.prev_hash != GENESIS_HEX:
        raise BundleFormatError(f"{MANIFEST}: a bundle from position 1 must have the genesis prev_hash (64 zeros)")
    if manifest.merkle_size is not None and manifest.merkle_size != manifest.head_position:
        raise BundleFormatError(
            f"{MANIFEST}: merkle_size {manifest.merkle_size} is not head_position {manifest.head_position}"
        )
    base = manifest.first_position - 1
    if manifest.merkle_frontier is not None and len(manifest.merkle_frontier) != base.bit_count():
        raise BundleFormatError(
            f"{MANIFEST}: merkle_frontier holds {len(manifest.merkle_frontier)} hashes; the tree of the "
            f"{base} events before the bundle has {base.bit_count()} complete subtrees"
        )
    return manifest


_MERKLE_KEYS = ("merkle_size", "merkle_root", "merkle_frontier")


def _merkle_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The manifest's Merkle fields: all of them or none (a bundle written before the tree had none)."""
    present = [k for k in _MERKLE_KEYS if k in record]
    if not present:
        return {}
    missing = [k for k in _MERKLE_KEYS if k not in record]
    if missing:
        raise BundleFormatError(f"{MANIFEST}: has {', '.join(present)} but not {', '.join(missing)}")
    frontier = record["merkle_frontier"]
    if type(frontier) is not list or not all(type(h) is str and HEX64.match(h) for h in frontier):
        raise BundleFormatError(f"{MANIFEST}: merkle_frontier must be a list of 64-digit lowercase hex hashes")
    return {
        "merkle_size": _int(record, "merkle_size", MANIFEST),
        "merkle_root": _hex(record, "merkle_root", MANIFEST),
        "merkle_frontier": tuple(frontier),
    }


def parse_event(line: bytes, where: str) -> Event:
    """One ``events.jsonl`` line (without its newline) as an :class:`Event`; :class:`BundleFormatError` if malformed."""
    try:
        record = loads(line)
    except ValueError as exc:
        raise BundleFormatError(f"{where} is not valid JSON ({exc})") from None
    if type(record) is not dict:
        raise BundleFormatError(f"{where} must be a JSON object")
    if set(record) - {OPENING} != set(EVENT_FIELDS):
        missing = sorted(set(EVENT_FIELDS) - set(record))
        extra = sorted(set(record) - set(EVENT_FIELDS) - {OPENING})
        raise BundleFormatError(f"{where} has the wrong fields (missing {missing}, unexpected {extra})")
    recorded_at = check_time_text(_text(record, "recorded_at", where) or "", f"{where}: recorded_at")
    return Event(
        position=_int(record, "position", where, 1),
        event_id=_text(record, "event_id", where) or "",
        artifact_id=_text(record, "artifact_id", where) or "",
        version=_int(record, "version", where, 1),
        type=_text(record, "type", where) or "",
        schema_version=_int(record, "schema_version", where, 1),
        payload=_text(record, "payload", where) or "",
        recorded_at=recorded_at,
        actor=_text(record, "actor", where, optional=True),
        reason=_text(record, "reason", where, optional=True),
        correlation_id=_text(record, "correlation_id", where, optional=True),
        causation_id=_text(record, "causation_id", where, optional=True),
        prev_hash=_hex(record, "prev_hash", where),
        hash=_hex(record, "hash", where),
        opening=None if record.get(OPENING) is None else parse_opening(record[OPENING], where),  # null: format 1
    )


def parse_opening(record: Any, where: str) -> Opening:
    """A line's ``opening``: ``{"salt": hex or null, "salts": {path: hex}, "erased": {path: hex}}``."""
    if type(record) is not dict or set(record) != {"salt", "salts", "erased"}:
        raise BundleFormatError(f"{where}: opening must be an object of salt, salts and erased")
    salt = record["salt"]
    if salt is not None and (type(salt) is not str or not _HEX64.match(salt)):
        raise BundleFormatError(f"{where}: opening salt must be 64 hex digits or null")
    maps: list[dict[str, bytes]] = []
    for name in ("salts", "erased"):
        value = record[name]
        if type(value) is not dict or not all(type(v) is str and _HEX64.match(v) for v in value.values()):
            raise BundleFormatError(f"{where}: opening {name} must map leaf paths to 64 hex digits")
        maps.append({path: bytes.fromhex(v) for path, v in value.items()})
    if salt is not None and (maps[0] or maps[1]):
        raise BundleFormatError(f"{where}: an opening with the event salt keeps no leaf salts or erased digests")
    return Opening(None if salt is None else bytes.fromhex(salt), maps[0], maps[1])


def check_time_text(text: str, what: str = "recorded_at") -> str:
    """``text`` if it is a canonical time, else BundleFormatError.

    A canonical time names a real UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, fixed width:
    the year has four digits (``0999``, never ``999``), the fraction six.
    """
    if _TIME.match(text):
        try:
            datetime.fromisoformat(text[:-1])
            return text
        except ValueError:
            pass
    raise BundleFormatError(f"{what} {text[:40]!r} is not a time written as YYYY-MM-DDTHH:MM:SS.ffffffZ")


def canonical_envelope(fields: Mapping[str, Any]) -> bytes:
    """The canonical envelope bytes (``docs/chain.md``) of an event's fields; BundleFormatError if it has none.

    UTF-8 of the JSON object of the eleven members of ``ENVELOPE_FIELDS``, in that order,
    without whitespace, non-ASCII text unescaped. The integers must lie within 64 bits, the
    texts must be UTF-8 text (no lone surrogate); attribution may be null.
    """
    for name in _INTEGERS:
        value = fields[name]
        if type(value) is not int or not INT_MIN <= value <= INT_MAX:
            raise BundleFormatError(f"the envelope's {name} {value!r} is not an integer within 64 bits")
    for name in _REQUIRED_TEXT:
        if type(fields[name]) is not str:
            raise BundleFormatError(f"the envelope's {name} {fields[name]!r} is not text")
    for name in _OPTIONAL_TEXT:
        if fields[name] is not None and type(fields[name]) is not str:
            raise BundleFormatError(f"the envelope's {name} {fields[name]!r} is neither text nor null")
    text = json.dumps({name: fields[name] for name in ENVELOPE_FIELDS}, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        for name in (*_REQUIRED_TEXT, *_OPTIONAL_TEXT):
            problem = _surrogate_problem(fields[name] or "", f"the envelope's {name}")
            if problem is not None:
                raise BundleFormatError(problem) from None
        raise  # pragma: no cover - a member name is ASCII, so a text field failed above


def payload_bytes(payload: str) -> bytes:
    """The payload's bytes as hashed: its stored text, UTF-8, never re-serialised."""
    try:
        return payload.encode("utf-8")
    except UnicodeEncodeError:
        raise BundleFormatError(_surrogate_problem(payload, "the payload") or "the payload is not UTF-8") from None


def chained_hash(prev_hash: bytes, envelope: bytes, payload: bytes) -> bytes:
    """``SHA-256(prev_hash ‖ envelope ‖ "\\n" ‖ payload)``: the hash of one event."""
    return hashlib.sha256(prev_hash + envelope + b"\n" + payload).digest()


# Chain format 2 (docs/chain.md, "Format 2"): the event hash covers a commitment to salted
# leaf digests instead of the payload text, so leaves can be erased and the hash still holds.
# The library's definition is chain_v2.py; tests/vectors/chain_v2.json pins both.
_DECODER = json.JSONDecoder()
_LEAF_TAG = b"artifact-ledger leaf v2\x00"
_COMMITMENT_TAG = b"artifact-ledger payload v2\x00"


def _object_members(text: str) -> list[tuple[str, str]]:
    """``(name, value text)`` of each member of a compact JSON object text; BundleFormatError otherwise."""
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        raise BundleFormatError(f"the payload {text[:40]!r} is not a JSON object")
    found: list[tuple[str, str]] = []
    at, end = 1, len(text) - 1
    while at < end:
        try:
            name, colon = _DECODER.raw_decode(text, at)
            if type(name) is not str or text[colon] != ":":
                raise BundleFormatError(f"the payload has no member name at offset {at}")
            _, stop = _DECODER.raw_decode(text, colon + 1)
        except (ValueError, IndexError) as error:
            if isinstance(error, BundleFormatError):
                raise
            raise BundleFormatError(f"the payload is not compact JSON at offset {at}") from None
        found.append((name, text[colon + 1 : stop]))
        if stop < end and text[stop] != ",":
            raise BundleFormatError(f"the payload has {text[stop]!r} where ',' belongs at offset {stop}")
        at = stop + 1
    if at == end and text != "{}":
        raise BundleFormatError("the payload ends with a ',' and no member after it")
    return found


def payload_leaves(payload: str) -> dict[str, str]:
    """Leaf path text -> value text: top-level members, and each member of an object ``data`` plus ``["data"]``."""
    leaves: dict[str, str] = {}

    def put(path: list[str], value: str) -> None:
        key = json.dumps(path, separators=(",", ":"), ensure_ascii=False)
        if key in leaves:
            raise BundleFormatError(f"the payload names the leaf {key} twice")
        leaves[key] = value

    for name, value in _object_members(payload):
        if name == "data" and value.startswith("{"):
            put(["data"], "{}")
            for key, item in _object_members(value):
                put(["data", key], item)
        else:
            put([name], value)
    return leaves


def payload_commitment(
    payload: str, salt: bytes | None, salts: Mapping[str, bytes], erased: Mapping[str, bytes]
) -> bytes:
    """The format-2 commitment of a stored payload, opened by the event salt or by kept salts and erased digests."""
    digests = dict(erased)
    for path, value in payload_leaves(payload).items():
        if path in erased:
            raise BundleFormatError(f"the leaf {path} is both present and erased")
        if salt is not None:
            leaf_salt = hmac.new(salt, path.encode("utf-8"), hashlib.sha256).digest()
        elif path in salts:
            leaf_salt = salts[path]
        else:
            raise BundleFormatError(f"the leaf {path} has no salt: the event salt is gone and no leaf salt was kept")
        digests[path] = hashlib.sha256(
            _LEAF_TAG + leaf_salt + path.encode("utf-8") + b"\x00" + payload_bytes(value)
        ).digest()
    if salt is not None and erased:
        raise BundleFormatError("an opening holds the event salt and erased leaves at once")
    body = b"".join(path.encode("utf-8") + b"\x00" + digests[path] for path in sorted(digests))
    return hashlib.sha256(_COMMITMENT_TAG + body).digest()


def chained_hash_v2(prev_hash: bytes, envelope: bytes, commitment: bytes) -> bytes:
    """``SHA-256(prev_hash ‖ envelope ‖ 0x0A ‖ 0x00 ‖ commitment)``: the hash of one format-2 event."""
    return hashlib.sha256(prev_hash + envelope + b"\n\x00" + commitment).digest()


def event_hash(event: Event, position: int | None = None, prev_hash: str | None = None) -> str:
    """The chained hash of ``event`` (as if sealed at ``position`` after ``prev_hash``), as hex.

    Raises BundleFormatError for an event no hash can cover (see :func:`canonical_envelope`).
    """
    fields = {
        "actor": event.actor,
        "artifact_id": event.artifact_id,
        "causation_id": event.causation_id,
        "correlation_id": event.correlation_id,
        "event_id": event.event_id,
        "position": event.position if position is None else position,
        "reason": event.reason,
        "recorded_at": event.recorded_at,
        "schema_version": event.schema_version,
        "type": event.type,
        "version": event.version,
    }
    prev = bytes.fromhex(event.prev_hash if prev_hash is None else prev_hash)
    opening = event.opening
    if opening is not None:
        commitment = payload_commitment(event.payload, opening.salt, opening.salts, opening.erased)
        return chained_hash_v2(prev, canonical_envelope(fields), commitment).hex()
    return chained_hash(prev, canonical_envelope(fields), payload_bytes(event.payload)).hex()


def redaction_targets(event: Event) -> dict[int, set[str]]:
    """target position -> leaf paths, as an ``artifact.redacted`` event names them; BundleFormatError if malformed."""
    payload = loads(event.payload)
    erased = payload.get("erased") if type(payload) is dict else None
    if type(erased) is not list:
        raise BundleFormatError(f"event {event.position}: a redaction event must list the leaves it erased")
    targets: dict[int, set[str]] = {}
    for item in erased:
        if (
            type(item) is not list
            or len(item) != 2
            or type(item[0]) is not int
            or not 1 <= item[0] < event.position
            or type(item[1]) is not list
            or not item[1]
            or not all(type(p) is str for p in item[1])
        ):
            raise BundleFormatError(f"event {event.position}: the redaction event names an erasure it cannot: {item!r}")
        targets.setdefault(item[0], set()).update(item[1])
    return targets


def content_ref(event: Event) -> tuple[str, int] | None:
    """(hash, size) of the blob an event's payload references, or None; BundleFormatError if the payload is bad."""
    try:
        payload = loads(event.payload)
    except ValueError as exc:
        raise BundleFormatError(f"event {event.position}: payload is not valid JSON ({exc})") from None
    if type(payload) is not dict:
        raise BundleFormatError(f"event {event.position}: payload is not a JSON object")
    content = payload.get("content")
    if content is None:
        return None
    if type(content) is not dict:
        raise BundleFormatError(f"event {event.position}: payload content is not an object")
    return _hex(content, "hash", f"event {event.position} content"), _int(content, "size", f"event {event.position}")


CHUNKS_FORMAT = "artifact-ledger.chunks/1"


def _codec(event: Event) -> object:
    """The codec an event's content names (its payload already parsed once by ``content_ref``)."""
    content = loads(event.payload).get("content")
    return content.get("codec") if type(content) is dict else None


def parse_chunk_manifest(raw: bytes) -> dict[str, Any]:
    """A chunk manifest (content saved as a stream): ``{"format", "chunks": [[sha256, size], ...],
    "sha256", "size"}``; BundleFormatError naming what is wrong with it."""
    try:
        document = loads(raw)
    except ValueError as exc:
        raise BundleFormatError(f"not JSON ({exc})") from None
    if type(document) is not dict or document.get("format") != CHUNKS_FORMAT:
        raise BundleFormatError(f"not a {CHUNKS_FORMAT} manifest")
    digest, size, chunks = document.get("sha256"), document.get("size"), document.get("chunks")
    if type(digest) is not str or not HEX64.match(digest) or type(size) is not int or size < 0:
        raise BundleFormatError("its sha256 or size is not a SHA-256 and a byte count")
    if type(chunks) is not list:
        raise BundleFormatError("its chunks are not a list")
    for chunk in chunks:
        if (
            type(chunk) is not list
            or len(chunk) != 2
            or type(chunk[0]) is not str
            or not HEX64.match(chunk[0])
            or type(chunk[1]) is not int
            or not 0 < chunk[1] <= MAX_CHUNK
        ):
            raise BundleFormatError(f"chunk entry {str(chunk)[:80]} is not [sha256, size]")
    return document


RETENTION_APPLIED = "retention.applied"
"""A retention run: its ``deleted`` lists the blobs it deleted (``[[hash, size], ...]``). A blob it
deleted may be absent from a bundle, unless a later event references its content again."""


def retention_deleted(event: Event) -> list[str]:
    """The blob hashes a ``retention.applied`` event deleted; BundleFormatError if the payload is bad."""
    try:
        payload = loads(event.payload)
    except ValueError as exc:
        raise BundleFormatError(f"event {event.position}: payload is not valid JSON ({exc})") from None
    deleted = payload.get("deleted") if type(payload) is dict else None
    if type(deleted) is not list:
        raise BundleFormatError(f"event {event.position}: a retention event's deleted is not a list")
    hashes: list[str] = []
    for item in deleted:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not str or not HEX64.match(item[0]):
            raise BundleFormatError(f"event {event.position}: a retention event's deleted holds {item!r:.80}")
        hashes.append(item[0])
    return hashes


STATE_TYPES = frozenset({"artifact.created", "artifact.updated", "artifact.restored", "artifact.reverted"})
"""The data versions of an artifact: the ones a retention policy's ``keep_last`` counts."""
ALIAS_TYPES = frozenset({"alias.set", "alias.removed", "alias.protected"})
HOLD_TYPES = frozenset({"hold.set", "hold.released"})
_POLICY_KEYS = frozenset({"keep_last", "keep_aliased", "keep_newer_than", "cutoff"})
ERASED_CONTENT = "erased content of "
"""The stand-in hash of a version whose content a redaction erased: the log no longer holds its hash,
so a run that listed the version is taken at its word for the hash (not for whether it could expire it)."""


def _event_time(text: str) -> datetime:
    """An event's ``recorded_at`` (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) as an aware UTC datetime."""
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def retention_policy(recorded: Any) -> tuple[int | None, bool, datetime | None]:
    """(keep_last, keep_aliased, cutoff) of a retention event's policy; ValueError naming what no run records."""
    if type(recorded) is not dict or set(recorded) != _POLICY_KEYS:
        raise ValueError(f"its policy must be an object with keys {sorted(_POLICY_KEYS)}")
    keep_last, keep_aliased = recorded["keep_last"], recorded["keep_aliased"]
    newer, cutoff_text = recorded["keep_newer_than"], recorded["cutoff"]
    if keep_last is not None and (type(keep_last) is not int or keep_last < 1):
        raise ValueError(f"its policy's keep_last is {keep_last!r:.40}, not a number of versions >= 1")
    if type(keep_aliased) is not bool:
        raise ValueError(f"its policy's keep_aliased is {keep_aliased!r:.40}, not true or false")
    if newer is not None and (type(newer) not in (int, float) or not newer >= 0):
        raise ValueError(f"its policy's keep_newer_than is {newer!r:.40}, not a number of seconds >= 0")
    if (newer is None) != (cutoff_text is None):
        raise ValueError("its policy has a keep_newer_than without a cutoff, or a cutoff without one")
    cutoff = None
    if cutoff_text is not None:
        if type(cutoff_text) is not str:
            raise ValueError(f"its policy's cutoff is {cutoff_text!r:.60}, not a time")
        cutoff = datetime.fromisoformat(cutoff_text)
        if cutoff.tzinfo is None:
            raise ValueError(f"its policy's cutoff {cutoff_text!r:.60} has no time zone")
    return keep_last, keep_aliased, cutoff


def has_rule(keep_last: int | None, keep_aliased: bool, cutoff: datetime | None) -> bool:
    """Whether a recorded policy has a rule. One without is a garbage collection's: it expires no
    version, and deletes only blobs no version whose content is still there refers to."""
    return keep_last is not None or keep_aliased or cutoff is not None


class RetentionAudit:
    """Checks each ``retention.applied`` event against the plan its recorded policy makes on the log
    before it: the versions, aliases, holds and earlier runs (artifact-ledger's ``retention.plan``,
    restated with the standard library). A retention event is what lets content be absent, so one
    forged into a re-chained bundle could otherwise account for any missing blob.

    Every version it lists must be one that policy expires (held artifacts keep everything), listed
    once; no blob it deletes may be the content of a version the policy keeps. The parts of one run
    (one stream, versions 1, 2, ...) share the plan made before part 1. Only a bundle from position 1
    can be checked: an incremental one lacks the log before it.
    """

    def __init__(self) -> None:
        self.versions: dict[str, list[tuple[int, datetime, str | None]]] = {}
        self.aliases: dict[str, tuple[str, int] | None] = {}
        self.holds: dict[str, bool] = {}
        self.expired: set[tuple[str, int]] = set()
        self._run: tuple[str, int] | None = None
        self._allowed: dict[tuple[str, int], str] = {}
        self._keep: set[str] = set()

    def add(self, event: Event) -> str | None:
        """Fold one event; a retention event's problem in words (None: fine). BundleFormatError: malformed."""
        kind = event.type
        if kind not in STATE_TYPES and kind not in ALIAS_TYPES and kind not in HOLD_TYPES and kind != RETENTION_APPLIED:
            return None
        try:
            payload = loads(event.payload)
        except ValueError as exc:
            raise BundleFormatError(f"event {event.position}: payload is not valid JSON ({exc})") from None
        if type(payload) is not dict:
            raise BundleFormatError(f"event {event.position}: payload is not an object")
        if kind in STATE_TYPES:
            content = payload.get("content")
            digest = content.get("hash") if type(content) is dict else None
            at = _event_time(event.recorded_at)
            if event.opening is not None and any(path.startswith('["content"') for path in event.opening.erased):
                digest = f"{ERASED_CONTENT}{event.artifact_id} version {event.version}"
            entry = (event.version, at, digest if type(digest) is str else None)
            self.versions.setdefault(event.artifact_id, []).append(entry)
        elif kind in ALIAS_TYPES:
            target, version = payload.get("artifact_id"), payload.get("version")
            pointed = (target, version) if type(target) is str and type(version) is int else None
            self.aliases[event.artifact_id] = pointed
        elif kind in HOLD_TYPES:
            if type(payload.get("artifact_id")) is str:
                self.holds[payload["artifact_id"]] = payload.get("held") is True
        else:
            return self._retention(event, payload)
        return None

    def _retention(self, event: Event, payload: dict[str, Any]) -> str | None:
        expired, deleted = payload.get("expired"), payload.get("deleted")
        if type(expired) is not list or type(deleted) is not list:
            raise BundleFormatError(f"event {event.position}: a retention event's expired and deleted must be lists")
        listed: list[tuple[str, int, str]] = []
        for item in expired:
            if type(item) is not list or len(item) != 3 or type(item[0]) is not str or type(item[1]) is not int:
                raise BundleFormatError(f"event {event.position}: a retention event's expired holds {item!r:.80}")
            listed.append((item[0], item[1], item[2]))
        stream, part = event.artifact_id, event.version
        if self._run != (stream, part) or part == 1:
            try:
                keep_last, keep_aliased, cutoff = retention_policy(payload.get("policy"))
            except ValueError as exc:
                return f"the retention run {stream}: {exc}"
            self._plan(keep_last, keep_aliased, cutoff)
        self._run = (stream, part + 1)
        for aid, version, digest in listed:
            allowed = self._allowed.pop((aid, version), None)
            if allowed != digest and not (allowed or "").startswith(ERASED_CONTENT):
                why = self._why(aid, version, digest)
                return f"the retention run {stream} expired version {version} of artifact {aid}, {why}"
            self.expired.add((aid, version))
        for item in deleted:
            if type(item) is not list or not item or type(item[0]) is not str:
                raise BundleFormatError(f"event {event.position}: a retention event's deleted holds {item!r:.80}")
            if item[0] in self._keep:
                return (
                    f"the retention run {stream} deleted blob {item[0]}, the content of a version its policy "
                    "keeps (or of a held artifact)"
                )
        return None

    def _plan(self, keep_last: int | None, keep_aliased: bool, cutoff: datetime | None) -> None:
        """The versions the policy expires now (``_allowed``) and the content hashes it keeps (``_keep``)."""
        if not has_rule(keep_last, keep_aliased, cutoff):  # a gc run: every content still there stays
            self._allowed = {}
            self._keep = {
                digest
                for aid, versions in self.versions.items()
                for version, _, digest in versions
                if digest is not None and (aid, version) not in self.expired
            }
            return
        keep: set[str] = set()
        aliased: dict[str, set[int]] = {}
        if keep_aliased:
            for target in self.aliases.values():
                if target is not None:
                    aliased.setdefault(target[0], set()).add(target[1])
        for aid, versions in self.versions.items():
            held = self.holds.get(aid, False)
            last = len(versions) - (keep_last or 0)
            pinned = aliased.get(aid, set())
            for i, (version, at, digest) in enumerate(versions):
                if digest is None:
                    continue
                following = versions[i + 1][0] if i + 1 < len(versions) else None
                # an alias may point at a move's or a deletion's version: it shows the state before it
                is_aliased = any(p >= version and (following is None or p < following) for p in pinned)
                if held or (keep_last is not None and i >= last) or is_aliased or (cutoff is not None and at > cutoff):
                    keep.add(digest)
        self._keep = keep
        self._allowed = {
            (aid, version): digest
            for aid, versions in self.versions.items()
            for version, _, digest in versions
            if digest is not None and digest not in keep and (aid, version) not in self.expired
        }

    def _why(self, aid: str, version: int, digest: str) -> str:
        """Why a listed version is not one the run's policy expires, in words."""
        found = next((v for v in self.versions.get(aid, []) if v[0] == version), None)
        if found is None or found[2] is None:
            return "which has no such version with content in the log before it"
        if found[2] != digest and not found[2].startswith(ERASED_CONTENT):
            return f"whose content is {found[2]}, not {digest}"
        if (aid, version) in self.expired:
            return "whose content an earlier run had already expired"
        if self.holds.get(aid, False):
            return "which is held: a held artifact keeps all its content"
        return "which its own recorded policy keeps"


def blob_path(directory: str, digest: str) -> str:
    """Where the blob with this hex SHA-256 lives in a bundle."""
    return os.path.join(directory, BLOBS, digest[:2], digest)


def event_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line without its newline); a last line without a newline raises (truncated file)."""
    for number, raw in enumerate(handle, start=1):
        if not raw.endswith(b"\n"):
            raise BundleFormatError(f"{EVENTS} line {number} has no newline: the file is truncated")
        yield number, raw[:-1]


def read_manifest(directory: str) -> Manifest:
    try:
        with open_in_bundle(directory, MANIFEST) as handle:
            raw = handle.read(1 << 20)
    except FileNotFoundError:
        raise BundleFormatError(f"no {MANIFEST}: not a bundle, or an export that did not finish") from None
    except OSError as exc:
        raise BundleFormatError(f"cannot read {MANIFEST} ({exc.strerror or exc})") from None
    return parse_manifest(raw)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link (a bundle holds only plain files and directories; links are not followed)"
    return file_kind(mode)


def file_kind(mode: int) -> str:
    """What a file of ``mode`` (from ``lstat``) is, in words, when it is not a regular file."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
"""Opening never blocks (a FIFO swapped in after the check opens at once, and is then refused) and
never follows a link in the last component."""


def open_regular(path: str) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file (not a link to one): see :func:`open_in_bundle`."""
    directory, name = os.path.split(path)
    return open_in_bundle(directory, name)


def open_in_bundle(directory: str, *parts: str) -> IO[bytes]:
    """Open ``directory/parts…`` for reading if it is a regular file reached through plain directories.

    Nothing below ``directory`` may be a symbolic link (the bundle's bytes must be the bundle's own,
    not a file elsewhere), and the file must be regular: a FIFO, socket, device or directory is
    refused without being opened for a blocking read. :class:`BundleFormatError` names the path
    within the bundle and what it is; ``FileNotFoundError`` when something on the way is missing.
    """
    path = directory
    for depth, part in enumerate(parts, start=1):
        path = os.path.join(path, part)
        mode = os.lstat(path).st_mode
        last = depth == len(parts)
        if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
            what = _kind(mode) if last or stat.S_ISLNK(mode) else "not a directory"
            raise BundleFormatError(f"{'/'.join(parts[:depth])} is {what}")
    fd = os.open(path, READ_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped after the check
            raise BundleFormatError(f"{'/'.join(parts)} is {_kind(mode)}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# ---- verification ------------------------------------------------------------------------------


class _Checker:
    def __init__(self, directory: str, manifest: Manifest, trusted: tuple[int, str] | None) -> None:
        self.directory = directory
        self.manifest = manifest
        self.trusted = trusted
        self.events_checked = 0
        self.blobs_checked = 0
        self.head = (manifest.first_position - 1, manifest.prev_hash)
        self.refs: dict[str, tuple[int, int]] = {}
        self.manifests: list[str] = []
        """The refs that are chunk manifests (content saved as a stream), in the order first referenced."""
        self.audit = RetentionAudit() if manifest.first_position == 1 else None
        """Retention events against their policies (a bundle from position 1 only: it holds the whole log)."""
        self._index: tuple[dict[str, int], dict[str, int]] | None = None
        self.hashes: list[str] | None = None
        """The events' hashes in order, when the Merkle roots of the bundle are wanted (``--proof``)."""
        self.frontier = (
            MerkleFrontier(manifest.first_position - 1, manifest.merkle_frontier)
            if manifest.merkle_frontier is not None
            else None
        )
        """The Merkle tree grown by each event read (from the manifest's base for an incremental bundle);
        None for a bundle whose manifest has no Merkle fields."""
        self.merkle: str | None = None
        self.format2_from: int | None = None
        """The position of the bundle's first format-2 event (every later one must be format 2 too)."""
        self.erased: dict[int, frozenset[str] | None] = {}
        """Format-2 events with something erased: position -> erased leaf paths (None: only the event salt gone)."""
        self.named: dict[int, tuple[set[str], list[int]]] = {}
        """Positions redaction events name -> (the leaf paths named, the redaction events' positions)."""

    def events(self) -> None:
        m = self.manifest
        expected, prev = m.first_position, m.prev_hash
        digest = hashlib.sha256()
        trusted_at = self.trusted[0] if self.trusted else -1
        if self.trusted and self.trusted[0] == expected - 1 and self.trusted[1] != prev:
            raise _Broken(self.trusted[0], MODIFIED, "the bundle starts after a hash other than the trusted head's")
        try:
            handle = open_in_bundle(self.directory, EVENTS)
        except FileNotFoundError:
            raise _Broken(m.first_position, DELETED, f"{EVENTS} is missing") from None
        with handle:
            for number, raw in enumerate(handle, start=1):
                digest.update(raw)
                where = f"{EVENTS} line {number} (position {expected})"
                try:
                    if not raw.endswith(b"\n"):
                        raise BundleFormatError(f"{where} has no newline: the file is truncated")
                    event = parse_event(raw[:-1], where)
                    sealed = event_hash(event)
                except BundleFormatError as exc:
                    raise _Broken(expected, MALFORMED, str(exc)) from None
                if expected > m.head_position:
                    raise _Broken(
                        expected, INSERTED, f"{where}: the manifest says the bundle ends at {m.head_position}"
                    )
                if event.position != expected or event.prev_hash != prev or sealed != event.hash:
                    raise self._diagnose(event, expected, prev)
                self._format_2(event, expected)
                try:
                    ref = content_ref(event)
                except BundleFormatError as exc:
                    raise _Broken(expected, MALFORMED, str(exc)) from None
                if ref is not None and ref[0] not in self.refs:
                    self.refs[ref[0]] = (expected, ref[1])
                    if _codec(event) == "chunks":
                        self.manifests.append(ref[0])
                if self.audit is not None:
                    try:
                        problem = self.audit.add(event)
                    except (BundleFormatError, ValueError) as exc:
                        raise _Broken(expected, MALFORMED, str(exc)) from None
                    if problem is not None:
                        raise _Broken(expected, MODIFIED, f"event {expected}: {problem}")
                if event.type == RETENTION_APPLIED:  # from here on, the blobs it deleted may be absent
                    try:
                        deleted = retention_deleted(event)
                    except BundleFormatError as exc:
                        raise _Broken(expected, MALFORMED, str(exc)) from None
                    for gone in deleted:
                        if self.refs.pop(gone, None) is not None and gone in self.manifests:
                            self.manifests.remove(gone)
                if expected == trusted_at and self.trusted and event.hash != self.trusted[1]:
                    raise _Broken(expected, MODIFIED, f"event {expected} does not have the trusted head's hash")
                prev = event.hash
                if self.frontier is not None:
                    self.frontier.append(bytes.fromhex(prev))
                if self.hashes is not None:
                    self.hashes.append(prev)
                self.head = (expected, prev)
                self.events_checked += 1
                expected += 1
        if self.head[0] < m.head_position:
            raise _Broken(
                self.head[0] + 1,
                DELETED,
                f"the bundle's events end at position {self.head[0]}, the manifest says {m.head_position}",
            )
        if self.events_checked != m.event_count:
            raise _Broken(
                None, MODIFIED, f"the bundle holds {self.events_checked} events; the manifest says {m.event_count}"
            )
        if self.head[1] != m.head_hash:
            raise _Broken(m.head_position, MODIFIED, f"event {m.head_position} does not have the manifest's head hash")
        if digest.hexdigest() != m.events_sha256:
            raise _Broken(None, MODIFIED, f"{EVENTS} differs from the file the manifest describes (SHA-256)")
        if self.trusted and self.trusted[0] > self.head[0]:
            raise _Broken(
                self.head[0] + 1,
                DELETED,
                f"the bundle ends at position {self.head[0]}, before the trusted head at {self.trusted[0]}",
            )
        self.check_erasures()
        self.check_merkle()

    def _format_2(self, event: Event, position: int) -> None:
        """Note a format-2 event's erasures and a redaction event's names; a format-1 event after format 2 breaks."""
        opening = event.opening
        if opening is None:
            if self.format2_from is not None:
                raise _Broken(
                    position,
                    MODIFIED,
                    f"event {position} is sealed under chain format 1 after chain format 2 began at "
                    f"{self.format2_from}: the switch goes one way",
                )
            return
        if self.format2_from is None:
            self.format2_from = position
        if opening.salt is None:
            self.erased[position] = frozenset(opening.erased) or None
        if event.type == REDACTED:
            try:
                targets = redaction_targets(event)
            except BundleFormatError as exc:
                raise _Broken(position, MALFORMED, str(exc)) from None
            for target, paths in targets.items():
                if target < self.manifest.first_position:
                    continue  # before the bundle: an incremental bundle cannot see that event
                if target < self.format2_from:
                    raise _Broken(
                        position,
                        MODIFIED,
                        f"the redaction event at {position} names event {target}, sealed under chain format 1, "
                        "which cannot be redacted",
                    )
                names, by = self.named.setdefault(target, (set(), []))
                names.update(paths)
                by.append(position)

    def check_erasures(self) -> None:
        """Every erasure named by a redaction event, and every leaf a redaction event names erased (docs/chain.md)."""
        for position in sorted(set(self.erased) | set(self.named)):
            names, by = self.named.get(position, (set(), []))
            erased = self.erased.get(position, frozenset()) or frozenset()
            missing = sorted(erased - names)
            if missing:
                raise _Broken(
                    position,
                    MODIFIED,
                    f"event {position}: leaves {', '.join(missing)} erased without a redaction event",
                )
            if position in self.erased and not names:
                raise _Broken(position, MODIFIED, f"event {position}: its salt is gone without a redaction event")
            stale = sorted(names - erased)
            if stale:
                at = ", ".join(str(p) for p in sorted(by))
                raise _Broken(
                    position,
                    MODIFIED,
                    f"event {position}: the redaction event(s) at {at} name leaves still present: {', '.join(stale)}",
                )

    def check_merkle(self) -> None:
        """The Merkle root of the events (grown from the base of an incremental bundle) against the manifest's."""
        m = self.manifest
        if m.merkle_root is None or self.frontier is None:
            self.merkle = "no Merkle root in manifest"
            return
        root = self.frontier.root().hex()
        if root != m.merkle_root:
            base = f" (over the manifest's merkle_frontier of {m.first_position - 1})" if m.first_position > 1 else ""
            raise _Broken(
                None,
                MODIFIED,
                f"the Merkle root of the bundle's {m.head_position} events{base} is {root}, but the manifest's "
                f"merkle_root is {m.merkle_root}",
            )
        self.merkle = f"Merkle root {root} of {m.merkle_size} events checked"

    def _lookup(self) -> tuple[dict[str, int], dict[str, int]]:
        """hash -> position and prev_hash -> position over every readable line (built on the first failure)."""
        if self._index is None:
            by_hash: dict[str, int] = {self.manifest.prev_hash: self.manifest.first_position - 1}
            by_prev: dict[str, int] = {}
            with open_in_bundle(self.directory, EVENTS) as handle:
                for number, raw in enumerate(handle, start=1):
                    try:
                        event = parse_event(raw.rstrip(b"\n"), "")
                    except BundleFormatError:
                        continue
                    position = self.manifest.first_position + number - 1
                    by_hash.setdefault(event.hash, position)
                    by_prev.setdefault(event.prev_hash, position)
            self._index = (by_hash, by_prev)
        return self._index

    def _diagnose(self, event: Event, p: int, prev: str) -> _Broken:
        by_hash, by_prev = self._lookup()
        if event.position > p:
            successor = by_prev.get(prev)
            if successor is not None and successor != p:
                return _Broken(
                    p, REORDERED, f"position {p} is missing: the event after {p - 1} is on the line of {successor}"
                )
            return _Broken(p, DELETED, f"position {p} is missing (the next line holds position {event.position})")
        if event.position < p and by_hash.get(event.hash, p) < p:
            return _Broken(p, INSERTED, f"the line of position {p} repeats the event of position {event.position}")
        if event.position < p:
            if event_hash(event) == event.hash and by_hash.get(event.prev_hash) == event.position - 1:
                self.head = (event.position - 1, event.prev_hash)  # genuine: the lines above it were inserted
                return _Broken(
                    event.position, INSERTED, f"lines before the event of position {event.position} were inserted"
                )
            return _Broken(p, INSERTED, f"the line of position {p} holds position {event.position} again")
        if event.prev_hash == prev:
            return _Broken(p, MODIFIED, f"event {p} was modified: its fields no longer match its hash")
        before = by_hash.get(event.prev_hash)
        if before is not None and before >= p:
            return _Broken(p, REORDERED, f"event {p} is out of order: it chains to the event on the line of {before}")
        if before is not None and before < p - 1:
            if event_hash(event, position=before + 1) != event.hash:
                return _Broken(p, INSERTED, f"event {p} chains to position {before}, not {p - 1}: a replayed event")
            self.head = (before, event.prev_hash)
            return _Broken(before + 1, INSERTED, f"events {before + 1}..{p - 1} are not part of the chain")
        if event_hash(event) == event.hash:
            return _Broken(p, INSERTED, f"event {p} links to a hash no event in the bundle has (a forged event)")
        for sealed_at in range(p + 1, p + REANCHOR_WINDOW + 1):
            if event_hash(event, position=sealed_at) == event.hash:
                return _Broken(p, DELETED, f"event {p} was sealed at position {sealed_at}: earlier events were deleted")
        return _Broken(p, MODIFIED, f"event {p} was modified: its prev_hash and hash no longer match the chain")

    def blobs(self) -> None:
        problems: list[_Broken] = []
        total = 0
        for digest, (position, size) in self.refs.items():
            try:
                handle = open_in_bundle(self.directory, BLOBS, digest[:2], digest)
            except FileNotFoundError:
                problems.append(
                    _Broken(position, BLOB_MISSING, f"blob {digest} (content of event {position}) is missing")
                )
                continue
            except BundleFormatError as exc:
                problems.append(_Broken(position, BLOB_CORRUPTED, str(exc)))
                continue
            hasher, length = hashlib.sha256(), 0
            with handle:
                while chunk := handle.read(_CHUNK):
                    hasher.update(chunk)
                    length += len(chunk)
            self.blobs_checked += 1
            total += length
            if hasher.hexdigest() != digest:
                problems.append(
                    _Broken(
                        position,
                        BLOB_CORRUPTED,
                        f"blob {digest} (content of event {position}) does not match its SHA-256",
                    )
                )
            elif length != size:
                problems.append(
                    _Broken(
                        position, BLOB_CORRUPTED, f"blob {digest} holds {length} bytes, event {position} says {size}"
                    )
                )
        if problems:
            raise min(problems, key=lambda b: b.position or 0)
        for manifest in self.manifests:
            total += self._chunks(manifest)
        for path in self._stray_blob_files():
            raise _Broken(None, INSERTED, f"unexpected file {path}: no event references it")
        if self.blobs_checked != self.manifest.blob_count or total != self.manifest.blob_bytes:
            raise _Broken(
                None,
                MODIFIED,
                f"the bundle holds {self.blobs_checked} blobs of {total} bytes; the manifest says "
                f"{self.manifest.blob_count} of {self.manifest.blob_bytes}",
            )

    def _chunks(self, manifest: str) -> int:
        """Follow one chunk manifest (already checked against its hash): each chunk present with the
        listed SHA-256 and size, the chunks in order hashing to the content's SHA-256 and size.
        Returns the bytes of the chunks not counted before (each chunk file counts once)."""
        position = self.refs[manifest][0]
        of = f"content {manifest} of event {position}"
        with open_in_bundle(self.directory, BLOBS, manifest[:2], manifest) as handle:
            raw = handle.read()
        try:
            listed = parse_chunk_manifest(raw)
        except BundleFormatError as exc:
            raise _Broken(position, BLOB_CORRUPTED, f"the chunk manifest of {of} is unreadable: {exc}") from None
        whole, length, added = hashlib.sha256(), 0, 0
        for index, (digest, size) in enumerate(listed["chunks"]):
            try:
                handle = open_in_bundle(self.directory, BLOBS, digest[:2], digest)
            except FileNotFoundError:
                raise _Broken(position, BLOB_MISSING, f"chunk {index} ({digest}) of {of} is missing") from None
            except BundleFormatError as exc:
                raise _Broken(position, BLOB_CORRUPTED, f"chunk {index} of {of}: {exc}") from None
            with handle:
                data = handle.read(size + 1)
            whole.update(data)
            length += len(data)
            if hashlib.sha256(data).hexdigest() != digest or len(data) != size:
                raise _Broken(
                    position,
                    BLOB_CORRUPTED,
                    f"chunk {index} ({digest}) of {of} does not match the SHA-256 and size ({size}) its manifest lists",
                )
            if digest not in self.refs:
                self.refs[digest] = (position, size)
                self.blobs_checked += 1
                added += size
        if whole.hexdigest() != listed["sha256"] or length != listed["size"]:
            raise _Broken(
                position,
                BLOB_CORRUPTED,
                f"the chunks of {of} hash to {whole.hexdigest()} ({length} bytes), not the manifest's "
                f"{listed['sha256']} ({listed['size']} bytes)",
            )
        return added

    def _stray_blob_files(self) -> Iterator[str]:
        root = os.path.join(self.directory, BLOBS)
        if not os.path.lexists(root):
            return
        if not stat.S_ISDIR(os.lstat(root).st_mode):  # a link to a directory elsewhere included
            yield BLOBS
            return
        for prefix in sorted(os.listdir(root)):
            folder = os.path.join(root, prefix)
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                yield f"{BLOBS}/{prefix}"
                continue
            for name in sorted(os.listdir(folder)):
                if name not in self.refs or name[:2] != prefix:
                    yield f"{BLOBS}/{prefix}/{name}"


def parse_head(text: str) -> tuple[int, str]:
    """``POSITION:HASH`` as a pair; ValueError naming the problem."""
    position, sep, digest = text.strip().partition(":")
    if not sep or not position.isdigit() or not HEX64.match(digest.lower()):
        raise ValueError(f"not a head digest: {text!r} (expected POSITION:HASH with a 64-digit hex hash)")
    return int(position), digest.lower()


def verify_bundle(
    directory: str | os.PathLike[str],
    *,
    trusted_head: tuple[int, str] | None = None,
    event_hashes: list[str] | None = None,
) -> BundleReport:
    """Check a bundle directory; never raises for what the bundle holds (the report says), only for a missing path.

    ``event_hashes``: a list the verified events' hashes (hex) are appended to, in order.
    """
    path = os.fspath(directory)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no bundle directory at {path}")
    try:
        manifest = read_manifest(path)
    except BundleFormatError as exc:
        return BundleReport(ok=False, reason=MALFORMED, problem=str(exc))
    checker = _Checker(path, manifest, trusted_head)
    checker.hashes = event_hashes
    try:
        checker.events()
        checker.blobs()
    except _Broken as broken:
        return _report(checker, manifest, broken)
    except (BundleFormatError, OSError) as exc:
        return _report(checker, manifest, _Broken(None, MALFORMED, str(exc)))
    return _report(checker, manifest, None)


def _report(checker: _Checker, manifest: Manifest, broken: _Broken | None) -> BundleReport:
    return BundleReport(
        ok=broken is None,
        events_checked=checker.events_checked,
        blobs_checked=checker.blobs_checked,
        broken_position=broken.position if broken else None,
        reason=broken.reason if broken else None,
        problem=broken.problem if broken else None,
        head_position=checker.head[0],
        head_hash=checker.head[1],
        manifest=asdict(manifest),
        merkle=checker.merkle,
        format_2_from=checker.format2_from,
    )


# ---- Merkle proofs (RFC 9162) ------------------------------------------------------------------

MERKLE_EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
INCLUSION = "inclusion"
CONSISTENCY = "consistency"


def merkle_leaf(event_hash: bytes) -> bytes:
    """The Merkle leaf of an event: ``SHA-256(0x00 || event hash)``."""
    return hashlib.sha256(b"\x00" + event_hash).digest()


def merkle_node(left: bytes, right: bytes) -> bytes:
    """An interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleFrontier:
    """The roots of the complete right-edge subtrees of a tree of ``size`` leaves (largest first)."""

    def __init__(self, size: int, roots: tuple[str, ...] | list[str] = ()) -> None:
        self.size = size
        self.stack = [bytes.fromhex(h) for h in roots]

    def append(self, event_hash: bytes) -> None:
        node = merkle_leaf(event_hash)
        n = self.size
        while n & 1:
            node = merkle_node(self.stack.pop(), node)
            n >>= 1
        self.stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return bytes.fromhex(MERKLE_EMPTY_ROOT)
        root = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            root = merkle_node(left, root)
        return root


def merkle_roots(event_hashes: list[str]) -> list[str]:
    """The root (hex) of the tree of the first ``n`` events, for every ``n`` from 0 to all of them."""
    roots = [MERKLE_EMPTY_ROOT]
    stack: list[bytes] = []  # the roots of the complete right-edge subtrees, largest first
    for size, digest in enumerate(event_hashes, start=1):
        node = merkle_leaf(bytes.fromhex(digest))
        n = size - 1
        while n & 1:
            node = merkle_node(stack.pop(), node)
            n >>= 1
        stack.append(node)
        root = stack[-1]
        for left in reversed(stack[:-1]):
            root = merkle_node(left, root)
        roots.append(root.hex())
    return roots


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: whether ``path`` leads from leaf ``index`` of the tree of ``size`` to ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = merkle_node(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = merkle_node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: whether ``path`` proves the tree of ``old_size`` a prefix of ``new_size``'s."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path and old_root.hex() == MERKLE_EMPTY_ROOT
    if not path:
        return False
    items = [old_root, *path] if old_size & (old_size - 1) == 0 else list(path)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = items[0]
    for c in items[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = merkle_node(c, fr)
            sr = merkle_node(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = merkle_node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass
class ProofReport:
    """The outcome of one proof: ``ok``, or why not (``problem``)."""

    ok: bool
    kind: str
    problem: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _proof_hex(document: dict[str, Any], key: str) -> bytes:
    value = document.get(key)
    if type(value) is not str or not HEX64.match(value):
        raise BundleFormatError(f"the proof's {key} is not a 64-digit lowercase hex hash")
    return bytes.fromhex(value)


def _proof_int(document: dict[str, Any], key: str) -> int:
    value = document.get(key)
    if type(value) is not int or not 0 <= value <= INT_MAX:
        raise BundleFormatError(f"the proof's {key} is not a whole number (a JSON integer, 0 or more)")
    return value


def parse_proof(raw: bytes | str) -> dict[str, Any]:
    """A proof document (JSON) checked for shape; BundleFormatError naming what is wrong.

    The same rules as the library's ``InclusionProof`` / ``ConsistencyProof``: every field present
    (``kind``, ``ledger_id`` a string or null, and for an inclusion proof ``leaf_hash`` too), sizes
    and positions as JSON integers (not strings, floats or booleans), hashes as 64 lowercase hex
    digits. Other members are ignored.
    """
    try:
        document = loads(raw)
    except ValueError as exc:
        raise BundleFormatError(f"the proof is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise BundleFormatError("the proof is not a JSON object")
    kind = document.get("kind")
    if kind not in (INCLUSION, CONSISTENCY):
        raise BundleFormatError(f"the proof's kind {kind!r} is neither {INCLUSION!r} nor {CONSISTENCY!r}")
    hashes = document.get("hashes")
    if not isinstance(hashes, list):
        raise BundleFormatError("the proof's hashes are not a list")
    for i in range(len(hashes)):
        _proof_hex({"hash": hashes[i]}, "hash")
    if kind == INCLUSION:
        for key in ("position", "size"):
            _proof_int(document, key)
        for key in ("event_hash", "leaf_hash", "root"):
            _proof_hex(document, key)
    else:
        for key in ("old_size", "new_size"):
            _proof_int(document, key)
        for key in ("old_root", "new_root"):
            _proof_hex(document, key)
    if "ledger_id" not in document or not (document["ledger_id"] is None or type(document["ledger_id"]) is str):
        raise BundleFormatError("the proof's ledger_id is missing or neither a string nor null")
    return document


def check_proof(document: dict[str, Any], bundle_roots: list[str] | None = None) -> ProofReport:
    """Verify a parsed proof (see :func:`parse_proof`); with ``bundle_roots`` (``merkle_roots`` of a bundle
    starting at position 1) its root(s) must also be the bundle's at the same size."""
    kind = document["kind"]
    path = [bytes.fromhex(h) for h in document["hashes"]]
    if kind == INCLUSION:
        position, size = document["position"], document["size"]
        leaf = merkle_leaf(bytes.fromhex(document["event_hash"]))
        detail = {"position": position, "size": size, "root": document["root"]}
        if document["leaf_hash"] != leaf.hex():
            return ProofReport(False, kind, "the proof's leaf_hash is not SHA-256(0x00 || event_hash)", detail)
        if not verify_inclusion(position - 1, size, leaf, path, bytes.fromhex(document["root"])):
            return ProofReport(
                False, kind, f"the audit path does not lead from event {position} to the root of size {size}", detail
            )
        sizes = [(size, document["root"])]
    else:
        old, new = document["old_size"], document["new_size"]
        detail = {"old_size": old, "new_size": new, "old_root": document["old_root"], "new_root": document["new_root"]}
        if not verify_consistency(
            old, new, bytes.fromhex(document["old_root"]), bytes.fromhex(document["new_root"]), path
        ):
            return ProofReport(
                False,
                kind,
                f"the proof does not show the tree of size {old} a prefix of the one of size {new}",
                detail,
            )
        sizes = [(old, document["old_root"]), (new, document["new_root"])]
    if bundle_roots is not None:
        for size, root in sizes:
            if size >= len(bundle_roots):
                return ProofReport(False, kind, f"the bundle holds {len(bundle_roots) - 1} events, not {size}", detail)
            if bundle_roots[size] != root:
                return ProofReport(
                    False, kind, f"the bundle's Merkle root at size {size} is {bundle_roots[size]}, not {root}", detail
                )
    return ProofReport(True, kind, None, detail)


CHECKPOINT_ORIGIN = "artifact-ledger/"


CHECKPOINT_MAX_SIZE = 2**63 - 1
_CHECKPOINT_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")  # ASCII digits: str.isdigit() also takes '²' and '١٢'


def _canonical_b64(text: str) -> bytes | None:
    """The bytes of ``text`` if it is standard base64 in its one canonical spelling (it round-trips), else None."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def signer_name(name: str) -> bool:
    """Whether ``name`` can name a signer: non-empty, printable, without a space of any kind (a signature
    line or a verifier key carrying another name is refused, as the library refuses it)."""
    return bool(name) and name.isprintable() and not any(c.isspace() for c in name)


def checkpoint_key_id(name: str, public: bytes) -> str:
    """The C2SP key id of an Ed25519 key: the first four bytes of SHA-256(name, newline, 0x01, key), in hex."""
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4].hex()


def parse_verifier_key(text: str) -> tuple[str, str, bytes] | None:
    """(name, key id, public key) of a C2SP Ed25519 verifier key ``name+keyid+base64(0x01 || key)``, or None when
    it is not one: a signer's name, the key in canonical base64, the algorithm byte 0x01 (Ed25519) and the key id
    derived from the name and key (a key whose id is another key's is refused, never matched by that id)."""
    name, _, rest = text.strip().partition("+")
    key_id, _, encoded = rest.partition("+")
    public = _canonical_b64(encoded) or b""
    if not signer_name(name) or len(public) != 33 or public[:1] != b"\x01":
        return None
    if key_id != checkpoint_key_id(name, public[1:]):
        return None
    return name, key_id, public[1:]


def parse_checkpoint(raw: bytes) -> dict[str, Any]:
    """A checkpoint note (C2SP signed note: origin, size, base64 root; a blank line; signature lines).

    Strict: exactly three body lines, the size in ASCII digits without a leading zero, the root and
    signatures in canonical base64; the signatures are checked over the body's bytes as received.
    """
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise BundleFormatError("the checkpoint is not UTF-8 text") from None
    body, sep, rest = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) != 3:
        raise BundleFormatError(
            "the checkpoint is not a signed note (exactly origin, size and root, a blank line, signatures)"
        )
    origin, size, root = lines
    if not origin.startswith(CHECKPOINT_ORIGIN):
        raise BundleFormatError(f"the checkpoint's origin {origin[:80]!r} is not an artifact-ledger log's")
    if not _CHECKPOINT_SIZE.fullmatch(size) or int(size) > CHECKPOINT_MAX_SIZE:
        raise BundleFormatError(
            f"the checkpoint's size {size[:40]!r} is not a decimal number (ASCII digits 0-9, no leading zero, "
            f"at most {CHECKPOINT_MAX_SIZE})"
        )
    digest = _canonical_b64(root)
    if digest is None or len(digest) != 32:
        raise BundleFormatError(f"the checkpoint's root {root[:60]!r} is not a SHA-256 hash in canonical base64")
    if not rest.endswith("\n") or not rest.strip():
        raise BundleFormatError("the checkpoint note ends without a complete signature line: it is truncated")
    signatures = []
    for line in rest[:-1].split("\n"):
        parts = line.split(" ")
        signed = (_canonical_b64(parts[2]) if len(parts) == 3 else None) or b""
        if len(parts) != 3 or parts[0] != "\u2014" or not parts[1] or len(signed) < 5:
            raise BundleFormatError(f"the checkpoint line {line[:80]!r} is not a signature line")
        if not signer_name(parts[1]):  # shown as written, on every terminal
            raise BundleFormatError(
                f"the checkpoint line {line[:80]!r} is not a signature line: its name {parts[1][:40]!r} holds a "
                "control, format or space character (a terminal would not show it as written)"
            )
        signatures.append((parts[1], signed[:4], signed[4:]))
    return {
        "origin": origin,
        "size": int(size),
        "root": digest.hex(),
        "body": (body + "\n").encode(),
        "signatures": signatures,
    }


def check_checkpoint(
    checkpoint: dict[str, Any],
    bundle_roots: list[str] | None,
    verifier_keys: list[str],
    witness_keys: list[str] | None = None,
) -> ProofReport:
    """A parsed checkpoint against a bundle's roots and, when keys are given, its signatures: one by any of
    ``verifier_keys`` (alternatives), and one by every one of ``witness_keys`` (co-signatures, required)."""
    detail: dict[str, Any] = {"origin": checkpoint["origin"], "size": checkpoint["size"], "root": checkpoint["root"]}
    # The library's order: the note's signatures first (a note that is not authentic says nothing about a log),
    # then its size and root against the events.
    signed = _checkpoint_signatures(checkpoint, verifier_keys, detail)
    if signed is None and witness_keys:
        signed = _witness_signatures(checkpoint, witness_keys, detail)
    if signed is not None:
        return signed
    size = checkpoint["size"]
    if bundle_roots is not None:
        if size >= len(bundle_roots):
            return ProofReport(
                False,
                "checkpoint",
                f"the bundle holds {len(bundle_roots) - 1} events, the checkpoint {size}: events were dropped",
                detail,
            )
        if bundle_roots[size] != checkpoint["root"]:
            return ProofReport(
                False,
                "checkpoint",
                f"the bundle's first {size} events have the root {bundle_roots[size]}, not the checkpoint's: "
                f"history up to position {size} differs (rewritten, or a fork)",
                detail,
            )
    return ProofReport(True, "checkpoint", None, detail)


def _checkpoint_signatures(
    checkpoint: dict[str, Any], verifier_keys: list[str], detail: dict[str, Any]
) -> ProofReport | None:
    """The refusal of a checkpoint whose signatures do not hold with ``verifier_keys`` (None: they hold, or
    were not checked, which ``detail`` says)."""
    keys: dict[tuple[str, str], list[bytes]] = {}
    for key in verifier_keys:
        parsed = parse_verifier_key(key)
        if parsed is None:
            return _not_a_key(key, detail)
        keys.setdefault(parsed[:2], []).append(parsed[2])
    if not verifier_keys:
        detail["signatures"] = "not checked: no --key given"
        return None
    verified = []
    for signer, signed_id, signature in _distinct(checkpoint):
        candidates = keys.get((signer, signed_id.hex()), [])
        if not candidates:
            continue
        # a 32-bit key id can collide: the line verifies if any key of that name and id verifies it
        if not any(ed25519_verifies(public, signature, checkpoint["body"]) for public in candidates):
            return ProofReport(
                False,
                "checkpoint",
                f"the signature of {signer} (key {signed_id.hex()}) on the checkpoint of size {checkpoint['size']} "
                "does not verify: the checkpoint was edited or forged",
                detail,
            )
        verified.append(signer)
    if not verified:
        return ProofReport(False, "checkpoint", f"signed by none of the {len(verifier_keys)} key(s) given", detail)
    detail["signatures"] = f"verified: {', '.join(verified)}"
    return None


def _distinct(checkpoint: dict[str, Any]) -> list[tuple[str, bytes, bytes]]:
    """The note's signature lines, each repeated line once (checking it again would say the same)."""
    return list(dict.fromkeys(checkpoint["signatures"]))


def _not_a_key(key: str, detail: dict[str, Any]) -> ProofReport:
    return ProofReport(
        False,
        "checkpoint",
        f"{key[:80]!r} is not an Ed25519 verifier key (name+keyid+base64, the key id derived from the name "
        "and the key)",
        detail,
    )


def _witness_signatures(
    checkpoint: dict[str, Any], witness_keys: list[str], detail: dict[str, Any]
) -> ProofReport | None:
    """The refusal of a checkpoint that lacks a valid signature by one of ``witness_keys`` (None: every
    witness co-signed it, which ``detail`` says)."""
    cosigned = []
    for key in witness_keys:
        parsed = parse_verifier_key(key)
        if parsed is None:
            return _not_a_key(key, detail)
        name, key_id, public = parsed
        # As the library: every line under the witness's name and key id must verify; one that does not is an
        # edited or forged note, whatever else the note holds. Each distinct line is checked once, so a note of
        # thousands of bogus or repeated lines costs one check, not minutes of plain-Python arithmetic.
        mine = [s for signer, signed_id, s in _distinct(checkpoint) if (signer, signed_id.hex()) == (name, key_id)]
        for signature in mine:
            if not ed25519_verifies(public, signature, checkpoint["body"]):
                return ProofReport(
                    False,
                    "checkpoint",
                    f"the signature of {name} (key {key_id}) on the checkpoint of size {checkpoint['size']} "
                    "does not verify: the checkpoint was edited or forged",
                    detail,
                )
        if not mine:
            return ProofReport(
                False,
                "checkpoint",
                f"the checkpoint of size {checkpoint['size']} is not co-signed by the witness {name} (key {key_id}): "
                "a note only the ledger's key signed proves nothing against whoever holds that key",
                detail,
            )
        cosigned.append(name)
    detail["witnesses"] = f"co-signed by: {', '.join(cosigned)}"
    return None


# ---- Ed25519 signature verification (RFC 8032, section 5.1.7), in plain Python ----------------------------
# The verifier must run on a bare Python, so it checks signatures itself rather than through a package that
# may be missing (a check asked for with --key and skipped would be a silent pass). Points are kept in
# extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z; one addition formula serves for
# doubling too. Verification only: nothing here handles a secret, so plain big-integer arithmetic is fine.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)  # a square root of -1
_Point = tuple[int, int, int, int]


def _recover_x(y: int, sign: int) -> int | None:
    """The x of the curve point with this y and low bit ``sign`` (section 5.1.3), or None when there is none."""
    if y >= _P:
        return None
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P != 0:
        if (v * x * x + u) % _P != 0:
            return None
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        return None
    return _P - x if x & 1 != sign else x


def _decode_point(data: bytes) -> _Point | None:
    value = int.from_bytes(data, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _encode_point(point: _Point) -> bytes:
    x, y, z, _ = point
    inverse = pow(z, _P - 2, _P)
    x, y = x * inverse % _P, y * inverse % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e0, f0 = (y1 - x1) * (y2 - x2) % _P, (y1 + x1) * (y2 + x2) % _P
    c, d = 2 * _D * t1 * t2 % _P, 2 * z1 * z2 % _P
    e, f, g, h = f0 - e0, d - c, d + c, f0 + e0
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)  # the neutral element
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


_BASE_Y = 4 * pow(5, _P - 2, _P) % _P
_BASE: _Point = (_recover_x(_BASE_Y, 0) or 0, _BASE_Y, 1, (_recover_x(_BASE_Y, 0) or 0) * _BASE_Y % _P)


def ed25519_verifies(public: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by the 32-byte key ``public``
    (RFC 8032, 5.1.7: S below the group order, A and R canonical curve points, [S]B = R + [k]A checked as
    the encoding of [S]B - [k]A equal to R's bytes)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    key = _decode_point(public)
    if key is None or _decode_point(signature[:32]) is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _L
    x, y, z, t = _multiply(k, key)
    expected = _add(_multiply(s, _BASE), (_P - x, y, z, _P - t))  # [S]B + (-[k]A)
    return _encode_point(expected) == signature[:32]


def _proofs(args: argparse.Namespace) -> int:
    """``--proof``: every proof file checked (against the bundle too, if one is given)."""
    roots: list[str] | None = None
    alone = ""  # why a bundle given was not compared with
    if args.bundle is not None:
        hashes: list[str] = []
        bundle = verify_bundle(args.bundle, event_hashes=hashes)
        if not bundle.ok:
            where = f"at position {bundle.broken_position}" if bundle.broken_position is not None else "in the bundle"
            _say(f"BROKEN {where} ({bundle.reason}): {bundle.problem}", sys.stdout)
            return 1
        first = bundle.manifest.get("first_position")
        if first == 1:
            roots = merkle_roots(hashes)
        else:
            alone = (
                f"; NOT compared with the bundle: it is incremental, from position {first}, and a root needs "
                "every event from position 1 (give a full export)"
            )
    documents = []
    for name in args.proof or ():
        with open_regular(name) as handle:  # a FIFO or device is refused, not waited on
            documents.append((name, parse_proof(handle.read(1 << 24))))
    notes = []
    for name in args.checkpoint or ():
        with open_regular(name) as handle:
            notes.append((name, parse_checkpoint(handle.read(1 << 20))))
    reports = [(name, check_proof(document, roots)) for name, document in documents]
    reports += [(name, check_checkpoint(note, roots, args.key or [], args.witness_key or [])) for name, note in notes]
    if args.json:
        _say(json.dumps([{"file": n, **r.to_dict()} for n, r in reports], indent=2, sort_keys=True), sys.stdout)
    for name, report in reports:
        if args.json:
            break
        if report.ok:
            checked = " and the bundle's events" if roots is not None else ""
            _say(f"OK: {name}: {report.kind} proof verified{checked} ({_describe(report.detail)}){alone}", sys.stdout)
        else:
            _say(f"FAILED: {name}: {report.kind} proof: {report.problem}", sys.stdout)
    return 0 if all(r.ok for _, r in reports) else 1


def _describe(detail: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in detail.items())


def _say(text: str, stream: IO[str]) -> None:
    """Print ``text`` on any terminal: what the stream's encoding cannot show (a lone surrogate from a
    file name that is not UTF-8, non-ASCII under an ASCII locale) is written as a backslash escape."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_bundle", description="Verify an artifact-ledger bundle with the standard library only."
    )
    parser.add_argument("bundle", nargs="?", help="the bundle directory (it holds manifest.json)")
    parser.add_argument("--head", help="a trusted head recorded earlier, POSITION:HASH: the bundle must contain it")
    parser.add_argument(
        "--proof",
        action="append",
        metavar="FILE",
        help="an inclusion or consistency proof (JSON) to verify; with a bundle, also against its events",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        metavar="FILE",
        help="a checkpoint note (Ledger.checkpoint().note()); with a bundle, its root must be the bundle's",
    )
    parser.add_argument(
        "--key", action="append", metavar="VKEY", help="a verifier key (name+keyid+base64) for checkpoint signatures"
    )
    parser.add_argument(
        "--witness-key",
        action="append",
        metavar="VKEY",
        help="a witness's verifier key (repeatable): every checkpoint must also carry its valid co-signature",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    keys = {parse_verifier_key(k) for k in args.key or ()}
    if len(keys) == 1 and None not in keys and keys == {parse_verifier_key(k) for k in args.witness_key or ()}:
        _say(  # one key given as both (one value in two settings): the witness would protect nothing
            "verify_bundle: error: the --witness-key is every --key: a note signed by that key alone would pass "
            "as co-signed; give the ledger's key as --key and the witness's, another signer's, as --witness-key",
            sys.stderr,
        )
        return 2
    if args.proof or args.checkpoint:
        try:
            return _proofs(args)
        except (ValueError, OSError) as exc:
            _say(f"verify_bundle: error: {exc}", sys.stderr)
            return 2
    if args.bundle is None:
        _say("verify_bundle: error: give a bundle directory, or --proof FILE", sys.stderr)
        return 2
    try:
        trusted = parse_head(args.head) if args.head else None
        report = verify_bundle(args.bundle, trusted_head=trusted)
    except (ValueError, FileNotFoundError) as exc:
        _say(f"verify_bundle: error: {exc}", sys.stderr)
        return 2
    if args.json:
        _say(json.dumps(report.to_dict(), indent=2, sort_keys=True), sys.stdout)  # ASCII: escapes are JSON's own
    elif report.ok:
        _say(
            f"OK: {report.events_checked} events and {report.blobs_checked} blobs verified; "
            f"head {report.head_position}:{report.head_hash}; {report.merkle}",
            sys.stdout,
        )
    else:
        where = f"at position {report.broken_position}" if report.broken_position is not None else "in the bundle"
        _say(f"BROKEN {where} ({report.reason}): {report.problem}", sys.stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
