"""Planning a redaction: which events and which leaves ``manager.redact`` erases, and the event that records it.

Pure, like ``decide.py``: no I/O. Given the events of one artifact's stream as stored, a
request (one version or all, the content or named data fields) becomes a list of
:class:`chain_v2.Erasure` targets, or is refused before anything is written:

- an unknown artifact or version: :class:`ArtifactNotFoundError` / :class:`VersionNotFoundError`;
- content asked for where no version has any: :class:`ContentNotFoundError`;
- a field no version holds, a field name that is not a top-level data member, an empty
  field list, or a request that would erase nothing new: :class:`InvalidArgumentError`;
- an event sealed under chain format 1, whose hash covers its payload bytes, so erasing any
  of them would break the chain: :class:`InvalidArgumentError` saying so.

The redaction event's payload names every erased leaf by position and path, so the chain
check (:func:`chain_v2.unjustified`) can hold the stored openings to it. ``redact.py`` runs the
plan under the write lock; an import reads the erasures back from the event
(:func:`erasures_of`, ``import_erasures.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .chain_v2 import Erasure, path_text
from .errors import ArtifactNotFoundError, ContentNotFoundError, InvalidArgumentError, VersionNotFoundError

REDACTED: Final = "artifact.redacted"
"""The type of the event that records a redaction."""
CONTENT: Final = path_text(("content",))


@dataclass(frozen=True)
class StoredVersion:
    """One event of the stream as the planner needs it: where it is, its payload as stored, what is erased."""

    position: int
    version: int
    payload: Mapping[str, Any]
    chain_format: int
    erased: frozenset[str] = frozenset()


def plan(
    artifact_id: str,
    stream: Sequence[StoredVersion],
    *,
    version: int | None = None,
    fields: Sequence[str] | None = None,
) -> list[Erasure]:
    """The erasures a redaction makes, one per event with something to erase, in position order.

    ``position`` of each :class:`Erasure` is 0: the redaction event's own position is given
    when it is sealed (:func:`event_payload` does not need it).
    """
    if not stream:
        raise ArtifactNotFoundError(f"artifact {artifact_id} not found: nothing to redact")
    chosen = _versions(artifact_id, stream, version)
    wanted = _wanted(artifact_id, chosen, version, fields)
    targets: list[Erasure] = []
    for stored in chosen:
        paths = frozenset(p for p in wanted.get(stored.position, ()) if p not in stored.erased)
        if not paths:
            continue
        if stored.chain_format < 2:
            raise InvalidArgumentError(
                f"artifact {artifact_id} version {stored.version} (position {stored.position}) was sealed under "
                "chain format 1, whose hash covers the payload's bytes: erasing any of them would break the chain. "
                "Only events sealed under chain format 2 can be redacted (docs/chain.md, 'Format 2')"
            )
        targets.append(Erasure(0, stored.position, paths))
    if not targets:
        what = "the content" if fields is None else f"the field(s) {', '.join(sorted(set(fields)))}"
        where = f"version {version}" if version is not None else "every version that had it"
        raise InvalidArgumentError(
            f"artifact {artifact_id}: {what} of {where} is already redacted; nothing was written"
        )
    return targets


def _versions(artifact_id: str, stream: Sequence[StoredVersion], version: int | None) -> list[StoredVersion]:
    if version is None:
        return sorted(stream, key=lambda s: s.position)
    if type(version) is not int or version < 1:
        raise InvalidArgumentError(f"version must be a positive integer or None, not {version!r}")
    chosen = [s for s in stream if s.version == version]
    if not chosen:
        have = sorted({s.version for s in stream})
        raise VersionNotFoundError(
            f"artifact {artifact_id} has no version {version} "
            f"(it has versions {have[0]} to {have[-1]}): nothing to redact"
        )
    return chosen


def _wanted(
    artifact_id: str, chosen: Sequence[StoredVersion], version: int | None, fields: Sequence[str] | None
) -> dict[int, set[str]]:
    """position -> the leaf paths the request names there; refuses names no chosen event holds."""
    where = f"version {version}" if version is not None else "any version"
    wanted: dict[int, set[str]] = {}
    if fields is None:
        for stored in chosen:
            if stored.payload.get("content") is not None or CONTENT in stored.erased:
                wanted.setdefault(stored.position, set()).add(CONTENT)
        if not wanted:
            raise ContentNotFoundError(f"artifact {artifact_id} has no content in {where}: nothing to redact")
        return wanted
    if isinstance(fields, str) or not fields:
        raise InvalidArgumentError(
            f"fields must be a non-empty list of data field names (or None for the content), not {fields!r}"
        )
    for name in fields:
        if type(name) is not str or not name:
            raise InvalidArgumentError(f"a field to redact must be a non-empty name, not {name!r}")
        path = path_text(("data", name))
        holders = [s for s in chosen if _holds(s, name, path)]
        if not holders:
            nested = (
                " Only top-level members of data can be redacted; name the member that holds it." if "." in name else ""
            )
            raise InvalidArgumentError(
                f"artifact {artifact_id} has no data field {name!r} in {where}: nothing was redacted.{nested}"
            )
        for stored in holders:
            wanted.setdefault(stored.position, set()).add(path)
    return wanted


def _holds(stored: StoredVersion, name: str, path: str) -> bool:
    data = stored.payload.get("data")
    return (isinstance(data, Mapping) and name in data) or path in stored.erased


def event_payload(targets: Sequence[Erasure], *, version: int | None, fields: Sequence[str] | None) -> dict[str, Any]:
    """The payload of the ``artifact.redacted`` event: the request, and every erased leaf by position."""
    return {
        "erased": [[t.target, sorted(t.paths)] for t in sorted(targets, key=lambda t: t.target)],
        "fields": None if fields is None else sorted(set(fields)),
        "version": version,
    }


def erasures_of(position: int, payload: Mapping[str, Any]) -> list[Erasure]:
    """The erasures a recorded ``artifact.redacted`` event at ``position`` names (:class:`ValueError` if malformed)."""
    erased = payload.get("erased")
    if not isinstance(erased, list):
        raise ValueError(f"the redaction event at position {position} has no list of erased leaves")
    result: list[Erasure] = []
    for item in erased:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or type(item[0]) is not int
            or not 1 <= item[0] < position
            or not isinstance(item[1], list)
            or not item[1]
            or not all(type(p) is str for p in item[1])
        ):
            raise ValueError(f"the redaction event at position {position} names an erasure it cannot: {item!r}")
        result.append(Erasure(position, item[0], frozenset(item[1])))
    return result
