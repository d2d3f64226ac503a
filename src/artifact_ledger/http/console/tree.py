"""The console's tree page model: the roots on one page, drawn breadth first within a node budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from ...manager import ArtifactManager
from ...schemas import ArtifactOut, ArtifactTreeNode
from ..problems import Problem
from ..routes import listing
from . import views

ROOTS_PER_PAGE: Final = 25
TREE_BUDGET: Final = 2000
"""At most this many nodes are drawn on one tree page; deeper ones are counted, not drawn."""
CHILDREN_PER_PAGE: Final = 100
"""An artifact page lists this many of its children (each with its subtree, within the budget)."""


@dataclass(slots=True)
class TreeRow:
    """One node as drawn: ``hidden`` counts descendants left out to keep the page small."""

    id: str
    name: str
    level: int
    level_label: str | None
    version: int
    tags: list[str]
    updated_at: datetime
    children: list[TreeRow] = field(default_factory=list)
    child_count: int = 0
    hidden: int = 0


def _count(node: ArtifactTreeNode) -> int:
    return 1 + sum(_count(child) for child in node.children or ())


def draw(nodes: list[ArtifactTreeNode], budget: list[int], labels: dict[int, str]) -> list[TreeRow]:
    """The rows of ``nodes`` breadth first while ``budget[0]`` lasts; the rest are counted."""
    rows: list[TreeRow] = []
    for node in nodes:
        budget[0] -= 1
        rows.append(
            TreeRow(
                id=str(node.id),
                name=views.display_name(node),
                level=node.level,
                level_label=node.level_label or labels.get(node.level),
                version=node.version,
                tags=list(node.tags),
                updated_at=node.updated_at,
            )
        )
    for row, node in zip(rows, nodes, strict=True):
        children = list(node.children or ())
        row.child_count = len(children)
        if not children:
            continue
        if budget[0] <= 0:
            row.hidden = sum(_count(child) for child in children)
            continue
        shown = children[: max(budget[0], 0)]
        row.children = draw(shown, budget, labels)
        row.hidden = sum(_count(child) for child in children[len(shown) :])
    return rows


@dataclass(slots=True)
class ChildrenPage:
    """One page of an artifact's children: ``rows`` are children ``first`` to ``last`` of ``total``."""

    rows: list[TreeRow]
    total: int
    page: int
    pages: int
    first: int
    last: int


def children_page(node: ArtifactTreeNode | None, page: int, budget: int, labels: dict[int, str]) -> ChildrenPage:
    """Page ``page`` of the children of ``node`` (its subtree, from ``build_tree``), drawn within ``budget``.

    The tree page counts the rows it leaves out and links to their ancestor's page: this is where
    they are reached, a page of children at a time. A page past the last one is a 404."""
    children = list(node.children or ()) if node is not None else []
    pages = max(1, (len(children) + CHILDREN_PER_PAGE - 1) // CHILDREN_PER_PAGE)
    if page > pages:
        raise Problem(404, f"children page {page} is past the last one, page {pages}", kind="page-not-found")
    start = (page - 1) * CHILDREN_PER_PAGE
    shown = children[start : start + CHILDREN_PER_PAGE]
    rows = draw(shown, [budget], labels)
    return ChildrenPage(
        rows=rows, total=len(children), page=page, pages=pages, first=start + 1, last=start + len(shown)
    )


async def roots_page(manager: ArtifactManager, when: datetime | None, page: int) -> tuple[list[ArtifactOut], int]:
    """The roots (artifacts without a parent) live now or at ``when``, by id: one page and the total."""
    roots: list[ArtifactOut] = []
    if when is None:
        async for out in manager.iter_all(include_content=False, page_size=listing.READ_PAGE):
            if out.parent_id is None:
                roots.append(out)
    else:
        async for out in listing.iter_live(manager, when):
            if out.parent_id is None:
                roots.append(out)
    start = (page - 1) * ROOTS_PER_PAGE
    return roots[start : start + ROOTS_PER_PAGE], len(roots)
