"""Human and JSON output for the CLI (rich tables and trees)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from ..schemas import ArtifactOut, ArtifactTreeNode, ArtifactVersion, AuditEntry, AuditPage

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


ID_WIDTH = 26  # a ULID


def _table(title: str, columns: tuple[str, ...], ids: tuple[str, ...]) -> Table:
    """A table whose id columns are never cut: at their full width, unwrapped, whatever the terminal.

    The other columns fold (wrap, breaking words if they must) into the width left; nothing is cut
    with an ellipsis. Every table fits 80 columns with its ids whole (``tests/cli`` checks it);
    ``--json`` is the output for anything narrower.
    """
    table = Table(title=title, pad_edge=False, collapse_padding=True)
    for column in columns:
        if column in ids:
            table.add_column(column, no_wrap=True, min_width=ID_WIDTH, overflow="ignore")
        else:
            table.add_column(column, overflow="fold")
    return table


NARROW = 120
"""Below this many columns the artifacts table stacks parent over summary and actor over time."""


def utc(value: datetime) -> str:
    """``2026-03-01 09:30:00``, in UTC; the year always has four digits (strftime's ``%Y`` drops the
    zeros of a year before 1000: ``--as-of 0202-01-01`` was shown as ``202-01-01``)."""
    return value.astimezone(UTC).isoformat(sep=" ", timespec="seconds")[:19]


def shown_time(value: datetime) -> str:
    """An instant as the CLI prints it: in UTC, saying so (``2026-03-01 00:00:00 UTC``)."""
    micro = value.astimezone(UTC).microsecond
    return utc(value) + (f".{micro:06d}" if micro else "") + " UTC"


def artifacts_table(rows: list[ArtifactOut], title: str = "artifacts") -> Table:
    if console.width < NARROW:
        table = _table(title, ("id", "lv", "v", "parent / summary", "updated (UTC)"), ids=("id",))
        table.columns[3].min_width = ID_WIDTH  # the parent id, a line of its own, is never cut either
        for out in rows:
            table.add_row(
                str(out.id),
                str(out.level),
                str(out.version),
                f"{out.parent_id or '(root)'}\n{brief(out.data)}",
                "\n".join([*filter(None, [out.updated_by]), *utc(out.updated_at).split(" ")]),
            )
        return table
    columns = ("id", "level", "version", "parent", "summary", "updated_by", "updated_at (UTC)")
    table = _table(title, columns, ids=("id", "parent"))
    for out in rows:
        table.add_row(
            str(out.id),
            str(out.level),
            str(out.version),
            str(out.parent_id or ""),
            brief(out.data),
            out.updated_by or "",
            utc(out.updated_at),
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


def history_table(versions: list[ArtifactVersion], provenance: list[AuditEntry] | None = None) -> Table:
    """The versions; with ``provenance``, the alias and link events that named the artifact too,
    between its versions in position order (no version number, the other artifact in ``parent``)."""
    title = f"history of {versions[0].artifact_id}" if versions else "history"
    parent = "parent" if provenance is None else "parent / other"
    table = _table(title, ("v", "event", parent, "actor", "recorded_at (UTC)", "reason"), ids=(parent,))
    rows: list[tuple[int, tuple[str, ...]]] = []
    for v in versions:
        rows.append(
            (
                v.position,
                (
                    str(v.version),
                    v.event_type.removeprefix("artifact."),
                    str(v.parent_id) if v.parent_id else "",
                    v.actor or "",
                    utc(v.recorded_at),
                    v.reason or "",
                ),
            )
        )
    me = str(versions[0].artifact_id) if versions else ""
    for e in provenance or ():
        event, other = _provenance_event(e, me)
        rows.append((e.position, ("", event, other, e.actor or "", utc(e.recorded_at), e.reason or "")))
    for _, row in sorted(rows, key=lambda r: r[0]):
        table.add_row(*row)
    return table


def _provenance_event(e: AuditEntry, me: str) -> tuple[str, str]:
    """An alias or link event as seen from artifact ``me``: what happened, and the other artifact (if any)."""
    d = e.details
    if e.event_type.startswith("alias."):
        name = escape(d["name"])
        if e.event_type == "alias.protected":
            return f"{e.event_type} {name} ({'on' if d['protected'] else 'off'})", ""
        if d["artifact_id"] == me:
            came = f" from v{d['from_version']}" if d["from_artifact_id"] == me else ""
            return f"{e.event_type} {name} -> v{d['version']}{came}", ""
        if d["artifact_id"] is None:
            return f"{e.event_type} {name} (was v{d['from_version']})", ""
        return f"{e.event_type} {name} moved to other's v{d['version']} (was v{d['from_version']})", d["artifact_id"]
    kind = escape(d["kind"])
    if d["src_id"] == me:
        return f"{e.event_type}: v{d['src_version']} {kind} other's v{d['dst_version']}", d["dst_id"]
    return f"{e.event_type}: other's v{d['src_version']} {kind} v{d['dst_version']}", d["src_id"]


def audit_table(page: AuditPage) -> Table:
    columns = ("pos", "artifact", "v", "event", "actor", "recorded_at (UTC)", "reason")
    table = _table("audit", columns, ids=("artifact",))
    if page.next_after:  # below the page, where a long one ends: what to run for the next
        table.caption = f"more after position {page.next_after}: continue with --after {page.next_after}"
    for e in page.entries:
        table.add_row(
            str(e.position),
            str(e.artifact_id),
            str(e.version),
            e.event_type.removeprefix("artifact."),
            e.actor or "",
            utc(e.recorded_at),
            e.reason or "",
        )
    return table
