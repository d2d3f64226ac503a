"""Human and JSON output for the CLI (rich tables and trees)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from ..schemas import ArtifactOut, ArtifactTreeNode, ArtifactVersion, AuditPage

console = Console()


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, sort_keys=True))


def brief(data: Any) -> str:
    """A one-line summary of artifact data (without content)."""
    if not isinstance(data, dict):
        return repr(data)[:60]
    kind = data.get("type")
    meta = data.get("metadata")
    parts = [str(kind)] if kind else []
    if isinstance(meta, dict):
        preferred = [k for k in ("status", "config_id", "duration_seconds") if k in meta]
        keys = preferred or [k for k, v in meta.items() if not isinstance(v, dict | list)][:3]
        parts.extend(f"{k}={meta[k]}" for k in keys)
    elif not parts:
        parts.append(", ".join(f"{k}={v!r}" for k, v in list(data.items())[:3] if k != "content"))
    return " ".join(parts)[:90]


def artifact_json(out: ArtifactOut) -> dict[str, Any]:
    return out.model_dump(mode="json")


def artifacts_table(rows: list[ArtifactOut], title: str = "artifacts") -> Table:
    table = Table(title=title)
    for column in ("id", "level", "version", "parent", "summary", "updated_by", "updated_at"):
        table.add_column(column)
    for out in rows:
        table.add_row(
            str(out.id),
            str(out.level),
            str(out.version),
            str(out.parent_id or ""),
            brief(out.data),
            out.updated_by or "",
            out.updated_at.isoformat(timespec="seconds"),
        )
    return table


def tree_view(node: ArtifactTreeNode) -> Tree:
    def label(n: ArtifactTreeNode) -> str:
        tag = f"[bold]{n.level_label}[/bold] " if n.level_label else f"[bold]level {n.level}[/bold] "
        return f"{tag}{n.id} v{n.version} [dim]{brief(n.data)}[/dim]"

    root = Tree(label(node))
    stack = [(node, root)]
    while stack:
        current, branch = stack.pop()
        for child in current.children or []:
            sub = branch.add(label(child))
            stack.append((child, sub))
    return root


def history_table(versions: list[ArtifactVersion]) -> Table:
    table = Table(title=f"history of {versions[0].artifact_id}" if versions else "history")
    for column in ("v", "event", "parent", "actor", "recorded_at (UTC)", "reason"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v.version),
            v.event_type.removeprefix("artifact."),
            f"…{str(v.parent_id)[-8:]}" if v.parent_id else "",
            v.actor or "",
            v.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            v.reason or "",
        )
    return table


def audit_table(page: AuditPage) -> Table:
    more = f" (more after position {page.next_after}: --after {page.next_after})" if page.next_after else ""
    table = Table(title=f"audit{more}")
    for column in ("pos", "artifact", "v", "event", "actor", "recorded_at (UTC)", "reason"):
        table.add_column(column)
    for e in page.entries:
        table.add_row(
            str(e.position),
            str(e.artifact_id),
            str(e.version),
            e.event_type.removeprefix("artifact."),
            e.actor or "",
            e.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.reason or "",
        )
    return table
