"""Deep pages: the first and the last page of a long history, and of the alias listings.

    python benchmarks/bench_pages.py [--backend sqlite|postgresql|all] [--versions 20000]
                                     [--aliases 10000] [--repeat 15] [--keyset]

History: one artifact saved ``--versions`` times (one transaction), then
``history_paginated(id, page, 100)`` for the first page and for the last, alternating
(medians). Aliases: ``--aliases`` aliases, all on one artifact, then
``GET /api/v1/aliases?page=N&size=100`` and ``GET /api/v1/artifacts/{id}/$aliases?page=N&size=100``
through the HTTP app (httpx's ASGI transport, no network), first and last page (``--keyset``: also
``?limit=100`` and ``?limit=100&after=NAME`` for the last page). Prints one
line per measurement, times in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from bench_db import BACKENDS, fresh_database

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http import create_app

PAGE = 100


async def _median_ms(calls: dict[str, Callable[[], Awaitable[Any]]], repeat: int) -> dict[str, float]:
    """Each call ``repeat`` times, the calls alternating; the median of each in ms."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():  # once each before timing (connections, statement caches)
        await call()
    for _ in range(repeat):
        for name, call in calls.items():
            t0 = time.perf_counter()
            await call()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


async def run(backend: str, versions: int, aliases: int, repeat: int) -> None:
    async with fresh_database(backend) as db, Ledger.open(db.engine) as ledger:
        async with ledger.transaction() as manager:
            out = await manager.save(ArtifactIn(data={"n": 0}))
            for n in range(1, versions):
                out = await manager.save(ArtifactIn(id=out.id, data={"n": n}))
            for n in range(aliases):
                await manager.set_alias(f"alias-{n:06d}", out.id)
        if backend == "postgresql":  # planner statistics after the bulk load, as autovacuum soon would
            async with db.driver() as conn:
                await conn.execute("ANALYZE ledger_events; ANALYZE ledger_aliases; ANALYZE ledger_openings")
        aid = out.id
        last = (versions + PAGE - 1) // PAGE

        async with ledger.manager() as manager:

            async def page(number: int) -> None:
                items, total = await manager.history_paginated(aid, number, PAGE)
                assert total == versions
                assert items[0].version == (number - 1) * PAGE + 1

            found = await _median_ms({"first": lambda: page(1), "last": lambda: page(last)}, repeat)
        print(
            f"{backend:10} history of {versions} versions, page of {PAGE}: "
            f"first {found['first']:.1f} ms, last (page {last}) {found['last']:.1f} ms"
        )

        if aliases:
            app = create_app(ledger)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                pages = (aliases + PAGE - 1) // PAGE

                def listing(url: str, number: int) -> Callable[[], Awaitable[None]]:
                    async def get() -> None:
                        response = await client.get(url, params={"page": number, "size": PAGE})
                        assert response.status_code == 200, response.text
                        body = response.json()
                        assert body["total"] == aliases
                        assert len(body["items"]) == min(PAGE, aliases)

                    return get

                def keyset(url: str, after: str | None) -> Callable[[], Awaitable[None]]:
                    async def get() -> None:
                        params = {"limit": PAGE} if after is None else {"limit": PAGE, "after": after}
                        response = await client.get(url, params=params)
                        assert response.status_code == 200, response.text
                        assert len(response.json()["items"]) == min(PAGE, aliases)

                    return get

                urls = {"aliases": "/api/v1/aliases", "$aliases": f"/api/v1/artifacts/{aid}/$aliases"}
                calls = {f"{k} {p}": listing(u, n) for k, u in urls.items() for p, n in (("first", 1), ("last", pages))}
                if "--keyset" in sys.argv:  # limit/after (not in the code before it)
                    before_last = f"alias-{(pages - 1) * PAGE - 1:06d}"
                    for k, u in urls.items():
                        calls[f"{k} keyset first"] = keyset(u, None)
                        calls[f"{k} keyset last"] = keyset(u, before_last)
                found = await _median_ms(calls, repeat)
            for name, ms in found.items():
                print(f"{backend:10} GET {name} page of {aliases} aliases: {ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="all", choices=(*BACKENDS, "all"))
    parser.add_argument("--versions", type=int, default=20_000)
    parser.add_argument("--aliases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keyset", action="store_true", help="also the keyset pages (limit/after) of the aliases")
    args = parser.parse_args()
    for backend in BACKENDS if args.backend == "all" else (args.backend,):
        asyncio.run(run(backend, args.versions, args.aliases, args.repeat))


if __name__ == "__main__":
    main()
