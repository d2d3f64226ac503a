"""Helpers of the CLI tests that drive ``artifact_ledger.cli.main`` in-process on a database URL
(imported by name: ``from cli_support import ...``)."""

from __future__ import annotations

import asyncio

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main


async def run(url: str, *argv: str) -> int:
    """``artifact-ledger --db URL ARGV…`` on a thread of its own (the CLI runs its own event loop); the exit code."""
    return await asyncio.to_thread(main, ["--db", url, *argv])


async def saves(url: str, count: int, tag: str = "i") -> str:
    """``count`` artifacts saved in one call, each ``{tag: i}``; the ledger's id."""
    async with Ledger.open(url) as ledger, ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={tag: i}) for i in range(count)])
        return str(ledger.ledger_id)
