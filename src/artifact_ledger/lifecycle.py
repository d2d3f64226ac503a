"""Holds and retention on the write path, and the read side's word on expired content.

Writes run as commands of the manager's unit of work (one ``WriteBatch``: the write lock, the
head, the hash chain, the projections, one commit). A retention run folds the log itself under
the lock (never the projections: they are caches), lets the pure rules of ``retention.py``
decide, appends its ``retention.applied`` events, sends them with their projection rows, and
only then deletes the blobs those rows list (:func:`delete_blobs`, the one place that deletes
content bytes), all in the same transaction: the run lands whole or not at all. With a
directory store the files go too, before the commit and still under the lock; a run that
fails after that has removed only bytes its own events said were expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from . import arguments, codec
from .ambient import current as current_attribution
from .blob_files import delete_files, deleting_files, file_sizes
from .content.streams import decode_manifest
from .errors import (
    ArtifactNotFoundError,
    InvalidArgumentError,
    ProjectionDriftError,
)
from .events import PROVENANCE_EVENTS, RETENTION_APPLIED, NewEvent, RecordedEvent
from .ids import id_text, parse_id
from .retention import (
    HoldState,
    LogFacts,
    RetentionPolicy,
    RetentionReport,
    checked_reason,
    decide_hold,
    decide_release,
    parts,
    plan,
)
from .store.blob_dir import DirectoryBlobs
from .store.errors import translated
from .store.provenance import provenance_statements
from .store.recorder import Recorder
from .store.retention import retention_statements
from .writer import WriteBatch

if TYPE_CHECKING:
    from .commands import Commands
    from .reads import Reads

__all__ = ["Hold", "Retention", "blob_sizes", "deletable", "delete_blobs"]

_PAGE = 5000
_IDS = 2000


class Hold(BaseModel):
    """An artifact's hold as it stands after ``hold`` or ``release``."""

    model_config = ConfigDict(frozen=True)

    artifact_id: str
    held: bool
    position: int | None
    """The hold event's position (None: a hold of an artifact already held appended nothing)."""
    updated_at: datetime | None
    updated_by: str | None
    reason: str | None


# ---- the one place content bytes are deleted ---------------------------------------------------------
async def delete_blobs(
    rec: Recorder, hashes: Sequence[str], trash: list[Path], *, files: Sequence[str] | None = None
) -> None:
    """Delete the blobs ``hashes`` in ``rec``'s transaction (each listed in ``ledger_expired_blobs``
    already: the guard refuses any other), and with a directory store set the files of ``files``
    (default: the same hashes) aside into ``trash`` (see :func:`deleting_files`). This runs under
    the write lock: no writer can find a file there and reuse it meanwhile."""
    sql = retention_statements(rec.sql.dialect)
    for start in range(0, len(hashes), _IDS):
        await rec.pipeline([(sql.delete_blobs_in, (rec.id_list(list(hashes[start : start + _IDS])),), False)])
    store = rec.blobs
    if isinstance(store, DirectoryBlobs):
        await asyncio.to_thread(delete_files, store, list(hashes if files is None else files), trash)


async def deletable(rec: Recorder, sizes: dict[str, int]) -> dict[str, int]:
    """``sizes`` without the blobs that are files of a blob directory another ledger has registered:
    a file's name says nothing of which ledgers need it, so none is deleted there (and no event
    or report names it as deleted)."""
    store = rec.blobs
    if not sizes or not isinstance(store, DirectoryBlobs) or not await asyncio.to_thread(store.other_ledgers):
        return sizes
    files = await asyncio.to_thread(file_sizes, store, list(sizes))
    return {h: n for h, n in sizes.items() if h not in files}


async def blob_sizes(rec: Recorder, hashes: Sequence[str]) -> dict[str, int]:
    """The stored size of each of ``hashes`` that ``ledger_blobs`` holds or, with a directory
    store, that has a file there."""
    sql = retention_statements(rec.sql.dialect)
    found: dict[str, int] = {}
    for start in range(0, len(hashes), _IDS):
        rows = await rec.fetch(sql.blob_sizes_in, rec.id_list(list(hashes[start : start + _IDS])))
        found.update((str(h), int(size)) for h, size in rows)
    store = rec.blobs
    if isinstance(store, DirectoryBlobs):
        rest = [h for h in hashes if h not in found]
        if rest:
            found.update(await asyncio.to_thread(file_sizes, store, rest))
    return found


# ---- the write side --------------------------------------------------------------------------------
async def _rows_then(batch: WriteBatch, step: tuple[Any, tuple[Any, ...], bool]) -> Sequence[Any]:
    if batch.pending:
        await batch.flush()
    return (await batch.driver.pipeline([*batch.projector.steps(), step]))[-1]


async def fold_log(rec: Recorder) -> LogFacts:
    """The facts a retention plan needs, from the log (a page of events at a time)."""
    sql = retention_statements(rec.sql.dialect)
    facts = LogFacts()
    position = 0
    while True:
        rows = await rec.fetch(sql.plan_events, position, _PAGE)
        for pos, aid, version, kind, at, payload in rows:
            facts.add(int(pos), aid, int(version), kind, rec.read_ts(at), codec.loads(payload))
        if len(rows) < _PAGE:
            return facts
        position = int(rows[-1][0])


class Retention:
    """The hold, release and retention commands of one manager."""

    def __init__(self, commands: Commands, reads: Reads) -> None:
        self.commands = commands
        self.reads = reads
        self.repo = commands.repo

    async def _artifact(self, batch: WriteBatch, aid: str, *, release: bool) -> None:
        sql = provenance_statements(batch.driver.sql.dialect)
        head = await _rows_then(batch, (sql.stream_head, (aid,), False))
        if not head or head[0][1] in PROVENANCE_EVENTS:
            nothing = "there is no hold to release" if release else "there is nothing to hold"
            raise ArtifactNotFoundError(f"artifact {aid} not found: {nothing}", artifact_id=aid)

    async def _hold_state(self, batch: WriteBatch, aid: str) -> HoldState | None:
        """The hold as its stream in the log says; the ``ledger_holds`` row must agree (else drift)."""
        sql = retention_statements(batch.driver.sql.dialect)
        rows = await _rows_then(batch, (sql.hold_checked, (aid,), False))
        if not rows:
            return None
        row = rows[0]
        log_version, payload = row[7], row[8]
        held = None if payload is None else codec.loads(payload).get("held")
        if log_version is None or int(log_version) != row[2] or bool(row[3]) != held:
            raise ProjectionDriftError(
                f"the ledger_holds row of artifact {aid} differs from its hold stream {row[1]} in the log; "
                "find the damage with `artifact-ledger verify`, repair with `artifact-ledger rebuild`",
                artifact_id=aid,
            )
        return HoldState(aid, row[1], int(log_version), bool(held))

    async def hold(self, id: Any, *, release: bool, actor: str | None, reason: str | None) -> Hold:
        aid = str(parse_id(id))
        what = "releasing a hold" if release else "a hold"
        if reason is not None:
            checked_reason(reason, what)  # a blank reason: "needs a reason", before the attribution rules
        who = current_attribution(actor=actor, reason=reason)
        checked_reason(who.reason, what)

        async def hold(batch: WriteBatch) -> Hold:
            await batch.prefetch([])
            await self._artifact(batch, aid, release=release)
            state = await self._hold_state(batch, aid)
            decided = decide_release(aid, state) if release else decide_hold(aid, state, id_text(batch.new_id))
            sealed = await batch._commit_events(decided, who)
            if not sealed:
                return Hold(artifact_id=aid, held=True, position=None, updated_at=None, updated_by=None, reason=None)
            e = sealed[-1]
            return Hold(
                artifact_id=aid,
                held=not release,
                position=e.position,
                updated_at=e.recorded_at,
                updated_by=e.actor,
                reason=e.reason,
            )

        hold.__name__ = "release" if release else "hold"
        return await self.commands._write(hold)

    async def held(self) -> list[str]:
        """The ids of the artifacts held now (from ``ledger_holds``)."""
        await self.commands.sync()
        with translated():
            async with self.repo.reading() as rec:
                sql = retention_statements(rec.sql.dialect)
                return [str(r[0]) for r in await rec.fetch(sql.held_ids)]

    async def apply(
        self, policy: RetentionPolicy, *, dry_run: bool, actor: str | None, reason: str | None
    ) -> RetentionReport:
        if not isinstance(policy, RetentionPolicy):
            raise InvalidArgumentError(f"policy must be a RetentionPolicy, not {type(policy).__name__}")
        arguments.flag(dry_run, "dry_run")
        who = current_attribution(actor=actor, reason=reason)
        if dry_run:
            await self.commands.sync()
            with translated():
                async with self.repo.reading() as rec:
                    now = self.repo.clock()
                    return (await self._plan(rec, policy, now))[0]

        async def apply_retention(batch: WriteBatch, trash: list[Path]) -> RetentionReport:
            await batch.prefetch([])
            if batch.pending:
                await batch.flush()
            report, payloads = await self._plan(batch.driver, policy, batch._transaction_time())
            if not payloads:
                return report.model_copy(update={"dry_run": False})
            stream = id_text(batch.new_id)
            decided = [NewEvent(stream, i, RETENTION_APPLIED, p) for i, p in enumerate(payloads, 1)]
            sealed: list[RecordedEvent] = await batch._commit_events(decided, who)
            await batch.flush()  # the events and their ledger_expired_blobs rows, before the delete
            await delete_blobs(batch.driver, report.blobs, trash)
            return report.model_copy(update={"dry_run": False, "positions": [e.position for e in sealed]})

        def write(trash: list[Path]) -> Awaitable[RetentionReport]:
            return self.commands._write(lambda batch: apply_retention(batch, trash))

        return await deleting_files(write, self.commands.batch is not None)

    async def _plan(
        self, rec: Recorder, policy: RetentionPolicy, now: datetime
    ) -> tuple[RetentionReport, list[dict[str, Any]]]:
        facts = await fold_log(rec)
        decided = plan(facts, policy, now)
        sizes = await deletable(rec, await blob_sizes(rec, decided.hashes))
        kept = set(decided.keep_hashes)
        if sizes:
            # A blob is one row or file per hash, whatever refers to it: the whole content of one
            # version can be a chunk of another's streamed content. Chunks of kept streams stay.
            kept_manifests = [h for h in decided.keep_hashes if facts.codecs.get(h) == "chunks"]
            kept.update(chunk for chunk, _ in await _chunks_of(rec, kept_manifests))
        deleted: dict[str, list[tuple[str, int]]] = {
            h: [(h, sizes[h])] for h in decided.hashes if h in sizes and h not in kept
        }
        manifests = [h for h in deleted if facts.codecs.get(h) == "chunks"]
        listed = set(deleted)  # a blob is deleted once, however many expired versions name it
        for manifest in manifests:
            chunks = [c for c, _ in await _chunks_of(rec, [manifest]) if c not in kept and c not in listed]
            chunk_sizes = await deletable(rec, await blob_sizes(rec, chunks))
            deleted[manifest].extend((c, chunk_sizes[c]) for c in dict.fromkeys(chunks) if c in chunk_sizes)
            listed.update(chunks)
        cutoff = None if policy.keep_newer_than is None else now - policy.keep_newer_than
        policy_json = policy.to_json(cutoff)
        blobs = [h for rows in deleted.values() for h, _ in rows]
        report = RetentionReport(
            dry_run=True,
            policy=policy_json,
            versions_examined=decided.examined,
            versions_kept=decided.kept,
            expired=decided.expired,
            blobs=blobs,
            bytes_freed=sum(size for rows in deleted.values() for _, size in rows),
            positions=[],
        )
        return report, parts(decided.expired, deleted, policy_json) if decided.expired else []


async def _chunks_of(rec: Recorder, manifests: Iterable[str]) -> list[tuple[str, int]]:
    """The chunks the stored manifests among ``manifests`` list (one not stored lists none)."""
    wanted = list(manifests)
    if not wanted:
        return []
    out: list[tuple[str, int]] = []
    stored = set(await blob_sizes(rec, wanted))
    for manifest in wanted:
        if manifest in stored:
            data = (await rec.blobs.get(rec, [manifest]))[manifest]
            out.extend(decode_manifest(data).chunks)
    return out
