"""``artifact-ledger diff``: the content diff of each kind drawn with rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..schemas.content_diffs import (
    BytesContentDiff,
    ContentDiff,
    DataFrameContentDiff,
    JsonContentDiff,
    TextContentDiff,
)

_STYLE = {"add": ("+", "green", "bold white on dark_green"), "remove": ("-", "red", "bold white on dark_red")}
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if code != 0x09} | {
    code: f"\\u{code:04x}" for code in _BIDI
}
"""Control characters of content shown escaped (``\\x1b``): written raw they would drive the terminal;
and the bidirectional marks, embeddings, overrides and isolates (``\\u202e``): raw they would reorder
what it shows, so a changed line could read as another ('Trojan Source')."""


def _visible(text: str) -> str:
    return text.translate(_CONTROLS)


def visible_lines(text: str) -> str:
    """``text`` with the control and bidirectional characters of each line escaped, its line breaks kept
    (a data diff names the stored keys and values, which may hold them)."""
    return "\n".join(_visible(line) for line in text.split("\n"))


def _text(diff: TextContentDiff, console: Console) -> None:
    console.print(f"content (text): +{diff.lines_added} -{diff.lines_removed} lines", highlight=False)
    for hunk in diff.hunks:
        console.print(Text(hunk.header, style="cyan"))
        for line in hunk.lines:
            mark, style, strong = _STYLE.get(line.op, (" ", "", ""))
            out = Text(mark, style=style)
            for span in line.spans:
                out.append(_visible(span.text), style=strong if span.changed and line.op != "context" else style)
            console.print(out)


def _frame(diff: DataFrameContentDiff, console: Console) -> None:
    shape = f"{diff.old_shape or '(none)'} -> {diff.new_shape or '(none)'}"
    console.print(
        f"content (dataframe): shape {shape}; rows +{diff.rows_added} -{diff.rows_removed} ~{diff.rows_changed}",
        markup=False,
        highlight=False,
    )
    for what, columns in (("added", diff.columns_added), ("removed", diff.columns_removed)):
        if columns:
            console.print(f"  columns {what}: {_visible(', '.join(columns))}", markup=False, highlight=False)
    if diff.columns_changed:
        console.print(f"  columns changed: {_visible(', '.join(diff.columns_changed))}", markup=False, highlight=False)
    for dtype in diff.dtype_changes:
        console.print(_visible(f"  dtype {dtype.column}: {dtype.old} -> {dtype.new}"), markup=False, highlight=False)
    if diff.added_sample or diff.removed_sample or diff.changed_sample:
        table = Table("change", "row", "values", title="sample")
        for row in diff.removed_sample:
            table.add_row(Text("removed", style="red"), str(row.row), Text(repr(row.values)))
        for row in diff.added_sample:
            table.add_row(Text("added", style="green"), str(row.row), Text(repr(row.values)))
        for change in diff.changed_sample:
            cells = ", ".join(f"{_visible(c.column)}: {c.old!r} -> {c.new!r}" for c in change.cells)
            table.add_row(Text("changed", style="yellow"), f"{change.old_row}->{change.new_row}", Text(cells))
        console.print(table)


def render_content_diff(diff: ContentDiff, console: Console) -> None:
    """Print one content diff, by kind, then its note (why it was bounded or summarised)."""
    if isinstance(diff, TextContentDiff):
        _text(diff, console)
    elif isinstance(diff, DataFrameContentDiff):
        _frame(diff, console)
    elif isinstance(diff, JsonContentDiff):
        console.print("content (json patch):", highlight=False)
        for op in diff.ops:
            console.print("  " + _visible(op.describe()), markup=False, highlight=False)  # a key is in the path
    elif isinstance(diff, BytesContentDiff):
        console.print(
            f"content (bytes): sha256 {diff.old_sha256 or '(none)'} -> {diff.new_sha256 or '(none)'}, "
            f"size {diff.old_size} -> {diff.new_size} ({diff.size_delta:+,} bytes)",
            markup=False,
            highlight=False,
        )
    if diff.truncated or diff.note:
        note = _visible(diff.note or "")
        console.print(f"  ({'truncated: ' if diff.truncated else ''}{note})", markup=False, highlight=False)
