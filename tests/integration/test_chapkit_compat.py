"""A program written like chapkit's ArtifactManager examples runs with only its imports changed.

The set-up is the seed examples' own: a plain ``create_async_engine``, ``Artifact.metadata.create_all``,
``sessionmaker(class_=AsyncSession, expire_on_commit=False)`` and ``ArtifactManager(ArtifactRepository(session))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker

from artifact_ledger import (
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactManager,
    ArtifactRepository,
    DataFrame,
    GenericArtifactData,
    GenericMetadata,
    MLMetadata,
    MLPredictionArtifactData,
    MLTrainingWorkspaceArtifactData,
)
from artifact_ledger.models import Artifact
from ledger_support import PG_URL


def metadata() -> MLMetadata:
    return MLMetadata(
        status="success",
        config_id="01CONFIG0000000000000000000",
        started_at="2025-10-18T10:00:00Z",
        completed_at="2025-10-18T10:05:00Z",
        duration_seconds=300.0,
    )


async def chapkit_program(url: str, connect_args: dict[str, Any]) -> None:
    """The body of chapkit's 01/02/03 examples, condensed; only the imports differ."""
    engine = create_async_engine(url, connect_args=connect_args)
    async with engine.begin() as conn:
        await conn.run_sync(Artifact.metadata.create_all)
    session_factory = sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)  # type: ignore[call-overload]

    hierarchy = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction", 2: "evaluation"})
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    trained_model = LinearRegression().fit(x, 3 * x[:, 0])

    async with session_factory() as session:
        manager = ArtifactManager(ArtifactRepository(session), hierarchy=hierarchy)

        training_data_model = MLTrainingWorkspaceArtifactData(
            type="ml_training_workspace",
            metadata=metadata(),
            content=trained_model,
            content_type="application/x-pickle",
        )
        artifact_data = {
            "type": training_data_model.type,
            "metadata": training_data_model.metadata.model_dump(),
            "content": trained_model,
            "content_type": training_data_model.content_type,
            "content_size": training_data_model.content_size,
        }
        parent = await manager.save(ArtifactIn(data=artifact_data))
        assert parent.level == 0

        predictions = DataFrame(columns=["x", "y_hat"], data=[[5.0, 15.0], [6.0, 18.0]])
        prediction_model = MLPredictionArtifactData(
            type="ml_prediction",
            metadata=metadata(),
            content=predictions,
            content_type="application/vnd.chapkit.dataframe+json",
        )
        child_ids = []
        for _ in range(2):
            child = await manager.save(
                ArtifactIn(
                    parent_id=parent.id,
                    data={
                        "type": prediction_model.type,
                        "metadata": prediction_model.metadata.model_dump(),
                        "content": predictions,
                        "content_type": prediction_model.content_type,
                        "content_size": None,
                    },
                )
            )
            assert child.level == 1
            child_ids.append(child.id)

        artifact = await manager.find_by_id(parent.id)
        assert artifact is not None
        assert artifact.data["metadata"]["config_id"] == "01CONFIG0000000000000000000"
        model = artifact.data["content"]
        assert float(model.predict(np.array([[10.0]]))[0]) == pytest.approx(30.0)

        tree = await manager.build_tree(parent.id)
        assert tree is not None
        assert tree.level_label == "training"
        assert tree.children is not None
        assert [c.id for c in tree.children] == child_ids
        assert all(c.level_label == "prediction" and c.children == [] for c in tree.children)
        assert tree.children[0].data["content"] == predictions

        project = GenericArtifactData(type="generic", metadata=GenericMetadata(name="Docs"), content={"v": 1})
        root = await manager.save(ArtifactIn(data=project.model_dump()))
        doc = await manager.save(ArtifactIn(parent_id=root.id, data={"type": "generic", "metadata": {}}))
        version = await manager.save(ArtifactIn(parent_id=doc.id, data={"type": "generic", "metadata": {"n": 1}}))
        assert version.level == 2
        all_artifacts = await manager.find_all()
        assert len(all_artifacts) == 6
        assert [a.id for a in all_artifacts] == sorted(a.id for a in all_artifacts)
        found_root = await manager.find_by_id(root.id)
        assert found_root is not None
        assert found_root.data["content"] == {"v": 1}
        assert [a.level for a in all_artifacts if a.data["type"] == "generic"] == [0, 1, 2]

    # A fresh session reads what the first one wrote, content included.
    async with session_factory() as session:
        manager = ArtifactManager(ArtifactRepository(session), hierarchy=hierarchy)
        again = await manager.find_by_id(parent.id)
        assert again is not None
        assert isinstance(again.data["content"], LinearRegression)
        await manager.delete_by_id(parent.id, cascade=True)
        assert await manager.count() == 3
    await engine.dispose()


async def test_on_sqlite_memory() -> None:
    await chapkit_program("sqlite+aiosqlite:///:memory:", {})


async def test_on_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "artifacts.db"
    await chapkit_program(f"sqlite+aiosqlite:///{database}", {})
    assert (tmp_path / "artifacts.db.key").exists()  # the pickle key lives beside the database, not in it


async def test_on_postgresql(pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_LEDGER_SECRET", "chapkit-compat-test-secret")
    await chapkit_program(PG_URL, {"server_settings": {"search_path": pg_schema}})
