"""What ``link()`` costs, one committed call at a time: run it on two checkouts to compare them.

Builds a ledger of ``BASES`` artifacts, each derived_from the one before it in groups of ``DEPTH``
(so every derived_from write walks ``DEPTH - 1`` hops upstream), then times ``CALLS`` calls of
``link(new, base, "derived_from")`` and as many of ``link(new, base, "used")`` (no walk), each its
own transaction, and prints the medians in microseconds.

    python benchmarks/bench_link_check.py sqlite|postgresql [CALLS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from artifact_ledger import ArtifactIn, Ledger, create_engine

BASES = 200
DEPTH = 4
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def run(backend: str, calls: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}"
        if backend != "sqlite":
            admin = create_engine(PG)
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await admin.dispose()
        engine = (
            create_engine(url)
            if backend == "sqlite"
            else create_async_engine(PG, connect_args={"server_settings": {"search_path": schema}})
        )
        try:
            async with Ledger.open(engine, create=True) as ledger, ledger.manager() as m:
                bases = [(await m.save(ArtifactIn(data={"n": i}))).id for i in range(BASES)]
                for i, b in enumerate(bases):
                    if i % DEPTH:
                        await m.link(b, bases[i - 1], "derived_from")
                news = [(await m.save(ArtifactIn(data={"new": i}))).id for i in range(calls)]
                for kind in ("derived_from", "used"):
                    times = []
                    for i, new in enumerate(news):
                        base = bases[(i * DEPTH + DEPTH - 1) % BASES]  # the bottom of a group: DEPTH - 1 hops up
                        start = time.perf_counter()
                        await m.link(new, base, kind)
                        times.append(time.perf_counter() - start)
                    print(f"{backend} link {kind:12} median {statistics.median(times) * 1e6:7.0f} us over {calls}")
        finally:
            await engine.dispose()
            if backend != "sqlite":
                admin = create_engine(PG)
                async with admin.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                await admin.dispose()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000))
