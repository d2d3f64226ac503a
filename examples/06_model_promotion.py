"""Model promotion and lineage: train, evaluate, link, promote to ``production``, roll back, and answer
"what was in production on date D, what data was it trained on, and who promoted it?".

Shows how to:
- record where a model came from: ``link(model, dataset, "derived_from")``, ``produced_by`` a
  training run, an evaluation ``evaluated_on`` the model
- promote with an alias (``set_alias``), guarded by compare-and-set (``expected_target``) and
  protection (``protect_alias``: a move then needs a reason)
- roll back by pointing the alias at the earlier model again
- ask the past: ``resolve_alias("production", as_of=D)``, its lineage, and ``alias_history``

Run with ``python examples/06_model_promotion.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from artifact_ledger import ArtifactIn, ConcurrencyError, FixedClock, Ledger

DAY_1 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


async def main() -> None:
    clock = FixedClock(DAY_1, step=timedelta(0))
    async with Ledger.open("sqlite+aiosqlite:///:memory:", clock=clock) as ledger, ledger.manager() as m:
        # Day 1: a dataset, a training run, model v1, its evaluation; promoted by alice.
        data_v1 = await m.save(ArtifactIn(data={"name": "sales-2026-q1", "rows": 120_000}))
        run_1 = await m.save(ArtifactIn(data={"name": "train run 1", "lr": 0.01}))
        model_1 = await m.save(ArtifactIn(data={"name": "forecaster v1", "metrics": {"rmse": 1.9}}))
        await m.link(model_1.id, data_v1.id, "derived_from")
        await m.link(model_1.id, run_1.id, "produced_by")
        eval_1 = await m.save(ArtifactIn(data={"name": "holdout eval v1", "rmse": 1.9}))
        await m.link(eval_1.id, model_1.id, "evaluated_on")
        await m.set_alias("production", model_1.id, actor="alice", reason="first model")
        await m.protect_alias("production", actor="alice", reason="serving traffic")

        # Day 2: new data, model v2, promoted by bob (who checks nobody moved production meanwhile).
        clock.advance(timedelta(days=1))
        data_v2 = await m.save(ArtifactIn(data={"name": "sales-2026-q2", "rows": 140_000}))
        await m.link(data_v2.id, data_v1.id, "derived_from")
        model_2 = await m.save(ArtifactIn(data={"name": "forecaster v2", "metrics": {"rmse": 1.5}}))
        await m.link(model_2.id, data_v2.id, "derived_from")
        await m.set_alias("production", model_2.id, expected_target=model_1.id, actor="bob", reason="rmse 1.9 -> 1.5")
        try:  # a second promoter working from a stale view is refused
            await m.set_alias("production", model_1.id, expected_target=model_1.id, actor="eve", reason="stale")
        except ConcurrencyError as exc:
            print(f"stale promotion refused: {type(exc).__name__}")

        # Day 3: v2 misbehaves in production; carol rolls back.
        clock.advance(timedelta(days=1))
        await m.set_alias("production", model_1.id, actor="carol", reason="v2 drifts on new stores")

        day_2_noon = DAY_1 + timedelta(days=1, hours=3)
        then = await m.resolve_alias("production", as_of=day_2_noon)
        now = await m.resolve_alias("production")
        print(f"in production on {day_2_noon:%Y-%m-%d}: {then.data['name']}")
        print(f"in production now: {now.data['name']}")
        graph = await m.lineage(then.id, kinds=["derived_from"])
        trained_on = sorted(graph.labels[n] for n in graph.nodes if n != str(then.id))
        print(f"{then.data['name']} was trained on: {', '.join(trained_on)}")
        promoted = [c for c in await m.alias_history("production") if c.type == "alias.set"]
        who = next(c for c in reversed(promoted) if c.recorded_at <= day_2_noon)
        print(f"promoted by {who.actor} on {who.recorded_at:%Y-%m-%d}: {who.reason}")
        for change in promoted:
            verb = "moved" if change.from_version else "set"
            print(f"  {change.recorded_at:%Y-%m-%d} {change.actor}: {verb} ({change.reason})")
        print("\nlineage of the production model (Mermaid):")
        print((await m.lineage(now.id, direction="both")).to_mermaid(), end="")
        if then.id != model_2.id or now.id != model_1.id or who.actor != "bob":
            raise SystemExit("v2 was in production on day 2, promoted by bob; v1 is back now")
        if trained_on != ["sales-2026-q1", "sales-2026-q2"]:
            raise SystemExit("v2 was derived from q2 data, itself derived from q1")
        report = await ledger.verify()
        print(f"\nverify: ok={report.ok}, {report.events_checked} events")


if __name__ == "__main__":
    asyncio.run(main())
