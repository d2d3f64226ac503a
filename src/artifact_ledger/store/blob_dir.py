"""A content-addressed directory of blobs: ``Ledger.open(url, blobs="file:///path")``.

Each blob is one file named by its SHA-256 under two fan-out levels, ``ab/cd/abcd…``, so no
directory holds more than a few thousand entries. A file is written once: to a temporary
file in its final directory, flushed and fsynced, made read-only (mode 0444), then linked
into place (``os.link`` fails if the name exists, so a file is never rewritten) and the
directory fsynced. A name already taken must hold the right bytes, or the write is refused
with :class:`CorruptBlobError` naming the hash and the path.

Files are written before the transaction whose events reference them commits: a crash or a
rollback in between leaves a file no event references (harmless, since names are hashes, and
the same bytes saved again reuse it), never an event whose bytes are missing. The chunks of a
streamed file go further ahead (:meth:`DirectoryBlobs.stage_chunk`): written and fsynced to
temporary files while the file is read and hashed, before the transaction, which only links
them (:meth:`DirectoryBlobs.settle_staged`). A temporary file changed in that window is linked
as it is and refused by the first read, as any changed file is: the event holds the hash of
the bytes read from the source.

Every read hashes the file's bytes: a changed or planted file is :class:`CorruptBlobError`
naming the hash and the path, a missing one :class:`MissingBlobError`. A hash with no file
is looked up in ``ledger_blobs`` too, for content saved before the ledger used a directory.
Names are checked against 64 lowercase hex digits before a path is made of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..errors import BlobStoreError, CorruptBlobError, MissingBlobError
from .blobs import DATABASE, PIECE, BlobRow, BlobStore, attach, check_hash, detach

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = ["DirectoryBlobs", "attach_blob_store", "detach_blob_store", "open_blob_store", "parse_blob_url"]

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def parse_blob_url(url: str | os.PathLike[str]) -> Path:
    """The directory a ``blobs=`` value names: ``file:///absolute/path`` or an absolute path.

    Refused with :class:`BlobStoreError`: another scheme, a host other than ``localhost``, a
    relative path, a query or fragment, and any ``.`` or ``..`` segment (a path that climbs out
    of where it says it is).
    """
    if isinstance(url, os.PathLike):
        text = os.fspath(url)
        parts = text.split(os.sep)
    else:
        if not isinstance(url, str):
            raise BlobStoreError(f"blobs= takes a file:///absolute/path URL, not {type(url).__name__}")
        split = urlsplit(url)
        if split.scheme != "file":
            raise BlobStoreError(f"blob store {url!r} is not a file:/// URL (the database is the default: omit blobs=)")
        if split.netloc not in ("", "localhost"):
            raise BlobStoreError(
                f"blob store {url!r} names host {split.netloc!r}: only local directories are supported"
            )
        if split.query or split.fragment:
            raise BlobStoreError(f"blob store {url!r} has a query or fragment: give the directory only")
        text = unquote(split.path)
        parts = text.split("/")
    if "\x00" in text or not os.path.isabs(text):
        raise BlobStoreError(f"blob store {str(url)!r} is not an absolute path: use file:///absolute/path")
    if any(p in (".", "..") for p in parts):
        raise BlobStoreError(
            f"blob store {str(url)!r} holds a '.' or '..' segment: give the directory's own absolute path"
        )
    return Path(text)


def open_blob_store(url: str | os.PathLike[str] | None, *, create: bool = True) -> BlobStore:
    """The store ``Ledger.open(blobs=...)`` names: the database for None, else a directory.

    The directory is created (with its parents) when ``create``; otherwise a missing one is
    refused. It must be a directory this process can write in: checked by writing and
    removing a probe file, so a read-only mount or wrong permissions fail here, with the path.
    """
    if url is None or url == "database":
        return DATABASE
    root = parse_blob_url(url)
    try:
        if not root.exists():
            if not create:
                raise BlobStoreError(f"blob directory {root} does not exist (and create=False creates nothing)")
            root.mkdir(parents=True, exist_ok=True)
        if not root.is_dir():
            raise BlobStoreError(f"blob store {root} exists and is not a directory")
        if create:
            fd, probe = tempfile.mkstemp(dir=root, prefix=".probe.")
            os.close(fd)
            os.unlink(probe)
    except BlobStoreError:
        raise
    except OSError as exc:
        raise BlobStoreError(f"blob directory {root} cannot be used: {exc.strerror or exc}") from None
    return DirectoryBlobs(root)


async def attach_blob_store(engine: Any, url: str | os.PathLike[str] | None, *, create: bool) -> BlobStore:
    """Open the store ``url`` names and make ``engine``'s recorders use it (``Ledger.open(blobs=)``)."""
    store = await asyncio.to_thread(open_blob_store, url, create=create)
    attach(engine, store)
    return store


def detach_blob_store(engine: Any, store: BlobStore, *others: Any) -> None:
    """Undo :func:`attach_blob_store` on ``engine`` (and ``others``, e.g. a read replica's engine)."""
    for each in (engine, *others):
        if each is not None:
            detach(each, store)


class DirectoryBlobs(BlobStore):
    """Blobs as files named by their SHA-256 in ``root`` (see the module's docstring)."""

    external = True
    stages_chunks = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (the name checked first: never a path of anything else)."""
        check_hash(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    # ---- reads ----------------------------------------------------------------------------------
    def _read(self, digest: str) -> bytes | None:
        """The verified bytes of one blob, or None when it has no file."""
        path = self.path(digest)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorruptBlobError(
                    f"blob {digest} at {path} is a symbolic link, not a file the ledger wrote"
                ) from None
            raise BlobStoreError(f"blob {digest} at {path} cannot be read: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise CorruptBlobError(f"blob {digest} at {path} is not a regular file")
            data = handle.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise CorruptBlobError(
                f"blob {digest} at {path} is corrupted: its bytes hash to {actual}. The file was changed or "
                "planted; restore it from a backup or a bundle"
            )
        return data

    def read_outside(self, digest: str) -> bytes | None:
        return self._read(digest)

    async def get(self, rec: Recorder, digests: Iterable[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for digest in dict.fromkeys(digests):
            data = await asyncio.to_thread(self._read, digest)
            if data is None:
                missing.append(digest)
            else:
                found[digest] = data
        if missing:
            found.update(await DATABASE.fetch(rec, missing))  # content saved before the directory was used
            gone = [h for h in missing if h not in found]
            if gone:
                raise MissingBlobError(
                    f"blob {gone[0]} is missing: no file {self.path(gone[0])} and no row in ledger_blobs "
                    f"({len(gone)} missing). Restore the file from a backup or a bundle, or open the ledger "
                    "with the blob directory it was written with",
                    blob_hash=gone[0],
                )
        return found

    async def read_checked(self, rec: Recorder, digest: str, what: str) -> bytes:
        """The file's bytes, hashed once in the thread that read them (a changed file is
        :class:`CorruptBlobError` naming the hash and the path); a hash with no file is read
        from ``ledger_blobs`` and checked there."""
        data = await asyncio.to_thread(self._read, digest)
        if data is None:
            return await DATABASE.read_checked(rec, digest, what)
        return data

    async def open_stream(self, rec: Recorder, digest: str) -> AsyncIterator[bytes]:
        path = self.path(digest)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            data = (await self.get(rec, [digest]))[digest]
            for start in range(0, len(data), PIECE):
                yield data[start : start + PIECE]
            return
        with handle:
            first = hashlib.sha256()  # a whole pass first: no unverified byte is handed out
            while piece := await asyncio.to_thread(handle.read, PIECE):
                first.update(piece)
            if first.hexdigest() != digest:
                raise CorruptBlobError(f"blob {digest} at {path} is corrupted: its bytes hash to {first.hexdigest()}")
            await asyncio.to_thread(handle.seek, 0)
            again = hashlib.sha256()
            while piece := await asyncio.to_thread(handle.read, PIECE):
                again.update(piece)
                yield piece
            if again.hexdigest() != digest:
                raise CorruptBlobError(f"blob {digest} at {path} changed while it was read")

    async def has(self, rec: Recorder, digests: Sequence[str]) -> set[str]:
        """The hashes among ``digests`` with a file, each file's bytes checked (a bad one raises)."""
        return {d for d in dict.fromkeys(digests) if await asyncio.to_thread(self._read, d) is not None}

    async def stored_rows(self, rec: Recorder, digests: Sequence[str]) -> list[tuple[Any, Any, bytes]]:
        rows: list[tuple[Any, Any, bytes]] = []
        missing: list[str] = []
        for digest in digests:
            path = self.path(digest)
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except FileNotFoundError:
                missing.append(digest)
                continue
            except OSError as exc:
                raise BlobStoreError(f"blob {digest} at {path} cannot be read: {exc.strerror or exc}") from None
            rows.append((digest, len(data), data))
        if missing:
            rows.extend(await DATABASE.stored_rows(rec, missing))
        return rows

    # ---- writes ---------------------------------------------------------------------------------
    def _write(self, digest: str, data: bytes) -> bool:
        """Write one blob once; False when a file with the right bytes was already there."""
        if hashlib.sha256(data).hexdigest() != digest:  # never store bytes under another name
            raise CorruptBlobError(f"blob {digest}: the bytes to store do not hash to it; nothing was written")
        temporary = self._stage(digest, data)
        if temporary is None:
            return False
        try:
            return self._settle([(digest, temporary)]) == 1
        finally:
            _unlink_all([temporary])

    def _stage(self, digest: str, data: bytes, *, sync: bool = False) -> str | None:
        """Write ``data`` to a temporary file beside where blob ``digest`` goes (not linked; fsynced
        only with ``sync``); None when a file with the right bytes is there already."""
        path = self.path(digest)
        if self._read(digest) is not None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{digest[:8]}.")
        except OSError as exc:
            raise BlobStoreError(
                f"blob {digest} cannot be written in {path.parent}: {exc.strerror or exc}. Nothing was saved"
            ) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            _unlink_all([temporary])
            raise BlobStoreError(
                f"blob {digest} cannot be written at {path}: {exc.strerror or exc}. Nothing was saved"
            ) from None
        return temporary

    def _settle(self, staged: Sequence[tuple[str, str]]) -> int:
        """Make staged blobs durable and visible: fsync each temporary file, make it read-only, link it
        under its hash (never replacing a file that is there: one written meanwhile is checked
        instead), then fsync each directory once. The number of files linked."""
        directories: dict[Path, None] = {}
        linked = 0
        for digest, temporary in staged:
            path = self.path(digest)
            try:
                fd = os.open(temporary, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.chmod(temporary, _READ_ONLY)
                try:
                    os.link(temporary, path)  # atomic, and never replaces a file that is there
                except FileExistsError:  # written meanwhile (another writer, another ledger): check it
                    self._read(digest)
                    continue
            except FileNotFoundError:
                raise BlobStoreError(
                    f"blob {digest}: its staged file {temporary} was removed before the save could link it "
                    "(by gc with a short temporaries_older_than, or by hand). Nothing was saved"
                ) from None
            except OSError as exc:
                raise BlobStoreError(
                    f"blob {digest} cannot be written at {path}: {exc.strerror or exc}. Nothing was saved"
                ) from None
            directories[path.parent] = None
            linked += 1
        try:
            for directory in directories:
                _fsync_directory(directory)
        except OSError as exc:
            raise BlobStoreError(f"blob directory {self.root} cannot be synced: {exc.strerror or exc}") from None
        return linked

    async def put(self, rec: Recorder | None, rows: Sequence[BlobRow]) -> None:
        for digest, _size, data in rows:
            await asyncio.to_thread(self._write, digest, data)

    async def put_stream(self, rec: Recorder | None, rows: AsyncIterator[BlobRow]) -> None:
        """Each chunk is written to a temporary file as it comes (not hashed again: the caller hashed
        it as it read it); once the last is written, all are fsynced, linked into place and their
        directories fsynced. One fsync per file at the end instead of one after each write lets the
        disk take the writes together; a failure part-way links nothing (the temporary files go)."""
        staged: list[tuple[str, str]] = []
        try:
            async for digest, _size, data in rows:
                temporary = await asyncio.to_thread(self._stage, digest, data)
                if temporary is not None:
                    staged.append((digest, temporary))
            await asyncio.to_thread(self._settle, staged)
        finally:
            await asyncio.to_thread(_unlink_all, [t for _, t in staged])

    async def divert(self, rows: list[BlobRow]) -> list[BlobRow]:
        await self.put(None, rows)
        return []

    # ---- chunks staged before the transaction (streams.ChunkStager) ------------------------------
    def stage_chunk(self, digest: str, data: bytes) -> str | None:
        """A chunk of streamed content hashed by the caller as it read it, written to a temporary
        file and fsynced now, before the write transaction; :meth:`settle_staged` links it in the
        transaction. A temporary file is never read as a blob (its name starts with a dot), so a
        save that fails before then leaves nothing a read, ``verify`` or ``gc`` sees."""
        return self._stage(digest, data, sync=True)

    def discard_staged(self, paths: Sequence[str]) -> None:
        _unlink_all(paths)

    async def settle_staged(self, staged: Sequence[tuple[str, str]]) -> None:
        """Link chunks :meth:`stage_chunk` wrote into place (in the write transaction): each under its
        hash unless a file is there already (then that one is checked), then their directories
        fsynced. A temporary file that is gone (removed by hand meanwhile) fails the save."""
        await asyncio.to_thread(self._settle, staged)


def _unlink_all(paths: Sequence[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
