"""Typed artifact data (chapkit's schemas): a ``type`` discriminator, typed metadata, and content.

Data whose ``type`` names a registered schema is validated against it on every write
(:func:`check_typed_data`); other data is stored as it is.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidArtifactDataError
from .artifacts import JsonSafe

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
