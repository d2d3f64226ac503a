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
Names are checked against 64 lowercase hex digits before a path is made of them. A read opens
the file without following a symbolic link and without waiting on a FIFO, and refuses anything
that is not a regular file (:class:`CorruptBlobError` naming the hash and the path).

Every ledger that uses the directory registers itself there: an empty directory
``.ledgers/<ledger id>`` (:meth:`DirectoryBlobs.register`), made when the ledger is opened on a
directory that holds anything already, else before it first writes or reuses a file there (a
ledger has no file to lose in a directory that was empty when it opened it). A file's name says nothing of which
ledgers need it, so nothing deletes a file from a directory another ledger has registered
(:meth:`DirectoryBlobs.other_ledgers`; see ``blob_files.delete_files`` and ``gc``). The registry
holds no file and is no fan-out directory, so reads, ``verify``, ``gc``'s listing and export pass
it by.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from ..errors import BlobStoreError, CorruptBlobError, MissingBlobError
from .blobs import DATABASE, PIECE, BlobRow, BlobStore, attach, check_hash, detach

if TYPE_CHECKING:
    from .recorder import Recorder

__all__ = [
    "REGISTRY",
    "DirectoryBlobs",
    "attach_blob_store",
    "detach_blob_store",
    "open_blob_store",
    "parse_blob_url",
]

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

REGISTRY: Final = ".ledgers"
"""The registry of a blob directory, at its root: an empty directory ``.ledgers/<ledger id>`` for
each ledger that opened it (see :meth:`DirectoryBlobs.register`)."""

_LEDGER_ID: Final = re.compile(r"\A[0-9A-Za-z_-]{1,64}\Z")
"""What a ledger id must look like to become part of a registry file's name."""


def parse_blob_url(url: str | os.PathLike[str]) -> Path:
    """The directory a ``blobs=`` value names: ``file:///absolute/path`` or an absolute path.

    Refused with :class:`BlobStoreError`: another scheme, a host other than ``localhost``, a
    relative path, a query or fragment, and any ``.`` or ``..`` segment (a path that climbs out
    of where it says it is).
    """
    if isinstance(url, os.PathLike):
        text = os.fspath(url)
        if not isinstance(text, str):  # an __fspath__ giving bytes
            raise BlobStoreError(f"blobs= takes a path of text, not {type(url).__name__} giving {type(text).__name__}")
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
            _probe(root)
    except BlobStoreError:
        raise
    except OSError as exc:
        raise BlobStoreError(f"blob directory {root} cannot be used: {exc.strerror or exc}") from None
    return DirectoryBlobs(root)


def _probe(root: Path) -> None:
    """Write a file in ``root`` and link it under a second name, as every blob is written, then
    remove both: a directory that cannot be written, or a filesystem without hard links (exFAT,
    some FUSE and SMB mounts), fails here naming the path rather than at the first save. Both names
    are probe names (``.probe.xxxxxxxx``), which gc removes should a crash leave one."""
    fd, probe = tempfile.mkstemp(dir=root, prefix=".probe.")
    os.close(fd)
    link = ""
    try:
        fd, link = tempfile.mkstemp(dir=root, prefix=".probe.")
        os.close(fd)
        os.unlink(link)
        try:
            os.link(probe, link)
        except OSError as exc:
            link = ""
            raise BlobStoreError(
                f"blob directory {root} cannot be used: a blob is linked into place with a hard link, which "
                f"its filesystem refused ({exc.strerror or exc}); give blobs= a directory on a filesystem "
                "with hard links"
            ) from None
    finally:
        _unlink_all([p for p in (probe, link) if p])


async def attach_blob_store(engine: Any, url: str | os.PathLike[str] | None, *, create: bool) -> BlobStore:
    """Open the store ``url`` names and make ``engine``'s recorders use it (``Ledger.open(blobs=)``).

    A directory store learns the id of the ledger on ``engine`` (from ``ledger_info``) and registers
    it in the directory (:meth:`DirectoryBlobs.register`): now when the directory holds anything,
    else before the ledger first writes or reuses a file there."""
    store = await asyncio.to_thread(open_blob_store, url, create=create)
    if isinstance(store, DirectoryBlobs):
        from .guards import read_ledger_id

        async with engine.connect() as conn:
            ledger_id = await conn.run_sync(read_ledger_id)
        if ledger_id is not None:
            store.ledger_id = ledger_id
            if await asyncio.to_thread(store.holds_anything):
                await asyncio.to_thread(store.register, ledger_id, required=create)
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

    def __init__(self, root: Path, ledger_id: str | None = None) -> None:
        self.root = root
        self.location = str(root)
        self.ledger_id = ledger_id
        """The id of the ledger using this store (set when the ledger is opened); None when unknown."""
        self.is_registered = False
        """Whether :meth:`register` recorded this store's ledger in the directory."""

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (the name checked first: never a path of anything else)."""
        check_hash(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    # ---- the ledgers that use the directory -----------------------------------------------------
    def registry_path(self, ledger_id: str) -> Path:
        """The registry entry of ledger ``ledger_id``: the directory ``.ledgers/<ledger id>``."""
        if type(ledger_id) is not str or not _LEDGER_ID.match(ledger_id):
            raise BlobStoreError(f"{ledger_id!r:.80} is not a ledger id: it cannot name an entry in {self.root}")
        return self.root / REGISTRY / ledger_id

    def register(self, ledger_id: str, *, required: bool = True) -> None:
        """Record that ledger ``ledger_id`` uses this directory: an empty directory
        ``.ledgers/<ledger id>``, made durable as a blob is (the directory holding it fsynced). One
        there already is kept. ``required=False`` (the ledger was opened with ``create=False``): a
        directory this process cannot write in is left as it is (no blob can be written there
        either); any other failure raises :class:`BlobStoreError` naming the path."""
        path = self.registry_path(ledger_id)
        self.ledger_id = ledger_id
        if path.is_dir():
            self.is_registered = True
            return
        try:
            if not path.parent.is_dir():
                path.parent.mkdir(exist_ok=True)
                _fsync_directory(self.root)
            path.mkdir(exist_ok=True)  # registered meanwhile by another process: the same
            _fsync_directory(path.parent)
            self.is_registered = True
        except OSError as exc:
            if not required and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                return
            raise BlobStoreError(
                f"ledger {ledger_id} cannot register in blob directory {self.root} ({path}): {exc.strerror or exc}"
            ) from None

    def _registering(self) -> None:
        """Register this store's ledger (when known) before it writes or reuses a file, once."""
        if not self.is_registered and self.ledger_id is not None:
            self.register(self.ledger_id)

    def holds_anything(self) -> bool:
        """Whether the directory has any entry (a missing one has none)."""
        try:
            with os.scandir(self.root) as entries:
                return next(entries, None) is not None
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise BlobStoreError(f"blob directory {self.root} cannot be listed: {exc.strerror or exc}") from None

    def registered(self) -> list[str]:
        """The ids of the ledgers registered in the directory (any entry of ``.ledgers`` named like a
        ledger id counts), sorted; none when there is no registry."""
        registry = self.root / REGISTRY
        try:
            names = os.listdir(registry)
        except (FileNotFoundError, NotADirectoryError):  # no registry (or no directory): none registered
            return []
        except OSError as exc:
            raise BlobStoreError(f"the ledger registry {registry} cannot be listed: {exc.strerror or exc}") from None
        return sorted(name for name in names if _LEDGER_ID.match(name))

    def other_ledgers(self) -> list[str]:
        """The ledgers other than this one registered in the directory: while there is one, no file
        may be deleted (a file's name says nothing of which ledgers need it). When this store's own
        ledger is not known, every registered ledger counts as another."""
        return [each for each in self.registered() if each != self.ledger_id]

    def _check_fan_out(self, digest: str) -> Path:
        """The directory blob ``digest`` goes in, its two fan-out levels checked first: one that is a
        symbolic link (or anything but a directory) is :class:`CorruptBlobError` naming the hash and
        the path, so nothing is read from, or written to, wherever it points. A level not there yet
        is no error (a write makes it)."""
        path = self.path(digest)
        for directory in (path.parent.parent, path.parent):
            try:
                mode = os.lstat(directory).st_mode
            except FileNotFoundError:
                break
            except NotADirectoryError:
                raise CorruptBlobError(
                    f"blob {digest} at {path} cannot be reached: a part of its path is not a directory (the blob "
                    f"directory {self.root} or one of its fan-out directories was replaced by a file)"
                ) from None
            except OSError as exc:
                raise BlobStoreError(f"blob {digest} at {path} cannot be reached: {exc.strerror or exc}") from None
            if stat.S_ISLNK(mode):
                raise CorruptBlobError(
                    f"blob {digest}: its fan-out directory {directory} is a symbolic link, not a directory the "
                    "ledger made; nothing is read or written through it (replace the link by the directory)"
                )
            if not stat.S_ISDIR(mode):
                raise CorruptBlobError(
                    f"blob {digest} at {path} cannot be reached: its fan-out directory {directory} is not a directory"
                )
        return path.parent

    # ---- reads ----------------------------------------------------------------------------------
    def _open(self, digest: str) -> int | None:
        """A descriptor open for reading on the regular file of blob ``digest``; None when it has no
        file. A symbolic link is not followed and a FIFO not waited on (``O_NOFOLLOW``,
        ``O_NONBLOCK``): anything but a regular file is :class:`CorruptBlobError` naming the hash and
        the path, a path through something that is not a directory too."""
        path = self.path(digest)
        self._check_fan_out(digest)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CorruptBlobError(
                    f"blob {digest} at {path} is a symbolic link, not a file the ledger wrote"
                ) from None
            if exc.errno == errno.ENOTDIR:
                raise CorruptBlobError(
                    f"blob {digest} at {path} cannot be read: a part of its path is not a directory (the blob "
                    f"directory {self.root} or one of its fan-out directories was replaced by a file)"
                ) from None
            raise BlobStoreError(f"blob {digest} at {path} cannot be read: {exc.strerror or exc}") from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                kind = (
                    "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
                )
                raise CorruptBlobError(f"blob {digest} at {path} is {kind}, not a file the ledger wrote")
            if hasattr(os, "O_NONBLOCK"):  # a regular file: back to ordinary reads
                os.set_blocking(fd, True)
        except OSError as exc:
            os.close(fd)
            raise BlobStoreError(f"blob {digest} at {path} cannot be read: {exc.strerror or exc}") from None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read_unverified(self, digest: str, size: int | None = None) -> bytes | None:
        """The bytes of one blob's regular file as they are (None: no file); see :meth:`_open`. With
        ``size`` (what the log or a manifest lists for it), at most ``size + 1`` bytes are read: a
        longer file, copied or planted there, is never read into memory whole."""
        fd = self._open(digest)
        if fd is None:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                return handle.read() if size is None else handle.read(max(size, 0) + 1)
        except OSError as exc:
            raise BlobStoreError(
                f"blob {digest} at {self.path(digest)} cannot be read: {exc.strerror or exc}"
            ) from None

    def _read(self, digest: str, size: int | None = None) -> bytes | None:
        """The verified bytes of one blob, or None when it has no file. With ``size``, a file that
        holds more or fewer bytes is :class:`CorruptBlobError` naming the hash, the path and the
        size, and no more than ``size + 1`` bytes of it are read."""
        path = self.path(digest)
        data = self._read_unverified(digest, size)
        if data is None:
            return None
        if size is not None and len(data) != size:
            held = f"more than the {size}" if len(data) > size else f"{len(data)} of the {size}"
            raise CorruptBlobError(
                f"blob {digest} at {path} is corrupted: it holds {held} bytes listed for it. The file was "
                "changed or planted; restore it from a backup or a bundle"
            )
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise CorruptBlobError(
                f"blob {digest} at {path} is corrupted: its bytes hash to {actual}. The file was changed or "
                "planted; restore it from a backup or a bundle"
            )
        return data

    def _holds(self, digest: str) -> bool:
        """Whether blob ``digest`` has a file holding its bytes (False: no file), hashed a piece at a
        time: memory stays at one piece whatever the file's size (a file copied or planted there may
        be any size). A file with other bytes is :class:`CorruptBlobError`, as for a read."""
        path = self.path(digest)
        fd = self._open(digest)
        if fd is None:
            return False
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "rb") as handle:
                while piece := handle.read(PIECE):
                    hasher.update(piece)
        except OSError as exc:
            raise BlobStoreError(f"blob {digest} at {path} cannot be read: {exc.strerror or exc}") from None
        actual = hasher.hexdigest()
        if actual != digest:
            raise CorruptBlobError(
                f"blob {digest} at {path} is corrupted: its bytes hash to {actual}. The file was changed or "
                "planted; restore it from a backup or a bundle"
            )
        return True

    def read_outside(self, digest: str, size: int | None = None) -> bytes | None:
        return self._read(digest, size)

    async def available(
        self, rec: Recorder, digests: Iterable[str], sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for digest in dict.fromkeys(digests):
            data = await asyncio.to_thread(self._read, digest, None if sizes is None else sizes.get(digest))
            if data is None:
                missing.append(digest)
            else:
                found[digest] = data
        if missing:
            found.update(await DATABASE.fetch(rec, missing, sizes))  # content saved before the directory was used
        return found

    async def get(
        self, rec: Recorder, digests: Iterable[str], sizes: Mapping[str, int] | None = None
    ) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(digests))
        found = await self.available(rec, wanted, sizes)
        gone = [h for h in wanted if h not in found]
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
        from ``ledger_blobs`` and checked there (one in neither is :class:`MissingBlobError`
        naming the file looked for and the table)."""
        data = await asyncio.to_thread(self._read, digest)
        if data is None:
            return await super().read_checked(rec, digest, what)
        return data

    async def open_stream(self, rec: Recorder, digest: str) -> AsyncIterator[bytes]:
        path = self.path(digest)
        fd = await asyncio.to_thread(self._open, digest)
        if fd is None:
            data = (await self.get(rec, [digest]))[digest]
            for start in range(0, len(data), PIECE):
                yield data[start : start + PIECE]
            return
        with os.fdopen(fd, "rb") as handle:
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
        """The hashes among ``digests`` with a file, each file's bytes checked (a bad one raises). The
        writer reuses the files found, so this store's ledger registers in the directory first."""
        await asyncio.to_thread(self._registering)
        return {d for d in dict.fromkeys(digests) if await asyncio.to_thread(self._holds, d)}

    async def stored_rows(self, rec: Recorder, digests: Sequence[str]) -> list[tuple[Any, Any, bytes]]:
        """The files' bytes as they are (export copies them; the bundle's verifier judges them), read
        as every read is: a symbolic link, a FIFO or a directory at a blob's path is
        :class:`CorruptBlobError` naming the hash and the path, and nothing it points at is read."""
        rows: list[tuple[Any, Any, bytes]] = []
        missing: list[str] = []
        for digest in digests:
            data = await asyncio.to_thread(self._read_unverified, digest)
            if data is None:
                missing.append(digest)
                continue
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
        only with ``sync``); None when a file with the right bytes is there already (it is reused).
        This store's ledger registers in the directory first."""
        path = self.path(digest)
        self._registering()
        if self._holds(digest):
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._check_fan_out(digest)  # made now, or a link planted since the read above
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
                self._check_fan_out(digest)  # never linked through a directory replaced by a link since
                try:
                    os.link(temporary, path)  # atomic, and never replaces a file that is there
                except FileExistsError:  # written meanwhile (another writer, another ledger): check it
                    self._holds(digest)
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
