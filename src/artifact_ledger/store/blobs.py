"""Where blobs live: one small interface, two stores (the database, or a directory).

A blob is bytes named by their SHA-256: the whole encoded content of a version, or a manifest
and the chunks of content saved as a stream. The log commits to the hash, never to a place, so
the bytes can live in the ``ledger_blobs`` table (:class:`DatabaseBlobs`, the default) or in a
content-addressed directory (:class:`~.blob_dir.DirectoryBlobs`, ``Ledger.open(url,
blobs="file:///path")``). Both answer the same four questions:

- :meth:`BlobStore.get`: the verified bytes of some hashes (a missing one is :class:`MissingBlobError`);
- :meth:`BlobStore.open_stream`: one blob a piece at a time;
- :meth:`BlobStore.has`: which of some hashes are stored;
- :meth:`BlobStore.put`: store new blobs (a blob already stored must hold the same bytes).

A recorder carries the store of the engine it runs on (:func:`attach` / :func:`store_of`), so
the write path, the reads, ``verify``, export and import reach the blobs through
``recorder.blobs`` whatever the store. A directory store also reads ``ledger_blobs`` for a
hash it has no file of, so a ledger that kept its blobs in the database before keeps reading.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..errors import MissingBlobError, UntrustedContentError
from .blob_bounds import sized_blob
from .statements import Statement

if TYPE_CHECKING:
    from .recorder import Recorder, Step

__all__ = [
    "DATABASE",
    "HEX64",
    "BlobRow",
    "BlobStore",
    "DatabaseBlobs",
    "attach",
    "check_hash",
    "detach",
    "insert_steps",
    "store_of",
]

HEX64: Final = re.compile(r"\A[0-9a-f]{64}\Z")
"""A blob's name: its SHA-256 as 64 lowercase hex digits (nothing else is ever a file name)."""

PIECE: Final = 1 << 20
"""Bytes per piece :meth:`BlobStore.open_stream` yields."""

BlobRow = tuple[str, int, bytes]
"""One blob to store: (hex SHA-256, size, bytes)."""


def check_hash(digest: object) -> str:
    """``digest`` if it is a blob name; else :class:`UntrustedContentError` (never a path is made of it)."""
    if type(digest) is not str or not HEX64.match(digest):
        raise UntrustedContentError(f"{digest!r} is not a blob hash (64 lowercase hex digits): nothing was read")
    return digest


class BlobStore:
    """The interface both stores implement. Every method runs in the recorder's transaction."""

    external: bool = False
    """Whether the bytes live outside the database (then written before the transaction commits)."""
    location: str = "database"
    """Where the blobs are, for messages: ``database`` or the directory's path."""
    stages_chunks: bool = False
    """Whether the store takes chunks of streamed content before the write transaction
    (:class:`~artifact_ledger.content.streams.ChunkStager`: a blob directory does)."""

    async def get(
        self, rec: Recorder, digests: Iterable[str], sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        """The bytes of each of ``digests``; :class:`MissingBlobError` for one not stored.

        ``sizes``: the size the log lists for some of them. Such a blob stored with another size is
        :class:`CorruptBlobError` naming the hash and the size, having read no more than ``size + 1``
        of its bytes (``store/blob_bounds.py``)."""
        raise NotImplementedError

    async def available(
        self, rec: Recorder, digests: Iterable[str], sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        """:meth:`get` of those of ``digests`` that are stored; the others are left out (a listing
        asks which of them retention deleted, see ``expiry.py``)."""
        raise NotImplementedError

    async def open_stream(self, rec: Recorder, digest: str) -> AsyncIterator[bytes]:
        """One blob's bytes, :data:`PIECE` at a time."""
        data = (await self.get(rec, [digest]))[digest]
        for start in range(0, len(data), PIECE):
            yield data[start : start + PIECE]

    async def has(self, rec: Recorder, digests: Sequence[str]) -> set[str]:
        """Which of ``digests`` are stored (each checked against its hash where the store can)."""
        raise NotImplementedError

    async def put(self, rec: Recorder, rows: Sequence[BlobRow]) -> None:
        """Store blobs not stored yet; one already there under the hash must hold the same bytes."""
        raise NotImplementedError

    async def put_stream(self, rec: Recorder, rows: AsyncIterator[BlobRow]) -> None:
        """:meth:`put` of the rows an async iterator yields (the chunks of streamed content, each
        hashed by the caller as it was read: a store need not hash them again). Returns once all
        are stored; a store may write them as they come and make them durable at the end."""
        async for row in rows:
            await self.put(rec, [row])

    async def read_checked(self, rec: Recorder, digest: str, what: str) -> bytes:
        """One blob's bytes, hashed once and checked against ``digest`` before they are returned.

        :class:`MissingBlobError` when it is not stored, :class:`UntrustedContentError` naming
        ``what`` (``chunk 3 of content …``) when its bytes hash to something else.
        """
        data = (await self.get(rec, [digest]))[digest]
        await asyncio.to_thread(_check_bytes, data, digest, what)
        return data

    async def settle_staged(self, staged: Sequence[tuple[str, str]]) -> None:
        """Link chunks staged before the transaction into place (stores that stage chunks only:
        see :class:`~artifact_ledger.content.streams.ChunkStager`)."""
        raise NotImplementedError

    def read_outside(self, digest: str, size: int | None = None) -> bytes | None:
        """The verified bytes of one blob from where this store keeps blobs outside the database,
        on the calling thread; None when it has none there (always, for the database store).
        ``size``: the size listed for it; a file of another size is refused having read no more
        than ``size + 1`` bytes of it."""
        return None

    async def divert(self, rows: list[BlobRow]) -> list[BlobRow]:
        """Store what this store keeps outside the database now; return the rows left for ``ledger_blobs``.

        The write path sends the rows returned with the events, in one round trip.
        """
        return rows

    async def stored_rows(self, rec: Recorder, digests: Sequence[str]) -> list[tuple[Any, Any, bytes]]:
        """(hash, size, bytes) of the stored ones among ``digests`` as they are, unverified (export
        copies them; the bundle's verifier judges them)."""
        raise NotImplementedError


def _check_bytes(data: bytes, digest: str, what: str) -> None:
    if hashlib.sha256(data).hexdigest() != digest:
        raise UntrustedContentError(f"{what} is corrupted: its bytes do not match their SHA-256")


class DatabaseBlobs(BlobStore):
    """Blobs as rows of ``ledger_blobs``, in the ledger's own transaction (the default)."""

    async def fetch(
        self, rec: Recorder, digests: Sequence[str], sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        """The rows there are among ``digests`` (bytes unverified: the decoder checks them); one with a
        size in ``sizes`` is fetched only when its ``length(data)`` is that size."""
        found: dict[str, bytes] = {}
        if sizes:
            for digest in [d for d in digests if d in sizes]:
                data = await sized_blob(rec, digest, sizes[digest])
                if data is not None:
                    found[digest] = data
            digests = [d for d in digests if d not in sizes]
        for start in range(0, len(digests), 2000):
            rows = await rec.fetch(rec.sql.blob_data_in, rec.id_list(digests[start : start + 2000]))
            found.update((digest, rec.read_bytes(data)) for digest, data in rows)
        return found

    async def available(
        self, rec: Recorder, digests: Iterable[str], sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        return await self.fetch(rec, list(dict.fromkeys(digests)), sizes)

    async def get(
        self, rec: Recorder, digests: Iterable[str], sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        wanted = list(digests)
        found = await self.fetch(rec, wanted, sizes)
        missing = [h for h in wanted if h not in found]
        if missing:
            raise MissingBlobError(
                f"blob {missing[0]} is missing from ledger_blobs ({len(missing)} missing)", blob_hash=missing[0]
            )
        return found

    async def has(self, rec: Recorder, digests: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(digests), 2000):
            stored = await rec.fetch(rec.sql.blob_digests_in, rec.id_list(digests[start : start + 2000]))
            found.update(str(d) for d, _size, hashed in stored if rec.blob_digest(hashed) == d)
        return found

    async def put(self, rec: Recorder, rows: Sequence[BlobRow]) -> None:
        if rows:
            await rec.pipeline(await insert_steps(rec, rows))

    async def put_stream(self, rec: Recorder, rows: AsyncIterator[BlobRow]) -> None:
        """One row per chunk as it comes. On PostgreSQL the chunks are stored with LZ4 as the
        compression TOAST tries (``default_toast_compression``, for this transaction's chunk inserts
        only, where the server has LZ4). With the default, pglz, inserting 4 MiB chunks of
        incompressible bytes ran at ~21 MiB/s here, most of it spent failing to compress them;
        with LZ4 at ~85 MiB/s, as fast as storing them uncompressed. Reads are the same (each
        stored value records its compression)."""
        before: str | None = None
        async for row in rows:
            if before is None:
                before = await _toast_lz4(rec) if rec.sql.dialect == "postgresql" else ""
            await rec.pipeline([_insert_step(rec, [row])])
        if before:  # a failure rolls the transaction back, and the setting with it
            await rec.fetch(_TOAST_BACK, before)

    async def stored_rows(self, rec: Recorder, digests: Sequence[str]) -> list[tuple[Any, Any, bytes]]:
        rows = await rec.fetch(rec.sql.blobs_in, rec.id_list(list(digests)))
        return [(h, size, rec.read_bytes(data)) for h, size, data in rows]


_TOAST_LZ4: Final = Statement(
    "blob_toast_lz4",
    "SELECT setting, set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
    "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)",
    (),
    None,
)
_TOAST_BACK: Final = Statement(
    "blob_toast_back", "SELECT set_config('default_toast_compression', $1, true)", ("setting",), None
)


LARGE_BLOB: Final = 1 << 20
"""From this size on, a blob row inserted on PostgreSQL is stored with LZ4 as TOAST's compression."""


def _insert_step(rec: Recorder, rows: Sequence[BlobRow]) -> Step:
    sql = rec.sql.insert_new_blob
    return (sql, rows[0], False) if len(rows) == 1 else (sql, list(rows), True)


async def insert_steps(rec: Recorder, rows: Sequence[BlobRow]) -> list[Step]:
    """The steps that insert ``rows`` (new blobs) into ``ledger_blobs``, for a pipeline.

    On PostgreSQL, when a row is :data:`LARGE_BLOB` or more, TOAST compresses with LZ4 for
    these inserts and goes back to its setting after them (one round trip first, to set it).
    With pglz, the default, a 27 MB Arrow stream took 1.1 s to insert here: pglz found
    something to compress in the stream's uncompressed header, then spent a second on the
    LZ4-compressed rest before giving up (docs/benchmarks.md, S2). LZ4 gives up on such bytes at
    once and still compresses what compresses; reads are the same (each value records its
    compression)."""
    insert = _insert_step(rec, rows)
    if rec.sql.dialect != "postgresql" or all(size < LARGE_BLOB for _, size, _ in rows):
        return [insert]
    before = await _toast_lz4(rec)
    return [insert, (_TOAST_BACK, (before,), False)] if before else [insert]


async def _toast_lz4(rec: Recorder) -> str:
    """Make TOAST compress with LZ4 for the rest of the transaction; the setting it had (``""``: left
    as it was, the server has no LZ4: PostgreSQL before 14, or built without it)."""
    rows = await rec.fetch(_TOAST_LZ4)
    return str(rows[0][0]) if rows else ""


DATABASE: Final = DatabaseBlobs()
"""The default store: ``ledger_blobs``."""

_ATTACHED: weakref.WeakKeyDictionary[Any, BlobStore] = weakref.WeakKeyDictionary()


def _key(engine: Any) -> Any:
    return getattr(engine, "sync_engine", engine)


def attach(engine: Any, store: BlobStore) -> None:
    """Make the recorders of ``engine`` (an AsyncEngine) use ``store``.

    An engine serves one store at a time: attaching another store to an engine that already
    has a directory store raises :class:`~artifact_ledger.errors.BlobStoreError`.
    """
    from ..errors import BlobStoreError

    current = _ATTACHED.get(_key(engine))
    if current is not None and current is not store and current.location != store.location:
        raise BlobStoreError(
            f"this engine already keeps its blobs in {current.location}; open the ledger with that store "
            f"or on an engine of its own (asked for {store.location})"
        )
    if store is DATABASE:
        return
    _ATTACHED[_key(engine)] = store


def detach(engine: Any, store: BlobStore) -> None:
    """Undo :func:`attach` (an engine passed in by the caller outlives the ledger)."""
    if _ATTACHED.get(_key(engine)) is store:
        del _ATTACHED[_key(engine)]


def store_of(engine: Any) -> BlobStore:
    """The store the recorders of ``engine`` (an AsyncEngine or Engine) use: the database unless attached."""
    return _ATTACHED.get(_key(engine), DATABASE)
