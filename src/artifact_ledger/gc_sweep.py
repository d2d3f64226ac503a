"""What gc finds stored and unreferenced: each store's listing merged against the referenced hashes.

Both sides come in hash order, a bounded page at a time: ``ledger_blobs`` by keyset pages, a
directory store's files by its sorted walk, the referenced hashes from the database
(:func:`artifact_ledger.gc.referenced_hashes`). A page of referenced hashes is held as a set
and each store's listing is taken up to its last hash; nothing here grows with the number of
blobs except what is unreferenced, and that is kept in memory only when the report is to list
it (otherwise it goes to a temporary file, read back once to delete it).
"""

from __future__ import annotations

import asyncio
import heapq
import tempfile
from array import array
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing
from itertools import islice
from pathlib import Path
from typing import IO, Final

from .blob_files import Temporaries, blob_files
from .errors import LedgerError
from .store.recorder import Recorder
from .store.retention import gc_statements

__all__ = ["PAGE", "Found", "Listing", "Unreferenced", "deleted", "files", "rows", "sweep"]

PAGE: Final = 5000

Listing = AsyncIterator[Sequence[tuple[str, int]]]
"""(hash, size) of what one store holds, in hash order, a page at a time."""


async def rows(rec: Recorder, page: int = PAGE) -> Listing:
    """``ledger_blobs`` (hash, size), one keyset page at a time."""
    statement = gc_statements(rec.sql.dialect).blob_page
    after = ""
    while True:
        got = await rec.fetch(statement, after, page)
        yield [(str(h), int(size)) for h, size in got]
        if len(got) < page:
            return
        after = str(got[-1][0])


async def files(root: Path, page: int = PAGE, temporaries: Temporaries | None = None) -> Listing:
    """A directory store's blob files (hash, size), in hash order, a bounded batch at a time (stale
    temporary files, seen on the way, go to ``temporaries``)."""
    found = blob_files(root, temporaries)
    while batch := await asyncio.to_thread(lambda: list(islice(found, page))):
        yield batch


class Unreferenced:
    """What one store holds that nothing references, in hash order: in memory when ``listed`` (the
    report lists the hashes), else in a temporary file, one ``hash size`` line each."""

    def __init__(self, listed: bool) -> None:
        self.listed = listed
        self.hashes: list[str] = []
        self.sizes = array("q")
        self.count = 0
        self.bytes = 0
        self._spool: IO[str] | None = None if listed else tempfile.TemporaryFile("w+", encoding="ascii")  # noqa: SIM115

    def add(self, digest: str, size: int) -> None:
        self.count += 1
        self.bytes += size
        if self._spool is None:
            self.hashes.append(digest)
            self.sizes.append(size)
        else:
            self._spool.write(f"{digest} {size}\n")

    def items(self) -> Iterator[tuple[str, int]]:
        """(hash, size) of each, in hash order (read back from the file when spooled)."""
        if self._spool is None:
            yield from zip(self.hashes, self.sizes, strict=True)
            return
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            digest, size = line.split()
            yield digest, int(size)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


Found = dict[str, Unreferenced]
"""store name -> its unreferenced blobs."""


class _Listed:
    """One store's listing being merged: the page in hand and where in it the merge is."""

    def __init__(self, listing: Listing, found: Unreferenced) -> None:
        self.listing = listing
        self.page: Sequence[tuple[str, int]] = ()
        self.at = 0
        self.done = False
        self.last = ""
        self.found = found

    async def take(self, bound: str | None, refs: set[str]) -> None:
        """Everything listed up to ``bound`` (all of it when None); what is not in ``refs`` (every
        referenced hash up to ``bound`` since the last call) is unreferenced."""
        add = self.found.add
        while True:
            if self.at == len(self.page):
                if self.done:
                    return
                page = await anext(self.listing, None)
                if page is None:
                    self.done = True
                    return
                self.page, self.at = page, 0
            page, i, n = self.page, self.at, len(self.page)
            while i < n:
                digest, size = page[i]
                if bound is not None and digest > bound:
                    self.at = i
                    return
                if digest <= self.last:
                    raise LedgerError(f"a blob store listed {digest} out of order: nothing was collected")
                self.last = digest
                if digest not in refs:
                    add(digest, size)
                i += 1
            self.at = i


async def sweep(
    referenced: AsyncIterator[list[str]], listings: dict[str, Listing], watch: set[str], *, listed: bool
) -> tuple[int, Found, set[str]]:
    """Merge the stores' listings against ``referenced`` (distinct, all in hash order), a page of
    referenced hashes at a time: the count of referenced hashes, each store's unreferenced blobs,
    and which of ``watch`` are referenced."""
    found = {name: Unreferenced(listed) for name in listings}
    try:
        stores = [_Listed(listing, found[name]) for name, listing in listings.items()]
        count = 0
        seen: set[str] = set()
        async with aclosing(referenced) as pages:  # type: ignore[type-var]  # an async generator
            async for page in pages:
                if not page:
                    continue
                count += len(page)
                refs = set(page)
                if watch:
                    seen.update(watch & refs)
                for store in stores:
                    await store.take(page[-1], refs)
        for store in stores:
            await store.take(None, set())
    except BaseException:
        for each in found.values():
            each.close()
        raise
    return count, found, seen


def deleted(found: Found) -> Iterator[tuple[str, int, bool]]:
    """(hash, size, whether ``ledger_blobs`` has it) of every blob a run deletes, every store together,
    in hash order, each hash once (the larger size where both stores have it)."""
    tagged = [((h, s, name == "database") for h, s in u.items()) for name, u in found.items()]
    held: tuple[str, int, bool] | None = None
    for digest, size, in_db in heapq.merge(*tagged):
        if held is not None and held[0] == digest:
            held = (digest, max(size, held[1]), in_db or held[2])
            continue
        if held is not None:
            yield held
        held = (digest, size, in_db)
    if held is not None:
        yield held
