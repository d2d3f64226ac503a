"""What an import checks against the target before it writes: where the bundle meets the log, the rules.

One comparison of hashes says whether the target's log leads into the bundle (empty, a prefix of
it, holding all of it) or holds another history (:class:`ImportConflictError`, naming the first
differing position); the events past the target's head are held to the write rules against the
target's own streams (:class:`~artifact_ledger.bundle_check.EventRules`); after the events go in,
the Merkle tree they grew must have the manifest's root; each retention run of an incremental bundle
must expire only what its recorded policy expires on the target's log and the bundle's events before
it (:func:`check_retention`). All of it reads; none of it writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime

from . import codec
from . import verify_bundle as spec
from .bundle import Bundle
from .bundle_check import EventRules, NeedState, state_digest
from .chain import format_time
from .chain_check import RetentionAudit, erases_content
from .chain_v2 import Opening
from .decide import ArtifactState, evolve
from .errors import BundleRuleError, ChainBrokenError, LedgerError
from .events import RETENTION_APPLIED
from .proofs import Extender
from .store.event_store import read_stream
from .store.openings import opening_from_row, opening_statements
from .store.recorder import Recorder
from .store.retention import PLAN_TYPES, retention_statements
from .store.rows import HASH, POSITION

PAGE = 5000
"""Events (and ids) read or checked per statement."""


class ImportConflictError(LedgerError):
    """The target ledger already holds a history that is not the bundle's; nothing was written."""


@dataclass(frozen=True)
class LedgerHead:
    position: int
    hash: str
    recorded_at: str | None


async def target_head(driver: Recorder) -> LedgerHead:
    rows = await driver.fetch(driver.sql.head)
    if not rows or rows[0][0] is None:
        return LedgerHead(0, codec.GENESIS_HASH.hex(), None)
    return LedgerHead(int(rows[0][0]), driver.read_bytes(rows[0][1]).hex(), format_time(driver.read_ts(rows[0][2])))


async def _ledger_hash(driver: Recorder, position: int) -> str:
    if position == 0:
        return codec.GENESIS_HASH.hex()
    rows = await driver.fetch(driver.sql.hash_at, position)
    return driver.read_bytes(rows[0][0]).hex() if rows else ""


def _bundle_hash(bundle: Bundle, position: int) -> str:
    """The hash the bundle gives event ``position`` (``first_position - 1``: its ``prev_hash``)."""
    manifest = bundle.manifest
    if position == manifest.first_position - 1:
        return manifest.prev_hash
    if position == manifest.head_position:
        return manifest.head_hash
    for event in bundle.events():
        if event.position == position:
            return event.hash
    return ""


async def _first_difference(driver: Recorder, bundle: Bundle, upto: int) -> int:
    """The first position (up to ``upto``) where the ledger's event is not the bundle's (a verified chain: one pass)."""
    start = bundle.manifest.first_position
    if await _ledger_hash(driver, start - 1) != bundle.manifest.prev_hash:
        return start - 1
    ledger = driver.pages(driver.sql.events_from, (start - 1,), PAGE)
    bundled = bundle.events()
    async with aclosing(ledger) as paged:
        async for rows in paged:
            for row in rows:
                event = next(bundled, None)
                if event is None or int(row[POSITION]) > upto or driver.read_bytes(row[HASH]).hex() != event.hash:
                    return min(int(row[POSITION]), upto)
    return upto


def _conflict(bundle: Bundle, position: int, ledger_head: int) -> ImportConflictError:
    if position == bundle.manifest.first_position - 1:
        return ImportConflictError(
            f"bundle {bundle.path} continues from event {position}, but the ledger's event {position} is another "
            f"one: the ledger (head {ledger_head}) holds a different history; import into an empty database"
        )
    return ImportConflictError(
        f"bundle {bundle.path} and the ledger (head {ledger_head}) differ from position {position} on "
        f"({spec.EVENTS} line {position - bundle.manifest.first_position + 1}): the ledger holds a different "
        "history; import into an empty database"
    )


def check_merkle_root(bundle: Bundle, merkle: Extender | None) -> None:
    """The root of the ledger's tree grown by the bundle's events must be the manifest's (when it has one)."""
    manifest = bundle.manifest
    if merkle is None or manifest.merkle_root is None:
        return  # a bundle written before the Merkle tree: its events' chain was checked, and the tree grown
    root = merkle.frontier.root().hex()
    if root != manifest.merkle_root:
        raise BundleRuleError(
            f"bundle {bundle.path}: the ledger's Merkle tree grown by the bundle's events to {merkle.frontier.size} "
            f"has the root {root}, but {spec.MANIFEST} says merkle_root {manifest.merkle_root} (rule: merkle-root); "
            "nothing was imported",
            file=spec.MANIFEST,
            line=None,
            rule="merkle-root",
        )


async def check_start(driver: Recorder, bundle: Bundle, head: LedgerHead) -> bool:
    """Refuse a ledger whose log does not lead into the bundle; True when it already holds every event.

    The chain makes one comparison enough: two logs with the same hash at a position agree
    on every event up to it. Only a refusal looks further, to name the first differing position.
    """
    manifest = bundle.manifest
    if head.position == 0:
        if manifest.first_position != 1:
            raise ImportConflictError(
                f"the bundle starts at position {manifest.first_position} (an incremental export) but the ledger "
                "is empty; import the bundle it continues first"
            )
        return False
    if head.position < manifest.first_position - 1:
        raise ImportConflictError(
            f"the ledger ends at position {head.position} but the bundle continues from "
            f"{manifest.first_position - 1}; import the bundles in between first"
        )
    shared = min(head.position, manifest.head_position)
    if await _ledger_hash(driver, shared) != _bundle_hash(bundle, shared):
        raise _conflict(bundle, await _first_difference(driver, bundle, shared), head.position)
    return head.position >= manifest.head_position


async def _target_state(
    driver: Recorder, artifact_id: str
) -> tuple[tuple[int, str | None, bool] | None, list[tuple[str | None, int] | None]]:
    """(version, parent, deleted) of a stream by the target's log (None: no events), and its states per version."""
    state: ArtifactState | None = None
    states: list[tuple[str | None, int] | None] = []
    for event in await read_stream(driver, artifact_id):
        state = evolve(state, event)
        digest = state_digest(state.data, state.content.to_json() if state.content else None, list(state.tags))
        states.append(None if state.deleted else (state.parent_id, digest))
    return (None if state is None else (state.version, state.parent_id, state.deleted)), states


async def _target_children(driver: Recorder, artifact_id: str) -> int:
    """How many live children ``artifact_id`` has in the target (live descendants by the projections,
    their depth by the closure: two reads whatever the subtree's size; ``verify`` checks both)."""
    below = [str(r[0]) for r in await driver.fetch(driver.sql.children_in_subtree, artifact_id)]
    count = 0
    for start in range(0, len(below), PAGE):
        rows = await driver.fetch(driver.sql.closure_of, driver.id_list(below[start : start + PAGE]))
        count += sum(1 for _d, ancestor, depth in rows if ancestor == artifact_id and int(depth) == 1)
    return count


async def check_rules(driver: Recorder, bundle: Bundle, head: LedgerHead) -> None:
    """Hold the events after the ledger's head to the write rules, against the target's log (no writes)."""
    rules = EventRules(str(bundle.path), bundle.manifest.first_position, complete=False, last_time=head.recorded_at)
    for event in bundle.events():
        if event.position <= head.position:
            continue
        while True:
            try:
                rules.check(event)
                break
            except NeedState as need:
                if need.what == "stream":
                    rules.learn(need.artifact_id, *await _target_state(driver, need.artifact_id))
                else:
                    rules.learn_children(need.artifact_id, await _target_children(driver, need.artifact_id))


# ---- retention runs against their policy ------------------------------------------------------------
RETENTION_PLAN = "retention-plan"
"""The rule a retention run breaks when it expires (or deletes) what its recorded policy keeps."""


def _opening_of(event: spec.Event) -> Opening | None:
    found = event.opening
    return None if found is None else Opening(found.salt, found.salts, found.erased)


def _event_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _retention_scan(bundle: Bundle, head: LedgerHead) -> tuple[int, set[int]]:
    """The position of the bundle's last retention event past the target's head (0: none), and the
    positions of the bundle's events whose content a redaction erased (as the log will hold them)."""
    last, erased = 0, set()
    for event in bundle.events():
        if event.type == RETENTION_APPLIED and event.position > head.position:
            last = event.position
        if erases_content(_opening_of(event)):
            erased.add(event.position)
    return last, erased


async def _erased_here(driver: Recorder, low: int, high: int) -> set[int]:
    """The positions ``low < p <= high`` of the target whose stored opening shows the content erased."""
    erased: set[int] = set()
    statement = opening_statements(driver.sql.dialect).openings_between
    async with aclosing(driver.pages(statement, (low, high), PAGE)) as paged:
        async for rows in paged:
            for position, salt, salts, leaves in rows:
                try:
                    if erases_content(opening_from_row(salt, salts, leaves)):
                        erased.add(int(position))
                except (TypeError, ValueError):
                    continue  # an opening that cannot be read: ``verify`` names it
    return erased


async def _fold_target(driver: Recorder, audit: RetentionAudit, head: LedgerHead) -> None:
    """Fold the target's own retention facts (its states, aliases, holds and runs), a page at a time.

    The target's runs are held to the same check: one that fails is a damaged log
    (:class:`~artifact_ledger.errors.ChainBrokenError`), which ``verify`` names too."""
    plan_events = retention_statements(driver.sql.dialect).plan_events
    first_opening = (await driver.fetch(opening_statements(driver.sql.dialect).first_opening))[0][0]
    position = 0
    while position < head.position:
        rows = await driver.fetch(plan_events, position, PAGE)
        if not rows:
            return
        if first_opening is not None:
            audit.erased.update(await _erased_here(driver, position, min(int(rows[-1][0]), head.position)))
        for at_position, aid, version, kind, at, raw in rows:
            position = int(at_position)
            if position > head.position:
                return
            problem = audit.add(position, str(aid), int(version), str(kind), driver.read_ts(at), raw)
            if problem is not None:
                raise ChainBrokenError(
                    f"this ledger's own event {position} fails the retention check: {problem}. Nothing was "
                    "imported; find the damage with `artifact-ledger verify`",
                    position=position,
                )
        if len(rows) < PAGE:
            return


def _new_plan_events(bundle: Bundle, head: LedgerHead, last: int) -> Iterator[spec.Event]:
    """The bundle's events past the target's head that a retention plan reads, up to position ``last``."""
    for event in bundle.events():
        if event.position > last:
            return
        if event.position > head.position and event.type in PLAN_TYPES:
            yield event


async def check_retention(driver: Recorder, bundle: Bundle, head: LedgerHead) -> None:
    """Each retention run of an incremental bundle expires only what its recorded policy expires on the
    target's log and the bundle's events before it, and deletes no blob a version it keeps needs.

    The bundle's verifier checks the runs of a bundle from position 1 (it holds the whole log); an
    incremental bundle's runs can only be checked here, against the target's own log, before any of
    them deletes a blob. A run that fails is :class:`~artifact_ledger.errors.BundleRuleError` (rule
    ``retention-plan``) naming the run, the artifact and the version. Nothing is read when the
    bundle holds no retention event past the target's head.
    """
    if bundle.manifest.first_position == 1:
        return  # load_bundle held every run to its plan over the whole log
    last, erased = _retention_scan(bundle, head)
    if last == 0:
        return
    audit = RetentionAudit(erased)
    await _fold_target(driver, audit, head)
    first = bundle.manifest.first_position
    for event in _new_plan_events(bundle, head, last):
        problem = audit.add(
            event.position, event.artifact_id, event.version, event.type, _event_time(event.recorded_at), event.payload
        )
        if problem is not None:
            line = event.position - first + 1
            raise BundleRuleError(
                f"bundle {bundle.path}: {spec.EVENTS} line {line} (position {event.position}): {problem}, on this "
                f"ledger's log and the bundle's events before it. Nothing was imported (rule: {RETENTION_PLAN})",
                file=spec.EVENTS,
                line=line,
                rule=RETENTION_PLAN,
            )
