"""artifact-ledger: hierarchical artifacts in an append-only, hash-chained event log.

The chapkit-shaped names port code written for chapkit's ``ArtifactManager`` by
changing import lines only; ``Ledger`` and ``create_engine`` are the front door.

The names load lazily (PEP 562): ``import artifact_ledger`` imports only the standard
library, so ``python -m artifact_ledger.verify BUNDLE`` runs where the project's
dependencies are not installed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ambient import attribution
    from .checkpoints import Checkpoint, CheckpointCheck, CheckpointSigner
    from .clock import FixedClock
    from .content import Keyring
    from .content.streams import StreamedContent
    from .dataframe import DataFrame
    from .errors import (
        AliasNotFoundError,
        AliasProtectedError,
        ArtifactAliasedError,
        ArtifactDeletedError,
        ArtifactHasChildrenError,
        ArtifactNotFoundError,
        BundleRuleError,
        CodecRoundTripError,
        ConcurrencyError,
        ConcurrentUseError,
        ConnectionLostError,
        ContentNotFoundError,
        ContentTypeMismatchError,
        CorruptBlobError,
        DataNotSerializableError,
        IntegrityViolationError,
        InvalidAliasNameError,
        InvalidArgumentError,
        InvalidArtifactDataError,
        InvalidAttributionError,
        InvalidBundleError,
        InvalidCheckpointError,
        InvalidLinkError,
        InvalidMoveError,
        InvalidQueryError,
        LedgerError,
        LedgerNotFoundError,
        LedgerUnavailableError,
        LockTimeoutError,
        MerkleDriftError,
        MissingExtraError,
        NotAReplicaError,
        ProjectionDriftError,
        ProofRangeError,
        ReplicaUnavailableError,
        SchemaOutOfDateError,
        SchemaTamperedError,
        StorageCorruptError,
        StorageFullError,
        TransactionAbortedError,
        UnknownCodecError,
        UntrustedContentError,
        VersionNotFoundError,
    )
    from .integrity import HeadDigest, VerifyReport
    from .ledger import Ledger
    from .lineage import LineageEdge, LineageGraph, register_link_kind
    from .manager import ArtifactManager, ArtifactRepository
    from .proofs import ConsistencyProof, InclusionProof, TreeHead
    from .provenance import Alias, AliasChange
    from .query import FindPage
    from .replicas import ReplicaLag
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

from ._version import __version__

_EXPORTS: dict[str, str] = {
    "AliasNotFoundError": "errors",
    "AliasProtectedError": "errors",
    "ArtifactAliasedError": "errors",
    "InvalidAliasNameError": "errors",
    "InvalidLinkError": "errors",
    "LineageEdge": "lineage",
    "LineageGraph": "lineage",
    "register_link_kind": "lineage",
    "Alias": "provenance",
    "AliasChange": "provenance",
    "ArtifactData": "schemas",
    "ArtifactDeletedError": "errors",
    "ArtifactDiff": "schemas",
    "ArtifactHasChildrenError": "errors",
    "ArtifactHierarchy": "schemas",
    "ArtifactIn": "schemas",
    "ArtifactManager": "manager",
    "ArtifactNotFoundError": "errors",
    "ArtifactOut": "schemas",
    "ArtifactRepository": "manager",
    "ArtifactSummaryOut": "schemas",
    "ArtifactTreeNode": "schemas",
    "ArtifactVersion": "schemas",
    "AuditEntry": "schemas",
    "AuditPage": "schemas",
    "BaseArtifactData": "schemas",
    "ConcurrencyError": "errors",
    "ConnectionLostError": "errors",
    "ConcurrentUseError": "errors",
    "ContentTypeMismatchError": "errors",
    "DataFrame": "dataframe",
    "DataNotSerializableError": "errors",
    "FindPage": "query",
    "FixedClock": "clock",
    "GenericArtifactData": "schemas",
    "GenericMetadata": "schemas",
    "HeadDigest": "integrity",
    "IntegrityViolationError": "errors",
    "InvalidArtifactDataError": "errors",
    "InvalidAttributionError": "errors",
    "BundleRuleError": "errors",
    "InvalidBundleError": "errors",
    "InvalidMoveError": "errors",
    "InvalidQueryError": "errors",
    "Keyring": "content",
    "Ledger": "ledger",
    "LedgerError": "errors",
    "LedgerNotFoundError": "errors",
    "LedgerUnavailableError": "errors",
    "LockTimeoutError": "errors",
    "ProjectionDriftError": "errors",
    "NotAReplicaError": "errors",
    "ReplicaUnavailableError": "errors",
    "ReplicaLag": "replicas",
    "MerkleDriftError": "errors",
    "InvalidCheckpointError": "errors",
    "Checkpoint": "checkpoints",
    "CheckpointCheck": "checkpoints",
    "CheckpointSigner": "checkpoints",
    "ProofRangeError": "errors",
    "ConsistencyProof": "proofs",
    "InclusionProof": "proofs",
    "TreeHead": "proofs",
    "MLMetadata": "schemas",
    "MLPredictionArtifactData": "schemas",
    "MLPredictionWorkspaceArtifactData": "schemas",
    "MLTrainingWorkspaceArtifactData": "schemas",
    "MissingExtraError": "errors",
    "SchemaOutOfDateError": "errors",
    "SchemaTamperedError": "errors",
    "StorageCorruptError": "errors",
    "StorageFullError": "errors",
    "TransactionAbortedError": "errors",
    "UntrustedContentError": "errors",
    "ContentNotFoundError": "errors",
    "StreamedContent": "content.streams",
    "UnknownCodecError": "errors",
    "CodecRoundTripError": "errors",
    "CorruptBlobError": "errors",
    "InvalidArgumentError": "errors",
    "VerifyReport": "integrity",
    "VersionNotFoundError": "errors",
    "attribution": "ambient",
    "create_engine": "store.engine",
    "register_artifact_type": "schemas",
    "validate_artifact_data": "schemas",
}
"""Public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'artifact_ledger' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Alias",
    "AliasChange",
    "AliasNotFoundError",
    "AliasProtectedError",
    "ArtifactAliasedError",
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
    "BundleRuleError",
    "Checkpoint",
    "CheckpointCheck",
    "CheckpointSigner",
    "CodecRoundTripError",
    "ConcurrencyError",
    "ConcurrentUseError",
    "ConnectionLostError",
    "ConsistencyProof",
    "ContentNotFoundError",
    "ContentTypeMismatchError",
    "CorruptBlobError",
    "DataFrame",
    "DataNotSerializableError",
    "FindPage",
    "FixedClock",
    "GenericArtifactData",
    "GenericMetadata",
    "HeadDigest",
    "InclusionProof",
    "IntegrityViolationError",
    "InvalidAliasNameError",
    "InvalidArgumentError",
    "InvalidArtifactDataError",
    "InvalidAttributionError",
    "InvalidBundleError",
    "InvalidCheckpointError",
    "InvalidLinkError",
    "InvalidMoveError",
    "InvalidQueryError",
    "Keyring",
    "Ledger",
    "LedgerError",
    "LedgerNotFoundError",
    "LedgerUnavailableError",
    "LineageEdge",
    "LineageGraph",
    "LockTimeoutError",
    "MLMetadata",
    "MLPredictionArtifactData",
    "MLPredictionWorkspaceArtifactData",
    "MLTrainingWorkspaceArtifactData",
    "MerkleDriftError",
    "MissingExtraError",
    "NotAReplicaError",
    "ProjectionDriftError",
    "ProofRangeError",
    "ReplicaLag",
    "ReplicaUnavailableError",
    "SchemaOutOfDateError",
    "SchemaTamperedError",
    "StorageCorruptError",
    "StorageFullError",
    "StreamedContent",
    "TransactionAbortedError",
    "TreeHead",
    "UnknownCodecError",
    "UntrustedContentError",
    "VerifyReport",
    "VersionNotFoundError",
    "__version__",
    "attribution",
    "create_engine",
    "register_artifact_type",
    "register_link_kind",
    "validate_artifact_data",
]
