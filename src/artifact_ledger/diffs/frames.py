"""Row and column differences between two DataFrames, read from their stored JSON (pure; no pandas).

Both DataFrame codecs store canonical JSON, so a frame is read here as plain columns, rows and
(for pandas frames) index labels and dtypes. Rows are matched by index label when both frames
have unique, explicit labels, else aligned as sequences (so an inserted row is one row added,
not every later row changed). Rows are compared on the columns both frames have. What rows and
columns cannot show is said in the note (a column label of another type that reads the same as
text, ``1`` to ``'1'``; the column order; the axes' names, dtypes and frequencies; the index
labels of rows matched by position; the frame type), so a changed frame never diffs as unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .. import codec
from ..schemas.content_diffs import CellChange, ColumnTypeChange, DataFrameContentDiff, FrameRow, FrameRowChange
from .text import align

MAX_ROWS: Final = 50_000
"""Rows compared per side; beyond it the diff covers the first ``MAX_ROWS`` and says ``truncated``."""
MAX_PAIRS: Final = 2_000_000
"""Most pairs of equal rows the alignment of two frames' rows may examine (as for text lines: difflib's
matching is quadratic in them; 8,000 equal rows took 7-12 s)."""
SAMPLE: Final = 20
"""Rows kept in each sample (added, removed, changed)."""


@dataclass(frozen=True, slots=True)
class Frame:
    columns: list[str]
    rows: list[list[Any]]
    labels: list[Any] | None  # explicit index labels (pandas), None for positions
    dtypes: list[str] | None


def _names(raw: list[Any], taken: set[str]) -> list[str]:
    """Column labels as unique strings: a repeated label gets ``#2``, ``#3``… skipping any name in
    ``taken`` (the labels of both frames, so a generated name is never a real column's, and the
    k-th repeat of a label is named alike on both sides)."""
    used: set[str] = set()
    following: dict[str, int] = {}  # the number to try next for each repeated label
    out = []
    for label in raw:
        name = base = str(label)
        number = following.get(base, 2)
        while name in used:
            name = f"{base}#{number}"
            number += 1
            if name in taken:
                name = base  # a real column's name: try the next number
        following[base] = number
        used.add(name)
        out.append(name)
    return out


def _index_values(spec: dict[str, Any]) -> list[Any]:
    if spec["kind"] == "range":
        return list(range(spec["start"], spec["stop"], spec["step"]))
    return list(spec["values"])


def _column_labels(document: Any) -> list[Any]:
    if isinstance(document, dict) and "index" in document:  # pandas codec, format 1
        return _index_values(document["columns"])
    return list(document["columns"])


def read_frame(document: Any, taken: set[str] | None = None) -> Frame:
    """A frame from the decoded JSON of the ``dataframe`` or ``pandas`` codec (``taken``: see :func:`_names`)."""
    columns = _column_labels(document)
    names = _names(columns, taken if taken is not None else {str(label) for label in columns})
    if isinstance(document, dict) and "index" in document:
        labels = None if document["index"]["kind"] == "range" else _index_values(document["index"])
        return Frame(names, document["data"], labels, document["dtypes"])
    return Frame(names, document["data"], None, None)


def _key(row: list[Any], positions: list[int]) -> bytes:
    return codec.dumps([row[p] for p in positions])


def _by_label(old: Frame, new: Frame) -> bool:
    """Whether rows are matched by index label: both frames have explicit, unique labels."""
    if old.labels is None or new.labels is None:
        return False
    return all(len({codec.dumps(x) for x in labels}) == len(labels) for labels in (old.labels, new.labels))


Blocks = list[tuple[str, list[int], list[int]]]


def _pairs(old: Frame, new: Frame, op: list[int], np: list[int]) -> tuple[Blocks, bool]:
    """(``equal``/``change``/``remove``/``add``, old rows, new rows) blocks, and whether the alignment
    budget cut the matching short (the changed middle then paired by position)."""
    if old.labels is not None and new.labels is not None and _by_label(old, new):
        where = {codec.dumps(label): j for j, label in enumerate(new.labels)}
        blocks: Blocks = []
        for i, label in enumerate(old.labels):
            j = where.pop(codec.dumps(label), None)
            if j is None:
                blocks.append(("remove", [i], []))
            else:
                same = _key(old.rows[i], op) == _key(new.rows[j], np)
                blocks.append(("equal" if same else "change", [i], [j]))
        blocks.extend(("add", [], [j]) for j in sorted(where.values()))
        return blocks, False
    a = [_key(r, op) for r in old.rows]
    b = [_key(r, np) for r in new.rows]
    out: Blocks = []
    codes, coarse = align(a, b, MAX_PAIRS)
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        out.extend(("change", [i1 + k], [j1 + k]) for k in range(paired))
        out.append(("remove", list(range(i1 + paired, i2)), []))
        out.append(("add", [], list(range(j1 + paired, j2))))
    return out, coarse


def _label(frame: Frame, row: int) -> Any:
    return frame.labels[row] if frame.labels is not None else None


MAX_NAMED: Final = 5
"""Column labels named one by one in a note; past it, how many more."""


def _is_pandas(document: Any) -> bool:
    return isinstance(document, dict) and "index" in document


def _axis(spec: dict[str, Any]) -> dict[str, Any]:
    """An axis's name, dtype and frequency (a range index is int64 labels)."""
    dtype = "int64" if spec["kind"] == "range" else spec.get("dtype")
    return {"name": spec.get("name"), "dtype": dtype, "freq": spec.get("freq")}


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - MAX_NAMED:,} more" if len(items) > MAX_NAMED else ""
    return ", ".join(items[:MAX_NAMED]) + more


def _relabelled(old: dict[str, Any], new: dict[str, Any], old_rows: int, new_rows: int) -> bool:
    """Whether the index labels of rows matched by position changed: two ranges that start or step
    elsewhere, or label lists that differ when no row was added or removed (else that shows)."""
    if old["kind"] == new["kind"] == "range":
        return bool((old["start"], old["step"]) != (new["start"], new["step"]) and old_rows and new_rows)
    if old_rows != new_rows:
        return False
    return codec.dumps(_index_values(old)[:old_rows]) != codec.dumps(_index_values(new)[:new_rows])


def _layout_notes(old_doc: Any, new_doc: Any, old: Frame, new: Frame, common: list[str]) -> list[str]:
    """What changed besides rows, columns and dtypes, in words: a column label of another type that
    reads the same as text (``1`` to ``'1'``), the column order, the index's or the columns' name,
    dtype or frequency, the index labels where rows were matched by position, the frame type."""
    if old_doc is None or new_doc is None:
        return []
    notes = []
    if _is_pandas(old_doc) != _is_pandas(new_doc):
        kinds = ["pandas.DataFrame" if _is_pandas(doc) else "DataFrame" for doc in (old_doc, new_doc)]
        notes.append(f"format changed ({kinds[0]} -> {kinds[1]})")
    old_raw = dict(zip(old.columns, _column_labels(old_doc), strict=True))
    new_raw = dict(zip(new.columns, _column_labels(new_doc), strict=True))
    relabelled = [
        f"{old_raw[c]!r:.60} -> {new_raw[c]!r:.60}"
        for c in common
        if codec.dumps(old_raw[c]) != codec.dumps(new_raw[c])
    ]
    if relabelled:
        notes.append(f"column label {_listed(relabelled)}")
    new_set = set(new.columns)
    old_set = set(old.columns)
    if [c for c in old.columns if c in new_set] != [c for c in new.columns if c in old_set]:
        notes.append("column order changed")
    if _is_pandas(old_doc) and _is_pandas(new_doc):
        for axis in ("index", "columns"):
            before, after = _axis(old_doc[axis]), _axis(new_doc[axis])
            notes.extend(
                f"{axis} {key} {before[key]!r:.60} -> {after[key]!r:.60}" for key in before if before[key] != after[key]
            )
        if not _by_label(old, new) and _relabelled(old_doc["index"], new_doc["index"], len(old.rows), len(new.rows)):
            notes.append("index labels changed (rows matched by position, not by label)")
    return notes


def frame_diff(old_doc: Any, new_doc: Any) -> DataFrameContentDiff:
    """The difference of two frames (None: no content on that side)."""
    empty = Frame([], [], None, None)
    taken = {str(label) for doc in (old_doc, new_doc) if doc is not None for label in _column_labels(doc)}
    old = read_frame(old_doc, taken) if old_doc is not None else empty
    new = read_frame(new_doc, taken) if new_doc is not None else empty
    # column name -> position (names are unique per frame): set and dict lookups keep wide frames linear
    old_at = {c: i for i, c in enumerate(old.columns)}
    new_at = {c: j for j, c in enumerate(new.columns)}
    result = DataFrameContentDiff(
        old_shape=(len(old.rows), len(old.columns)) if old_doc is not None else None,
        new_shape=(len(new.rows), len(new.columns)) if new_doc is not None else None,
        columns_added=[c for c in new.columns if c not in old_at],
        columns_removed=[c for c in old.columns if c not in new_at],
    )
    if len(old.rows) > MAX_ROWS or len(new.rows) > MAX_ROWS:
        result.truncated = True
        result.note = f"bounded: the first {MAX_ROWS:,} rows of each side compared"
        old = Frame(old.columns, old.rows[:MAX_ROWS], old.labels and old.labels[:MAX_ROWS], old.dtypes)
        new = Frame(new.columns, new.rows[:MAX_ROWS], new.labels and new.labels[:MAX_ROWS], new.dtypes)
    common = [c for c in old.columns if c in new_at]
    op = [old_at[c] for c in common]
    np = [new_at[c] for c in common]
    if old.dtypes is not None and new.dtypes is not None:
        result.dtype_changes = [
            ColumnTypeChange(column=c, old=old.dtypes[i], new=new.dtypes[j])
            for c, i, j in zip(common, op, np, strict=True)
            if old.dtypes[i] != new.dtypes[j]
        ]
    changed_columns = {change.column for change in result.dtype_changes}
    blocks, coarse = _pairs(old, new, op, np)
    if coarse:
        result.truncated = True
        bounded = f"rows past the alignment budget ({MAX_PAIRS:,} pairs of equal rows) paired by position"
        result.note = f"{result.note}; {bounded}" if result.note else f"bounded: {bounded}"
    for tag, olds, news in blocks:
        if tag == "remove":
            result.rows_removed += len(olds)
            room = SAMPLE - len(result.removed_sample)
            result.removed_sample.extend(
                FrameRow(row=i, label=_label(old, i), values=dict(zip(old.columns, old.rows[i], strict=True)))
                for i in olds[: max(room, 0)]
            )
        elif tag == "add":
            result.rows_added += len(news)
            room = SAMPLE - len(result.added_sample)
            result.added_sample.extend(
                FrameRow(row=j, label=_label(new, j), values=dict(zip(new.columns, new.rows[j], strict=True)))
                for j in news[: max(room, 0)]
            )
        elif tag == "change":
            i, j = olds[0], news[0]
            cells = [
                CellChange(column=c, old=old.rows[i][p], new=new.rows[j][q])
                for c, p, q in zip(common, op, np, strict=True)
                if codec.dumps(old.rows[i][p]) != codec.dumps(new.rows[j][q])
            ]
            if not cells:
                continue
            result.rows_changed += 1
            changed_columns.update(cell.column for cell in cells)
            if len(result.changed_sample) < SAMPLE:
                result.changed_sample.append(FrameRowChange(old_row=i, new_row=j, label=_label(old, i), cells=cells))
    result.columns_changed = [c for c in common if c in changed_columns]
    notes = _layout_notes(old_doc, new_doc, old, new, common)
    shown = result.rows_added or result.rows_removed or result.rows_changed or result.dtype_changes
    if not (notes or shown or result.columns_added or result.columns_removed or result.truncated) and (
        codec.dumps(old_doc) != codec.dumps(new_doc)
    ):
        notes.append("the frames differ in how they are stored, not in their rows, columns or dtypes")
    if notes:
        result.note = "; ".join([*notes, *([result.note] if result.note else [])])
    return result
