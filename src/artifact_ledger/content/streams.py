"""Content saved as a stream: a file path, a binary file object or an async iterator of bytes.

Such content never sits whole in memory. It is cut into chunks of :data:`CHUNK_SIZE` bytes
(the last one shorter), each stored as its own blob row under its SHA-256, and the content
itself is a small *manifest* blob (codec ``chunks``) that lists the chunks in order with the
SHA-256 and size of the whole content. The event records the manifest's hash, so the chain
commits to every chunk through it. Cutting at fixed offsets makes the manifest depend on the
bytes only: the same bytes streamed in pieces of any size give the same manifest, so saving
them again appends nothing.

Before the write transaction, :func:`prepare_stream` reads the source once, hashing each chunk
and the whole; an async iterator (or a file object that cannot seek) is copied to a temporary
file on the way. Inside the transaction the chunks are read again from the file (or the spool)
by :meth:`ChunkSource.verified` and each is checked against the hash the first pass recorded
before it is written, so a file that changes in between is refused, never stored half-old
half-new. An iterator that raises part-way leaves nothing written: the transaction has not begun.

Each byte is read from the source twice and hashed three times (its chunk and the whole on the
first pass, its chunk again on the second), never more: a chunk is hashed in the same thread hop
that read it, the whole-content hash of one chunk runs on a second thread while the next chunk
is read and hashed (``hashlib`` releases the GIL on large buffers), and the second pass reads
the next chunk while the caller stores the current one. At most three chunks are in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import io
import os
import re
import stat
import tempfile
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Protocol

from artifact_ledger import codec as _canon
from artifact_ledger.errors import InvalidArtifactDataError

__all__ = [
    "CHUNK_SIZE",
    "ChunkSource",
    "ChunkStager",
    "StreamChangedError",
    "StreamedContent",
    "decode_manifest",
    "is_stream_source",
    "prepare_stream",
]

CHUNK_SIZE: Final = 4 * 1024 * 1024
"""Bytes per chunk of streamed content (each chunk is one blob row)."""

_MANIFEST_FORMAT: Final = "artifact-ledger.chunks/1"
_HEX64: Final = re.compile(r"\A[0-9a-f]{64}\Z")
_EMPTY: Final = hashlib.sha256(b"").hexdigest()


class StreamChangedError(InvalidArtifactDataError):
    """The source of streamed content gave other bytes on the second read than on the first."""


@dataclass(frozen=True, slots=True)
class StreamedContent:
    """Content saved as a stream, as reads return it: its SHA-256 and size, not its bytes.

    Read the bytes with ``manager.open_content(id, version=...)``. Saving an artifact whose
    ``data["content"]`` is this object keeps the same content (nothing is read or copied).
    """

    sha256: str
    """Hex SHA-256 of the whole content."""
    size: int
    """Its length in bytes."""
    chunks: tuple[tuple[str, int], ...]
    """The blob rows holding it, in order: (hex SHA-256, size) of each chunk."""

    def manifest(self) -> bytes:
        """The manifest blob: canonical JSON of the format, the chunks, the SHA-256 and the size.

        Only a manifest that can be true is made (a ``StreamedContent`` a caller built is input):
        hashes of 64 lowercase hex digits, whole positive chunk sizes adding up to the size, and
        what follows from the chunks without reading them (no chunk: the SHA-256 of nothing; one
        chunk: the whole is that chunk). Else :class:`InvalidArtifactDataError` naming the value.
        """
        self._check()
        return _canon.dumps(
            {
                "format": _MANIFEST_FORMAT,
                "chunks": [list(c) for c in self.chunks],
                "sha256": self.sha256,
                "size": self.size,
            }
        )

    def _check(self) -> None:
        def refused(why: str) -> InvalidArtifactDataError:
            return InvalidArtifactDataError(f"streamed content {self.sha256!r:.80} ({self.size!r:.40} bytes): {why}")

        if type(self.sha256) is not str or not _HEX64.match(self.sha256):
            raise refused("its sha256 is not 64 lowercase hex digits")
        if type(self.size) is not int or self.size < 0:
            raise refused("its size is not a whole number of bytes")
        if not isinstance(self.chunks, tuple | list):
            raise refused(f"its chunks are a {type(self.chunks).__name__}, not a sequence of (sha256, size)")
        total = 0
        for index, chunk in enumerate(self.chunks):
            if not isinstance(chunk, tuple | list) or len(chunk) != 2:
                raise refused(f"chunk {index} is {chunk!r:.80}, not (sha256, size)")
            digest, size = chunk
            if type(digest) is not str or not _HEX64.match(digest):
                raise refused(f"chunk {index}'s sha256 {digest!r:.80} is not 64 lowercase hex digits")
            if type(size) is not int or size <= 0:
                raise refused(f"chunk {index}'s size {size!r:.40} is not a positive whole number")
            total += size
        if total != self.size:
            raise refused(f"its chunks add up to {total} bytes, not {self.size}")
        if not self.chunks and self.sha256 != _EMPTY:
            raise refused(f"it has no chunk, so its sha256 is {_EMPTY}")
        if len(self.chunks) == 1 and self.chunks[0][0] != self.sha256:
            raise refused(f"its one chunk is {self.chunks[0][0]}, so that is its sha256")

    def __repr__(self) -> str:
        return f"StreamedContent(sha256={self.sha256!r}, size={self.size}, chunks={len(self.chunks)})"


def decode_manifest(data: bytes) -> StreamedContent:
    """The ``chunks`` codec's decoder: a manifest back to :class:`StreamedContent` (checked for shape)."""
    document = _canon.loads(data)
    if type(document) is not dict or document.get("format") != _MANIFEST_FORMAT:
        raise ValueError(f"not a {_MANIFEST_FORMAT} manifest")
    chunks = document["chunks"]
    digest, size = document["sha256"], document["size"]
    if type(size) is not int or type(digest) is not str or len(digest) != 64 or type(chunks) is not list:
        raise ValueError("a manifest's sha256, size or chunks has the wrong type")
    parsed: list[tuple[str, int]] = []
    for chunk in chunks:
        if type(chunk) is not list or len(chunk) != 2 or type(chunk[0]) is not str or type(chunk[1]) is not int:
            raise ValueError("a manifest chunk is not [sha256, size]")
        parsed.append((chunk[0], chunk[1]))
    if sum(s for _, s in parsed) != size:
        raise ValueError("the chunks' sizes do not add up to the content's size")
    return StreamedContent(digest, size, tuple(parsed))


def is_stream_source(value: object) -> bool:
    """Whether ``value`` is content to stream: a path, a file object, or an async iterable."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return False
    return isinstance(value, os.PathLike) or hasattr(value, "__aiter__") or callable(getattr(value, "read", None))


class ChunkStager(Protocol):
    """A blob store that can write chunks before the write transaction (a blob directory): each
    to a temporary file of its own, flushed to disk, linked under its hash only in the transaction."""

    def stage_chunk(self, digest: str, data: bytes) -> str | None:
        """Write one chunk to a temporary file and fsync it, on the calling thread; its path, or
        None when the store holds that chunk already."""
        ...

    def discard_staged(self, paths: Sequence[str]) -> None:
        """Remove temporary files :meth:`stage_chunk` wrote (those linked into place stay linked)."""
        ...


class ChunkSource:
    """Where the chunks are read again inside the write transaction (a file, or the spool), and
    the chunks a :class:`ChunkStager` wrote already on the first pass (:attr:`staged`)."""

    def __init__(
        self,
        handle: IO[bytes],
        start: int,
        *,
        owned: bool,
        chunk_size: int,
        stager: ChunkStager | None = None,
        staged: Sequence[tuple[str, str]] = (),
        what: str = "the content's file object",
    ) -> None:
        self._handle = handle
        self._what = what
        self._start = start
        self._owned = owned
        self._chunk_size = chunk_size
        self.stager = stager
        """The store that staged chunks on the first pass (None: nothing was staged)."""
        self.staged = tuple(staged)
        """(hex SHA-256, temporary file) of each chunk staged, each chunk once."""

    async def read(self) -> AsyncIterator[bytes]:
        """The content again, one chunk at a time, from where the first pass started."""
        await asyncio.to_thread(self._handle.seek, self._start)
        while True:
            data = await asyncio.to_thread(_read_exactly, self._handle, self._chunk_size, self._what)
            if not data:
                return
            yield data

    async def verified(self, expected: StreamedContent) -> AsyncGenerator[tuple[int, str, bytes], None]:
        """The content again as (index, hex SHA-256, bytes) of each chunk, each checked against ``expected``.

        A chunk is read and hashed in one thread hop, and the next one is read while the caller
        handles the current one. Raises :class:`StreamChangedError` (naming the content and the
        chunk) when the source now gives other bytes, more chunks or fewer than the first pass.
        """
        await asyncio.to_thread(self._handle.seek, self._start)
        count = len(expected.chunks)
        ahead: asyncio.Future[tuple[str, bytes]] | None = asyncio.ensure_future(asyncio.to_thread(self._hashed))
        try:
            index = 0
            while ahead is not None:
                digest, data = await ahead
                ahead = None
                if not data:
                    break
                if index >= count:
                    raise StreamChangedError(
                        f"the content's source grew between the two reads of streamed content {expected.sha256}: "
                        "nothing was saved"
                    )
                if (digest, len(data)) != expected.chunks[index]:
                    raise StreamChangedError(
                        f"the content's source changed between the two reads of streamed content "
                        f"{expected.sha256}: chunk {index} now hashes differently. Nothing was saved"
                    )
                if index + 1 < count or len(data) == self._chunk_size:
                    ahead = asyncio.ensure_future(asyncio.to_thread(self._hashed))
                yield index, digest, data
                index += 1
            if index != count:
                raise StreamChangedError(
                    f"the content's source shrank between the two reads of streamed content {expected.sha256}: "
                    "nothing was saved"
                )
        finally:
            if ahead is not None:  # stopped early: the read in flight finishes before the file may be closed
                await asyncio.wait([ahead])

    def _hashed(self) -> tuple[str, bytes]:
        data = _read_exactly(self._handle, self._chunk_size, self._what)
        return (hashlib.sha256(data).hexdigest() if data else ""), data

    def close(self) -> None:
        """Close the spool (a caller's file object is left open, at an unspecified position), and
        remove the staged chunks' temporary files (a chunk linked into its store stays there)."""
        if self._owned:
            self._handle.close()
        if self.stager is not None and self.staged:
            self.stager.discard_staged([path for _, path in self.staged])
            self.staged = ()


@dataclass(frozen=True, slots=True)
class PreparedStream:
    """A stream read once: what it is (``content``) and where to read it again (``source``)."""

    content: StreamedContent
    source: ChunkSource


def _read_exactly(handle: IO[bytes], size: int, what: str = "the content's file object") -> bytes:
    """Up to ``size`` bytes; fewer only at the end (a raw file may return short reads).

    Whatever the file object does wrong is :class:`InvalidArtifactDataError` naming ``what`` (the
    path, for content given as one), its own exception chained: a read that fails (``OSError``, a
    closed file's ``ValueError``, a ``read`` that takes no size), no data ready (non-blocking), text,
    or more bytes than asked for (the chunks are cut at fixed offsets, so the same bytes always give
    the same content)."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        try:
            data = handle.read(size - got)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidArtifactDataError(
                f"{what} cannot be read after {got} bytes of a chunk: {type(exc).__name__}: {exc}"
            ) from exc
        if data is None:
            raise InvalidArtifactDataError(f"{what} is non-blocking and had no data ready")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidArtifactDataError(
                f"{what} returned {type(data).__name__}, not bytes: open it in binary mode ('rb')"
            )
        try:
            piece = bytes(data)
        except (ValueError, TypeError, BufferError) as exc:
            raise InvalidArtifactDataError(
                f"{what} returned a {type(data).__name__} that cannot be read: {exc}"
            ) from exc
        if len(piece) > size - got:
            raise InvalidArtifactDataError(
                f"{what} returned {len(piece)} bytes when asked for at most {size - got}: its read(size) is broken"
            )
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return parts[0] if len(parts) == 1 else b"".join(parts)


_STAGE_THREADS: Final = 2
"""Threads writing staged chunks: one chunk's fsync waits for the disk while the next is written."""


class _Hasher:
    """The first pass's hashes: each chunk's in the caller's thread, the whole's on a thread of its own.

    The whole-content hash of one chunk runs while the caller hashes (and reads) the next, so
    two cores share the work; :meth:`done` waits for it. Call :meth:`close` in every case.
    """

    def __init__(self, stager: ChunkStager | None = None) -> None:
        self.whole = hashlib.sha256()
        self.chunks: list[tuple[str, int]] = []
        self.size = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._stager = stager
        self._writer: ThreadPoolExecutor | None = None
        self._writing: list[Future[None]] = []
        self.staged: dict[str, str] = {}
        """Chunks the stager wrote: hex SHA-256 → temporary file."""
        self._seen: set[str] = set()

    def add(self, chunk: bytes) -> None:
        if self._pool is None and not self.chunks:  # a single chunk (most content) needs no thread
            self.whole.update(chunk)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="artifact-ledger-hash")
            pending = self._pool.submit(self.whole.update, chunk)
            self._wait()
            self._pending = pending
        digest = hashlib.sha256(chunk).hexdigest()
        self.chunks.append((digest, len(chunk)))
        self.size += len(chunk)
        if self._stager is not None and digest not in self._seen:
            # written and flushed to disk on a third thread while the next chunk is read and hashed
            self._seen.add(digest)
            if self._writer is None:
                self._writer = ThreadPoolExecutor(_STAGE_THREADS, thread_name_prefix="artifact-ledger-stage")
            self._writing.append(self._writer.submit(self._stage, digest, chunk))
            if len(self._writing) >= _STAGE_THREADS:  # at most that many chunks waiting for the disk
                self._writing.pop(0).result()

    def _stage(self, digest: str, chunk: bytes) -> None:
        assert self._stager is not None
        path = self._stager.stage_chunk(digest, chunk)
        if path is not None:
            self.staged[digest] = path

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _wait_write(self) -> None:
        while self._writing:
            self._writing.pop(0).result()

    def done(self) -> StreamedContent:
        self._wait()
        self._wait_write()
        return StreamedContent(self.whole.hexdigest(), self.size, tuple(self.chunks))

    def close(self) -> None:
        """Stop the threads (waiting for what they run). Staged files are the caller's to keep or discard."""
        for pool in (self._pool, self._writer):
            if pool is not None:
                pool.shutdown(wait=True)
        self._pool = self._writer = None


class _Stopped(Exception):
    """The save that read the file was cancelled: its thread stopped at a chunk boundary."""


def _hash_file(
    handle: IO[bytes], chunk_size: int, stager: ChunkStager | None, what: str, stop: threading.Event
) -> tuple[StreamedContent, list[tuple[str, str]]]:
    """The first pass, on a thread. ``stop`` is set when the save is cancelled: the pass stops at
    the next chunk boundary (a read in progress cannot be interrupted) and removes what it staged,
    so the caller's file is not read on behind its back."""
    hasher = _Hasher(stager)
    try:
        while not stop.is_set():
            chunk = _read_exactly(handle, chunk_size, what)
            if not chunk or stop.is_set():
                break
            hasher.add(chunk)
        if stop.is_set():
            raise _Stopped
        content = hasher.done()
    except BaseException:
        hasher.close()
        if stager is not None and hasher.staged:
            stager.discard_staged(list(hasher.staged.values()))
        raise
    hasher.close()
    return content, list(hasher.staged.items())


async def prepare_stream(
    value: Any, *, chunk_size: int | None = None, stager: ChunkStager | None = None
) -> PreparedStream:
    """Read streamed content once (hashing every chunk) and keep a way to read it again.

    ``stager``: the blob store the content will be saved to, when it can take chunks before the
    transaction (a blob directory). A file (a path, or a seekable file object) is then written
    to it on this pass, each chunk to a temporary file flushed to disk while the next one is
    read and hashed, and the transaction only links them into place: the source is read once,
    not twice, and the write lock is not held while gigabytes are copied.

    ``value``: a :class:`os.PathLike` naming a file, a binary file object (read from its current
    position), or an async iterable of bytes-like pieces of any size. Raises
    :class:`InvalidArtifactDataError` for a path that is not a readable file, a text-mode file,
    or an iterator that yields something other than bytes; whatever the iterator raises goes
    through unchanged. Nothing is kept on failure (the spool, if any, is deleted).
    """
    size = CHUNK_SIZE if chunk_size is None else chunk_size
    if isinstance(value, os.PathLike):
        try:
            path = Path(os.fspath(value))
        except TypeError as exc:  # an __fspath__ giving bytes (or anything but text)
            raise InvalidArtifactDataError(f"content path {value!r:.200} is not a path Path() takes: {exc}") from None
        what = f"content file {str(path)!r:.300}"
        try:
            handle: IO[bytes] = await asyncio.to_thread(_open_file, path)
        except OSError as exc:
            raise InvalidArtifactDataError(f"{what} cannot be read: {exc.strerror or exc}") from None
        except ValueError as exc:  # an embedded NUL
            raise InvalidArtifactDataError(f"{what} cannot be read: {exc}") from None
        return await _from_file(handle, size, owned=True, stager=stager, what=what)
    if hasattr(value, "__aiter__"):
        return await _spool(value, size)
    if isinstance(value, io.TextIOBase):
        raise InvalidArtifactDataError("the content's file object is in text mode: open it in binary mode ('rb')")
    if _can_seek(value):
        return await _from_file(value, size, owned=False, stager=stager)
    return await _spool(_file_chunks(value, size), size)


def _can_seek(value: Any) -> bool:
    """Whether a file object can be read twice (``seekable()`` and ``tell()`` answer); a closed one
    is :class:`InvalidArtifactDataError`. One whose ``tell`` fails is read once, through a spool."""
    seekable = getattr(value, "seekable", None)
    try:
        if not (callable(seekable) and seekable()):
            return False
        value.tell()
    except ValueError as exc:  # what io raises for a closed file
        raise InvalidArtifactDataError(f"the content's file object cannot be read: {exc}") from exc
    except OSError:
        return False
    return True


def _open_file(path: Path) -> IO[bytes]:
    """``path`` open for reading, when it is a regular file. Opened without waiting (``O_NONBLOCK``):
    a FIFO, whose ``open`` waits for a writer to appear, is refused at once, as a device is."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(0, "not a regular file")
        if hasattr(os, "O_NONBLOCK"):  # a regular file: back to ordinary reads
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")  # closed by the ChunkSource


async def _from_file(
    handle: IO[bytes],
    chunk_size: int,
    *,
    owned: bool,
    stager: ChunkStager | None = None,
    what: str = "the content's file object",
) -> PreparedStream:
    hashing: asyncio.Future[tuple[StreamedContent, list[tuple[str, str]]]] | None = None
    stop = threading.Event()
    try:
        start = handle.tell()
        hashing = asyncio.get_running_loop().run_in_executor(None, _hash_file, handle, chunk_size, stager, what, stop)
        content, staged = await asyncio.shield(hashing)  # a thread cannot be cancelled: it is stopped
    except BaseException:
        if hashing is not None and not hashing.done():
            # Cancelled while the thread reads: it stops at the next chunk boundary and removes what
            # it staged; the save does not wait for it (a read on a hung mount may never return). A
            # path's file is closed once the thread is done with it, never under it.
            stop.set()
            hashing.add_done_callback(lambda done: _after_cancel(done, stager, handle if owned else None))
        elif owned:
            handle.close()
        raise
    source = ChunkSource(handle, start, owned=owned, chunk_size=chunk_size, stager=stager, staged=staged, what=what)
    return PreparedStream(content, source)


def _after_cancel(
    done: asyncio.Future[tuple[StreamedContent, list[tuple[str, str]]]],
    stager: ChunkStager | None,
    owned: IO[bytes] | None,
) -> None:
    """The first pass of a cancelled save has ended: what it staged if it finished anyway (a failed
    or stopped pass removed its own) is removed, and a path's file closed."""
    if owned is not None:
        owned.close()
    if not done.cancelled() and done.exception() is None and stager is not None:
        stager.discard_staged([path for _, path in done.result()[1]])


async def _file_chunks(handle: Any, chunk_size: int) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(_read_exactly, handle, chunk_size):
        yield chunk


async def _pieces(source: Any) -> AsyncIterator[Any]:
    """What ``source`` yields, checked to be an async iterator as it goes: an ``__aiter__`` that
    returns no async iterator, or an ``__anext__`` that returns no awaitable, is
    :class:`InvalidArtifactDataError` (not the bare TypeError of ``async for``); what the iterator
    raises itself goes through as it is."""
    iterator = source.__aiter__()
    step = getattr(iterator, "__anext__", None)
    if not callable(step):
        raise InvalidArtifactDataError(
            f"the content's __aiter__ returned a {type(iterator).__name__}, not an async iterator"
        )
    while True:
        awaitable = step()
        if not inspect.isawaitable(awaitable):
            raise InvalidArtifactDataError(
                f"the content's __anext__ returned a {type(awaitable).__name__}, not an awaitable: "
                "it is not an async iterator (an async generator, async def __anext__)"
            )
        try:
            piece = await awaitable
        except StopAsyncIteration:
            return
        yield piece


async def _spool(pieces: Any, chunk_size: int) -> PreparedStream:
    spool = tempfile.TemporaryFile()  # noqa: SIM115  # closed by the ChunkSource, or below on failure
    hasher = _Hasher()
    pending = bytearray()
    try:
        async for piece in _pieces(pieces):
            if not isinstance(piece, bytes | bytearray | memoryview):
                raise InvalidArtifactDataError(
                    f"streamed content yielded a {type(piece).__name__} after {hasher.size + len(pending)} "
                    "bytes; an async iterator of content must yield bytes"
                )
            try:
                pending += piece
            except (TypeError, ValueError, BufferError):
                try:  # a view that is not contiguous: its bytes in order
                    pending += bytes(piece)
                except (TypeError, ValueError, BufferError) as exc:
                    raise InvalidArtifactDataError(
                        f"streamed content yielded a {type(piece).__name__} after {hasher.size + len(pending)} "
                        f"bytes that cannot be read as bytes: {exc}"
                    ) from None
            while len(pending) >= chunk_size:
                chunk = bytes(pending[:chunk_size])
                del pending[:chunk_size]
                await asyncio.to_thread(_hash_and_write, hasher, spool, chunk)
        if pending:
            await asyncio.to_thread(_hash_and_write, hasher, spool, bytes(pending))
        await asyncio.to_thread(spool.flush)
        content = await asyncio.to_thread(hasher.done)
    except BaseException:
        spool.close()
        raise
    finally:
        hasher.close()
    return PreparedStream(content, ChunkSource(spool, 0, owned=True, chunk_size=chunk_size))


def _hash_and_write(hasher: _Hasher, spool: IO[bytes], chunk: bytes) -> None:
    hasher.add(chunk)
    spool.write(chunk)
