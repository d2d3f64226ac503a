"""Time travel: an experiment tree that changes over four days, shown as it was on each day.

Shows how to:
- build an ML experiment tree (training runs -> predictions -> evaluations)
- change it over days: predictions added, one moved to another run, one deleted, metrics updated
- read the whole tree as it was at any instant (``build_tree(id, as_of=...)``), moves and
  deletes included: a prediction moved away yesterday is still in the day-before's tree
- read one artifact as it was (``find_by_id(id, as_of=...)``); ``None`` before it existed

Run with ``python examples/05_time_travel.py``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from artifact_ledger import ArtifactHierarchy, ArtifactIn, ArtifactTreeNode, FixedClock, Ledger

HIERARCHY = ArtifactHierarchy(name="ml_pipeline", level_labels={0: "training", 1: "prediction", 2: "evaluation"})
DAY_1 = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)


def run(name: str, rmse: float) -> dict[str, Any]:
    return {"name": name, "metrics": {"rmse": rmse}}


def lines(node: ArtifactTreeNode, indent: int = 0) -> list[str]:
    metrics = node.data.get("metrics")
    note = f" {metrics}" if metrics else ""
    out = [f"{'  ' * indent}- {node.level_label}: {node.data['name']} (v{node.version}){note}"]
    for child in node.children or []:
        out.extend(lines(child, indent + 1))
    return out


async def main() -> None:
    clock = FixedClock(DAY_1, step=timedelta(0))
    async with Ledger.open("sqlite+aiosqlite:///:memory:", clock=clock) as ledger, ledger.manager(HIERARCHY) as manager:
        # Day 1: two training runs, one prediction each.
        baseline = await manager.save(ArtifactIn(data=run("baseline", 1.9)))
        tuned = await manager.save(ArtifactIn(data=run("tuned", 1.4)))
        await manager.save(ArtifactIn(parent_id=baseline.id, data={"name": "forecast north"}))
        await manager.save(ArtifactIn(parent_id=tuned.id, data={"name": "forecast south"}))
        # Day 2: more predictions for the baseline, one evaluated.
        clock.advance(timedelta(days=1))
        async with manager.transaction():
            east = await manager.save(ArtifactIn(parent_id=baseline.id, data={"name": "forecast east"}))
            west = await manager.save(ArtifactIn(parent_id=baseline.id, data={"name": "forecast west"}))
            await manager.save(ArtifactIn(parent_id=east.id, data={"name": "eval east", "metrics": {"mae": 0.8}}))
        # Day 3: the east forecast was produced by the tuned model: move it (with its evaluation).
        clock.advance(timedelta(days=1))
        await manager.move(east.id, tuned.id, actor="dana", reason="attributed to the wrong run")
        await manager.save(ArtifactIn(id=baseline.id, data=run("baseline", 1.7)), actor="dana")
        # Day 4: the west forecast is withdrawn.
        clock.advance(timedelta(days=1))
        await manager.delete_by_id(west.id, actor="eli", reason="input data was corrupt")

        days = [DAY_1 + timedelta(days=n, hours=3) for n in range(4)]  # noon of each day
        for n, noon in enumerate(days, start=1):
            print(f"Day {n} ({noon:%Y-%m-%d %H:%M} UTC):")
            for root in (baseline, tuned):
                tree = await manager.build_tree(root.id, as_of=noon, include_content=False)
                if tree is None:
                    raise SystemExit(f"{root.id} should exist on day {n}")
                print("\n".join("  " + line for line in lines(tree)))

        before = await manager.find_by_id(east.id, as_of=days[0])
        print(f"\nforecast east on day 1: {before}")
        on_day_2 = await manager.find_by_id(east.id, as_of=days[1])
        today = await manager.find_by_id(east.id)
        if on_day_2 is None or today is None:
            raise SystemExit("forecast east exists on day 2 and today")
        print(f"forecast east on day 2: parent {on_day_2.parent_id} (baseline), version {on_day_2.version}")
        print(f"forecast east today:    parent {today.parent_id} (tuned), version {today.version}")
        gone = await manager.find_by_id(west.id)
        was = await manager.find_by_id(west.id, as_of=days[2])
        print(f"forecast west today: {gone}; on day 3: {was.data['name'] if was else None}")

        day2 = await manager.build_tree(baseline.id, as_of=days[1], include_content=False)
        day4 = await manager.build_tree(baseline.id, include_content=False)
        if day2 is None or day4 is None or before is not None:
            raise SystemExit("the baseline exists on day 2 and today; forecast east not on day 1")
        if (len(day2.children or []), len(day4.children or [])) != (3, 1):
            raise SystemExit("the baseline had three predictions on day 2 and one today")
        if on_day_2.parent_id != baseline.id or today.parent_id != tuned.id or gone is not None:
            raise SystemExit("east moved from baseline to tuned; west was deleted")
        print("\nThe ledger kept every day's tree.")


if __name__ == "__main__":
    asyncio.run(main())
