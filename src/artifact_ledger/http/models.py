"""Request bodies and the response shapes the OpenAPI schema shows.

Ids travel as 26-character ULID strings. Inputs are checked here (shape) and by the ledger
(meaning); outputs are the library's models dumped to JSON, so these classes describe them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..schemas import ArtifactIn

UlidText = Annotated[
    str,
    StringConstraints(pattern=r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"),
]
T = TypeVar("T")


class ArtifactBody(BaseModel):
    """``POST`` and ``PUT`` bodies: chapkit's ``ArtifactIn``; ``data`` is required."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: UlidText | None = Field(default=None, description="client-assigned id (POST only; PUT takes the path's)")
    parent_id: UlidText | None = Field(default=None, description="the parent's id; null makes a root")
    data: Any = Field(description="the artifact's data: JSON; data.content may hold any JSON value")
    tags: list[str] = Field(default_factory=list)
    level: int | None = Field(default=None, description="accepted for compatibility and ignored: levels are computed")

    def to_artifact_in(self, artifact_id: str | None = None) -> ArtifactIn:
        """The library's input, with only the fields this body set (PUT changes only those).

        The values are passed on as parsed, not dumped again: ``model_dump`` would copy ``data``
        whole, and a body of many values already costs far more memory than its bytes."""
        values = {name: getattr(self, name) for name in self.model_fields_set}
        if artifact_id is not None:
            values["id"] = artifact_id
        return ArtifactIn.model_validate(values)


class MergePatchBody(BaseModel):
    """``PATCH`` bodies: an RFC 7396 merge patch of the artifact as ``GET`` returns it.

    ``data`` merges into the artifact's data (a member set to null is removed; ``content`` is kept
    unless the patch sets it); ``tags``, an array, replaces the tags (null clears them). The other
    members of an artifact are not changed by a patch: ``$move`` changes ``parent_id``, the ledger
    sets the rest.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    data: dict[str, Any] | None = Field(default=None, description="merged into the artifact's data (RFC 7396)")
    tags: list[str] | None = Field(default=None, description="the new tags (null: none)")


class MoveBody(BaseModel):
    model_config = ConfigDict(strict=True)

    parent_id: UlidText | None = Field(description="the new parent's id; null makes the artifact a root")


class RevertBody(BaseModel):
    model_config = ConfigDict(strict=True)

    to_version: int = Field(ge=1, le=2**31 - 1, description="the version whose state becomes the new version")


class ArtifactJson(BaseModel):
    """An artifact (chapkit's ``ArtifactOut`` plus the ledger's version and attribution)."""

    id: str
    parent_id: str | None = None
    level: int
    data: Any
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    version: int
    created_by: str | None = None
    updated_by: str | None = None


class TreeNodeJson(ArtifactJson):
    level_label: str | None = None
    hierarchy: str | None = None
    children: list[TreeNodeJson] | None = None


class Page(BaseModel, Generic[T]):
    """chapkit's paginated list: ``pages`` is ``ceil(total / size)`` (0 when empty)."""

    items: list[T]
    total: int
    page: int
    size: int
    pages: int


class CursorPage(BaseModel, Generic[T]):
    """A keyset page of the list: pass ``next_cursor`` as ``after`` (with the same ``where``,
    ``order_by`` and ``as_of``) for the next page; null on the last."""

    items: list[T]
    next_cursor: str | None = None


class VersionJson(BaseModel):
    artifact_id: str
    version: int
    event_type: str
    position: int
    event_id: str
    parent_id: str | None = None
    data: Any = None
    content_hash: str | None = None
    content_type: str | None = None
    content_size: int | None = None
    tags: list[str] = Field(default_factory=list)
    deleted: bool
    recorded_at: datetime
    actor: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    reverted_to: int | None = None
    redacted: list[str] = Field(default_factory=list, description="what a redaction erased: content, data.email")


class AuditEntryJson(BaseModel):
    position: int
    event_id: str
    artifact_id: str
    version: int
    event_type: str
    recorded_at: datetime
    actor: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class KeysetPage(BaseModel, Generic[T]):
    """A page of a log-ordered list: pass ``next_after`` as ``after`` for the next (null on the last)."""

    items: list[T]
    next_after: int | None = None


class EventJson(BaseModel):
    position: int
    event_id: str
    artifact_id: str
    version: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    recorded_at: datetime
    actor: str | None = None
    reason: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    prev_hash: str
    hash: str


class VerifyJson(BaseModel):
    ok: bool
    events_checked: int
    blobs_checked: int
    artifacts_checked: int
    broken_position: int | None = None
    reason: str | None = None
    problem: str | None = None
    artifact_id: str | None = None
    blob_hash: str | None = None
    from_position: int
    head_position: int
    head_hash: str


class ProblemJson(BaseModel):
    """An error (RFC 9457), served as ``application/problem+json``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


# ---- aliases and lineage ------------------------------------------------------------------------
class AliasJson(BaseModel):
    """An alias as it stands: the artifact version it points at."""

    name: str
    artifact_id: str
    version: int
    protected: bool
    updated_at: datetime
    updated_by: str | None = None


class AliasChangeJson(BaseModel):
    """One change of an alias: who set, moved, protected or removed it, when, why, from where to where."""

    position: int
    type: str
    name: str
    artifact_id: str | None = None
    version: int | None = None
    from_artifact_id: str | None = None
    from_version: int | None = None
    protected: bool
    recorded_at: datetime
    actor: str | None = None
    reason: str | None = None


class TargetBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    artifact_id: UlidText
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="null: any version of it")


class AliasBody(BaseModel):
    """``PUT /aliases/{name}``: where the alias should point, and what it must point at now."""

    model_config = ConfigDict(extra="forbid", strict=True)

    artifact_id: UlidText = Field(description="the artifact the alias points at")
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="the version it points at (default: the current one)"
    )
    expected_target: UlidText | TargetBody | None = Field(
        default=None,
        description="compare-and-set: the artifact id (or {artifact_id, version}) the alias must point at now; "
        "409 when it points elsewhere",
    )
    reason: str | None = Field(default=None, description="why (a protected alias needs one); default: X-Reason")


class LinkBody(BaseModel):
    """``POST /{id}/$links``: the artifact in the path *kind* ``target_id``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    target_id: UlidText = Field(description="the other end: derived_from/used/evaluated_on/produced_by it")
    kind: str = Field(max_length=64, description="derived_from, used, evaluated_on, produced_by or a registered kind")
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="the path artifact's version")
    target_version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="the target's version")
    reason: str | None = Field(default=None, description="why; default: X-Reason")


class LinkJson(BaseModel):
    """A link: ``src_id`` (at ``src_version``) *kind* ``dst_id`` (at ``dst_version``)."""

    src_id: str
    src_version: int
    kind: str
    dst_id: str
    dst_version: int


class LineageNodeJson(BaseModel):
    id: str
    distance: int = Field(description="hops from the root")
    label: str | None = Field(default=None, description="the artifact's name, title or type, when it has one")


class LineageJson(BaseModel):
    """The artifacts reached from ``root`` and the links between them."""

    root: str
    direction: str
    nodes: list[LineageNodeJson]
    edges: list[LinkJson]


class ProvJson(BaseModel):
    """A W3C PROV-JSON document: ``entity``, ``activity`` and the relations between them."""

    model_config = ConfigDict(extra="allow")

    prefix: dict[str, str]
    entity: dict[str, Any]


class RedactBody(BaseModel):
    """``POST /{id}/$redact``: what to erase (``fields`` null: the content) of which version (null: every one)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    fields: list[str] | None = Field(
        default=None, max_length=1000, description="top-level data fields to erase; null: the content"
    )
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="null: every version")
    reason: str | None = Field(default=None, description="why (required, here or in X-Reason)")
