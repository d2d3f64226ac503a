"""Pydantic in/out models and typed artifact data, shaped like chapkit's so its code ports unchanged."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, field_validator
from ulid import ULID

from .errors import InvalidArtifactDataError


def _json_safe(value: Any) -> Any:
    """Serialise what JSON can carry; describe the rest (models, arrays) instead of failing."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return {"_type": "bytes", "_size": len(value)}
    return {"_type": f"{type(value).__module__}.{type(value).__qualname__}", "_repr": repr(value)[:200]}


JsonSafe = Annotated[Any, PlainSerializer(_json_safe, when_used="json")]
"""Any value; in JSON mode, Python objects are described rather than failing serialisation."""


def _ulid(value: Any) -> Any:
    if isinstance(value, str):
        return ULID.from_str(value)
    return value


class ArtifactIn(BaseModel):
    """Input for ``save``: create, or update when ``id`` names an existing artifact."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: ULID | None = None
    parent_id: ULID | None = None
    data: Any = None
    tags: list[str] = Field(default_factory=list)
    level: int | None = None
    """Accepted for compatibility with chapkit and ignored: levels are always computed."""

    @field_validator("id", "parent_id", mode="before")
    @classmethod
    def _parse_ulid(cls, value: Any) -> Any:
        return _ulid(value)


class ArtifactOut(BaseModel):
    """An artifact as read back, with its ledger version and attribution."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: ULID
    parent_id: ULID | None = None
    level: int
    data: JsonSafe
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    version: int = 1
    created_by: str | None = None
    updated_by: str | None = None


class ArtifactTreeNode(ArtifactOut):
    """An artifact with hierarchy labels; ``children`` is ``[]`` for a loaded leaf, None when not loaded."""

    level_label: str | None = None
    hierarchy: str | None = None
    children: list[ArtifactTreeNode] | None = None

    @classmethod
    def from_artifact(cls, artifact: ArtifactOut) -> ArtifactTreeNode:
        return cls.model_construct(**dict(artifact))


def strip_content(data: Any) -> Any:
    """A shallow copy of artifact data without its ``content`` key."""
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if k != "content"}


class ArtifactSummaryOut(ArtifactOut):
    """An artifact without its inline content, for listings."""

    @classmethod
    def from_artifact(cls, artifact: ArtifactOut) -> ArtifactSummaryOut:
        values = dict(artifact)
        values["data"] = strip_content(artifact.data)
        return cls.model_construct(**values)


class ArtifactHierarchy(BaseModel):
    """Names a hierarchy and labels its levels (0 -> "training", 1 -> "prediction", …)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(..., description="Human readable name of this hierarchy")
    level_labels: Mapping[int, str] = Field(default_factory=dict)

    hierarchy_key: ClassVar[str] = "hierarchy"
    depth_key: ClassVar[str] = "level_depth"
    label_key: ClassVar[str] = "level_label"

    def label_for(self, level: int) -> str:
        return self.level_labels.get(level, f"level_{level}")

    def describe(self, level: int) -> dict[str, Any]:
        return {self.hierarchy_key: self.name, self.depth_key: level, self.label_key: self.label_for(level)}


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


class PatchOperation(BaseModel):
    """One JSON-patch-style operation on ``data``: ``add`` (``value``), ``remove`` (``old``), ``replace`` (both).

    ``path`` is an RFC 6901 pointer (``/metadata/f1``; ``/`` for the whole value).
    """

    op: Literal["add", "remove", "replace"]
    path: str
    old: JsonSafe = None
    value: JsonSafe = None

    def describe(self) -> str:
        if self.op == "add":
            return f"+ {self.path}: {self.value!r}"
        if self.op == "remove":
            return f"- {self.path}: {self.old!r}"
        return f"~ {self.path}: {self.old!r} -> {self.value!r}"


class ValueChange(BaseModel):
    """A field that differs between two versions: ``old`` -> ``new``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    old: JsonSafe = None
    new: JsonSafe = None


class ContentChange(BaseModel):
    """The content blob changed: hashes, sizes and media types before and after (None: no content)."""

    old_hash: str | None = None
    new_hash: str | None = None
    old_size: int | None = None
    new_size: int | None = None
    old_type: str | None = None
    new_type: str | None = None


def _content_text(digest: str | None, size: int | None, media_type: str | None) -> str:
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
            old = _content_text(c.old_hash, c.old_size, c.old_type)
            new = _content_text(c.new_hash, c.new_size, c.new_type)
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


# ---- typed artifact data (chapkit's schemas) ----------------------------------------------------------

MetadataT = TypeVar("MetadataT", bound=BaseModel)


class BaseArtifactData(BaseModel, Generic[MetadataT]):
    """Base of typed artifact data: a ``type`` discriminator, typed metadata, and content."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    type: str = Field(description="Discriminator field for artifact type")
    metadata: MetadataT
    content: JsonSafe = None
    content_type: str | None = None
    content_size: int | None = None


class MLMetadata(BaseModel):
    """Metadata of ML training and prediction runs."""

    status: Literal["success", "failed"]
    config_id: str
    started_at: str
    completed_at: str
    duration_seconds: float
    exit_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class GenericMetadata(BaseModel):
    """Free-form metadata."""

    model_config = ConfigDict(extra="allow")


class MLTrainingWorkspaceArtifactData(BaseArtifactData[MLMetadata]):
    type: Literal["ml_training_workspace"] = "ml_training_workspace"
    metadata: MLMetadata


class MLPredictionArtifactData(BaseArtifactData[MLMetadata]):
    type: Literal["ml_prediction"] = "ml_prediction"
    metadata: MLMetadata


class MLPredictionWorkspaceArtifactData(BaseArtifactData[MLMetadata]):
    type: Literal["ml_prediction_workspace"] = "ml_prediction_workspace"
    metadata: MLMetadata


class GenericArtifactData(BaseArtifactData[GenericMetadata]):
    type: Literal["generic"] = "generic"
    metadata: GenericMetadata


ArtifactData = Annotated[
    MLTrainingWorkspaceArtifactData
    | MLPredictionArtifactData
    | MLPredictionWorkspaceArtifactData
    | GenericArtifactData,
    Field(discriminator="type"),
]
"""Discriminated union of the built-in typed artifact data."""

_REGISTRY: dict[str, type[BaseModel]] = {
    "ml_training_workspace": MLTrainingWorkspaceArtifactData,
    "ml_prediction": MLPredictionArtifactData,
    "ml_prediction_workspace": MLPredictionWorkspaceArtifactData,
    "generic": GenericArtifactData,
}


def register_artifact_type(name: str, schema: type[BaseModel]) -> None:
    """Validate data whose ``type`` is ``name`` against ``schema`` on every write."""
    if not name or not isinstance(name, str):
        raise ValueError("artifact type name must be a non-empty string")
    _REGISTRY[name] = schema


def registered_types() -> dict[str, type[BaseModel]]:
    return dict(_REGISTRY)


def schema_for(data: Any) -> type[BaseModel] | None:
    """The registered schema that ``data["type"]`` names, if any."""
    if isinstance(data, dict):
        kind = data.get("type")
        if isinstance(kind, str):
            return _REGISTRY.get(kind)
    return None


def validate_artifact_data(data: dict[str, Any]) -> BaseModel:
    """Validate ``data`` against the schema its ``type`` names (``generic`` when it names none).

    Raises :class:`InvalidArtifactDataError` listing every problem.
    """
    schema = schema_for(data) or GenericArtifactData
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise InvalidArtifactDataError(_describe(data, exc)) from None


def check_typed_data(data: Any, artifact_id: str) -> None:
    """On write: validate data whose ``type`` names a registered schema; other data passes as is."""
    schema = schema_for(data)
    if schema is None:
        return
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise InvalidArtifactDataError(f"artifact {artifact_id}: {_describe(data, exc)}") from None


def _describe(data: Any, exc: ValidationError) -> str:
    kind = data.get("type") if isinstance(data, dict) else None
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:10]
    )
    return f"data of type {kind!r} is invalid: {problems}"


ModelT = TypeVar("ModelT", bound=BaseModel)

PAUSE_GC_FROM = 256
"""Building at least this many models at once pauses the cyclic garbage collector (see :func:`building`)."""


@contextmanager
def building(count: int) -> Iterator[None]:
    """Pause the cyclic GC while ``count`` models (and their dicts and lists) are built.

    Each model allocates a handful of containers, so a large listing or batch sets off
    collection after collection, each walking every object alive, the listing so far
    included: for 111,100 artifacts that was ~45 % of ``find_all``, and ~15 % of a
    ``save_all`` of 11,110. Collection is only deferred: it resumes, on its normal
    schedule, when the block ends (errors included).
    """
    pause = count >= PAUSE_GC_FROM and gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause:
            gc.enable()


_setattr = object.__setattr__


def construct(cls: type[ModelT], values: dict[str, Any]) -> ModelT:
    """Build a model from trusted, complete values without validation: ``model_construct``'s core.

    Listings build thousands of models from rows the ledger wrote itself; this skips
    ``model_construct``'s per-field default and alias resolution (~5x faster). Every
    field must be present in ``values`` (a test checks the result equals ``model_construct``'s).
    """
    model = cls.__new__(cls)
    _setattr(model, "__dict__", values)
    _setattr(model, "__pydantic_fields_set__", set(values))
    _setattr(model, "__pydantic_extra__", None)
    _setattr(model, "__pydantic_private__", None)
    return model
