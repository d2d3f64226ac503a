"""The blob pass of ``verify``: each blob's bytes against its SHA-256 and size, and every referenced blob present."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from contextlib import aclosing
from typing import Any, Final

from .drift import Finding, earliest
from .integrity import BLOB_CORRUPTED, BLOB_MISSING
from .store.recorder import Recorder

BLOB_PAGE: Final = 64
ROW_BATCH: Final = 500


class BlobCheck:
    """The blobs of one ``verify`` run; ``checked`` counts the blobs read so far.

    ``refs``: blob hash -> (the first checked position that references it, the size it
    recorded), as the chain pass collects them.
    """

    def __init__(self, driver: Recorder, refs: dict[str, tuple[int, int]]) -> None:
        self.driver = driver
        self.refs = refs
        self.checked = 0

    async def run(self, *, every: bool) -> Finding | None:
        """Check every stored blob (``every``), or only those the checked events reference."""
        findings: list[Finding] = []
        seen: set[str] = set()
        if every:
            every_blob = self.driver.pages(self.driver.sql.blob_rows, (), BLOB_PAGE)
            async with aclosing(every_blob) as paged:
                async for page in paged:
                    self._check(page, seen, findings)
        else:
            wanted = list(self.refs)
            for start in range(0, len(wanted), ROW_BATCH):
                ids = self.driver.id_list(wanted[start : start + ROW_BATCH])
                self._check(await self.driver.fetch(self.driver.sql.blobs_in, ids), seen, findings)
        for blob_hash, (position, _) in self.refs.items():
            if blob_hash not in seen:
                findings.append(
                    Finding(
                        position,
                        BLOB_MISSING,
                        f"blob {blob_hash}, the content of event {position}, is missing from ledger_blobs",
                        blob_hash=blob_hash,
                    )
                )
        return earliest(findings)

    def _check(self, rows: Iterable[Sequence[Any]], seen: set[str], findings: list[Finding]) -> None:
        for blob_hash, size, data in rows:
            self.checked += 1
            key = blob_hash if type(blob_hash) is str else repr(blob_hash)
            seen.add(key)
            position, recorded = self.refs.get(key, (None, None))
            of = f" (the content of event {position})" if position is not None else ""
            problem = None
            if type(data) is not bytes or hashlib.sha256(data).hexdigest() != blob_hash:
                problem = f"blob {key}{of} is corrupted: its bytes do not match their SHA-256"
            elif size != len(data):
                problem = f"blob {key}{of} is corrupted: its size column says {size!r} but it holds {len(data)} bytes"
            elif recorded is not None and recorded != len(data):
                problem = f"blob {key} holds {len(data)} bytes but event {position} recorded {recorded}"
            if problem is not None:
                findings.append(Finding(position, BLOB_CORRUPTED, problem, blob_hash=key))
