"""The benchmark forests: ``roots`` trees, each node with ``branching`` children, ``depth`` levels deep.

10 roots x 10 x 10 x 10 (four levels) is 10 * (1 + 10 + 100 + 1000) = 11,110 artifacts.
Nodes come parents-first (level by level), so a list of saves never names a parent
that is not saved yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from ulid import ULID

from artifact_ledger import ArtifactIn


@dataclass(frozen=True, slots=True)
class Node:
    index: int
    parent: int | None
    level: int
    tree: int
    data: dict[str, Any]


def small_data(index: int, level: int) -> dict[str, Any]:
    """Small JSON metadata, roughly what an ML run record carries (about 120 bytes)."""
    return {
        "type": "bench",
        "name": f"node-{index}",
        "level": level,
        "params": {"lr": 0.001 * (index % 7 + 1), "depth": index % 5},
        "score": (index % 100) / 100,
    }


def tree_size(branching: int, depth: int) -> int:
    return sum(branching**level for level in range(depth))


def forest(roots: int, branching: int, depth: int) -> list[Node]:
    """``roots`` trees, each tree's nodes parents-first, trees one after another."""
    nodes: list[Node] = []
    for tree in range(roots):
        base = len(nodes)
        level_nodes = [base]
        nodes.append(Node(base, None, 0, tree, small_data(base, 0)))
        for level in range(1, depth):
            next_level: list[int] = []
            for parent in level_nodes:
                for _ in range(branching):
                    index = len(nodes)
                    nodes.append(Node(index, parent, level, tree, small_data(index, level)))
                    next_level.append(index)
            level_nodes = next_level
    return nodes


def assign_ids(nodes: list[Node]) -> list[ULID]:
    """A fresh ULID per node (client-assigned ids, as ``save_all`` and the floor need)."""
    return [ULID() for _ in nodes]


def floor_rows(nodes: list[Node], ids: list[ULID]) -> list[tuple[str, str | None, str]]:
    """(id, parent_id, data JSON) per node, serialised up front so the floor times only the database."""
    return [
        (str(ids[n.index]), str(ids[n.parent]) if n.parent is not None else None, orjson.dumps(n.data).decode())
        for n in nodes
    ]


def artifacts_in(nodes: list[Node], ids: list[ULID]) -> list[ArtifactIn]:
    """``ArtifactIn`` per node with client-assigned ids (for ``save_all``)."""
    return [
        ArtifactIn(id=ids[n.index], parent_id=ids[n.parent] if n.parent is not None else None, data=n.data)
        for n in nodes
    ]


def by_tree(nodes: list[Node]) -> list[list[Node]]:
    """The nodes split into their trees (each list parents-first)."""
    trees: dict[int, list[Node]] = {}
    for n in nodes:
        trees.setdefault(n.tree, []).append(n)
    return list(trees.values())
