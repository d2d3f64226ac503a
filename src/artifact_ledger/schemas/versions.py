"""The models of the ledger's memory: versions (``history``), diffs (``diff``) and audit pages (``audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

from .artifacts import JsonSafe
from .content_diffs import ContentDiff, PatchOperation

__all__ = [
    "ArtifactDiff",
    "ArtifactVersion",
    "AuditEntry",
    "AuditPage",
    "ContentChange",
    "PatchOperation",
    "ValueChange",
]


class ArtifactVersion(BaseModel):
    """One version of an artifact, from its history: the state after one event, and who wrote it.

    ``data`` is the data without its content unless ``history(id, include_content=True)`` decoded
    it; ``parent_id`` is the parent at that version. ``reverted_to`` names the version an
    ``artifact.reverted`` event brought back.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    artifact_id: ULID
    version: int
    event_type: str
    position: int
    parent_id: ULID | None = None
    data: JsonSafe = None
    content_hash: str | None = None
    content_type: str | None = None
    content_size: int | None = None
    tags: list[str] = Field(default_factory=list)
    deleted: bool = False
    recorded_at: datetime
    actor: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    event_id: str | None = None
    reverted_to: int | None = None
    redacted: list[str] = Field(default_factory=list)
    """What a redaction erased from this version's event, as dotted names: ``content``,
    ``data.email`` (empty: nothing). The erased values are absent from ``data``."""


class ValueChange(BaseModel):
    """A field that differs between two versions: ``old`` -> ``new``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    old: JsonSafe = None
    new: JsonSafe = None


class ContentChange(BaseModel):
    """The content blob changed: hashes, sizes and media types before and after (None: no content,
    or content a redaction erased: then ``old_redacted``/``new_redacted`` is True)."""

    old_hash: str | None = None
    new_hash: str | None = None
    old_size: int | None = None
    new_size: int | None = None
    old_type: str | None = None
    new_type: str | None = None
    old_redacted: bool = False
    """The old version's content was erased by a redaction: it had content, nothing of it is left to show."""
    new_redacted: bool = False
    """The new version's content was erased by a redaction (see ``old_redacted``)."""


def _content_text(digest: str | None, size: int | None, media_type: str | None, redacted: bool = False) -> str:
    if redacted:
        return "(redacted)"
    if digest is None:
        return "(none)"
    return f"sha256:{digest[:12]}… ({size:,} bytes, {media_type or 'no type'})"


class ArtifactDiff(BaseModel):
    """What changed from one version of an artifact to another (``manager.diff``).

    Each field is None when that part did not change. ``str(diff)`` is a readable text diff.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    artifact_id: ULID
    from_version: int
    to_version: int
    data: list[PatchOperation] = Field(default_factory=list)
    content: ContentChange | None = None
    parent: ValueChange | None = None
    level: ValueChange | None = None
    tags: ValueChange | None = None
    deleted: ValueChange | None = None
    content_diff: ContentDiff | None = None
    """What changed inside the content (None when the content did not change); see ``content_diffs``."""

    @property
    def changed(self) -> bool:
        parts = (self.content, self.parent, self.level, self.tags, self.deleted)
        return bool(self.data) or any(p is not None for p in parts)

    def to_text(self) -> str:
        lines = [f"artifact {self.artifact_id}: version {self.from_version} -> {self.to_version}"]
        if not self.changed:
            return lines[0] + ": no changes"
        if self.deleted is not None:
            lines.append(f"deleted: {self.deleted.old} -> {self.deleted.new}")
        if self.parent is not None:
            lines.append(f"parent: {self.parent.old or '(root)'} -> {self.parent.new or '(root)'}")
        if self.level is not None:
            lines.append(f"level: {self.level.old} -> {self.level.new}")
        if self.content is not None:
            c = self.content
            old = _content_text(c.old_hash, c.old_size, c.old_type, c.old_redacted)
            new = _content_text(c.new_hash, c.new_size, c.new_type, c.new_redacted)
            lines.append(f"content: {old} -> {new}")
        if self.tags is not None:
            lines.append(f"tags: {self.tags.old} -> {self.tags.new}")
        if self.data:
            lines.append("data:")
            lines.extend("  " + op.describe() for op in self.data)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


class AuditEntry(BaseModel):
    """One event of the audit trail with its attribution.

    ``details`` is the event's payload without ``data`` (parents of a move, the cascade root of a
    delete, the content reference and tags of a state change, ``reverted_to`` of a revert).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    position: int
    event_id: str
    artifact_id: ULID
    version: int
    event_type: str
    recorded_at: datetime
    actor: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(BaseModel):
    """One page of ``manager.audit``: entries in position order, and the cursor for the next page.

    ``next_after`` is None on the last page; otherwise pass it as ``after=`` to get the next one.
    """

    entries: list[AuditEntry] = Field(default_factory=list)
    next_after: int | None = None
