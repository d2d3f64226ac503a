"""``artifact-ledger demo``: a small but real ML-provenance ledger, then a look at what it recorded."""

from __future__ import annotations

import os
import shlex
import time
from typing import Any

from rich.markup import escape

from ..dataframe import DataFrame
from ..jsondiff import describe, json_patch
from ..ledger import Ledger
from ..namespaces import DEFAULT
from ..schemas import ArtifactHierarchy, ArtifactIn
from ..store.engine import DEFAULT_URL
from . import render
from .urls import masked

HIERARCHY = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction", 2: "evaluation"})


def _metadata(config: str, seconds: float) -> dict[str, Any]:
    return {
        "status": "success",
        "config_id": config,
        "started_at": "2026-11-26T09:00:00+00:00",
        "completed_at": "2026-11-26T09:05:00+00:00",
        "duration_seconds": seconds,
    }


def _train() -> tuple[Any, str, str]:
    """A scikit-learn model when the `examples` extra is installed, else a JSON model card."""
    try:
        from sklearn.linear_model import LinearRegression
    except ImportError:
        card = {"kind": "linear", "coefficients": [1.0, 1.0], "intercept": 0.0, "note": "install [examples]"}
        return card, "application/json", "JSON model card (install 'artifact-ledger[examples]' for scikit-learn)"
    model = LinearRegression().fit([[1.0, 2.0], [2.0, 3.0], [3.0, 4.0], [4.0, 5.0]], [3.0, 5.0, 7.0, 9.0])
    return model, "application/x-pickle", "scikit-learn LinearRegression (signed pickle)"


def _predict(model: Any, x: list[float]) -> float:
    if isinstance(model, dict):
        return float(sum(c * v for c, v in zip(model["coefficients"], x, strict=True)) + model["intercept"])
    return float(model.predict([x])[0])


async def run_demo(url: str, *, as_json: bool = False, namespace: str = DEFAULT, blobs: str | None = None) -> int:
    started = time.perf_counter()
    out = render.console
    async with Ledger.open(url, namespace=namespace, blobs=blobs) as ledger, ledger.manager(HIERARCHY) as manager:
        model, content_type, model_kind = _train()
        with ledger.context(actor="alice", reason="nightly training run"):
            training = await manager.save(
                ArtifactIn(
                    data={
                        "type": "ml_training_workspace",
                        "metadata": _metadata("cfg-demo", 300.0),
                        "content": model,
                        "content_type": content_type,
                    }
                )
            )
            predictions = []
            async with manager.transaction():
                for i, x in enumerate(([5.0, 6.0], [6.0, 7.0], [7.0, 8.0])):
                    frame = DataFrame(columns=["x1", "x2", "prediction"], data=[[*x, _predict(model, x)]])
                    predictions.append(
                        await manager.save(
                            ArtifactIn(
                                parent_id=training.id,
                                data={
                                    "type": "ml_prediction",
                                    "metadata": _metadata("cfg-demo", 1.0 + i),
                                    "content": frame,
                                    "content_type": "application/vnd.artifact-ledger.dataframe+json",
                                },
                            )
                        )
                    )
            evaluation = await manager.save(
                ArtifactIn(
                    parent_id=predictions[0].id,
                    data={"type": "evaluation", "metrics": {"rmse": 0.42, "threshold": 0.5}, "content": {"n": 3}},
                )
            )
        with ledger.context(actor="bob", reason="threshold was wrong; evaluation belongs to prediction 2"):
            evaluation = await manager.save(
                ArtifactIn(
                    id=evaluation.id,
                    parent_id=evaluation.parent_id,
                    data={"type": "evaluation", "metrics": {"rmse": 0.42, "threshold": 0.7}, "content": {"n": 3}},
                )
            )
            await manager.move(evaluation.id, predictions[1].id)
        with ledger.context(actor="alice", reason="superseded"):
            await manager.delete_by_id(predictions[2].id)

        tree = await manager.build_tree(training.id, include_content=False)
        history = await manager.history(evaluation.id)
        loaded = await manager.find_by_id(training.id)
        assert loaded is not None
        prediction_again = _predict(loaded.data["content"], [5.0, 6.0])
    report = await _verify(url, namespace, blobs)
    changes = describe(json_patch(history[0].data, history[1].data))
    elapsed = time.perf_counter() - started
    if as_json:
        render.print_json(
            {
                "training_id": str(training.id),
                "evaluation_id": str(evaluation.id),
                "model": model_kind,
                "history": [v.model_dump(mode="json") for v in history],
                "diff_v1_v2": changes,
                "verify": {"ok": report.ok, "events_checked": report.events_checked, "head": report.head_hash},
                "seconds": round(elapsed, 3),
            }
        )
        return 0 if report.ok else 1
    out.rule("artifact-ledger demo")
    out.print(escape(f"database: {masked(url)}"))  # never the password
    # escaped: the description names the extra as [examples], which rich would take for a style tag
    out.print(escape(f"model: {model_kind}; reloaded from the ledger it predicts {prediction_again:.2f} for [5, 6]"))
    out.rule("the experiment tree (prediction 3 was deleted; the evaluation moved)")
    assert tree is not None
    out.print(render.tree_view(tree))
    out.rule(f"history of evaluation {evaluation.id}")
    out.print(render.history_table(history))
    out.rule("what bob changed (v1 -> v2)")
    for line in changes:
        out.print(f"  {line}")
    out.rule("verify")
    status = "[green]OK[/green]" if report.ok else f"[red]BROKEN[/red] at {report.broken_position}"
    out.print(f"{status}: {report.events_checked} events, head hash {report.head_hash[:16]}…")
    hint = escape(f"artifact-ledger{_options(url, namespace, blobs)} tree {training.id}")
    out.print(f"[dim]done in {elapsed:.2f} s — try: {hint}[/dim]", soft_wrap=True)
    return 0 if report.ok else 1


def _options(url: str, namespace: str, blobs: str | None) -> str:
    """The options the next command needs to reach this ledger again (none for the defaults and the
    environment's): the demo's own ``--db``, ``--namespace`` and ``--blobs``."""
    given = (
        ("--db", url, os.environ.get("ARTIFACT_LEDGER_URL") or DEFAULT_URL),
        ("--namespace", namespace, os.environ.get("ARTIFACT_LEDGER_NAMESPACE") or DEFAULT),
        ("--blobs", blobs, os.environ.get("ARTIFACT_LEDGER_BLOBS") or None),
    )
    words = []
    for option, value, default in given:
        if value is not None and value != default:
            words.append(f" {option} {shlex.quote(masked(value) if option == '--db' else value)}")
    return "".join(words)


async def _verify(url: str, namespace: str, blobs: str | None) -> Any:
    async with Ledger.open(url, namespace=namespace, blobs=blobs) as ledger:
        return await ledger.verify()
