"""Helpers of the streamed-content tests (imported by name: ``from streaming_support import ...``).

The tests stream in chunks of ``CHUNK`` bytes (the ``small_chunks`` fixture of tests/conftest.py sets
``streams.CHUNK_SIZE`` to it), so a few KiB of content make a stream of several chunks.
"""

from __future__ import annotations

import hashlib
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger import Ledger
from artifact_ledger.content import streams
from ledger_support import event_count

CHUNK = 1024


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` bytes with no two equal chunks."""
    blocks = (hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


async def read_all(manager: Any, artifact_id: Any, **kwargs: Any) -> bytes:
    """The whole content of ``artifact_id`` read through ``manager.open_content``."""
    return b"".join([chunk async for chunk in manager.open_content(artifact_id, **kwargs)])


async def events(ledger: Ledger) -> int:
    """How many events the ledger's log holds."""
    return await event_count(ledger.engine)


def stray_files(root: Path | None) -> list[Path]:
    """Files a failed save left in the blob directory (the registry and nothing else may be there)."""
    if root is None or not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file()]


def track_first_pass(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set when the first pass's reading thread has ended (cleaned up and all)."""
    ended = threading.Event()
    original = streams._hash_file

    def tracked(*args: Any) -> Any:
        try:
            return original(*args)
        finally:
            ended.set()

    monkeypatch.setattr(streams, "_hash_file", tracked)
    return ended


async def peak_of(run: Any) -> tuple[Any, int]:
    """What ``run`` returned or raised, and the peak of memory Python allocated meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            result: Any = await run
        except Exception as exc:  # the error is the result
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
