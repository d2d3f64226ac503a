"""A directory store's files as retention and gc see them: list, size, set aside, remove, put back.

A run that deletes blob files does it under the write lock, before its transaction commits (after
the commit a writer could find a file still there and reuse it). So a file is first *set aside*,
renamed ``.trash.<hash>`` in its own directory, where no reader or writer looks for it; once the
transaction committed it is removed, and if the transaction failed it is put back
(:func:`deleting_files`). Names are hashes, checked before a path is made of them.

A directory another ledger has registered (``.ledger.<id>``, see
:meth:`~artifact_ledger.store.blob_dir.DirectoryBlobs.register`) is shared: a file's name says
nothing of which ledgers need it, so :func:`delete_files` sets nothing aside there and records
what it kept instead (:class:`Trash`), and :func:`deleting_files` leaves the kept blobs out of the
result of a retention run or a redaction, so neither reports as deleted bytes that are still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import stat
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, TypeVar, cast

from .errors import BlobStoreError
from .store.blob_dir import DirectoryBlobs
from .store.blobs import HEX64

__all__ = [
    "TRASH",
    "Temporaries",
    "Trash",
    "blob_files",
    "delete_files",
    "deleting_files",
    "file_sizes",
    "purge_files",
    "restore_files",
    "trash_files",
]

T = TypeVar("T")


def file_sizes(store: DirectoryBlobs, hashes: Sequence[str]) -> dict[str, int]:
    """The size of the file of each of ``hashes`` that has one (a regular file; links are not blobs)."""
    found: dict[str, int] = {}
    for digest in hashes:
        try:
            info = store.path(digest).lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BlobStoreError(
                f"blob {digest} at {store.path(digest)} cannot be read: {exc.strerror or exc}"
            ) from None
        if stat.S_ISREG(info.st_mode):
            found[digest] = info.st_size
    return found


# The names the store's writers give their temporary files (tempfile.mkstemp: a prefix and eight
# characters of [a-z0-9_]): ``.<first 8 hex digits of the hash>.xxxxxxxx`` beside where the blob
# goes, and ``.probe.xxxxxxxx`` at the root (the writability check of opening the store).
_STAGED = re.compile(r"\A\.([0-9a-f]{8})\.[a-z0-9_]{8}\Z")
_PROBE = re.compile(r"\A\.probe\.[a-z0-9_]{8}\Z")


class Temporaries:
    """The temporary files a directory store's writers left behind, found during a walk of it.

    A writer removes its temporary files when it links them or fails; only a process that died in
    between (killed, out of memory, a power cut) leaves one. A streamed save's chunks wait as
    temporary files until its transaction links them, so one that is young may belong to a save
    still running: only files last modified before ``cutoff`` (a POSIX time) are taken. Names are
    matched exactly (the writers' own patterns, in the directory their hash says), so nothing else
    in the directory is ever touched.
    """

    def __init__(self, cutoff: float) -> None:
        self.cutoff = cutoff
        self.found: list[tuple[Path, int]] = []

    def consider(self, entry: os.DirEntry[str], fan_out: str | None) -> None:
        """Take ``entry`` if it is a stale temporary file: a staged one (``fan_out``: the four hex
        digits of its directory) or, at the root (``fan_out`` None), a probe."""
        if fan_out is None:
            if not _PROBE.match(entry.name):
                return
        else:
            match = _STAGED.match(entry.name)
            if match is None or match.group(1)[:4] != fan_out:
                return
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # its writer linked or removed it since the directory was listed
            return
        if stat.S_ISREG(info.st_mode) and info.st_mtime < self.cutoff:
            # A file also linked under its hash (its writer died between the two) frees nothing.
            self.found.append((Path(entry.path), info.st_size if info.st_nlink == 1 else 0))

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.found)

    def remove(self) -> None:
        """Remove what was found (one gone already is no error: its writer finished meanwhile)."""
        for path, _ in self.found:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise BlobStoreError(f"temporary file {path} cannot be removed: {exc.strerror or exc}") from None


def blob_files(root: Path, temporaries: Temporaries | None = None) -> Iterator[tuple[str, int]]:
    """(hash, size) of every blob file in a directory store: regular files named by a hash under
    the two fan-out levels that hash says (temporary and probe files, links and strays elsewhere
    are not blobs and are left alone; stale temporary files go to ``temporaries`` when given). A
    missing or unreadable root is :class:`BlobStoreError`."""
    if not root.is_dir():
        raise BlobStoreError(
            f"blob directory {root} does not exist (or is not a directory): gc found no store to collect in; "
            "open the ledger with the directory its blobs were written to"
        )
    try:
        for first in sorted(os.scandir(root), key=lambda e: e.name):
            if temporaries is not None and first.name[:1] == ".":
                temporaries.consider(first, None)
            if len(first.name) != 2 or not first.is_dir(follow_symlinks=False):
                continue
            for second in sorted(os.scandir(first.path), key=lambda e: e.name):
                if len(second.name) != 2 or not second.is_dir(follow_symlinks=False):
                    continue
                for entry in sorted(os.scandir(second.path), key=lambda e: e.name):
                    name = entry.name
                    if temporaries is not None and name[:1] == ".":
                        temporaries.consider(entry, first.name + second.name)
                        continue
                    if not HEX64.match(name) or name[:2] != first.name or name[2:4] != second.name:
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:  # removed since the listing (a retention run or a redaction
                        continue  # committing): no longer a file to report
                    if stat.S_ISREG(info.st_mode):
                        yield name, info.st_size
    except OSError as exc:
        raise BlobStoreError(f"blob directory {root} cannot be listed: {exc.strerror or exc}") from None


TRASH: Final = ".trash."
"""The prefix of a blob file set aside by a run whose transaction has not committed yet."""


class Trash(list[Path]):
    """The files a run set aside (a list of paths), and the blobs it kept because the directory is
    shared: ``kept`` maps each kept hash to its file's size, ``shared_with`` names the other ledgers
    registered in the directory."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[str, int] = {}
        self.shared_with: list[str] = []

    def keep(self, store: DirectoryBlobs, hashes: Sequence[str], others: Sequence[str]) -> None:
        """Record ``hashes`` (those with a file) as kept, for ``others``."""
        self.kept.update(file_sizes(store, [h for h in hashes if h not in self.kept]))
        self.shared_with = sorted({*self.shared_with, *others})


def delete_files(store: DirectoryBlobs, hashes: Sequence[str], trash: list[Path]) -> None:
    """Set the files of ``hashes`` aside (renamed ``.trash.<hash>`` in their directory, appended to
    ``trash``): gone for every writer and reader, still there to put back if the transaction rolls
    back (:func:`restore_files`); :func:`purge_files` removes them once it committed. A file already
    gone is no error.

    While another ledger is registered in the directory nothing is set aside: the files stay, and
    when ``trash`` is a :class:`Trash` they are recorded in it as kept. The registry is read again
    after the files were set aside: a ledger that registered meanwhile (it registers before it
    writes or reuses any file) gets them back."""
    others = store.other_ledgers()
    if others:
        if isinstance(trash, Trash):
            trash.keep(store, hashes, others)
        return
    mine: list[Path] = []
    try:
        for digest in hashes:
            path = store.path(digest)
            aside = path.with_name(TRASH + digest)
            try:
                os.replace(path, aside)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise BlobStoreError(f"blob {digest} at {path} cannot be deleted: {exc.strerror or exc}") from None
            mine.append(aside)
        others = store.other_ledgers()
    except BaseException:
        trash.extend(mine)  # put back with the rest when the transaction fails
        raise
    if others:
        restore_files(mine)
        if isinstance(trash, Trash):
            trash.keep(store, hashes, others)
        return
    trash.extend(mine)


def trash_files(root: Path) -> list[Path]:
    """The files set aside (``.trash.<hash>``) under a directory store's two fan-out levels."""
    found: list[Path] = []
    with contextlib.suppress(FileNotFoundError):
        for first in os.scandir(root):
            if len(first.name) == 2 and first.is_dir(follow_symlinks=False):
                for second in os.scandir(first.path):
                    if len(second.name) == 2 and second.is_dir(follow_symlinks=False):
                        found.extend(
                            Path(e.path)
                            for e in os.scandir(second.path)
                            if e.name.startswith(TRASH) and HEX64.match(e.name[len(TRASH) :])
                        )
    return found


def purge_files(trash: Sequence[Path]) -> None:
    """Remove the files set aside by a run that committed (one gone already is no error). The
    directories are not fsynced: a removal a crash undoes leaves a file no version references,
    which the next gc removes again."""
    for aside in trash:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)


def restore_files(trash: Sequence[Path]) -> None:
    """Put back the files set aside by a run that rolled back (a file written meanwhile under the
    same name holds the same bytes: names are hashes)."""
    for aside in trash:
        with contextlib.suppress(FileNotFoundError, FileExistsError):
            os.link(aside, aside.with_name(aside.name[len(TRASH) :]))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)


async def deleting_files(write: Callable[[list[Path]], Awaitable[T]], in_transaction: bool) -> T:
    """Run ``write`` (a command that may set files aside into the list it is given) and finish the
    files' fate with the transaction's: removed once it committed, put back if it failed. Inside an
    open transaction (``in_transaction``) the command does not commit: the files stay set aside,
    and the next ``gc`` removes them, or puts back one a committed version references.

    Blobs whose files were kept because the directory is shared (:func:`delete_files`) are left
    out of the result of a retention run (``blobs``, ``bytes_freed``) or a redaction
    (``blobs_deleted``): the result names only what is gone."""
    trash = Trash()
    try:
        result = await write(trash)
    except BaseException:
        if not in_transaction:
            await asyncio.to_thread(restore_files, trash)
        raise
    if not in_transaction:
        await asyncio.to_thread(purge_files, trash)
    return without_kept(result, trash.kept) if trash.kept else result


def without_kept(result: T, kept: dict[str, int]) -> T:
    """``result`` (a retention report or a redaction) without the blobs in ``kept`` (hash -> size):
    their files are still in the directory, so they were not deleted. Any other result as it is."""
    from .redact import Redaction
    from .retention import RetentionReport

    if isinstance(result, RetentionReport):
        gone = [h for h in result.blobs if h not in kept]
        freed = result.bytes_freed - sum(kept[h] for h in dict.fromkeys(result.blobs) if h in kept)
        return cast(T, result.model_copy(update={"blobs": gone, "bytes_freed": max(freed, 0)}))
    if isinstance(result, Redaction):
        return cast(T, result.model_copy(update={"blobs_deleted": [h for h in result.blobs_deleted if h not in kept]}))
    return result
