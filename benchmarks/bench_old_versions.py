"""Reads of one old version of a long history, and the alias pages that follow one list.

    python benchmarks/bench_old_versions.py [--backend sqlite|postgresql|all] [--versions 20000]
                                            [--aliases 10000] [--repeat 11] [--only versions|aliases]

Versions: one artifact saved ``--versions`` times with bytes content (one transaction), then
``diff(id, n // 2, n - 1)``, ``diff(id, n - 1)`` (to the latest), ``open_content(id, version=n - 1)``
and ``open_content(id)`` (the latest), alternating (medians). Aliases: ``--aliases`` aliases on one
artifact and one alias moved ``--aliases`` times between two artifacts, then through the HTTP app
(httpx's ASGI transport, no network) the first and the last page of 100 of the alias's ``$history``,
of the artifact's ``$provenance``, and of the console's aliases page. Prints one line per
measurement, times in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from bench_db import BACKENDS, fresh_database

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.http import create_app

sys.path.insert(0, str(Path(__file__).parent))
from bench_pages import _median_ms

PAGE = 100


async def versions(backend: str, count: int, repeat: int) -> None:
    async with fresh_database(backend) as db, Ledger.open(db.engine) as ledger:
        async with ledger.transaction() as manager:
            out = await manager.save(ArtifactIn(data={"n": 0, "content": b"v0"}))
            for n in range(1, count):
                out = await manager.save(ArtifactIn(id=out.id, data={"n": n, "content": b"v%d" % n}))
        if backend == "postgresql":
            async with db.driver() as conn:
                await conn.execute("ANALYZE ledger_events; ANALYZE ledger_openings")
        aid = out.id
        async with ledger.manager() as m:

            async def diff(v1: int, v2: int | None) -> None:
                result = await m.diff(aid, v1, v2)
                assert result.data, result

            async def content(version: int | None) -> None:
                got = b"".join([c async for c in m.open_content(aid, version=version)])
                assert got == b"v%d" % ((version or count) - 1)

            calls: dict[str, Callable[[], Awaitable[None]]] = {
                f"diff({count // 2}, {count - 1})": lambda: diff(count // 2, count - 1),
                f"diff({count - 1}, latest)": lambda: diff(count - 1, None),
                f"open_content(version={count - 1})": lambda: content(count - 1),
                "open_content(latest)": lambda: content(None),
            }
            found = await _median_ms(calls, repeat)
        for name, ms in found.items():
            print(f"{backend:10} {name} of {count} versions: {ms:.1f} ms")


async def aliases(backend: str, count: int, repeat: int) -> None:
    async with fresh_database(backend) as db, Ledger.open(db.engine) as ledger:
        async with ledger.transaction() as manager:
            a = await manager.save(ArtifactIn(data={"name": "a"}))
            b = await manager.save(ArtifactIn(data={"name": "b"}))
            for n in range(count):
                await manager.set_alias(f"alias-{n:06d}", a.id)
            for n in range(count):
                await manager.set_alias("moving", b.id if n % 2 else a.id)
        if backend == "postgresql":
            async with db.driver() as conn:
                await conn.execute("ANALYZE ledger_events; ANALYZE ledger_aliases")
        app = create_app(ledger)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

            def get(url: str, params: dict[str, int]) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    response = await client.get(url, params=params)
                    assert response.status_code == 200, response.text

                return call

            pages = {  # the console's page of aliases is 100 long
                "$history": ("/api/v1/aliases/moving/$history", {"size": PAGE}, count),
                "$provenance": (f"/api/v1/artifacts/{a.id}/$provenance", {"size": PAGE}, count + 1),
                "console aliases": ("/aliases", {}, count + 1),
            }
            calls = {}
            for name, (url, size, total) in pages.items():
                last = (total + PAGE - 1) // PAGE
                calls[f"{name} first"] = get(url, {"page": 1, **size})
                calls[f"{name} last (page {last})"] = get(url, {"page": last, **size})
            found = await _median_ms(calls, repeat)
        for name, ms in found.items():
            print(f"{backend:10} GET {name} page of {count}: {ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="all", choices=(*BACKENDS, "all"))
    parser.add_argument("--versions", type=int, default=20_000)
    parser.add_argument("--aliases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--only", choices=("versions", "aliases"))
    args = parser.parse_args()
    for backend in BACKENDS if args.backend == "all" else (args.backend,):
        if args.only != "aliases":
            asyncio.run(versions(backend, args.versions, args.repeat))
        if args.only != "versions":
            asyncio.run(aliases(backend, args.aliases, args.repeat))


if __name__ == "__main__":
    main()
