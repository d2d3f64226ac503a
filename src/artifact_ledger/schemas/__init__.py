"""Pydantic in/out models and typed artifact data, shaped like chapkit's so its code ports unchanged.

Split by what the models describe; every name is re-exported here, so callers import from
``artifact_ledger.schemas``:

- :mod:`.artifacts`: ``ArtifactIn``/``ArtifactOut``/``ArtifactTreeNode``/``ArtifactSummaryOut``, ``ArtifactHierarchy``
- :mod:`.versions`: history versions, diffs and audit pages
- :mod:`.typed`: typed artifact data (``BaseArtifactData`` and the built-in types) and its registry
- :mod:`.build`: building models from trusted rows without validation (:func:`construct`, :func:`building`)
"""

from .artifacts import (
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactOut,
    ArtifactSummaryOut,
    ArtifactTreeNode,
    JsonSafe,
    strip_content,
)
from .build import PAUSE_GC_FROM, ModelT, building, construct
from .typed import (
    ArtifactData,
    BaseArtifactData,
    GenericArtifactData,
    GenericMetadata,
    MetadataT,
    MLMetadata,
    MLPredictionArtifactData,
    MLPredictionWorkspaceArtifactData,
    MLTrainingWorkspaceArtifactData,
    check_typed_data,
    register_artifact_type,
    registered_types,
    schema_for,
    validate_artifact_data,
)
from .versions import (
    ArtifactDiff,
    ArtifactVersion,
    AuditEntry,
    AuditPage,
    ContentChange,
    PatchOperation,
    ValueChange,
)

__all__ = [
    "PAUSE_GC_FROM",
    "ArtifactData",
    "ArtifactDiff",
    "ArtifactHierarchy",
    "ArtifactIn",
    "ArtifactOut",
    "ArtifactSummaryOut",
    "ArtifactTreeNode",
    "ArtifactVersion",
    "AuditEntry",
    "AuditPage",
    "BaseArtifactData",
    "ContentChange",
    "GenericArtifactData",
    "GenericMetadata",
    "JsonSafe",
    "MLMetadata",
    "MLPredictionArtifactData",
    "MLPredictionWorkspaceArtifactData",
    "MLTrainingWorkspaceArtifactData",
    "MetadataT",
    "ModelT",
    "PatchOperation",
    "ValueChange",
    "building",
    "check_typed_data",
    "construct",
    "register_artifact_type",
    "registered_types",
    "schema_for",
    "strip_content",
    "validate_artifact_data",
]
