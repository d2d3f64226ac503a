"""Chain format 2: an event commits to its payload through salted leaf digests, so parts can be erased.

Format 1 (``chain.py``) hashes the payload text itself, so erasing any byte of it breaks
the chain. Format 2 hashes a *commitment* instead::

    hash       = SHA-256(prev_hash ‖ envelope ‖ 0x0A ‖ 0x00 ‖ commitment)
    commitment = SHA-256("artifact-ledger payload v2" ‖ 0x00 ‖ for each leaf, by path: path ‖ 0x00 ‖ digest)
    digest     = SHA-256("artifact-ledger leaf v2" ‖ 0x00 ‖ salt ‖ path ‖ 0x00 ‖ value text)
    salt       = HMAC-SHA256(key=event salt, message=path)

A *leaf* is one top-level member of the payload object, except ``data`` when it is an
object: then each of its members is a leaf of its own (path ``["data","name"]``) and
``["data"]`` itself a leaf with the text ``{}`` (the data object exists). ``path`` is the
canonical JSON of the path array; ``value text`` the member's text exactly as it stands in
the stored payload (split textually, never parsed and written again). The event salt is 32
random bytes per event.

Redacting leaves (:func:`redact`) removes their members from the stored payload, keeps
each erased leaf's digest, keeps the derived salts of the leaves that stay, and drops the
event salt: the commitment, and so the event hash and the Merkle tree over event hashes,
are unchanged, the leaves that stay still verify, and nothing left holds a salt of an
erased leaf, so its digest cannot be matched against guessed values. HMAC is one-way: the
derived salts that stay reveal neither the event salt nor each other.

Standard library only, pure: no I/O, no database. ``docs/chain.md`` states the rules and
``tests/vectors/chain_v2.json`` pins them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from hashlib import _Hash

FORMAT_VERSION: Final = 2
SALT_BYTES: Final = 32
LEAF_TAG: Final = b"artifact-ledger leaf v2\x00"
COMMITMENT_TAG: Final = b"artifact-ledger payload v2\x00"
DATA: Final = "data"
DATA_MARKER: Final = "{}"
"""The value text of the ``["data"]`` leaf: the payload's data is an object, its members are leaves."""

_DECODER = json.JSONDecoder()
encode_text: Callable[[str], str] = encode_basestring
"""A JSON string as ``json.dumps(text, ensure_ascii=False)`` writes it (the function it calls, without its set-up)."""


class OpeningError(ValueError):
    """A payload and its opening (salts, erased digests) do not fit together; the message says where."""


@dataclass(frozen=True)
class Opening:
    """What opens an event's commitment besides the stored payload text.

    Sealed: ``salt`` (the event salt), nothing else. Redacted: ``salt`` is ``None``,
    ``salts`` holds the derived salt of every leaf still present and ``erased`` the digest
    of every leaf removed (both keyed by the leaf's path text).
    """

    salt: bytes | None
    salts: Mapping[str, bytes] = field(default_factory=dict)
    erased: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def redacted(self) -> bool:
        """Whether anything of this payload was erased."""
        return self.salt is None


def path_text(path: Iterable[str]) -> str:
    """The canonical JSON of a leaf path: ``["data","email"]``."""
    names = list(path)
    if all(type(name) is str for name in names):  # the ledger's own paths: the C string encoder, ~10x json.dumps
        return "[" + ",".join(map(encode_text, names)) + "]"
    return json.dumps(names, separators=(",", ":"), ensure_ascii=False)


def members(text: str) -> list[tuple[str, str, str]]:
    """The members of a JSON object text as ``(name, name text, value text)``, both texts cut from ``text`` unchanged.

    Only the compact form the ledger writes is read (no whitespace); anything else is
    refused with :class:`OpeningError`.
    """
    if not text.startswith("{") or not text.endswith("}"):
        raise OpeningError(f"the payload {text[:40]!r} is not a JSON object")
    result: list[tuple[str, str, str]] = []
    index = 1
    end = len(text) - 1
    while index < end:
        try:
            name, after = _DECODER.raw_decode(text, index)
            if type(name) is not str or text[after] != ":":
                raise OpeningError(f"the payload has no member name at offset {index}")
            _value, stop = _DECODER.raw_decode(text, after + 1)
        except (json.JSONDecodeError, IndexError):
            raise OpeningError(f"the payload is not compact JSON at offset {index}") from None
        result.append((name, text[index:after], text[after + 1 : stop]))
        if stop < end and text[stop] != ",":
            raise OpeningError(f"the payload has {text[stop]!r} where ',' belongs at offset {stop}")
        index = stop + 1
    if index == end and text != "{}":
        raise OpeningError("the payload ends with a ',' and no member after it")
    return result


_DATA_PATH: Final = path_text((DATA,))
_DATA_PREFIX: Final = _DATA_PATH[:-1] + ","


def leaves(payload: str) -> dict[str, str]:
    """Every leaf of a payload text: path text -> value text (see the module docstring)."""
    result: dict[str, str] = {}
    for name, _, value in members(payload):
        if name == DATA and value.startswith("{"):
            _put(result, _DATA_PATH, DATA_MARKER)
            for key, _, item in members(value):
                _put(result, _DATA_PREFIX + encode_text(key) + "]", item)  # path_text((DATA, key)), inlined
        else:
            _put(result, "[" + encode_text(name) + "]", value)
    return result


def _put(found: dict[str, str], path: str, value: str) -> None:
    if path in found:
        raise OpeningError(f"the payload names the leaf {path} twice")
    found[path] = value


def leaf_salt(event_salt: bytes, path: str) -> bytes:
    """The salt of one leaf, derived from the event salt (HMAC-SHA256 over the path text)."""
    return hmac.digest(event_salt, path.encode("utf-8"), "sha256")


_IPAD: Final = bytes(b ^ 0x36 for b in range(256))
_OPAD: Final = bytes(b ^ 0x5C for b in range(256))


def _key_states(event_salt: bytes) -> tuple[_Hash, _Hash]:
    """HMAC-SHA256's inner and outer hash states for the key ``event_salt`` (RFC 2104), to be copied per message."""
    key = event_salt if len(event_salt) <= 64 else hashlib.sha256(event_salt).digest()
    key = key.ljust(64, b"\x00")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def salter(event_salt: bytes) -> Callable[[str], bytes]:
    """:func:`leaf_salt` for many paths of one event: the HMAC key's inner and outer SHA-256 states
    computed once, then copied per path (the same bytes as ``hmac.digest``; it sets up its context
    on every call)."""
    inner, outer = _key_states(event_salt)

    def salt(path: str) -> bytes:
        step = inner.copy()
        step.update(path.encode("utf-8"))
        last = outer.copy()
        last.update(step.digest())
        return last.digest()

    return salt


def sealed_digests(event_salt: bytes, found: Mapping[str, str]) -> dict[str, bytes]:
    """The digest of every leaf (path text -> value text) of an event sealed with ``event_salt``:
    :func:`leaf_digest` of :func:`leaf_salt`, each path encoded once and the HMAC's key states
    computed once (see :func:`salter`). The hot path of sealing and of verifying format 2."""
    (inner, outer), sha256 = _key_states(event_salt), hashlib.sha256
    out: dict[str, bytes] = {}
    for path, value in found.items():
        encoded = path.encode("utf-8")
        step = inner.copy()
        step.update(encoded)
        last = outer.copy()
        last.update(step.digest())
        out[path] = sha256(LEAF_TAG + last.digest() + encoded + b"\x00" + value.encode("utf-8")).digest()
    return out


def leaf_digest(salt: bytes, path: str, value: str) -> bytes:
    """The salted digest of one leaf."""
    return hashlib.sha256(LEAF_TAG + salt + path.encode("utf-8") + b"\x00" + value.encode("utf-8")).digest()


def commitment_of(digests: Mapping[str, bytes]) -> bytes:
    """The commitment over every leaf digest, in the code point order of the path texts."""
    return hashlib.sha256(
        COMMITMENT_TAG + b"".join([path.encode("utf-8") + b"\x00" + digests[path] for path in sorted(digests)])
    ).digest()


def digests(payload: str, opening: Opening) -> dict[str, bytes]:
    """Every leaf digest of a stored payload and its opening: present leaves recomputed, erased ones as kept."""
    present = leaves(payload)
    result: dict[str, bytes] = {}
    derive = salter(opening.salt) if opening.salt is not None else None
    for path, value in present.items():
        if path in opening.erased:
            raise OpeningError(f"the leaf {path} is both present and erased")
        if derive is not None:
            salt = derive(path)
        elif path in opening.salts:
            salt = opening.salts[path]
        else:
            raise OpeningError(f"the leaf {path} has no salt: the event salt is gone and no leaf salt was kept")
        result[path] = leaf_digest(salt, path, value)
    if opening.salt is not None and opening.erased:
        raise OpeningError("an opening holds the event salt and erased leaves at once")
    result.update(opening.erased)
    return result


def commitment(payload: str, opening: Opening) -> bytes:
    """The commitment of a stored payload under its opening (:class:`OpeningError` when they do not fit)."""
    return commitment_of(digests(payload, opening))


def event_hash(prev_hash: bytes, envelope: bytes, commitment: bytes) -> bytes:
    """The chained hash of a format-2 event: ``SHA-256(prev_hash ‖ envelope ‖ 0x0A ‖ 0x00 ‖ commitment)``.

    The 0x00 cannot start a format-1 payload (a JSON text), so no format-1 event hashes the
    same bytes.
    """
    return hashlib.sha256(prev_hash + envelope + b"\n\x00" + commitment).digest()


def seal(payload: str, random: Callable[[int], bytes] = secrets.token_bytes) -> tuple[Opening, bytes]:
    """A fresh event salt for ``payload`` and the commitment it gives."""
    return seal_leaves(leaves(payload), random)


def seal_leaves(
    found: Mapping[str, str], random: Callable[[int], bytes] = secrets.token_bytes
) -> tuple[Opening, bytes]:
    """:func:`seal` of a payload whose leaves (path text -> value text, as :func:`leaves` gives) are known already.

    The writer has the payload as a value before it has its text, and cuts the leaves from
    the value (``chain_leaves.py``) rather than parse the text back.
    """
    salt = random(SALT_BYTES)
    return Opening(salt), commitment_of(sealed_digests(salt, found))


def redact(payload: str, opening: Opening, paths: Iterable[str]) -> tuple[str, Opening]:
    """Erase the leaves ``paths`` (path texts): the payload text without them and the opening that still verifies.

    Erasing ``["data"]`` erases every data leaf with it. A path the payload does not hold
    (present or already erased) is refused, naming it, and nothing changes. Leaves already
    erased stay erased.
    """
    present = leaves(payload)
    wanted = set(paths)
    if path_text((DATA,)) in wanted:
        wanted.update(p for p in present if _is_data_member(p))
    unknown = sorted(p for p in wanted if p not in present and p not in opening.erased)
    if unknown:
        raise OpeningError(f"the payload holds no leaf {', '.join(unknown)}")
    current = digests(payload, opening)
    derive = salter(opening.salt) if opening.salt is not None else None
    salts = {p: (derive(p) if derive is not None else opening.salts[p]) for p in present}
    erased = dict(opening.erased)
    for path in wanted:
        erased[path] = current[path]
    kept = {p: s for p, s in salts.items() if p not in erased}
    return _without(payload, erased), Opening(None, kept, erased)


def _is_data_member(path: str) -> bool:
    return path.startswith('["data",')


def _without(payload: str, erased: Mapping[str, str] | Mapping[str, bytes]) -> str:
    """The payload text without the erased leaves, every other member's text unchanged."""
    parts: list[str] = []
    for name, name_text, value in members(payload):
        if name == DATA and value.startswith("{"):
            if path_text((DATA,)) in erased:
                continue
            inner = [f"{k_text}:{v}" for k, k_text, v in members(value) if path_text((DATA, k)) not in erased]
            value = "{" + ",".join(inner) + "}"
        elif path_text((name,)) in erased:
            continue
        parts.append(f"{name_text}:{value}")
    return "{" + ",".join(parts) + "}"


@dataclass(frozen=True)
class Erasure:
    """A redaction event as the check reads it: where it is and which leaves of which event it erases."""

    position: int
    target: int
    paths: frozenset[str]


def unjustified(openings: Mapping[int, Opening], erasures: Iterable[Erasure]) -> list[tuple[int, str]]:
    """What the log does not account for: ``(position, problem)`` pairs, in position order.

    Trust lies in the log alone: every erased leaf (and every event salt gone) must be
    named by a redaction event, and every leaf a redaction event names must be gone.
    """
    covered: dict[int, set[str]] = {}
    by: dict[int, list[int]] = {}
    for erasure in erasures:
        covered.setdefault(erasure.target, set()).update(erasure.paths)
        by.setdefault(erasure.target, []).append(erasure.position)
    problems: list[tuple[int, str]] = []
    for position in sorted(set(openings) | set(covered)):
        opening = openings.get(position)
        names = covered.get(position, set())
        if opening is None:
            problems.append((position, f"redaction events at {_positions(by[position])} name an event with no payload"))
            continue
        missing = sorted(set(opening.erased) - names)
        if missing:
            problems.append((position, f"leaves {', '.join(missing)} erased without a redaction event"))
        elif opening.redacted and not names:
            problems.append((position, "the event salt is gone without a redaction event"))
        stale = sorted(names - set(opening.erased))
        if stale:
            problems.append(
                (
                    position,
                    f"redaction events at {_positions(by[position])} name leaves still present: {', '.join(stale)}",
                )
            )
    return problems


def _positions(positions: list[int]) -> str:
    return ", ".join(str(p) for p in sorted(positions))
