"""Redaction and the switch to chain format 2 on the write path: erase, record who and why, verify still.

A redaction runs as one command of the manager's unit of work (one ``WriteBatch``: the write
lock, the head, the chain, one commit). Under the lock it reads the artifact's stream from the
log with each event's opening (``ledger_openings``), lets the pure planner (``redaction.py``)
decide which leaves of which events go, and then, in this order and in one transaction:

1. appends the ``artifact.redacted`` event (on a stream of its own, like a retention run): the
   request and every erased leaf by position; the actor and the reason are its attribution;
2. rewrites each erased event's opening (no event salt any more; the salts of the leaves that
   stay, the digests of those erased) and then its payload, without the erased members (the
   guard on ``ledger_events`` lets this one UPDATE through, and only once the opening has lost
   its salt);
3. rewrites the artifact's projection row when the version it shows lost something;
4. deletes the blob of erased content when no event's payload names its hash any more (with a
   directory store, its file too), so the bytes are gone, not only unreferenced.

Once that transaction committed (outside a caller's ``transaction()`` block), a SQLite database's
write-ahead log, which still holds the pages as they were, is checkpointed and truncated
(``store/scrub.py``); the connections zero the bytes they free (``secure_delete``).

The event hashes do not change (chain format 2 commits to salted leaf digests), so the chain,
the Merkle tree and every checkpoint signed before stay valid; ``verify`` holds every erased
leaf to a redaction event and every redaction event to its erased leaves.

``upgrade_chain`` switches a ledger from chain format 1 to 2, one way: a ``ledger.chain_upgraded``
event (the last format-1 event) and the ``ledger_info`` row naming the position after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from . import arguments, chain_v2, codec
from .ambient import current as current_attribution
from .blob_files import deleting_files
from .chain import envelope_bytes
from .content.streams import decode_manifest
from .errors import ArtifactNotFoundError, ChainBrokenError, InvalidArgumentError
from .events import CHAIN_UPGRADED, PROVENANCE_EVENTS, STATE_EVENTS, NewEvent, RecordedEvent, content_of
from .ids import id_text, parse_id
from .lifecycle import blob_sizes, deletable, delete_blobs
from .projections.rows import state_columns
from .redaction import REDACTED, StoredVersion, event_payload, plan
from .retention import checked_reason
from .store.one_writer import engine_of
from .store.openings import opening_from_row, opening_statements, opening_values
from .store.retention import retention_statements
from .store.rows import event_from_row
from .store.scrub import scrub_after_erasure
from .store.tables import CHAIN_FORMAT_2_KEY
from .writer import WriteBatch

if TYPE_CHECKING:
    from .commands import Commands

__all__ = ["Redaction", "Redactions"]


def _check_sealed(event: RecordedEvent, text: str, opening: chain_v2.Opening) -> None:
    """Refuse to rewrite an event whose stored payload and opening do not give its hash."""
    envelope = envelope_bytes(
        position=event.position,
        event_id=event.event_id,
        artifact_id=event.artifact_id,
        version=event.version,
        type=event.type,
        schema_version=event.schema_version,
        recorded_at=event.recorded_at,
        actor=event.actor,
        reason=event.reason,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
    )
    try:
        sealed = chain_v2.event_hash(event.prev_hash, envelope, chain_v2.commitment(text, opening)) == event.hash
    except chain_v2.OpeningError:
        sealed = False
    if not sealed:
        raise ChainBrokenError(
            f"event {event.position} (artifact {event.artifact_id} version {event.version}) does not match its "
            "hash with its stored opening: it or its ledger_openings row was changed outside the ledger. Nothing "
            "was redacted; find the damage with `artifact-ledger verify`",
            position=event.position,
        )


async def _get(rec: Any, hashes: list[str]) -> dict[str, bytes]:
    return dict(await rec.blobs.get(rec, hashes)) if hashes else {}


_ALL = 2**62


async def _named(rec: Any, digest: str) -> bool:
    """Whether an event's payload names ``digest`` as its content. The text search finds the
    candidates; each is read, since a hash may also stand in a payload as a data value or in a
    retention event's list of what it deleted, which refer to no bytes."""
    sql = opening_statements(rec.sql.dialect)
    for _, payload in await rec.fetch(sql.payloads_naming, f'"{digest}"', _ALL):
        with suppress(ValueError, TypeError):
            ref = content_of(codec.loads(payload))
            if ref is not None and ref.hash == digest:
                return True
    return False


async def _listed_chunks(rec: Any, *, exclude: set[str]) -> set[str]:
    """The chunks every stored manifest that an event names lists, but those in ``exclude`` (a
    manifest no longer stored, its content expired, lists nothing)."""
    sql = opening_statements(rec.sql.dialect)
    named: set[str] = set()
    for _, payload in await rec.fetch(sql.payloads_naming, '"codec":"chunks"', _ALL):
        with suppress(ValueError, TypeError):
            ref = content_of(codec.loads(payload))
            if ref is not None and ref.hash and ref.codec == "chunks" and ref.hash not in exclude:
                named.add(ref.hash)
    stored = sorted(await blob_sizes(rec, sorted(named)))
    listed: set[str] = set()
    for data in (await _get(rec, stored)).values():
        listed.update(c for c, _ in decode_manifest(data).chunks)
    return listed


_CONTENT = chain_v2.path_text(("content",))


@dataclass(frozen=True)
class StoredStream:
    """One artifact's events as stored, read under the write lock: what an erasure works from."""

    rows: list[Any]
    """Every event row of the stream with its opening's columns (``stream_with_openings``), oldest first."""
    events: dict[int, RecordedEvent]
    """position -> each state event (the only events a redaction erases leaves of)."""
    texts: dict[int, str]
    """position -> that event's payload text as stored."""
    openings: dict[int, chain_v2.Opening]
    """position -> its opening (events sealed under chain format 2 only)."""
    versions: list[StoredVersion]
    """The state events as the planner reads them."""


async def read_stream(rec: Any, aid: str) -> StoredStream:
    """The stream of ``aid`` from the log, each event with its opening (``ledger_openings``)."""
    sql = opening_statements(rec.sql.dialect)
    rows = list(await rec.fetch(sql.stream_with_openings, aid, _ALL))
    stream = StoredStream(rows, {}, {}, {}, [])
    for row in rows:
        event = event_from_row(row[:14], rec.read_ts, rec.read_bytes)
        if event.type not in STATE_EVENTS:
            continue
        opened, salt, salts, erased = row[14:18]
        text = row[6] if isinstance(row[6], str) else bytes(row[6]).decode("utf-8")
        opening = None if opened is None else opening_from_row(salt, salts, erased)
        at = event.position
        stream.texts[at], stream.events[at] = text, event
        if opening is not None:
            stream.openings[at] = opening
        stream.versions.append(
            StoredVersion(
                at,
                int(event.version),
                codec.loads(text),
                1 if opening is None else 2,
                frozenset(opening.erased) if opening is not None else frozenset(),
            )
        )
    return stream


def rewrite(stream: StoredStream, targets: Sequence[chain_v2.Erasure]) -> dict[int, tuple[str, chain_v2.Opening]]:
    """The payload text and opening each target event is left with once its leaves are erased.

    The log decides: an event whose stored payload and opening no longer give its hash is refused
    (:class:`ChainBrokenError`) before anything is rewritten; a path the payload does not hold is
    :class:`chain_v2.OpeningError`. Every target must be a state event of ``stream`` sealed under
    chain format 2 (the planner, or the importer, made sure)."""
    for t in targets:
        _check_sealed(stream.events[t.target], stream.texts[t.target], stream.openings[t.target])
    return {t.target: chain_v2.redact(stream.texts[t.target], stream.openings[t.target], t.paths) for t in targets}


async def store_erasures(
    rec: Any,
    aid: str,
    stream: StoredStream,
    rewritten: dict[int, tuple[str, chain_v2.Opening]],
    position: int,
    trash: list[Path],
) -> list[str]:
    """Write what the redaction event at ``position`` (appended already) erases from ``aid``'s events.

    In this order, in the caller's transaction: each event's opening (no event salt any more), then
    its payload (the guard lets this UPDATE through only once the opening lost its salt); the
    artifact's row when the state it shows lost something; then the blobs of erased content that
    nothing refers to any more (:func:`_delete_unnamed`). Returns those blobs."""
    sql = opening_statements(rec.sql.dialect)
    steps: list[Any] = []
    gone: dict[str, str] = {}  # hash -> codec of the content references erased
    for target, (text, opening) in sorted(rewritten.items()):
        _, _, salts, erased = opening_values(target, opening)
        steps.append((sql.update_opening, (salts, erased, target), False))
        steps.append((sql.update_payload, (text, target), False))
        if _CONTENT in opening.erased and _CONTENT not in stream.openings[target].erased:
            ref = content_of(codec.loads(stream.texts[target]))
            if ref is not None and ref.hash:
                gone[ref.hash] = ref.codec
    await rec.pipeline(steps)
    await _reproject(rec, aid, stream.rows, rewritten)
    return await _delete_unnamed(rec, gone, position, trash)


async def _reproject(rec: Any, aid: str, rows: list[Any], rewritten: dict[int, tuple[str, chain_v2.Opening]]) -> None:
    """Rewrite the artifact's row when the state it shows is one of the erased events."""
    last_state = max((int(r[0]) for r in rows if r[4] in STATE_EVENTS), default=None)
    if last_state is None or last_state not in rewritten:
        return
    payload = codec.loads(rewritten[last_state][0])
    columns = state_columns(payload.get("data"), content_of(payload), payload.get("tags", []))
    sql = opening_statements(rec.sql.dialect)
    await rec.pipeline([(sql.update_state, (*columns, aid), False)])


async def _delete_unnamed(rec: Any, hashes: dict[str, str], position: int, trash: list[Path]) -> list[str]:
    """Delete the blobs among ``hashes`` (hash -> codec of the erased references) that nothing
    refers to any more, with the chunks of a streamed one; returns those deleted.

    A blob is one row or file per hash, whatever refers to it: an event's payload naming it as
    its content, or a stored manifest listing it as a chunk (the whole content of one version
    can be a chunk of another's stream). Both kinds of reference keep a blob."""
    sql = opening_statements(rec.sql.dialect)
    unnamed = [h for h in hashes if not await _named(rec, h)]
    stored = await deletable(rec, await blob_sizes(rec, unnamed))
    doomed = [h for h in unnamed if h in stored]
    if not doomed:
        return []
    streamed = [h for h in doomed if hashes[h] == "chunks"]
    manifests = {h: decode_manifest(d) for h, d in (await _get(rec, streamed)).items()}
    listed = await _listed_chunks(rec, exclude=set(doomed))
    doomed = [h for h in doomed if h not in listed]
    if manifests:
        chunks = {c for m in manifests.values() for c, _ in m.chunks} - listed - set(doomed)
        chunks = {c for c in chunks if not await _named(rec, c)}
        held = await deletable(rec, await blob_sizes(rec, sorted(chunks)))
        doomed.extend(c for c in sorted(chunks) if c in held)
    if not doomed:
        return []
    planted = [h for h in doomed if not await rec.fetch(sql.expired_blob_at, h)]
    rsql = retention_statements(rec.sql.dialect)
    await rec.pipeline([(rsql.upsert_expired_blob, (h, position), False) for h in planted])
    await delete_blobs(rec, doomed, trash)
    await rec.pipeline([(sql.delete_expired_blob, (h,), False) for h in planted])  # the guard's pass, used
    return doomed


class Redaction(BaseModel):
    """What one ``redact`` erased: the redaction event and, per version, the leaves and blobs gone."""

    model_config = ConfigDict(frozen=True)

    artifact_id: str
    position: int
    """The ``artifact.redacted`` event's position."""
    erased: list[tuple[int, int, list[str]]]
    """(position, version, leaf paths) of every event a leaf was erased from, in position order."""
    blobs_deleted: list[str]
    """The content blobs deleted because no event names them any more."""


class Redactions:
    """The ``redact`` and ``upgrade_chain`` commands of one manager."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    async def redact(
        self,
        id: Any,
        *,
        version: int | None,
        fields: list[str] | None,
        actor: str | None,
        reason: str | None,
    ) -> Redaction:
        aid = str(parse_id(id))
        if version is not None:
            arguments.integer(version, "version", minimum=1, maximum=arguments.MAX_VERSION)
        if fields is not None and (isinstance(fields, str) or not isinstance(fields, list | tuple)):
            raise InvalidArgumentError(f"fields must be a list of data field names or None, not {fields!r:.60}")
        who = current_attribution(actor=actor, reason=reason)
        checked_reason(who.reason, "a redaction")

        async def redact(batch: WriteBatch, trash: list[Path]) -> Redaction:
            await batch.prefetch([])
            if batch.pending:
                await batch.flush()
            rec = batch.driver
            stream = await read_stream(rec, aid)
            if not stream.rows or stream.rows[0][4] in PROVENANCE_EVENTS:
                raise ArtifactNotFoundError(f"artifact {aid} not found: nothing to redact", artifact_id=aid)
            targets = plan(aid, stream.versions, version=version, fields=list(fields) if fields is not None else None)
            rewritten = rewrite(stream, targets)
            payload = event_payload(targets, version=version, fields=fields)
            payload["artifact_id"] = aid
            sealed = await batch._commit_events([NewEvent(id_text(batch.new_id), 1, REDACTED, payload)], who)
            await batch.flush()
            deleted = await store_erasures(rec, aid, stream, rewritten, sealed[-1].position, trash)
            return Redaction(
                artifact_id=aid,
                position=sealed[-1].position,
                erased=[(t.target, stream.events[t.target].version, sorted(t.paths)) for t in targets],
                blobs_deleted=deleted,
            )

        def write(trash: list[Path]) -> Any:
            return self.commands._write(lambda batch: redact(batch, trash))

        in_transaction = self.commands.batch is not None
        result: Redaction = await deleting_files(write, in_transaction)
        if not in_transaction:  # else the caller's commit is still to come; the next erasure or close settles it
            await scrub_after_erasure(engine_of(self.commands.repo.session))
        return result

    async def upgrade_chain(self, *, actor: str | None, reason: str | None) -> int:
        """Switch the ledger to chain format 2 from the next position on; returns that position
        (the same position again, appending nothing, when it already seals format 2)."""
        who = current_attribution(actor=actor, reason=reason)

        async def upgrade(batch: WriteBatch) -> int:
            head = await batch._begin()
            if head.format_2_from is not None:
                return head.format_2_from
            sealed = await batch._commit_events(
                [NewEvent(id_text(batch.new_id), 1, CHAIN_UPGRADED, {"format": 2})], who
            )
            await batch.flush()
            switch = sealed[-1].position + 1
            sql = opening_statements(batch.driver.sql.dialect)
            await batch.driver.pipeline([(sql.insert_info, (CHAIN_FORMAT_2_KEY, str(switch)), False)])
            head.format_2_from = switch
            return switch

        return await self.commands._write(upgrade)
