"""Basic artifacts: store a trained scikit-learn model with typed metadata, read it back, predict (sync API).

Shows how to:
- create an ML training artifact with ``MLTrainingWorkspaceArtifactData`` and ``MLMetadata``
- store the trained model itself (a Python object, kept as a signed pickle)
- read the artifact back by id and use the model for a prediction
- (ledger addition) list the artifact's version history

The same as ``01_basic_artifacts.py``, written with ``artifact_ledger.sync`` (no coroutines), for scripts
and notebooks. Run with ``python examples/sync_01_basic_artifacts.py [DATABASE_URL]``
(default: in-memory SQLite; needs scikit-learn: ``pip install 'artifact-ledger[examples]'``). Given a
database URL, a run adds to what earlier runs left there and ends by saying where it wrote.
"""

from __future__ import annotations

import sys

from sklearn.linear_model import LinearRegression
from sqlalchemy.engine import make_url

from artifact_ledger import (
    ArtifactHierarchy,
    ArtifactIn,
    MLMetadata,
    MLTrainingWorkspaceArtifactData,
    sync,
)


def train_model() -> LinearRegression:
    """Fit y = 2x + 1 on five points."""
    features = [[1.0], [2.0], [3.0], [4.0], [5.0]]
    targets = [3.0, 5.0, 7.0, 9.0, 11.0]
    return LinearRegression().fit(features, targets)


MEMORY = "sqlite+aiosqlite:///:memory:"


def main(url: str = MEMORY) -> None:
    hierarchy = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction"})

    # The ledger runs one event loop on a private thread; each call below waits for its result.
    with sync.Ledger.open(url) as ledger, ledger.manager(hierarchy=hierarchy) as manager:
        trained_model = train_model()
        print(f"Trained model: coef={trained_model.coef_[0]:.2f}, intercept={trained_model.intercept_:.2f}")

        # Typed data model: validates the metadata.
        training_data_model = MLTrainingWorkspaceArtifactData(
            type="ml_training_workspace",
            metadata=MLMetadata(
                status="success",
                config_id="01CONFIGEXAMPLE0000000000",
                started_at="2025-10-18T10:00:00Z",
                completed_at="2025-10-18T10:05:00Z",
                duration_seconds=300.0,
            ),
            content=trained_model,
            content_type="application/x-pickle",
        )
        # Build the dict by hand so the model stays a Python object (model_dump() would not keep it).
        artifact_data = {
            "type": training_data_model.type,
            "metadata": training_data_model.metadata.model_dump(),
            "content": trained_model,
            "content_type": training_data_model.content_type,
            "content_size": training_data_model.content_size,
        }
        artifact = manager.save(ArtifactIn(data=artifact_data))
        print(f"Saved artifact {artifact.id} (level {artifact.level}, version {artifact.version})")

        # Read it back by id.
        loaded = manager.find_by_id(artifact.id)
        if loaded is None:
            raise SystemExit(f"artifact {artifact.id} not found after saving it")
        metadata = loaded.data["metadata"]
        print(f"Metadata: status={metadata['status']}, config_id={metadata['config_id']}")
        print(f"Duration: {metadata['duration_seconds']} seconds")
        print(f"Content type: {loaded.data['content_type']}")

        loaded_model = loaded.data["content"]
        print(f"Loaded content is a {type(loaded_model).__name__}")
        if not isinstance(loaded_model, LinearRegression):
            raise SystemExit(f"expected a LinearRegression back, got {type(loaded_model).__name__}")

        x_new = [[6.0]]
        predicted = float(loaded_model.predict(x_new)[0])
        original = float(trained_model.predict(x_new)[0])
        print(f"Prediction for x=6.0: {predicted:.2f}")
        if abs(predicted - original) > 1e-9:
            raise SystemExit(f"loaded model predicts {predicted}, the original {original}")
        print("Loaded model predicts the same as the original")

        # Ledger addition: every write is a version in an append-only history.
        for version in manager.history(artifact.id):
            print(f"History: version {version.version} {version.event_type} content_hash={version.content_hash}")

        report = ledger.verify()
        print(f"Verified: {report.ok} ({report.events_checked} events)")
        if not report.ok:
            raise SystemExit(f"the ledger does not verify: {report.problem}")
        if url != MEMORY:  # a database that outlives this run: say where it and its key are
            key_file = getattr(ledger.async_ledger.keyring, "path", None)  # made when a pickle is first signed
            key_note = f" (pickle-signing key: {key_file})" if key_file and key_file.exists() else ""
            print(f"Wrote to {make_url(url).render_as_string(hide_password=True)}{key_note}; it stays for the next run")


if __name__ == "__main__":
    main(*sys.argv[1:2])
