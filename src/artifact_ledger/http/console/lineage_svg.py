"""The lineage picture of an artifact page: a small layered layout computed here, drawn as inline SVG.

Columns by hops from the artifact: what it was made from on the left (upstream), what was made
from it on the right (downstream). Every number is computed here; the template writes them into
SVG attributes and the labels as autoescaped text, so nothing from artifact data is markup and
nothing is fetched from elsewhere (no script, no external stylesheet beyond the console's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ...lineage import LineageEdge, LineageGraph

NODE_W: Final = 176
NODE_H: Final = 46
COL_GAP: Final = 104
"""Room between columns for the edges and their kind labels."""
ROW_GAP: Final = 18
MARGIN: Final = 12
MAX_PER_COLUMN: Final = 8
"""Nodes drawn per column; the rest are counted under it."""
LABEL_CHARS: Final = 22


@dataclass(slots=True)
class Node:
    id: str
    label: str
    short_id: str
    column: int
    x: int = 0
    y: int = 0
    root: bool = False

    @property
    def title(self) -> str:
        return f"{self.label} ({self.id})" if self.label != self.short_id else self.id


@dataclass(slots=True)
class Edge:
    """An arrow from the upstream end to the downstream one, with the link's kind on it."""

    kind: str
    path: str
    label_x: int
    label_y: int
    src: Node
    dst: Node
    src_version: int
    dst_version: int


@dataclass(slots=True)
class Picture:
    width: int
    height: int
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    hidden: dict[int, int] = field(default_factory=dict)
    """Column -> nodes of that column not drawn."""
    hidden_at: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Column -> where its "+N more" text goes."""

    @property
    def empty(self) -> bool:
        return not self.edges


def _short(aid: str) -> str:
    return f"…{aid[-8:]}"


def _label(text: str | None, aid: str) -> str:
    if not text:
        return _short(aid)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def layout(root: str, upstream: LineageGraph, downstream: LineageGraph) -> Picture:
    """The picture of ``root`` with its ``upstream`` and ``downstream`` graphs (each a few hops)."""
    labels = {**downstream.labels, **upstream.labels}
    columns: dict[str, int] = {root: 0}
    for aid, hops in sorted(upstream.nodes.items(), key=lambda item: (item[1], item[0])):
        columns.setdefault(aid, -hops)
    for aid, hops in sorted(downstream.nodes.items(), key=lambda item: (item[1], item[0])):
        columns.setdefault(aid, hops)
    by_column: dict[int, list[str]] = {}
    for aid, column in columns.items():
        by_column.setdefault(column, []).append(aid)
    low = min(by_column)
    picture = Picture(width=0, height=0)
    drawn: dict[str, Node] = {}
    rows = 1
    for column in sorted(by_column):
        ids = sorted(by_column[column], key=lambda a: (labels.get(a, "~"), a))
        shown = ids[:MAX_PER_COLUMN]
        x = MARGIN + (column - low) * (NODE_W + COL_GAP)
        for row, aid in enumerate(shown):
            node = Node(
                id=aid,
                label=_label(labels.get(aid), aid),
                short_id=_short(aid),
                column=column,
                x=x,
                y=MARGIN + row * (NODE_H + ROW_GAP),
                root=aid == root,
            )
            drawn[aid] = node
            picture.nodes.append(node)
        rows = max(rows, len(shown))
        if len(ids) > len(shown):
            picture.hidden[column] = len(ids) - len(shown)
            picture.hidden_at[column] = (x + NODE_W // 2, MARGIN + len(shown) * (NODE_H + ROW_GAP) + 12)
            rows = max(rows, len(shown) + 1)
    # Center the columns against the tallest one.
    for column, ids in by_column.items():
        count = min(len(ids), MAX_PER_COLUMN) + (1 if column in picture.hidden else 0)
        offset = (rows - count) * (NODE_H + ROW_GAP) // 2
        for aid in ids:
            if aid in drawn:
                drawn[aid].y += offset
        if column in picture.hidden:
            hx, hy = picture.hidden_at[column]
            picture.hidden_at[column] = (hx, hy + offset)
    seen: set[tuple[str, int, str, str, int]] = set()
    for edge in [*upstream.edges, *downstream.edges]:
        key = (edge.src_id, edge.src_version, edge.kind, edge.dst_id, edge.dst_version)
        if key in seen or edge.src_id not in drawn or edge.dst_id not in drawn:
            continue
        seen.add(key)
        picture.edges.append(_edge(edge, drawn[edge.dst_id], drawn[edge.src_id]))
    picture.edges.sort(key=lambda e: (e.src.column, e.src.y, e.dst.y, e.kind))
    columns_used = max(by_column) - low + 1
    picture.width = 2 * MARGIN + columns_used * NODE_W + (columns_used - 1) * COL_GAP
    picture.height = 2 * MARGIN + rows * (NODE_H + ROW_GAP) - ROW_GAP
    return picture


def _edge(link: LineageEdge, upstream: Node, downstream: Node) -> Edge:
    """The arrow from ``upstream`` (the link's dst) to ``downstream`` (its src): a cubic curve
    between the facing sides of the two boxes (or around them when they share a column)."""
    if upstream.column < downstream.column:
        x1, x2 = upstream.x + NODE_W, downstream.x
    elif upstream.column > downstream.column:
        x1, x2 = upstream.x, downstream.x + NODE_W
    else:  # the same column: out of the right side and back in
        x1 = x2 = upstream.x + NODE_W
    y1, y2 = upstream.y + NODE_H // 2, downstream.y + NODE_H // 2
    bend = max(abs(x2 - x1) // 2, COL_GAP // 2)
    c1 = x1 + bend if x2 >= x1 else x1 - bend
    c2 = x2 - bend if x2 > x1 else x2 + bend
    if x1 == x2:
        c1 = c2 = x1 + bend
    path = f"M{x1},{y1} C{c1},{y1} {c2},{y2} {x2},{y2}"
    label_x = (x1 + x2) // 2 if x1 != x2 else x1 + bend * 3 // 4
    label_y = (y1 + y2) // 2 - 4
    return Edge(
        kind=link.kind,
        path=path,
        label_x=label_x,
        label_y=label_y,
        src=downstream,
        dst=upstream,
        src_version=link.src_version,
        dst_version=link.dst_version,
    )
