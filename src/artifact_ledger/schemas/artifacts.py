"""The artifact in and out models: what ``save`` takes and what reads return, and hierarchy labels.

Shaped like chapkit's, so its code ports unchanged. ``JsonSafe`` is also used by the models of
:mod:`.versions` and :mod:`.typed`: data that holds Python objects serialises as a description
instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator
from ulid import ULID

from ..unavailable import UnavailableContent


def json_safe(value: Any) -> Any:
    """Serialise what JSON can carry; describe the rest (models, arrays) instead of failing."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return {"_type": "bytes", "_size": len(value)}
    if isinstance(value, UnavailableContent):  # a listing's stand-in for redacted or expired content
        return {"_type": "unavailable", **{k: getattr(value, k) for k in UnavailableContent.__dataclass_fields__}}
    return {"_type": f"{type(value).__module__}.{type(value).__qualname__}", "_repr": repr(value)[:200]}


JsonSafe = Annotated[Any, PlainSerializer(json_safe, when_used="json")]
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
