"""What a :class:`~artifact_ledger.content.streams.StreamedContent` a caller built claims, held to the bytes.

Saving a ``StreamedContent`` whose manifest the ledger does not hold yet (one a caller put together
from chunks it holds) reads nothing from a source: the chunks are taken from the store. Each one is
there under its hash (the writer checked that), but the size the manifest lists for it, and the
SHA-256 it states for the whole, are only the caller's word. :func:`check_claims` reads the chunks
in order, one at a time, and refuses the content (:class:`InvalidArtifactDataError` naming the
chunk's index and hash, or the whole's hash) unless each holds the size listed and together they
hash to the SHA-256 stated, so no manifest reaches the log that its chunks do not bear out. A
manifest the ledger holds already was checked when it was made, and is not read again.
"""

from __future__ import annotations

import asyncio
import hashlib

from .content.streams import StreamedContent
from .errors import CorruptBlobError, InvalidArtifactDataError
from .store.blob_dir import DirectoryBlobs
from .store.recorder import Recorder

__all__ = ["check_claims"]


async def check_claims(rec: Recorder, streamed: StreamedContent) -> None:
    """Refuse ``streamed`` unless its chunks, read from ``rec``'s blob store, are what it says."""
    named = f"streamed content {streamed.sha256} ({streamed.size} bytes)"
    whole = hashlib.sha256()
    for index, (digest, size) in enumerate(streamed.chunks):
        data = await _chunk(rec, digest, size, f"chunk {index} of {named}")
        if len(data) != size:
            held = await _held(rec, digest, data, size)
            raise InvalidArtifactDataError(
                f"{named}: chunk {index} ({digest}) holds {held} bytes, not the {size} its manifest lists. "
                "Nothing was saved; save the bytes themselves, or a StreamedContent read back"
            )
        whole.update(data)
    actual = whole.hexdigest()
    if actual != streamed.sha256:
        raise InvalidArtifactDataError(
            f"{named}: its chunks hash to {actual}, not {streamed.sha256}. Nothing was saved; save the bytes "
            "themselves, or a StreamedContent read back"
        )


async def _chunk(rec: Recorder, digest: str, size: int, what: str) -> bytes:
    """The bytes of one chunk; a directory store's file is read no further than ``size`` and a byte."""
    store = rec.blobs
    if isinstance(store, DirectoryBlobs):
        data = await asyncio.to_thread(store._read_unverified, digest, size)
        if data is not None:
            if len(data) == size and hashlib.sha256(data).hexdigest() != digest:
                raise CorruptBlobError(
                    f"blob {digest} at {store.path(digest)} ({what}) changed while it was read: its bytes do not "
                    "hash to its name. Nothing was saved; see `artifact-ledger verify`"
                )
            return data
    # A database row (or, with a directory store, a chunk saved before it was used). Hashed here, not
    # on a thread: on SQLite this runs on the ledger's own thread, where only the connection is awaited.
    data = (await store.get(rec, [digest]))[digest]
    if hashlib.sha256(data).hexdigest() != digest:
        raise CorruptBlobError(f"{what}, blob {digest}, is corrupted: its bytes do not match their SHA-256")
    return data


async def _held(rec: Recorder, digest: str, data: bytes, size: int) -> str:
    """How many bytes chunk ``digest`` holds, where only ``size`` and a byte of it were read."""
    store = rec.blobs
    if len(data) <= size or not isinstance(store, DirectoryBlobs):
        return str(len(data))
    try:
        return str((await asyncio.to_thread(store.path(digest).stat)).st_size)
    except OSError:
        return f"more than {size}"
