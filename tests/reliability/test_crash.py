"""Crash safety: a writer doing 50-save transactions is SIGKILLed at random moments.

After every kill: no batch is partly visible (each batch id has 0 or 50 artifacts),
``verify()`` passes and the projections equal a rebuild; the next writer carries on.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from reliability_support import (
    SECRET,
    SECRET_TEXT,
    check_log_and_rebuild,
    database,
    size,
    spawn,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import Ledger

BATCH = 50


async def batch_sizes(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT data FROM ledger_artifacts"))).scalars().all()
    return Counter(json.loads(data)["batch"] for data in rows)


async def run_and_kill(url: str, rng: random.Random) -> tuple[str | None, set[str]]:
    """Start a writer, SIGKILL it at a random moment; the batch it had begun last, and those it saw commit."""
    proc = await spawn("batch_writer.py", url, SECRET_TEXT)
    assert proc.stdout is not None
    # a new interpreter loads the library and connects: about 1.5 s here, far longer on a loaded machine
    assert await asyncio.wait_for(proc.stdout.readline(), 120) == b"R\n"
    await asyncio.sleep(rng.uniform(0.0, 0.06))
    proc.kill()
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == -9, err.decode()
    lines = out.decode().split()
    begun = [b for tag, b in zip(lines[::2], lines[1::2], strict=True) if tag == "B"]
    committed = {b for tag, b in zip(lines[::2], lines[1::2], strict=True) if tag == "C"}
    return (begun[-1] if begun else None), committed


@pytest.mark.parametrize("backend", ["postgresql", "sqlite-file"])
async def test_killed_writer_leaves_no_partial_batch(backend: str, tmp_path: Path) -> None:
    kills = size("kills", 30)
    rng = random.Random(backend)
    mid_batch = 0
    all_committed: set[str] = set()
    async with database(backend, tmp_path) as url, Ledger.open(url, secret=SECRET) as ledger:
        for _ in range(kills):
            last, committed = await run_and_kill(url, rng)
            all_committed |= committed
            sizes = await batch_sizes(ledger.engine)
            assert set(sizes.values()) <= {BATCH}, sizes  # all or nothing, never part of a batch
            assert all_committed <= set(sizes)  # what was reported committed is there
            if last is not None and last not in committed:
                mid_batch += 1  # killed inside (or right at the end of) a transaction
            await check_log_and_rebuild(ledger)
        assert mid_batch >= kills // 2, mid_batch
        print(f"\n{backend}: {kills} kills, {mid_batch} inside a batch, {len(sizes)} batches kept")
