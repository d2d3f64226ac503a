"""The blob pass of ``verify``: each blob's bytes against its SHA-256 and size, and every referenced blob present.

Whichever store holds the blobs (``store/blobs.py``), the pass checks what the log references:

- rows of ``ledger_blobs``: every row (a full verify) or those referenced, hashed and sized;
- with a directory store, each referenced hash without a row must have a file whose bytes
  hash to its name (a full verify also hashes every file in the directory, so a planted or
  changed file no event references is reported too);
- content saved as a stream: its manifest is followed, each chunk must be present with the
  size and hash the manifest lists, and the chunks in order must hash to the content's
  SHA-256 and add up to its size. Chunks are read one at a time.

The database rows are read in the run's snapshot, but a directory store's files have none: a
redaction, a retention run or gc that commits while the pass runs deletes files the snapshot still
references. So a file the snapshot needs is looked for in two more places before it is reported
missing: its set-aside copy (``.trash.<hash>``, where a run puts it until its transaction ends,
:mod:`~artifact_ledger.blob_files`), and then the log as committed *now* (``now``, read on a
connection of its own once the pass is done): a blob no live version needs any more
(:func:`artifact_ledger.gc.referenced_hashes`) was erased or expired on purpose meanwhile, which
is no finding. A file deleted by hand, that the log still needs, stays one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from .blob_files import TRASH
from .content.streams import decode_manifest
from .drift import Finding, earliest
from .errors import CorruptBlobError, LedgerError, MissingBlobError
from .integrity import BLOB_CORRUPTED, BLOB_MISSING
from .store.blob_dir import DirectoryBlobs
from .store.blobs import HEX64
from .store.one_writer import connect
from .store.recorder import Recorder, reading

BLOB_PAGE: Final = 64
ROW_BATCH: Final = 500

Needed = Callable[[Collection[str]], Awaitable[set[str]]]
"""Which of some blob hashes the log as committed now still needs (:func:`needed_now`)."""


def set_aside(store: DirectoryBlobs, digest: str) -> bytes | None:
    """The bytes of blob ``digest`` from the copy a deleting run set aside (``.trash.<hash>`` beside
    its path) until its transaction ends, when that copy is a regular file holding them; else None.
    A snapshot taken before that run committed still references the blob: these are its bytes."""
    aside = store.path(digest).with_name(TRASH + digest)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(aside, flags)
    except OSError:  # none (never set aside, or removed once the run committed), or not a file
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = handle.read()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == digest else None


async def needed(rec: Recorder, hashes: Collection[str]) -> set[str]:
    """Those of ``hashes`` a live version of the log behind ``rec`` needs: its content, or a chunk of
    its streamed content (what gc keeps, :func:`artifact_ledger.gc.referenced_hashes`). When that
    cannot be told (a live manifest that cannot be read) every one of them is needed."""
    from .gc import referenced_hashes  # gc imports the write path, which verify does not need

    wanted = set(hashes)
    found: set[str] = set()
    try:
        async with aclosing(referenced_hashes(rec)) as pages:
            async for page in pages:
                found.update(wanted.intersection(page))
    except LedgerError:
        return wanted
    return found


async def needed_now(engine: AsyncEngine, hashes: Collection[str]) -> set[str]:
    """:func:`needed`, on a connection and snapshot of its own: the log as committed now."""
    async with connect(engine) as conn, reading(conn) as rec:
        return await needed(rec, hashes)


class BlobCheck:
    """The blobs of one ``verify`` run; ``checked`` counts the blobs read so far.

    ``refs``: blob hash -> (the first checked position that references it, the size it
    recorded), as the chain pass collects them; ``manifests``: those that are chunk manifests.
    """

    def __init__(
        self,
        driver: Recorder,
        refs: dict[str, tuple[int, int]],
        manifests: set[str] | None = None,
        *,
        now: Needed | None = None,
        subjects: dict[int, tuple[object, object]] | None = None,
    ) -> None:
        self.driver = driver
        self.refs = refs
        self.subjects = subjects if subjects is not None else {}
        """(artifact id, version) of the event at a position of ``refs`` (the chain pass's)."""
        self.manifests = manifests if manifests is not None else set()
        self.now = now
        """Asks the log as committed now which missing blob files it still needs (None: nothing can
        commit during the run, as on in-memory SQLite, so every missing file is a finding)."""
        self.checked = 0
        self.hashed: set[str] = set()
        """Blobs whose bytes this run already hashed (a full verify's walk of a directory skips them)."""

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
        store = self.driver.blobs
        for blob_hash, (position, recorded) in self.refs.items():
            if blob_hash in seen:
                continue
            if isinstance(store, DirectoryBlobs) and HEX64.match(blob_hash):
                found = await asyncio.to_thread(self._file, store, blob_hash, position, recorded)
                if found is not False:
                    seen.add(blob_hash)
                    if found is not None:
                        findings.append(found)
                    continue
            where = f"{store.location} or ledger_blobs" if store.external else "ledger_blobs"
            findings.append(
                Finding(
                    position,
                    BLOB_MISSING,
                    f"blob {blob_hash}, the content of event {position}, is missing from {where}",
                    blob_hash=blob_hash,
                )
            )
        for manifest in sorted(self.manifests & seen, key=lambda h: self.refs[h][0]):
            problem = await self._chunks(manifest)
            if problem is not None:
                findings.append(problem)
        if every and isinstance(store, DirectoryBlobs):
            findings.extend(await asyncio.to_thread(self._every_file, store))
        if isinstance(store, DirectoryBlobs) and self.now is not None:
            findings = await self._still_missing(store, self.now, findings)
        return earliest(findings)

    async def _still_missing(self, store: DirectoryBlobs, now: Needed, findings: list[Finding]) -> list[Finding]:
        """``findings`` without the missing blob files the log as committed now no longer needs
        (erased or expired by a run that committed during this one), nor those back in place (a
        run that set them aside rolled back: their bytes are checked again)."""
        missing = {
            f.blob_hash for f in findings if f.reason == BLOB_MISSING and f.blob_hash and HEX64.match(f.blob_hash)
        }
        if not missing:
            return findings
        still = await now(missing)
        kept: list[Finding] = []
        for finding in findings:
            digest = finding.blob_hash
            if finding.reason != BLOB_MISSING or digest not in missing:
                kept.append(finding)
            elif digest in still:
                try:
                    back = await asyncio.to_thread(self._present, store, digest)
                except LedgerError as exc:  # back, but changed or not readable
                    kept.append(Finding(finding.position, BLOB_CORRUPTED, str(exc), blob_hash=digest))
                    continue
                if not back:
                    kept.append(finding)
        return kept

    @staticmethod
    def _present(store: DirectoryBlobs, digest: str) -> bool:
        """Whether blob ``digest``'s file is there after all, set aside or (looked at second: a run
        that rolls back links it back before it removes the copy) in its place."""
        return set_aside(store, digest) is not None or store._holds(digest)

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

    def _file(
        self, store: DirectoryBlobs, digest: str, position: int, recorded: int | None
    ) -> Finding | Literal[False] | None:
        """A referenced blob's file: a finding, None when it is right, False when there is no file."""
        try:
            data = store._read(digest, recorded)  # no more than the size recorded (and a byte) is read
        except CorruptBlobError as exc:
            self.checked += 1
            return Finding(position, BLOB_CORRUPTED, f"{exc} (the content of event {position})", blob_hash=digest)
        except LedgerError as exc:  # a file that cannot be read (no permission, a socket, an I/O error)
            self.checked += 1
            artifact, of = self._subject(position)
            return Finding(position, BLOB_CORRUPTED, f"{exc} ({of})", artifact_id=artifact, blob_hash=digest)
        if data is None:
            data = set_aside(store, digest)  # a run deleting it has not committed: the snapshot needs it
        if data is None:
            return False
        self.checked += 1
        self.hashed.add(digest)
        if recorded is not None and recorded != len(data):
            return Finding(
                position,
                BLOB_CORRUPTED,
                f"blob {digest} at {store.path(digest)} holds {len(data)} bytes "
                f"but event {position} recorded {recorded}",
                blob_hash=digest,
            )
        return None

    async def _chunks(self, manifest: str) -> Finding | None:
        """Follow one chunk manifest: every chunk present and right, the whole content's hash and size."""
        position = self.refs[manifest][0]
        artifact, subject = self._subject(position)
        of = f"content {manifest} of event {position}"
        try:
            streamed = decode_manifest(await self._blob(manifest, self.refs[manifest][1]))
        except MissingBlobError as exc:  # its file was there in the pass before: deleted since
            return Finding(position, BLOB_MISSING, f"the chunk manifest of {of}: {exc}", blob_hash=manifest)
        except (ValueError, TypeError, KeyError, LedgerError) as exc:
            return Finding(
                position, BLOB_CORRUPTED, f"the chunk manifest of {of} is unreadable: {exc}", blob_hash=manifest
            )
        whole, total = hashlib.sha256(), 0
        for index, (digest, size) in enumerate(streamed.chunks):
            try:
                data = await self._blob(digest, size)
            except LedgerError as exc:  # missing, corrupted, or a file that cannot be read
                reason = BLOB_MISSING if isinstance(exc, MissingBlobError) else BLOB_CORRUPTED
                return Finding(
                    position,
                    reason,
                    f"chunk {index} ({digest}) of {of} ({subject}): {exc}",
                    artifact_id=artifact,
                    blob_hash=digest,
                )
            self.checked += 1
            self.hashed.add(digest)
            if hashlib.sha256(data).hexdigest() != digest or len(data) != size:
                return Finding(
                    position,
                    BLOB_CORRUPTED,
                    f"chunk {index} ({digest}) of {of} is corrupted: it holds {len(data)} bytes that do not match "
                    f"the manifest's SHA-256 and size ({size})",
                    blob_hash=digest,
                )
            whole.update(data)
            total += len(data)
        if whole.hexdigest() != streamed.sha256 or total != streamed.size:
            return Finding(
                position,
                BLOB_CORRUPTED,
                f"the chunks of {of} hash to {whole.hexdigest()} ({total} bytes), not the manifest's "
                f"{streamed.sha256} ({streamed.size} bytes)",
                blob_hash=manifest,
            )
        return None

    def _subject(self, position: int) -> tuple[str | None, str]:
        """The artifact id of the event at ``position`` and words naming it, its version and the event."""
        subject = self.subjects.get(position)
        if subject is None:
            return None, f"the content of event {position}"
        artifact, version = (
            bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | bytearray | memoryview) else str(v)
            for v in subject
        )
        return artifact, f"the content of artifact {artifact} version {version}, event {position}"

    async def _blob(self, digest: str, size: int | None = None) -> bytes:
        """One blob's bytes from the store or, with a directory store, its set-aside copy. A file is
        read no further than ``size`` (what the log or the manifest lists) and a byte: a larger one,
        copied or planted there, is :class:`CorruptBlobError` without being read whole."""
        store = self.driver.blobs
        if isinstance(store, DirectoryBlobs) and HEX64.match(digest):
            data = await asyncio.to_thread(store._read, digest, size)
            if data is not None:
                return data
        try:
            return (await self.driver.blobs.get(self.driver, [digest]))[digest]
        except MissingBlobError:
            store = self.driver.blobs
            if isinstance(store, DirectoryBlobs):
                data = await asyncio.to_thread(set_aside, store, digest)
                if data is not None:
                    return data
            raise

    def _every_file(self, store: DirectoryBlobs) -> list[Finding]:
        """Every file of the directory store hashed against its name (a full verify)."""
        findings: list[Finding] = []
        root = Path(store.root)
        for folder, dirs, names in os.walk(root):
            for name in sorted(dirs):  # os.walk does not follow a link: one a read would is reported here
                if os.path.islink(os.path.join(folder, name)):
                    findings.append(
                        Finding(
                            None,
                            BLOB_CORRUPTED,
                            f"{Path(folder) / name} in the blob directory is a symbolic link, not a directory the "
                            "ledger made",
                        )
                    )
            for name in sorted(names):
                if name.startswith("."):  # a write in progress, or one a crash cut short (never read)
                    continue
                path = Path(folder) / name
                if not HEX64.match(name) or path != store.path(name):
                    findings.append(
                        Finding(None, BLOB_CORRUPTED, f"{path} in the blob directory is not named by a blob hash")
                    )
                    continue
                if name in self.hashed:
                    continue
                try:
                    store._holds(name)  # a piece at a time: a file of any size was copied or planted there
                    self.checked += 1
                except (CorruptBlobError, LedgerError) as exc:
                    findings.append(Finding(None, BLOB_CORRUPTED, str(exc), blob_hash=name))
        return findings
