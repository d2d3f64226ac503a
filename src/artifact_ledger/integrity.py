"""Integrity checks of a ledger database: the hash chain, checkpoints, blobs and projections.

``Ledger.verify`` and ``Ledger.head`` delegate here. Everything runs on one connection in
one read-only snapshot (``store.recorder.reading``), so a writer committing meanwhile can never
make a consistent ledger look broken. (A directory store's files have no snapshot: a blob file the
snapshot references that a redaction or retention run deleted meanwhile is not reported missing
once the log as committed after the pass no longer needs it, see ``blob_check.py``.) The checks,
in order, each stopping at its first problem:

1. the chain (``chain_check.py``): positions dense from the start, every ``prev_hash`` the
   previous ``hash``, every ``hash`` recomputed from the stored fields (``chain.py`` defines
   the bytes);
2. the projections' checkpoints against the head (``chain_check.py``: events removed or added
   at the end); then (a full run) every retention event against the plan its recorded policy makes
   on the log before it, so that no forged run can account for content that should be there;
3. the blobs (``blob_check.py``): their bytes against their hash and size; every referenced
   blob present;
4. the projections (``drift.py``): every stream folded and compared with its row and its
   parent-history rows; levels and closure against the parent links; one checkpoint per
   projector, at the head.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import codec, logs
from .drift import DriftCheck, Finding, earliest
from .errors import InvalidArgumentError
from .store.errors import translated
from .store.one_writer import connect, shares_one_connection
from .store.recorder import Recorder, reading

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

        Raises :class:`InvalidArgumentError` (a ``ValueError``) naming what is wrong.
        """
        if isinstance(value, str):
            position_text, sep, hash_text = value.strip().partition(":")
            if not sep or not position_text.isdigit():
                raise InvalidArgumentError(f"not a head digest: {value!r} (expected POSITION:HASH, e.g. 42:9f86d0…)")
            value = (int(position_text), hash_text)
        if not isinstance(value, tuple) or len(value) != 2:
            raise InvalidArgumentError(f"not a head digest: {value!r} (expected a (position, hash) pair)")
        position, digest = value
        if isinstance(digest, bytes | bytearray):
            digest = bytes(digest).hex()
        if type(position) is not int or position < 0:
            raise InvalidArgumentError(f"a head digest's position must be an integer >= 0, not {position!r}")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
            raise InvalidArgumentError(f"a head digest's hash must be 64 hex digits (SHA-256), not {digest!r}")
        digest = digest.lower()
        if position == 0 and digest != GENESIS_HEX:
            raise InvalidArgumentError("the head digest of an empty log (position 0) has the genesis hash, 64 zeros")
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
        async with connect(engine) as conn, reading(conn) as driver:
            return await read_head(driver)


# ---- the verifier ------------------------------------------------------------------------------


class _Verifier:
    """One ``verify`` run: its passes, and the report of how far they got."""

    def __init__(
        self,
        driver: Recorder,
        *,
        since: HeadDigest | None,
        trusted_head: HeadDigest | None,
        progress: Callable[[int], None] | None,
        engine: AsyncEngine | None = None,
    ) -> None:
        # The passes import this module's reasons and HeadDigest, so they are imported here.
        from .blob_check import BlobCheck, needed_now
        from .chain_check import ChainCheck

        self.driver = driver
        self.chain = ChainCheck(driver, since=since, trusted_head=trusted_head, progress=progress)
        # Blob files have no snapshot: one a run deleted meanwhile is judged by the log as committed
        # after the pass, on a connection of its own. On an engine of one shared connection (in-memory
        # SQLite) no writer commits while this run holds it, and no second connection can be had.
        now = None if engine is None or shares_one_connection(engine) else partial(needed_now, engine)
        self.blobs = BlobCheck(driver, self.chain.refs, self.chain.manifests, now=now, subjects=self.chain.subjects)
        self.artifacts_checked = 0

    def report(self, found: Finding | None) -> VerifyReport:
        chain = self.chain
        common: dict[str, Any] = {
            "events_checked": chain.events_checked,
            "head_position": chain.head.position,
            "head_hash": chain.head.hash,
            "blobs_checked": self.blobs.checked,
            "artifacts_checked": self.artifacts_checked,
            "from_position": chain.start,
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

    async def merkle_since(self) -> Finding | None:
        """An incremental run: the Merkle state the events after the trusted position made (``proofs.py``)."""
        from .proofs import merkle_findings_since  # proofs imports drift, which this module's passes use

        return earliest(await merkle_findings_since(self.driver, self.chain.start, self.chain.head.position))

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
            verifier = _Verifier(driver, since=anchor, trusted_head=trusted, progress=progress, engine=conn.engine)
            steps = verifier.chain.log_steps(full=not incremental)
            if incremental:  # a full run compares the whole tree with the projections (drift.py)
                steps.append((verifier.merkle_since, PROJECTION_DRIFT))
            if blobs:
                steps.append((lambda: verifier.blobs.run(every=not incremental), BLOB_CORRUPTED))
            if check_projections:
                steps.append((verifier.projections, PROJECTION_DRIFT))
            return verifier.report(await first_finding(steps))


async def first_finding(
    steps: Sequence[tuple[Callable[[], Awaitable[Finding | None]], str]], *, past: str | None = None
) -> Finding | None:
    """The first problem the passes ``steps`` find, in order (text SQLite cannot read is a problem of the
    step's reason). ``past``: a reason to pass over, going on with the next steps (``rebuild`` repairs drift)."""
    for step, reason in steps:
        try:
            found = await step()
        except Exception as exc:
            found = _unreadable(exc, reason)
            if found is None:
                raise
        if found is not None and found.reason != past:
            return found
    return None


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
    with logs.span("verify"):
        async with connect(engine) as conn:  # in-memory SQLite: in turn with writers
            return await verify_connection(
                conn, since=since, trusted_head=trusted_head, blobs=blobs, projections=projections, progress=progress
            )
