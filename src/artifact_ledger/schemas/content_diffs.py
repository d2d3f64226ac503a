"""The models of a content diff: what changed inside ``data["content"]`` between two versions.

One model per kind of content, told apart by ``kind``: ``json`` (an RFC 6902 patch),
``text`` (unified-diff hunks whose lines carry word-level spans), ``dataframe`` (rows and
columns added, removed and changed, with a bounded sample) and ``bytes`` (hash and size; also
numpy arrays, pickles and content whose kind changed). ``truncated`` says the work was bounded
(huge content): the counts and lines cover only what was compared.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .artifacts import JsonSafe


class PatchOperation(BaseModel):
    """One JSON-patch-style operation on ``data``: ``add`` (``value``), ``remove`` (``old``), ``replace`` (both).

    ``path`` is an RFC 6901 pointer (``/metadata/f1``; ``""`` for the whole value).
    """

    op: Literal["add", "remove", "replace"]
    path: str
    old: JsonSafe = None
    value: JsonSafe = None

    def describe(self) -> str:
        path = self.path or '""'  # the whole value
        if self.op == "add":
            return f"+ {path}: {self.value!r}"
        if self.op == "remove":
            return f"- {path}: {self.old!r}"
        return f"~ {path}: {self.old!r} -> {self.value!r}"


class _Base(BaseModel):
    truncated: bool = False
    note: str | None = None


class JsonContentDiff(_Base):
    """JSON content: the RFC 6902 operations turning the old content into the new (root path ``""``)."""

    kind: Literal["json"] = "json"
    ops: list[PatchOperation] = Field(default_factory=list)


class TextSpan(BaseModel):
    """A run of one line's text; ``changed`` marks the words that differ from the paired line."""

    text: str
    changed: bool = False


class TextLine(BaseModel):
    """One line of a hunk: ``context``, ``add`` or ``remove``, with its 1-based line numbers."""

    op: Literal["context", "add", "remove"]
    old_number: int | None = None
    new_number: int | None = None
    spans: list[TextSpan] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(span.text for span in self.spans)


class TextHunk(BaseModel):
    """A unified-diff hunk: ``@@ -old_start,old_count +new_start,new_count @@`` and its lines."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: list[TextLine] = Field(default_factory=list)

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"


class TextContentDiff(_Base):
    """Text content (a ``str``, or bytes of a ``text/*`` type): a line-level unified diff."""

    kind: Literal["text"] = "text"
    old_lines: int = 0
    new_lines: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    hunks: list[TextHunk] = Field(default_factory=list)

    def unified(self) -> str:
        """The diff as unified-diff text (``-``/``+``/space prefixes, one hunk header each)."""
        out = ["--- before", "+++ after"]
        marks = {"context": " ", "add": "+", "remove": "-"}
        for hunk in self.hunks:
            out.append(hunk.header)
            out.extend(marks[line.op] + line.text for line in hunk.lines)
        return "\n".join(out)


class FrameRow(BaseModel):
    """A row added or removed: its position (0-based), index label (pandas) and values by column."""

    row: int
    label: JsonSafe = None
    values: dict[str, JsonSafe] = Field(default_factory=dict)


class CellChange(BaseModel):
    column: str
    old: JsonSafe = None
    new: JsonSafe = None


class FrameRowChange(BaseModel):
    """A row present on both sides whose values differ in the columns both sides have."""

    old_row: int
    new_row: int
    label: JsonSafe = None
    cells: list[CellChange] = Field(default_factory=list)


class ColumnTypeChange(BaseModel):
    column: str
    old: str
    new: str


class DataFrameContentDiff(_Base):
    """DataFrame content: shapes, columns and rows added/removed/changed, with at most ``SAMPLE`` rows each."""

    kind: Literal["dataframe"] = "dataframe"
    old_shape: tuple[int, int] | None = None
    new_shape: tuple[int, int] | None = None
    columns_added: list[str] = Field(default_factory=list)
    columns_removed: list[str] = Field(default_factory=list)
    columns_changed: list[str] = Field(default_factory=list)
    dtype_changes: list[ColumnTypeChange] = Field(default_factory=list)
    rows_added: int = 0
    rows_removed: int = 0
    rows_changed: int = 0
    added_sample: list[FrameRow] = Field(default_factory=list)
    removed_sample: list[FrameRow] = Field(default_factory=list)
    changed_sample: list[FrameRowChange] = Field(default_factory=list)


class BytesContentDiff(_Base):
    """Content compared by its stored bytes: SHA-256 and size before and after (None: no content)."""

    kind: Literal["bytes"] = "bytes"
    old_sha256: str | None = None
    new_sha256: str | None = None
    old_size: int | None = None
    new_size: int | None = None

    @property
    def size_delta(self) -> int:
        return (self.new_size or 0) - (self.old_size or 0)


ContentDiff = Annotated[
    JsonContentDiff | TextContentDiff | DataFrameContentDiff | BytesContentDiff, Field(discriminator="kind")
]
"""The content diff of one kind (``kind`` tells which)."""
