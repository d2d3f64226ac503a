"""A writer process for the concurrency tests: random creates, versioned updates and moves.

``python concurrent_writer.py URL SECRET WORKER WRITES SEEDS_JSON OUT_JSON``. Every write carries
``reason="w<worker>-<n>"`` so the test can find it in the log; the outcome of each (ok with the
version returned, or the error's class name) goes to ``OUT_JSON``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactRepository, LedgerError, create_engine


async def one_write(
    manager: ArtifactManager, rng: random.Random, seeds: dict[str, list[str]], mine: list[str], token: str
) -> dict[str, Any]:
    chains = seeds["a"] + seeds["b"]
    pool = seeds["shared"] + chains + mine
    roll = rng.random()
    if roll < 0.25:
        parent = rng.choice([None, *pool])
        out = await manager.save(ArtifactIn(parent_id=parent, data={"t": token}), reason=token)
        mine.append(str(out.id))
        return {"kind": "create", "id": str(out.id), "version": out.version}
    if roll < 0.65:
        target = rng.choice(seeds["shared"] + chains)
        current = await manager.find_by_id(target, include_content=False)
        assert current is not None
        item = ArtifactIn(id=current.id, parent_id=current.parent_id, data={"t": token})
        out = await manager.save(item, expected_version=current.version, reason=token)
        return {"kind": "update", "id": target, "version": out.version}
    # A move between the two chains: a0 under b2 and b0 under a2 at once would be a cycle,
    # so one of them must see the other's move (the check runs under the write lock).
    side = rng.choice(["a", "b"])
    other = "b" if side == "a" else "a"
    target = rng.choice(seeds[side])
    parent = rng.choice(seeds[other] + seeds["shared"])
    out = await manager.move(target, parent, reason=token)
    return {"kind": "move", "id": target, "version": out.version}


async def main(url: str, secret: str, worker: int, writes: int, seeds: dict[str, list[str]]) -> list[dict[str, Any]]:
    rng = random.Random(worker)
    engine = create_engine(url)
    results: list[dict[str, Any]] = []
    mine: list[str] = []
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        manager = ArtifactManager(ArtifactRepository(session, secret=secret))
        for n in range(writes):
            token = f"w{worker}-{n}"
            try:
                result = await one_write(manager, rng, seeds, mine, token)
                result.update(token=token, ok=True)
            except LedgerError as exc:
                result = {"token": token, "ok": False, "error": type(exc).__name__, "message": str(exc)}
            results.append(result)
    await engine.dispose()
    return results


if __name__ == "__main__":
    url, secret, worker, writes, seeds_path, out_path = sys.argv[1:]
    seeds = json.loads(Path(seeds_path).read_text())
    results = asyncio.run(main(url, secret, int(worker), int(writes), seeds))
    Path(out_path).write_text(json.dumps(results))
