"""The chain pass of ``verify``: the hash chain and the projections' checkpoints, and why a row breaks it.

Events are streamed in pages on the driver connection and hashed in a tight loop (no pydantic,
no per-row SQLAlchemy): positions dense from the start, every ``prev_hash`` the previous
``hash``, every ``hash`` recomputed from the stored fields (``chain.py`` defines the bytes, the
recorder's ``sealed_bytes`` reads them from its backend's row). At the first row that does not
chain the pass stops and works out why: an event modified, deleted, reordered or inserted.
Then the projections' checkpoints are compared with the head (events removed or added at the end).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from . import chain_v2, codec
from .chain import event_hash
from .chain_leaves import leaves_of_text
from .chain_v2 import Erasure, Opening
from .drift import Finding
from .errors import InvalidArgumentError
from .events import REDACTED, RETENTION_APPLIED, STATE_EVENTS
from .integrity import DELETED, GENESIS_HEX, INSERTED, MODIFIED, PROJECTION_DRIFT, REORDERED, HeadDigest
from .redaction import erasures_of
from .retention import LogFacts, RetentionPolicy, plan
from .store.openings import opening_from_row, opening_statements
from .store.recorder import Recorder
from .store.retention import retention_statements
from .store.tables import CHAIN_FORMAT_2_KEY, PROJECTORS
from .verify_bundle import has_rule, retention_policy

EVENT_PAGE: Final = 5000
REANCHOR_WINDOW: Final = 1024
"""How far ahead to look for the position a renumbered event was sealed at."""


# ---- one event row -----------------------------------------------------------------------------


Envelope = Callable[[Sequence[Any], Any], tuple[bytes, Any]]


def _self_consistent(envelope: Envelope, row: Sequence[Any], position: Any, opening: Opening | None = None) -> bool:
    """Whether the row's hash matches its own fields and its own ``prev_hash``, sealed at ``position``
    (under chain format 2 when ``opening`` is the row's opening)."""
    try:
        env, payload = envelope(row, position)
        prev, digest = row[12], row[13]
        if type(prev) is not bytes or type(payload) is not bytes:
            return False
        if opening is not None:
            return bool(format_2_hash(prev, env, payload, opening) == digest)
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
    """Why no hash can cover the row's fields as stored, as a parenthesised clause ("" if one can).

    A SQLite row carries its database's text encoding after the hash: the stored bytes of a
    UTF-16 database are UTF-16, which its recorder's ``sealed_bytes`` checks and names itself.
    """
    try:
        envelope(row, position)
    except UnicodeDecodeError:
        pass  # a text column that is not UTF-8: named below
    except (TypeError, ValueError) as exc:
        return f" ({exc})"
    if len(row) > 14 and row[14] != "UTF-8":
        return ""
    for index, name in _ROW_TEXT:
        value = row[index]
        if type(value) is bytes:
            try:
                value.decode()
            except UnicodeDecodeError:
                return f" (its {name} is not UTF-8 text)"
    return ""


_CONTENT = b'"content":{'


def _content_ref(payload: bytes) -> tuple[str, int, object] | None:
    """(hash, size, codec) of the blob a payload references, if it references one."""
    try:
        content = codec.loads(payload).get("content")
        blob_hash, size = content["hash"], content["size"]
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    return (blob_hash, size, content.get("codec")) if type(blob_hash) is str and type(size) is int else None


_DELETED = b'"deleted":['
_RETENTION = (RETENTION_APPLIED, RETENTION_APPLIED.encode())
"""The type column of a retention event, as either backend returns it (SQLite: the stored bytes)."""


_REDACTION = (REDACTED, REDACTED.encode())


def format_2_hash(prev: bytes, envelope: bytes, payload: bytes, opening: Opening) -> bytes:
    """The hash of a chain format 2 event from its stored payload bytes and opening
    (:class:`~artifact_ledger.chain_v2.OpeningError`, a ``ValueError``, when they do not fit)."""
    text = payload.decode("utf-8")
    if opening.salt is not None:  # nothing erased: the leaves cut fast from the canonical text
        commitment = chain_v2.commitment_of(chain_v2.sealed_digests(opening.salt, leaves_of_text(text)))
    else:
        commitment = chain_v2.commitment(text, opening)
    return chain_v2.event_hash(prev, envelope, commitment)


class _Broken(Exception):
    """Internal: the fast path met a row that does not chain."""


# ---- retention events against their policy -----------------------------------------------------


def _policy_of(recorded: Any) -> tuple[RetentionPolicy, datetime | None]:
    """The policy a retention event records, with its cutoff in place of ``keep_newer_than``
    (``ValueError`` naming what no run could have recorded; the stdlib bundle verifier's reading)."""
    keep_last, keep_aliased, cutoff = retention_policy(recorded)
    try:
        policy = RetentionPolicy(keep_last, keep_aliased, None if cutoff is None else timedelta(0))
    except InvalidArgumentError as exc:  # pragma: no cover - retention_policy refuses what this refuses
        raise ValueError(f"its policy is not one a run accepts ({exc})") from None
    return policy, cutoff


ERASED_CONTENT: Final = "erased content of "
"""The stand-in hash of a version whose content a redaction erased from its payload after the fact:
its hash is gone from the log, so a run that listed it is taken at its word for the hash (not for
whether its policy and the holds let it expire the version)."""

_CONTENT_LEAF = '["content"'


def erases_content(opening: Opening | None) -> bool:
    """Whether a format-2 event's opening shows its ``content`` leaf erased (by a redaction)."""
    return opening is not None and any(path.startswith(_CONTENT_LEAF) for path in opening.erased)


class RetentionAudit:
    """Folds the log's retention facts (``retention.LogFacts``, the writer's own) and checks each
    ``retention.applied`` event against the plan its policy makes on the log before it.

    The parts of one run (one stream, versions 1, 2, ...) share the plan made before part 1, as the
    run made it once: each listed version is taken from it, so none can be listed twice."""

    def __init__(self, erased: set[int] | None = None) -> None:
        self.facts = LogFacts()
        self.erased = erased or set()
        """The positions of state events whose content a redaction erased."""
        self.named: str | None = None
        """The artifact (or run stream) the last problem is about."""
        self._run: tuple[str, int] | None = None
        """The run being checked: its stream id and its next part."""
        self._allowed: dict[tuple[str, int], str] = {}
        self._keep: set[str] = set()

    def add(self, position: int, aid: str, version: int, kind: str, at: datetime, raw: Any) -> str | None:
        """Fold one event of ``retention.PLAN_TYPES``; a retention event's problem in words (None: fine)."""
        self.named = aid
        try:
            payload = codec.loads(raw)
            problem = self._check(aid, version, payload) if kind == RETENTION_APPLIED else None
            if problem is None:
                self.facts.add(position, aid, version, kind, at, payload)
                if position in self.erased and kind in STATE_EVENTS:
                    self.facts.versions[aid][-1].hash = f"{ERASED_CONTENT}{aid} version {version}"
            return problem
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            what = "retention event" if kind == RETENTION_APPLIED else f"{kind} event"
            return f"the {what} of stream {aid} is malformed ({exc!s:.120})"

    def _plan_for(self, stream: str, part: int, payload: dict[str, Any]) -> None:
        """The plan of the run this part belongs to (made again unless it continues the run checked last)."""
        if self._run == (stream, part) and part > 1:
            self._run = (stream, part + 1)
            return
        if not has_rule(*retention_policy(payload["policy"])):  # a gc run: every content still there stays
            self._allowed = {}
            self._keep = {
                v.hash
                for aid, versions in self.facts.versions.items()
                for v in versions
                if v.hash is not None and (aid, v.version) not in self.facts.expired
            }
            self._run = (stream, part + 1)
            return
        policy, cutoff = _policy_of(payload["policy"])
        decided = plan(self.facts, policy, cutoff if cutoff is not None else datetime.now(UTC))
        self._allowed = {(e.artifact_id, e.version): e.hash for e in decided.expired}
        self._keep = decided.keep_hashes
        self._run = (stream, part + 1)

    def _check(self, stream: str, part: int, payload: dict[str, Any]) -> str | None:
        self._plan_for(stream, part, payload)
        for aid, version, digest in payload["expired"]:
            allowed = self._allowed.pop((aid, version), None)
            if allowed != digest and not (allowed or "").startswith(ERASED_CONTENT):
                self.named = aid
                why = self._why(aid, version, digest)
                return f"the retention run {stream} expired version {version} of artifact {aid}, {why}"
        for digest, _size in payload["deleted"]:
            if digest in self._keep:
                return (
                    f"the retention run {stream} deleted blob {digest}, the content of a version its policy "
                    "keeps (or of a held artifact)"
                )
        return None

    def _why(self, aid: str, version: int, digest: str) -> str:
        """Why a listed version is not one the run's policy expired, in words."""
        found = next((v for v in self.facts.versions.get(aid, []) if v.version == version), None)
        if found is None or found.hash is None:
            return "which has no such version with content in the log before it"
        if found.hash != digest and not found.hash.startswith(ERASED_CONTENT):
            return f"whose content is {found.hash}, not {digest}"
        if (aid, version) in self.facts.expired:
            return "whose content an earlier run had already expired"
        if self.facts.holds.get(aid, False):
            return "which is held: a held artifact keeps all its content"
        return "which its own recorded policy keeps"


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


def _is_are(first: int, last: int) -> str:
    return "is" if first == last else "are"


def _rewritten(position: int, what: str) -> str:
    return (
        f"event {position} no longer has the {what}'s hash: the log up to position {position} was rewritten "
        "and its chain recomputed"
    )


# ---- the pass ----------------------------------------------------------------------------------


class ChainCheck:
    """The chain and the checkpoints of one ``verify`` run, and how far they held.

    ``events_checked`` and ``head`` are the intact prefix so far (the whole log once the pass
    found nothing); ``refs`` the blobs the checked events reference, for the blob pass.
    """

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
        self.envelope: Envelope = driver.sealed_bytes
        self.start = since.position if since is not None else 0
        self.events_checked = 0
        self.head = HeadDigest(0, GENESIS_HEX)
        self.refs: dict[str, tuple[int, int]] = {}
        """blob hash -> (the first checked position that references it, the size it recorded)."""
        self.manifests: set[str] = set()
        """The refs that are chunk manifests (content saved as a stream): the blob pass follows them."""
        self.subjects: dict[int, tuple[object, object]] = {}
        """(artifact id, version) of the event at each position in ``refs``, as stored: the blob pass
        names them in a finding about a blob."""
        self.marks: dict[str, Any] = {}
        self.start_prev = codec.GENESIS_HASH
        self.format_2_from: int | None = None
        """The first position with an opening (chain format 2); every later event must have one."""
        self.redacted: dict[int, Opening] = {}
        """The openings that lost their event salt: each must be accounted for by a redaction event."""
        self.erasures: list[Erasure] = []
        self.openings: dict[int, Opening] = {}
        """The openings of the page being checked."""
        self._forensic: dict[int, Opening] | None = None
        """Openings near a broken row, read once when the diagnosis needs them."""
        self.last_retention = 0
        """The position of the last retention event checked (0: none)."""

    async def _read_openings(self, low: int, high: int) -> None:
        """The openings of positions ``low < p <= high`` (none read while the ledger has none)."""
        self.openings = {}
        if self.format_2_from is None or high < self.format_2_from:
            return
        sql = opening_statements(self.driver.sql.dialect)
        for position, salt, salts, erased in await self.driver.fetch(sql.openings_between, low, high):
            try:
                self.openings[int(position)] = opening_from_row(salt, salts, erased)
            except (TypeError, ValueError):
                self.openings[int(position)] = Opening(None, {}, {"": b""})  # cannot open: the hash will not match

    def _hash(self, prev: bytes, env: bytes, payload: bytes, position: int) -> bytes:
        """The hash the row at ``position`` must have, under the chain format it was sealed with."""
        opening = self.openings.get(position)
        if opening is None:
            if self.format_2_from is not None and position > self.format_2_from:
                raise _Broken  # format 1 after format 2: an opening deleted, or a forged event
            return hashlib.sha256(prev + env + b"\n" + payload).digest()
        if self.format_2_from is None or position < self.format_2_from:
            raise _Broken  # pragma: no cover - openings_between reads none before the first
        if opening.redacted:
            self.redacted[position] = opening
        return format_2_hash(prev, env, payload, opening)

    async def _accounted(self) -> Finding | None:
        """Every erasure in the checked prefix named by a redaction event there, and every one it names done."""
        if not self.redacted and not self.erasures:
            return None
        openings = dict(self.redacted)
        sql = opening_statements(self.driver.sql.dialect)
        for target in {e.target for e in self.erasures} - set(openings):
            rows = await self.driver.fetch(sql.opening_at, target)
            if rows:
                with suppress(TypeError, ValueError):
                    openings[target] = opening_from_row(*rows[0][1:])
        problems = chain_v2.unjustified(openings, self.erasures)
        if not problems:
            return None
        position, problem = problems[0]
        return Finding(position, MODIFIED, f"event {position}: {problem}")

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
        first = await self.driver.fetch(opening_statements(self.driver.sql.dialect).first_opening)
        self.format_2_from = None if not first or first[0][0] is None else int(first[0][0])
        async with aclosing(self.driver.pages(self.driver.verify_events, (self.start,), EVENT_PAGE)) as paged:
            async for page in paged:
                await self._read_openings(expected - 1, expected - 1 + len(page))
                plain = not self.openings and (self.format_2_from is None or expected < self.format_2_from)
                for row in page:
                    try:
                        if row[0] != expected or row[12] != prev:
                            raise _Broken
                        env, payload = envelope(row, expected)
                        if plain:
                            digest = sha256(prev + env + b"\n" + payload).digest()
                        else:
                            digest = self._hash(prev, env, payload, expected)
                        if digest != row[13]:
                            raise _Broken
                    except (_Broken, TypeError, ValueError):
                        self._advance(expected - 1, prev)
                        return await self._diagnose(row, expected, prev)
                    if _CONTENT in payload:
                        ref = _content_ref(payload)
                        if ref is not None and ref[0] not in refs:
                            refs[ref[0]] = (expected, ref[1])
                            self.subjects[expected] = (row[2], row[3])
                            if ref[2] == "chunks":
                                self.manifests.add(ref[0])
                    if row[4] in _RETENTION:
                        self.last_retention = expected
                        if _DELETED in payload:
                            self._expire(payload)
                    elif row[4] in _REDACTION:
                        try:
                            self.erasures.extend(erasures_of(expected, codec.loads(payload)))
                        except (ValueError, TypeError):
                            self._advance(expected, digest)
                            return Finding(expected, MODIFIED, f"the redaction event at {expected} is malformed")
                    if expected == trusted_at and digest.hex() != trusted_hash:
                        self._advance(expected - 1, prev)
                        return Finding(expected, MODIFIED, _rewritten(expected, "trusted head"))
                    prev = digest
                    expected += 1
                self._advance(expected - 1, prev)
                if self.progress is not None:
                    self.progress(self.events_checked)
        found = await self._accounted()
        if found is not None:
            return found
        if self.trusted is not None and self.trusted.position > self.head.position:
            last = self.head.position
            return Finding(
                last + 1,
                DELETED,
                f"the log ends at position {last}, before the trusted head at position {self.trusted.position}: "
                f"events {_span(last + 1, self.trusted.position)} were deleted",
            )
        return None

    def _expire(self, payload: bytes) -> None:
        """A retention event deleted these blobs: from here on they may be missing (the log says so).
        A later event that references one again puts it back among the refs, so it must be there."""
        try:
            deleted = codec.loads(payload)["deleted"]
            hashes = [h for h, _ in deleted]
        except (ValueError, TypeError, KeyError):
            return
        for digest in hashes:
            if type(digest) is str:
                self.refs.pop(digest, None)
                self.manifests.discard(digest)

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

    async def _near(self, position: int) -> dict[int, Opening]:
        """The openings from ``position`` to ``REANCHOR_WINDOW`` past it (forensics only: read once)."""
        if self.format_2_from is None:
            return {}
        if self._forensic is None:
            self._forensic = {}
            sql = opening_statements(self.driver.sql.dialect)
            rows = await self.driver.fetch(sql.openings_between, position - 2, position + REANCHOR_WINDOW + 1)
            for at, salt, salts, erased in rows:
                try:
                    self._forensic[int(at)] = opening_from_row(salt, salts, erased)
                except (TypeError, ValueError):
                    continue
        return self._forensic

    async def _consistent(self, row: Sequence[Any], sealed_at: int) -> bool:
        """Whether the row's hash matches its fields sealed at ``sealed_at``, under format 1 or under the
        opening stored at its own position or at ``sealed_at`` (a row moved without its opening)."""
        near = await self._near(row[0] if type(row[0]) is int else sealed_at)
        openings: list[Opening | None] = [None]
        for at in (row[0], sealed_at):
            found = near.get(at) if type(at) is int else None
            if found is not None and found not in openings:
                openings.append(found)
        return any(_self_consistent(self.envelope, row, sealed_at, opening) for opening in openings)

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
            if self.format_2_from is not None and await self._consistent(row, p):
                # it hashes right on its own terms, only not with the opening stored for its position
                return Finding(
                    p,
                    INSERTED,
                    f"event {p} is not part of the chain: its hash matches its fields, but not the chain "
                    f"format 2 opening stored for position {p} (a forged or inserted event)",
                )
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
            if not await self._consistent(row, before + 1):
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
        if await self._consistent(row, p):
            return Finding(
                p,
                INSERTED,
                f"event {p} is not part of the chain: it links to a hash no event in the log has "
                "(a forged or inserted event)",
            )
        for sealed_at in range(p + 1, p + REANCHOR_WINDOW + 1):
            if await self._consistent(row, sealed_at):
                return Finding(
                    p,
                    DELETED,
                    f"event {p} was sealed at position {sealed_at}: position {_span(p, sealed_at - 1)} of the log "
                    f"{_is_are(p, sealed_at - 1)} deleted and later events renumbered",
                )
        return Finding(p, MODIFIED, f"event {p} was modified: its prev_hash and hash no longer match the chain")

    # -- 1b. retention runs -----------------------------------------------------------------------
    async def retention_runs(self) -> Finding | None:
        """Every retention event expired only what its own policy could expire on the log before it.

        A retention event is what lets content be missing, so one forged into a re-chained log could
        hide the deletion of any blob. The log holds everything a run decided from (the versions, the
        aliases, the holds, the earlier runs, and the run's policy and cutoff), so the decision is
        recomputed with the writer's own code (``retention.plan``) and each event's lists compared with
        it. Only a full run checks this: an incremental one does not read the log before its anchor.
        """
        if self.start != 0 or self.last_retention == 0:
            return None
        audit = RetentionAudit({p for p, opening in self.redacted.items() if erases_content(opening)})
        sql = retention_statements(self.driver.sql.dialect)
        position = 0
        while position < self.last_retention:
            rows = await self.driver.fetch(sql.plan_events, position, EVENT_PAGE)
            for pos, aid, version, kind, at, raw in rows:
                position = int(pos)
                if position > self.last_retention:
                    return None
                problem = audit.add(position, str(aid), int(version), str(kind), self.driver.read_ts(at), raw)
                if problem is not None:
                    return Finding(position, MODIFIED, f"event {position}: {problem}", artifact_id=audit.named)
            if len(rows) < EVENT_PAGE:
                break
        return None

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

    def log_steps(self, *, full: bool) -> list[tuple[Callable[[], Awaitable[Finding | None]], str]]:
        """The passes of ``verify`` that judge the log itself, in order, each with the reason of a row it
        cannot read: the chain, ``ledger_info``'s format switch, the log against the projections'
        checkpoints (and stray rows), the retention runs. ``rebuild`` runs the same ones (``full``)."""

        async def checkpoints() -> Finding | None:
            return await self.checkpoints(full=full)

        return [
            (self.read_marks_and_chain, MODIFIED),
            (self.format_switch, MODIFIED),
            (checkpoints, PROJECTION_DRIFT),
            (self.retention_runs, MODIFIED),
        ]

    async def format_switch(self) -> Finding | None:
        """``ledger_info``'s ``chain_format_2_from`` (where the writer starts sealing format 2) against the log.

        The row is the writer's input, not part of the chain, so a changed value would make it seal
        the next events under the wrong format (and ``verify`` then blame those honest events). Every
        state the ledger reaches keeps it at or before the first format-2 event (a new ledger: 1; an
        upgrade: right after its ``ledger.chain_upgraded`` event; an import: the first imported event
        with an opening, or what the ledger said already) and never past the next position."""
        rows = await self.driver.fetch(opening_statements(self.driver.sql.dialect).info_value, CHAIN_FORMAT_2_KEY)
        if not rows:
            if self.format_2_from is None:
                return None
            return Finding(
                None,
                MODIFIED,
                f"ledger_info has no {CHAIN_FORMAT_2_KEY} row but the events from position {self.format_2_from} are "
                "sealed under chain format 2: the row was deleted, and the next event would be sealed under format 1",
            )
        text = rows[0][0]
        switch = int(text) if isinstance(text, str) and text.isascii() and text.isdigit() else None
        last = self.head.position
        if switch is None or switch < 1:
            problem = f"is {text!r:.40}, not a log position"
        elif self.format_2_from is not None and switch > self.format_2_from:
            problem = (
                f"is {switch} but the events from position {self.format_2_from} are sealed under chain format 2: "
                f"the next event would be sealed under format 1"
            )
        elif switch > last + 1:
            problem = f"is {switch}, past the next position of the log ({last + 1})"
        else:
            return None
        return Finding(None, MODIFIED, f"ledger_info's {CHAIN_FORMAT_2_KEY} {problem} (a changed ledger_info row)")

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
        marks = sorted(self.marks.items(), key=lambda item: (type(item[1]) is not int, item[0]))
        for name, mark in marks:  # a position first: a mark that is none must not hide one that shows tampering
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
        if full and self.format_2_from is not None:
            rows = await self.driver.fetch(opening_statements(self.driver.sql.dialect).last_opening)
            beyond = rows[0][0] if rows else None
            if type(beyond) is int and beyond > last:
                return Finding(
                    last + 1,
                    DELETED,
                    f"ledger_openings holds the openings of events up to position {beyond} but the log ends at "
                    f"position {last}: events {_span(last + 1, beyond)} were deleted",
                )
        return None
