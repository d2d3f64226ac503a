"""Lineage: typed links between artifact versions, and the graph read from them.

A link reads "src *kind* dst": ``link(model, dataset, "derived_from")`` makes the dataset
upstream of the model. Each link has an event stream of its own (``link.added`` /
``link.removed``), so the links at any log position are those whose stream's last event then
was an ``added``. Pure rules and the graph model; no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidArgumentError, InvalidLinkError
from .events import LINK_ADDED, LINK_REMOVED, NewEvent

__all__ = [
    "BUILTIN_LINK_KINDS",
    "DERIVED_FROM",
    "LineageEdge",
    "LineageGraph",
    "checked_kind",
    "decide_link",
    "decide_unlink",
    "link_kinds",
    "register_link_kind",
]

DERIVED_FROM = "derived_from"
ProvRelation = Literal["wasDerivedFrom", "used", "wasGeneratedBy", "wasInfluencedBy"]

BUILTIN_LINK_KINDS: dict[str, ProvRelation] = {
    DERIVED_FROM: "wasDerivedFrom",
    "used": "used",
    "evaluated_on": "used",
    "produced_by": "wasGeneratedBy",
}
"""Each kind and the W3C PROV relation it is exported as."""
_KINDS: dict[str, ProvRelation] = dict(BUILTIN_LINK_KINDS)
_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PROV: frozenset[str] = frozenset({"wasDerivedFrom", "used", "wasGeneratedBy", "wasInfluencedBy"})


def register_link_kind(kind: str, *, prov: ProvRelation = "wasInfluencedBy") -> None:
    """Allow links of ``kind`` (lower case, digits and ``_``, at most 64 characters) in this process.

    ``prov`` is the W3C PROV relation :meth:`LineageGraph.to_prov_json` exports it as. Registering a
    built-in kind again is an error; registering a custom kind again with the same relation is not.
    """
    if not isinstance(kind, str) or not _KIND_NAME.match(kind):
        raise InvalidArgumentError(
            f"link kind {kind!r:.80} is not a valid name: lower case letters, digits and '_', starting with a letter, "
            "at most 64 characters"
        )
    if prov not in _PROV:
        raise InvalidArgumentError(f"prov must be one of {sorted(_PROV)}, not {prov!r:.80}")
    if kind in BUILTIN_LINK_KINDS or _KINDS.get(kind, prov) != prov:
        raise InvalidArgumentError(f"link kind {kind!r} is already registered as {_KINDS[kind]}")
    _KINDS[kind] = prov


def link_kinds() -> dict[str, str]:
    """Every link kind this process accepts, with its PROV relation."""
    return dict(_KINDS)


def checked_kind(kind: Any) -> str:
    if not isinstance(kind, str) or kind not in _KINDS:
        raise InvalidLinkError(
            f"unknown link kind {kind!r:.80}; known kinds: {', '.join(sorted(_KINDS))} "
            "(register others with artifact_ledger.register_link_kind)"
        )
    return kind


def link_payload(kind: str, src_id: str, src_version: int, dst_id: str, dst_version: int) -> dict[str, Any]:
    return {"kind": kind, "src_id": src_id, "src_version": src_version, "dst_id": dst_id, "dst_version": dst_version}


def decide_link(
    kind: str,
    src: tuple[str, int],
    dst: tuple[str, int],
    *,
    stream: tuple[str, int, bool] | None,
    new_stream_id: str,
    cycle: Sequence[str] | None,
) -> list[NewEvent]:
    """Add the link; ``stream`` is its stream (id, version, whether it is held) when it had one,
    ``cycle`` the derived_from path from ``dst`` back to ``src`` the link would close, if any."""
    if src[0] == dst[0]:
        raise InvalidLinkError(f"a link from artifact {src[0]} to itself is refused ({kind})")
    if cycle:
        path = " -> ".join([src[0], *cycle])
        raise InvalidLinkError(
            f"linking {src[0]} derived_from {dst[0]} would close a derived_from cycle: {path}; nothing was recorded"
        )
    if stream is not None and stream[2]:
        return []  # held already: a no-op appends nothing
    stream_id, version = (stream[0], stream[1] + 1) if stream is not None else (new_stream_id, 1)
    return [NewEvent(stream_id, version, LINK_ADDED, link_payload(kind, src[0], src[1], dst[0], dst[1]))]


def decide_unlink(
    kind: str, src: tuple[str, int], dst: tuple[str, int], *, stream: tuple[str, int, bool] | None
) -> list[NewEvent]:
    """Remove the link; nothing to remove appends nothing."""
    if stream is None or not stream[2]:
        return []
    return [NewEvent(stream[0], stream[1] + 1, LINK_REMOVED, link_payload(kind, src[0], src[1], dst[0], dst[1]))]


# ---- the graph -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """One link: ``src`` (at ``src_version``) *kind* ``dst`` (at ``dst_version``)."""

    src_id: str
    src_version: int
    kind: str
    dst_id: str
    dst_version: int


@dataclass(slots=True)
class LineageGraph:
    """The artifacts reached from ``root`` and the links between them.

    ``nodes`` maps each artifact id to its hop distance from the root; ``labels`` to a display
    name when the artifact's data has one (``name``, else ``type``).
    """

    root: str
    direction: Literal["upstream", "downstream", "both"]
    nodes: dict[str, int] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def upstream_of(self, artifact_id: str) -> list[LineageEdge]:
        return [e for e in self.edges if e.src_id == artifact_id]

    def downstream_of(self, artifact_id: str) -> list[LineageEdge]:
        return [e for e in self.edges if e.dst_id == artifact_id]

    def to_mermaid(self) -> str:
        """A Mermaid flowchart, upstream at the top: an arrow from each dst to its src, labelled by kind."""
        short = {aid: f"n{i}" for i, aid in enumerate(sorted(self.nodes, key=lambda a: (self.nodes[a], a)))}
        lines = ["flowchart TB"]
        for aid, key in short.items():
            label = _mermaid_text(self.labels.get(aid, aid))
            lines.append(
                f'    {key}["{label}<br/><small>{aid}</small>"]' if aid in self.labels else f'    {key}["{aid}"]'
            )
        for e in sorted(self.edges, key=_edge_key):
            text = _mermaid_text(f"{e.kind} v{e.src_version}←v{e.dst_version}")
            lines.append(f"    {short[e.dst_id]} -->|{text}| {short[e.src_id]}")
        lines.append(f"    style {short[self.root]} stroke-width:3px")
        return "\n".join(lines) + "\n"

    def to_prov(self) -> dict[str, Any]:
        """The graph as a W3C PROV-JSON document (a dict).

        Every artifact version at an end of a link is the entity ``ledger:ID/vN``, whatever the
        kind. An artifact version that acts in a link (the source of a ``used`` or ``evaluated_on``
        link, the target of a ``produced_by`` one) also has an activity of its own,
        ``ledger:ID/vN/activity``, which generated its entity (``wasGeneratedBy``): ``used`` links
        its activity to the entity used, ``produced_by`` the source's entity to the target's
        activity. ``derived_from`` joins two entities (``wasDerivedFrom``) and registered kinds
        exported as ``wasInfluencedBy`` two entities too, so every relation's ends have the types
        PROV requires. An artifact without links (the root alone) is the entity ``ledger:ID``.
        """
        entity: dict[str, Any] = {}
        activity: dict[str, Any] = {}
        relations: dict[str, dict[str, Any]] = {
            r: {} for r in ("wasDerivedFrom", "used", "wasGeneratedBy", "wasInfluencedBy")
        }

        def attributes(aid: str, version: int) -> dict[str, Any]:
            attrs: dict[str, Any] = {"ledger:artifact": aid, "ledger:version": version}
            if aid in self.labels:
                attrs["prov:label"] = self.labels[aid]
            return attrs

        def ent(aid: str, version: int) -> str:
            key = f"ledger:{aid}/v{version}"
            entity.setdefault(key, attributes(aid, version))
            return key

        def act(aid: str, version: int) -> str:
            key = f"ledger:{aid}/v{version}/activity"
            if key not in activity:
                activity[key] = attributes(aid, version)
                relations["wasGeneratedBy"][f"_:activity/{aid}/v{version}"] = {
                    "prov:entity": ent(aid, version),
                    "prov:activity": key,
                }
            return key

        for e in sorted(self.edges, key=_edge_key):
            relation = _KINDS.get(e.kind, "wasInfluencedBy")
            key = f"_:{e.kind}/{e.src_id}/v{e.src_version}/{e.dst_id}/v{e.dst_version}"
            src, dst = ent(e.src_id, e.src_version), ent(e.dst_id, e.dst_version)
            if relation == "wasDerivedFrom":
                relations[relation][key] = {"prov:generatedEntity": src, "prov:usedEntity": dst}
            elif relation == "used":
                relations[relation][key] = {
                    "prov:activity": act(e.src_id, e.src_version),
                    "prov:entity": dst,
                    "prov:role": e.kind,
                }
            elif relation == "wasGeneratedBy":
                relations[relation][key] = {"prov:entity": src, "prov:activity": act(e.dst_id, e.dst_version)}
            else:
                relations[relation][key] = {"prov:influencee": src, "prov:influencer": dst, "prov:type": e.kind}
        linked = {e.src_id for e in self.edges} | {e.dst_id for e in self.edges}
        for aid in self.nodes:  # an artifact without links (the root alone) is still an entity
            if aid not in linked:
                entity[f"ledger:{aid}"] = {
                    "ledger:artifact": aid,
                    **({"prov:label": self.labels[aid]} if aid in self.labels else {}),
                }
        doc: dict[str, Any] = {"prefix": {"ledger": "urn:artifact-ledger:"}, "entity": entity}
        if activity:
            doc["activity"] = activity
        doc.update({r: v for r, v in relations.items() if v})
        return doc

    def to_prov_json(self, *, indent: int | None = 2) -> str:
        """The graph as W3C PROV-JSON text."""
        return json.dumps(self.to_prov(), indent=indent, sort_keys=True, ensure_ascii=False)


def _edge_key(e: LineageEdge) -> tuple[str, int, str, str, int]:
    return (e.src_id, e.src_version, e.kind, e.dst_id, e.dst_version)


def _mermaid_text(text: str) -> str:
    """Text safe inside a Mermaid label: quotes, brackets, pipes and markup written as entities."""
    out = []
    for ch in text[:120]:
        out.append(f"#{ord(ch)};" if ch in '"[]{}()|<>#&;`' or ord(ch) < 32 else ch)
    return "".join(out)


def find_cycle(src_id: str, dst_id: str, parents: Iterable[tuple[str, str]]) -> list[str] | None:
    """The derived_from path ``dst_id -> … -> src_id`` in ``parents`` (src, dst pairs), if there is one."""
    up: dict[str, list[str]] = {}
    for s, d in parents:
        up.setdefault(s, []).append(d)
    seen = {dst_id: dst_id}
    came: dict[str, str | None] = {dst_id: None}
    frontier = [dst_id]
    while frontier:
        nxt = []
        for node in frontier:
            for d in sorted(up.get(node, ())):
                if d in came:
                    continue
                came[d] = node
                seen[d] = d
                if d == src_id:
                    path = [d]
                    back = came[d]
                    while back is not None:
                        path.append(back)
                        back = came[back]
                    return list(reversed(path))
                nxt.append(d)
        frontier = nxt
    return None
