"""artifact-ledger: hierarchical artifacts in an append-only, hash-chained event log.

The chapkit-shaped names port code written for chapkit's ``ArtifactManager`` by
changing import lines only; ``Ledger`` and ``create_engine`` are the front door.
"""

from __future__ import annotations

from .attribution import attribution
from .clock import FixedClock
from .content import Keyring
from .dataframe import DataFrame
from .errors import (
    ArtifactDeletedError,
    ArtifactHasChildrenError,
    ArtifactNotFoundError,
    ConcurrencyError,
    ContentTypeMismatchError,
    DataNotSerializableError,
    IntegrityViolationError,
    InvalidArtifactDataError,
    InvalidAttributionError,
    InvalidBundleError,
    InvalidMoveError,
    LedgerError,
    LedgerUnavailableError,
    MissingExtraError,
    SchemaOutOfDateError,
    TransactionAbortedError,
    UntrustedContentError,
    VersionNotFoundError,
)
from .integrity import HeadDigest, VerifyReport
from .ledger import Ledger
from .manager import ArtifactManager, ArtifactRepository
from .schemas import (
    ArtifactData,
    ArtifactDiff,
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactOut,
    ArtifactSummaryOut,
    ArtifactTreeNode,
    ArtifactVersion,
    AuditEntry,
    AuditPage,
    BaseArtifactData,
    GenericArtifactData,
    GenericMetadata,
    MLMetadata,
    MLPredictionArtifactData,
    MLPredictionWorkspaceArtifactData,
    MLTrainingWorkspaceArtifactData,
    register_artifact_type,
    validate_artifact_data,
)
from .store.engine import create_engine

__version__ = "0.1.0"

__all__ = [
    "ArtifactData",
    "ArtifactDeletedError",
    "ArtifactDiff",
    "ArtifactHasChildrenError",
    "ArtifactHierarchy",
    "ArtifactIn",
    "ArtifactManager",
    "ArtifactNotFoundError",
    "ArtifactOut",
    "ArtifactRepository",
    "ArtifactSummaryOut",
    "ArtifactTreeNode",
    "ArtifactVersion",
    "AuditEntry",
    "AuditPage",
    "BaseArtifactData",
    "ConcurrencyError",
    "ContentTypeMismatchError",
    "DataFrame",
    "DataNotSerializableError",
    "FixedClock",
    "GenericArtifactData",
    "GenericMetadata",
    "HeadDigest",
    "IntegrityViolationError",
    "InvalidArtifactDataError",
    "InvalidAttributionError",
    "InvalidBundleError",
    "InvalidMoveError",
    "Keyring",
    "Ledger",
    "LedgerError",
    "LedgerUnavailableError",
    "MLMetadata",
    "MLPredictionArtifactData",
    "MLPredictionWorkspaceArtifactData",
    "MLTrainingWorkspaceArtifactData",
    "MissingExtraError",
    "SchemaOutOfDateError",
    "TransactionAbortedError",
    "UntrustedContentError",
    "VerifyReport",
    "VersionNotFoundError",
    "__version__",
    "attribution",
    "create_engine",
    "register_artifact_type",
    "validate_artifact_data",
]
