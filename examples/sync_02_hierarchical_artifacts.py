"""Hierarchical artifacts: one training run (level 0) with three prediction runs (level 1) under it (sync API).

Shows how to:
- create a parent training artifact and child prediction artifacts with ``parent_id``
- store predictions as a ``DataFrame`` (content type ``application/vnd.chapkit.dataframe+json``)
- build the tree with ``build_tree()`` and print it with the hierarchy's level labels
- list every artifact with ``find_all()``
- (ledger additions) move a prediction under another one, delete one, and show the tree again

The same as ``02_hierarchical_artifacts.py``, written with ``artifact_ledger.sync`` (no coroutines), for scripts
and notebooks. Run with ``python examples/sync_02_hierarchical_artifacts.py [DATABASE_URL]``
(default: in-memory SQLite). Given a database URL, a run adds to what earlier runs
left there and ends by saying where it wrote.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy.engine import make_url

from artifact_ledger import (
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactTreeNode,
    DataFrame,
    MLMetadata,
    MLPredictionArtifactData,
    sync,
)

DATAFRAME_JSON = "application/vnd.chapkit.dataframe+json"


def run_metadata(minute: int, duration: float) -> MLMetadata:
    return MLMetadata(
        status="success",
        config_id="01CONFIGEXAMPLE0000000000",
        started_at=f"2025-10-18T10:{minute:02d}:00Z",
        completed_at=f"2025-10-18T10:{minute + 1:02d}:00Z",
        duration_seconds=duration,
    )


def prediction_data(run: int, values: list[float]) -> dict[str, Any]:
    frame = DataFrame(columns=["location", "prediction"], data=[[f"region-{i}", v] for i, v in enumerate(values)])
    typed = MLPredictionArtifactData(
        metadata=run_metadata(10 + run, 2.5), content=frame.model_dump(), content_type=DATAFRAME_JSON
    )
    return {
        "type": typed.type,
        "metadata": typed.metadata.model_dump(),
        "content": frame.model_dump(),
        "content_type": typed.content_type,
    }


def print_tree(node: ArtifactTreeNode, indent: int = 0) -> None:
    """One line per node: label, level, id and the type of its data."""
    kind = node.data.get("type") if isinstance(node.data, dict) else None
    print(f"{'  ' * indent}- {node.level_label} (level {node.level}) {node.id} [{kind}]")
    for child in node.children or []:
        print_tree(child, indent + 1)


def count_nodes(node: ArtifactTreeNode) -> int:
    return 1 + sum(count_nodes(child) for child in node.children or [])


MEMORY = "sqlite+aiosqlite:///:memory:"


def main(url: str = MEMORY) -> None:
    hierarchy = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction", 2: "evaluation"})

    # The ledger runs one event loop on a private thread; each call below waits for its result.
    with sync.Ledger.open(url) as ledger, ledger.manager(hierarchy=hierarchy) as manager:
        earlier = {a.id for a in manager.find_all()}  # a database given on the command line may hold earlier runs
        # Level 0: the training run (the model here is a plain dict of coefficients).
        training = manager.save(
            ArtifactIn(
                data={
                    "type": "ml_training_workspace",
                    "metadata": run_metadata(0, 300.0).model_dump(),
                    "content": {"coef": 2.0, "intercept": 1.0},
                    "content_type": "application/json",
                }
            )
        )
        print(f"Training artifact {training.id}: level {training.level}")

        # Level 1: three prediction runs under it.
        predictions = []
        for run, values in enumerate([[3.0, 5.0], [7.0, 9.0], [11.0, 13.0]], start=1):
            child = manager.save(ArtifactIn(parent_id=training.id, data=prediction_data(run, values)))
            predictions.append(child)
            print(f"Prediction artifact {child.id}: level {child.level}, parent {child.parent_id}")
        if any(p.level != 1 or p.parent_id != training.id for p in predictions):
            raise SystemExit("every prediction should be at level 1 under the training artifact")

        # Content comes back as it was saved: a DataFrame dict.
        first = manager.find_by_id(predictions[0].id)
        if first is None:
            raise SystemExit(f"prediction {predictions[0].id} not found")
        content = first.data["content"]
        if content != prediction_data(1, [3.0, 5.0])["content"]:
            raise SystemExit(f"prediction content did not round-trip: {content!r}")
        frame = DataFrame.model_validate(content)
        print(f"First prediction content is a {type(content).__name__} with shape {frame.shape}")
        print(f"First prediction rows: {frame.to_dict(orient='records')}")

        tree = manager.build_tree(training.id)
        if tree is None:
            raise SystemExit("build_tree returned nothing for the training artifact")
        print(f"\nTree of hierarchy {tree.hierarchy!r}:")
        print_tree(tree)
        if count_nodes(tree) != 4:
            raise SystemExit(f"expected 4 nodes in the tree, found {count_nodes(tree)}")

        everything = [a for a in manager.find_all() if a.id not in earlier]
        print(
            f"\nfind_all: {len(everything)} artifacts" + (f" (and {len(earlier)} of earlier runs)" if earlier else "")
        )
        for artifact in everything:
            print(f"  {artifact.id} level {artifact.level} {artifact.data['type']}")
        if len(everything) != 4:
            raise SystemExit(f"expected 4 artifacts, found {len(everything)}")

        # Ledger additions: move the third prediction under the first (it becomes level 2,
        # an "evaluation" by the labels), delete the second, and look at the tree again.
        moved = manager.move(predictions[2].id, predictions[0].id)
        print(f"\nMoved {moved.id} under {moved.parent_id}: now level {moved.level}")
        manager.delete_by_id(predictions[1].id)
        print(f"Deleted {predictions[1].id}")

        tree = manager.build_tree(training.id)
        if tree is None:
            raise SystemExit("build_tree returned nothing after the move")
        print("\nTree after the move and the delete:")
        print_tree(tree)
        if count_nodes(tree) != 3 or moved.level != 2:
            raise SystemExit("expected 3 nodes and the moved prediction at level 2")
        print(f"Live artifacts: {manager.count()}")

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
