"""Integrity checks of a ledger database: the hash chain, checkpoints, blobs and projections.

``Ledger.verify`` and ``Ledger.head`` delegate here. Everything runs on one connection in
one read-only snapshot (``scan.reading``), so a writer committing meanwhile can never make
a consistent ledger look broken. Events are streamed in pages on the driver connection and
hashed in a tight loop (no pydantic, no per-row SQLAlchemy). The checks, in order, each
stopping at its first problem:

1. the chain: positions dense from the start, every ``prev_hash`` the previous ``hash``,
   every ``hash`` recomputed from the stored fields (``chain.py`` defines the bytes);
2. the projections' checkpoints against the head (events removed or added at the end);
3. the blobs: their bytes against their hash and size; every referenced blob present;
4. the projections (``drift.py``): every stream folded and compared with its row; levels
   and closure against the parent links.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import codec
from .chain import canonical_envelope, event_hash, format_time, stored_time_text
from .drift import DriftCheck, Finding, earliest
from .store.errors import translated
from .store.recorder import Recorder, reading
from .store.tables import PROJECTORS

MODIFIED: Final = "modified"
DELETED: Final = "deleted"
REORDERED: Final = "reordered"
INSERTED: Final = "inserted"
BLOB_CORRUPTED: Final = "blob_corrupted"
BLOB_MISSING: Final = "blob_missing"
PROJECTION_DRIFT: Final = "projection_drift"
REASONS: Final = (MODIFIED, DELETED, REORDERED, INSERTED, BLOB_CORRUPTED, BLOB_MISSING, PROJECTION_DRIFT)
"""Every value ``VerifyReport.reason`` can take when the ledger fails verification."""

GENESIS_HEX: Final = codec.GENESIS_HASH.hex()
EVENT_PAGE: Final = 5000
BLOB_PAGE: Final = 64
ROW_BATCH: Final = 500
REANCHOR_WINDOW: Final = 1024
"""How far ahead to look for the position a renumbered event was sealed at."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


class HeadDigest(NamedTuple):
    """The head of the log: its last position and that event's hash (lowercase hex).

    ``str(head)`` is ``"<position>:<hash>"``, and :meth:`parse` reads it back: record it
    somewhere the database's writers cannot change, and pass it to ``verify`` later.
    """

    position: int
    hash: str

    def __str__(self) -> str:
        return f"{self.position}:{self.hash}"

    @classmethod
    def parse(cls, value: HeadDigest | tuple[int, str | bytes] | str) -> HeadDigest:
        """A digest from ``"position:hash"``, a ``(position, hash)`` pair (hash as hex or 32 bytes) or a digest.

        Raises :class:`ValueError` naming what is wrong.
        """
        if isinstance(value, str):
            position_text, sep, hash_text = value.strip().partition(":")
            if not sep or not position_text.isdigit():
                raise ValueError(f"not a head digest: {value!r} (expected POSITION:HASH, e.g. 42:9f86d0…)")
            value = (int(position_text), hash_text)
        if not isinstance(value, tuple) or len(value) != 2:
            raise ValueError(f"not a head digest: {value!r} (expected a (position, hash) pair)")
        position, digest = value
        if isinstance(digest, bytes | bytearray):
            digest = bytes(digest).hex()
        if type(position) is not int or position < 0:
            raise ValueError(f"a head digest's position must be an integer >= 0, not {position!r}")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
            raise ValueError(f"a head digest's hash must be 64 hex digits (SHA-256), not {digest!r}")
        digest = digest.lower()
        if position == 0 and digest != GENESIS_HEX:
            raise ValueError("the head digest of an empty log (position 0) has the genesis hash, 64 zeros")
        return cls(position, digest)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found: OK, or the first broken position and why.

    ``reason`` is one of :data:`REASONS` (None when OK); ``problem`` says it in words.
    ``head_position``/``head_hash`` are the last event verified: the whole log when OK, the
    intact prefix otherwise. ``broken_position`` is None for a problem that belongs to no
    event (a stray blob, a projection row of no stream).
    """

    events_checked: int
    ok: bool
    broken_position: int | None = None
    problem: str | None = None
    head_position: int = 0
    head_hash: str = GENESIS_HEX
    reason: str | None = None
    blobs_checked: int = 0
    artifacts_checked: int = 0
    from_position: int = 0
    """0 for a full check; the trusted checkpoint's position for an incremental one."""
    artifact_id: str | None = None
    blob_hash: str | None = None

    @property
    def head(self) -> HeadDigest:
        return HeadDigest(self.head_position, self.head_hash)


# ---- the head ----------------------------------------------------------------------------------


async def read_head(driver: Recorder) -> HeadDigest:
    """The last event's position and hash, read through ``driver``."""
    rows = await driver.fetch(driver.sql.head_digest)
    if not rows:
        return HeadDigest(0, GENESIS_HEX)
    return HeadDigest(int(rows[0][0]), bytes(rows[0][1]).hex())


async def head(engine: AsyncEngine) -> HeadDigest:
    """The position and hash of the last event (``(0, 64 zeros)`` for an empty log)."""
    with translated():
        async with engine.connect() as conn, reading(conn) as driver:
            return await read_head(driver)


# ---- one event row -----------------------------------------------------------------------------


def _sqlite_envelope(row: Sequence[Any], position: Any) -> tuple[bytes, Any]:
    """Envelope and payload bytes of a SQLite event row (text columns as stored bytes), as sealed at ``position``."""
    _, event_id, artifact_id, version, type_, schema_version, payload, recorded_at, actor, reason, cor, cau = row[:12]
    # This runs once per event: bytes (the stored text) -> str; NULL and numbers as they are. The time is
    # derived from its stored text. Invalid UTF-8 raises UnicodeDecodeError, a ValueError: the row cannot match.
    return (
        canonical_envelope(
            position,
            event_id.decode() if type(event_id) is bytes else event_id,
            artifact_id.decode() if type(artifact_id) is bytes else artifact_id,
            version,
            type_.decode() if type(type_) is bytes else type_,
            schema_version,
            stored_time_text(recorded_at.decode() if type(recorded_at) is bytes else recorded_at),
            actor.decode() if type(actor) is bytes else actor,
            reason.decode() if type(reason) is bytes else reason,
            cor.decode() if type(cor) is bytes else cor,
            cau.decode() if type(cau) is bytes else cau,
        ),
        payload,
    )


def _pg_envelope(row: Sequence[Any], position: Any) -> tuple[bytes, Any]:
    """Envelope and payload bytes of a PostgreSQL event row, as sealed at ``position``."""
    return (
        canonical_envelope(
            position, row[1], row[2], row[3], row[4], row[5], format_time(row[7]), row[8], row[9], row[10], row[11]
        ),
        row[6].encode(),
    )


Envelope = Callable[[Sequence[Any], Any], tuple[bytes, Any]]


def _self_consistent(envelope: Envelope, row: Sequence[Any], position: Any) -> bool:
    """Whether the row's hash matches its own fields and its own ``prev_hash``, sealed at ``position``."""
    try:
        env, payload = envelope(row, position)
        prev, digest = row[12], row[13]
        if type(prev) is not bytes or type(payload) is not bytes:
            return False
        return bool(event_hash(prev, env, payload) == digest)
    except (TypeError, ValueError):  # a DBA's wrong types or invalid UTF-8: it cannot match
        return False


_ROW_TEXT = (
    (1, "event_id"),
    (2, "artifact_id"),
    (4, "type"),
    (6, "payload"),
    (7, "recorded_at"),
    (8, "actor"),
    (9, "reason"),
    (10, "correlation_id"),
    (11, "causation_id"),
)


def _unhashable(envelope: Envelope, row: Sequence[Any], position: Any) -> str:
    """Why no hash can cover the row's fields as stored, as a parenthesised clause ("" if one can)."""
    for index, name in _ROW_TEXT:
        value = row[index]
        if type(value) is bytes:
            try:
                value.decode()
            except UnicodeDecodeError:
                return f" (its {name} is not UTF-8 text)"
    try:
        envelope(row, position)
    except (TypeError, ValueError) as exc:
        return f" ({exc})"
    return ""


_CONTENT = b'"content":{'


def _content_ref(payload: bytes) -> tuple[str, int] | None:
    """(hash, size) of the blob a payload references, if it references one."""
    try:
        content = codec.loads(payload).get("content")
        blob_hash, size = content["hash"], content["size"]
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    return (blob_hash, size) if type(blob_hash) is str and type(size) is int else None


class _Broken(Exception):
    """Internal: the fast path met a row that does not chain."""


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


def _is_are(first: int, last: int) -> str:
    return "is" if first == last else "are"


def _rewritten(position: int, what: str) -> str:
    return (
        f"event {position} no longer has the {what}'s hash: the log up to position {position} was rewritten "
        "and its chain recomputed"
    )


# ---- the verifier ------------------------------------------------------------------------------


class _Verifier:
    def __init__(
        self,
        driver: Recorder,
        *,
        since: HeadDigest | None,
        trusted_head: HeadDigest | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.driver = driver
        self.since = since
        self.trusted = trusted_head
        self.progress = progress
        self.envelope: Envelope = _sqlite_envelope if driver.name == "sqlite" else _pg_envelope
        self.start = since.position if since is not None else 0
        self.events_checked = 0
        self.blobs_checked = 0
        self.artifacts_checked = 0
        self.head = HeadDigest(0, GENESIS_HEX)
        self.refs: dict[str, tuple[int, int]] = {}
        """blob hash -> (the first checked position that references it, the size it recorded)."""
        self.marks: dict[str, Any] = {}
        self.start_prev = codec.GENESIS_HASH

    def report(self, found: Finding | None) -> VerifyReport:
        common: dict[str, Any] = {
            "events_checked": self.events_checked,
            "head_position": self.head.position,
            "head_hash": self.head.hash,
            "blobs_checked": self.blobs_checked,
            "artifacts_checked": self.artifacts_checked,
            "from_position": self.start,
        }
        if found is None:
            return VerifyReport(ok=True, **common)
        return VerifyReport(
            ok=False,
            broken_position=found.position,
            problem=found.problem,
            reason=found.reason,
            artifact_id=found.artifact_id,
            blob_hash=found.blob_hash,
            **common,
        )

    def _advance(self, position: int, digest: bytes) -> None:
        self.events_checked = position - self.start
        self.head = HeadDigest(position, digest.hex())

    # -- 1. the chain --------------------------------------------------------------------------
    async def chain(self) -> Finding | None:
        prev = codec.GENESIS_HASH
        if self.since is not None and self.since.position > 0:
            found = await self._anchor(self.since, "checkpoint")
            if found is not None:
                return found
            prev = bytes.fromhex(self.since.hash)
        self.start_prev = prev
        self._advance(self.start, prev)
        trusted_at, trusted_hash = -1, ""
        if self.trusted is not None and 0 < self.trusted.position <= self.start:
            found = await self._anchor(self.trusted, "trusted head")
            if found is not None:
                return found
        elif self.trusted is not None:
            trusted_at, trusted_hash = self.trusted.position, self.trusted.hash
        envelope, refs, sha256 = self.envelope, self.refs, hashlib.sha256
        expected = self.start + 1
        async with aclosing(self.driver.pages(self.driver.verify_events, (self.start,), EVENT_PAGE)) as paged:
            async for page in paged:
                for row in page:
                    try:
                        if row[0] != expected or row[12] != prev:
                            raise _Broken
                        env, payload = envelope(row, expected)
                        digest = sha256(prev + env + b"\n" + payload).digest()
                        if digest != row[13]:
                            raise _Broken
                    except (_Broken, TypeError, ValueError):
                        self._advance(expected - 1, prev)
                        return await self._diagnose(row, expected, prev)
                    if _CONTENT in payload:
                        ref = _content_ref(payload)
                        if ref is not None and ref[0] not in refs:
                            refs[ref[0]] = (expected, ref[1])
                    if expected == trusted_at and digest.hex() != trusted_hash:
                        self._advance(expected - 1, prev)
                        return Finding(expected, MODIFIED, _rewritten(expected, "trusted head"))
                    prev = digest
                    expected += 1
                self._advance(expected - 1, prev)
                if self.progress is not None:
                    self.progress(self.events_checked)
        if self.trusted is not None and self.trusted.position > self.head.position:
            last = self.head.position
            return Finding(
                last + 1,
                DELETED,
                f"the log ends at position {last}, before the trusted head at position {self.trusted.position}: "
                f"events {_span(last + 1, self.trusted.position)} were deleted",
            )
        return None

    async def _anchor(self, anchor: HeadDigest, what: str) -> Finding | None:
        rows = await self.driver.fetch(self.driver.sql.hash_at, anchor.position)
        if not rows:
            return Finding(anchor.position, DELETED, f"the {what}'s event at position {anchor.position} is missing")
        stored = rows[0][0]
        if type(stored) is not bytes or stored.hex() != anchor.hash:
            return Finding(anchor.position, MODIFIED, _rewritten(anchor.position, what))
        return None

    async def _position_where(self, column: str, value: bytes) -> int | None:
        rows = await self.driver.fetch(getattr(self.driver.sql, f"first_with_{column}"), value)
        found = rows[0][0] if rows else None
        return found if type(found) is int else None

    async def _diagnose(self, row: Sequence[Any], p: int, prev: bytes) -> Finding:
        """Why the row read where position ``p`` was expected breaks the chain (``prev``: the hash at ``p - 1``)."""
        position = row[0]
        if type(position) is int and position > p:
            successor = await self._position_where("prev_hash", prev)
            if successor is not None:
                return Finding(
                    p,
                    REORDERED,
                    f"position {p} is missing: the event that follows position {p - 1} is stored at "
                    f"position {successor}",
                )
            return Finding(p, DELETED, f"position {_span(p, position - 1)} {_is_are(p, position - 1)} missing")
        if type(position) is not int or position < p:
            return Finding(p, INSERTED, f"a row is stored at position {position!r}, outside the log's positions")
        stored_prev = row[12]
        if stored_prev == prev:
            why = _unhashable(self.envelope, row, p)
            return Finding(p, MODIFIED, f"event {p} was modified: its fields no longer match its hash{why}")
        before = await self._position_where("hash", stored_prev) if type(stored_prev) is bytes else None
        if before is None and stored_prev == self.start_prev:
            before = self.start  # it chains to the genesis hash (or to the checkpoint)
        if before is not None and before >= p:
            return Finding(
                p, REORDERED, f"event {p} is out of order: it chains to the event stored at position {before}"
            )
        if before is not None and before < p - 1:
            if not _self_consistent(self.envelope, row, before + 1):
                return Finding(
                    p,
                    INSERTED,
                    f"event {p} chains to position {before}, not {p - 1}: a replayed or forged event",
                )
            self._advance(before, stored_prev)  # a genuine event pushed down: the rows above it were inserted
            return Finding(
                before + 1,
                INSERTED,
                f"event {_span(before + 1, p - 1)} {_is_are(before + 1, p - 1)} not part of the chain: "
                f"the event sealed at position {before + 1} is stored at position {p}",
            )
        if _self_consistent(self.envelope, row, p):
            return Finding(
                p,
                INSERTED,
                f"event {p} is not part of the chain: it links to a hash no event in the log has "
                "(a forged or inserted event)",
            )
        for sealed_at in range(p + 1, p + REANCHOR_WINDOW + 1):
            if _self_consistent(self.envelope, row, sealed_at):
                return Finding(
                    p,
                    DELETED,
                    f"event {p} was sealed at position {sealed_at}: position {_span(p, sealed_at - 1)} of the log "
                    f"{_is_are(p, sealed_at - 1)} deleted and later events renumbered",
                )
        return Finding(p, MODIFIED, f"event {p} was modified: its prev_hash and hash no longer match the chain")

    # -- 2. checkpoints and stray rows ----------------------------------------------------------
    async def read_marks(self) -> None:
        """The projections' checkpoints: they advance in the append's transaction, so they equal the head."""
        rows = await self.driver.fetch(self.driver.sql.checkpoint_rows)
        self.marks = {name: mark for name, mark in rows if name in PROJECTORS}

    def beyond_marks(self, found: Finding) -> Finding:
        """A row that breaks the chain after the checkpoints was not appended by artifact-ledger."""
        marks = [m for m in self.marks.values() if type(m) is int]
        if found.reason != MODIFIED or found.position is None or not marks or found.position <= min(marks):
            return found
        return Finding(
            found.position,
            INSERTED,
            f"{found.problem}; it lies beyond the projections' checkpoint "
            f"at position {min(marks)}, so artifact-ledger did not append it",
        )

    async def read_marks_and_chain(self) -> Finding | None:
        await self.read_marks()
        found = await self.chain()
        return self.beyond_marks(found) if found is not None else None

    async def checkpoints(self, *, full: bool) -> Finding | None:
        last = self.head.position
        if full:
            count = (await self.driver.fetch(self.driver.sql.event_count))[0][0]
            if count != last:
                return Finding(
                    None,
                    INSERTED,
                    f"ledger_events holds {count} rows but the chain has {last}: a row is stored outside "
                    f"the log's positions 1..{last}",
                )
        if not self.marks:
            if last > 0:
                return Finding(None, PROJECTION_DRIFT, f"ledger_checkpoints is empty but the log holds {last} events")
            return None
        for name, mark in sorted(self.marks.items()):
            if type(mark) is not int:
                return Finding(None, PROJECTION_DRIFT, f"the {name} checkpoint {mark!r} is not a position")
            if mark > last:
                return Finding(
                    last + 1,
                    DELETED,
                    f"the projections were built from {mark} events but the log ends at position {last}: "
                    f"events {_span(last + 1, mark)} were deleted",
                )
            if mark < last:
                return Finding(
                    mark + 1,
                    INSERTED,
                    f"events {_span(mark + 1, last)} were not appended by artifact-ledger: the {name} "
                    f"projection's checkpoint is at position {mark}",
                )
        return None

    # -- 3. blobs ------------------------------------------------------------------------------
    async def blobs(self, *, every: bool) -> Finding | None:
        """Check every stored blob (``every``), or only those the checked events reference."""
        findings: list[Finding] = []
        seen: set[str] = set()
        if every:
            every_blob = self.driver.pages(self.driver.sql.blob_rows, (), BLOB_PAGE)
            async with aclosing(every_blob) as paged:
                async for page in paged:
                    self._check_blobs(page, seen, findings)
        else:
            wanted = list(self.refs)
            for start in range(0, len(wanted), ROW_BATCH):
                ids = self.driver.id_list(wanted[start : start + ROW_BATCH])
                self._check_blobs(await self.driver.fetch(self.driver.sql.blobs_in, ids), seen, findings)
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

    def _check_blobs(self, rows: Iterable[Sequence[Any]], seen: set[str], findings: list[Finding]) -> None:
        for blob_hash, size, data in rows:
            self.blobs_checked += 1
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

    # -- 4. projections ------------------------------------------------------------------------
    async def projections(self) -> Finding | None:
        check = DriftCheck(self.driver)
        found = await check.run()
        self.artifacts_checked = check.streams
        return found


def _unreadable(exc: Exception, reason: str) -> Finding | None:
    """SQLite refuses to read text that is not UTF-8: something outside artifact-ledger wrote it."""
    message = str(exc)
    if "Could not decode to UTF-8" not in message:
        return None
    return Finding(
        None, reason, f"the database holds text that is not UTF-8, written outside artifact-ledger ({message})"
    )


# ---- entry points ------------------------------------------------------------------------------


async def verify_connection(
    conn: AsyncConnection,
    *,
    since: HeadDigest | tuple[int, str | bytes] | str | None = None,
    trusted_head: HeadDigest | tuple[int, str | bytes] | str | None = None,
    blobs: bool = True,
    projections: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the ledger behind ``conn`` (see :func:`verify`), inside its open transaction if it has one."""
    anchor = HeadDigest.parse(since) if since is not None else None
    trusted = HeadDigest.parse(trusted_head) if trusted_head is not None else None
    incremental = anchor is not None and anchor.position > 0
    check_projections = (not incremental) if projections is None else projections
    with translated():
        async with reading(conn) as driver:
            verifier = _Verifier(driver, since=anchor, trusted_head=trusted, progress=progress)
            steps = [
                (verifier.read_marks_and_chain, MODIFIED),
                (lambda: verifier.checkpoints(full=not incremental), PROJECTION_DRIFT),
            ]
            if blobs:
                steps.append((lambda: verifier.blobs(every=not incremental), BLOB_CORRUPTED))
            if check_projections:
                steps.append((verifier.projections, PROJECTION_DRIFT))
            found = None
            for step, reason in steps:
                try:
                    found = await step()
                except Exception as exc:
                    found = _unreadable(exc, reason)
                    if found is None:
                        raise
                if found is not None:
                    break
            return verifier.report(found)


async def verify(
    engine: AsyncEngine,
    *,
    since: HeadDigest | tuple[int, str | bytes] | str | None = None,
    trusted_head: HeadDigest | tuple[int, str | bytes] | str | None = None,
    blobs: bool = True,
    projections: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check the chain, the checkpoints, the blobs and the projections; report the first problem.

    ``since``: a trusted (position, hash) checkpoint: only the events after it are checked
    (and the checkpoint's own event), with the blobs they reference; projections only when
    ``projections=True``. ``trusted_head``: a head recorded earlier, which the log must still
    hold unchanged (this is what detects a rewritten chain or a truncated tail).
    """
    async with engine.connect() as conn:
        return await verify_connection(
            conn, since=since, trusted_head=trusted_head, blobs=blobs, projections=projections, progress=progress
        )
