"""Property: for random command sequences and random past instants, ``find_by_id(as_of=t)``,
``build_tree(as_of=t)`` and ``find_by_id(version=n)`` equal the state obtained by replaying the log
up to that point; and a rebuild reproduces every projection (reverts included).

The replay here is written independently of the library's projector and temporal closure: it
folds the raw events read back with ``events_since`` into plain dicts. Commands run through the
manager one by one or several in one ``transaction()``; invalid ones (moving under a descendant,
touching a deleted artifact, ...) fail and append nothing, which the replay sees as well. The
clock only moves on ``Tick``, so several transactions often share an instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import async_sessionmaker
from test_closure_properties import SECRET, fresh_engine, projections
from ulid import ULID

import artifact_ledger
from artifact_ledger import (
    ArtifactIn,
    ArtifactManager,
    ArtifactOut,
    ArtifactRepository,
    ArtifactTreeNode,
    FixedClock,
    LedgerError,
    attribution,
)
from artifact_ledger.events import RecordedEvent

START = datetime(2026, 6, 1, tzinfo=UTC)
MAX_EXAMPLES = {"sqlite-file": 25, "sqlite-memory": 30, "postgresql": 20}

# ---- commands: targets are indices into the ids created so far (newest first, modulo their number)


@dataclass(frozen=True)
class Create:
    parent: int | None


@dataclass(frozen=True)
class Update:
    target: int
    parent: int | None  # None: keep the parent
    tagged: bool


@dataclass(frozen=True)
class Move:
    target: int
    parent: int | None


@dataclass(frozen=True)
class Delete:
    target: int
    cascade: bool


@dataclass(frozen=True)
class Restore:
    target: int


@dataclass(frozen=True)
class Revert:
    target: int
    version: int


@dataclass(frozen=True)
class Tick:
    seconds: int


Command = Create | Update | Move | Delete | Restore | Revert | Tick


@dataclass(frozen=True)
class Batch:
    commands: tuple[Command, ...]


index = st.integers(min_value=0, max_value=31)
command: st.SearchStrategy[Command] = st.one_of(
    st.builds(Create, index),
    st.builds(Tick, st.integers(min_value=1, max_value=3)),
    st.builds(Move, index, st.none() | index),
    st.builds(Update, index, st.none() | index, st.booleans()),
    st.builds(Create, st.none() | index),
    st.builds(Delete, index, st.booleans()),
    st.builds(Restore, index),
    st.builds(Revert, index, st.integers(min_value=1, max_value=6)),
)
step: st.SearchStrategy[Command | Batch] = command | st.builds(
    Batch, st.lists(command, min_size=2, max_size=4).map(tuple)
)
sequences = st.lists(step, min_size=8, max_size=22)
actors = st.sampled_from([None, "ann", "bob"])


@dataclass
class Run:
    clock: FixedClock
    known: list[ULID] = field(default_factory=list)
    counter: int = 0

    def pick(self, i: int | None) -> ULID | None:
        return None if i is None or not self.known else self.known[-1 - i % len(self.known)]


async def perform(manager: ArtifactManager, run: Run, cmd: Command) -> None:
    if isinstance(cmd, Tick):
        run.clock.advance(timedelta(seconds=cmd.seconds))
        return
    run.counter += 1
    data = {"n": run.counter}
    if isinstance(cmd, Create) or not run.known:
        parent = run.pick(cmd.parent) if isinstance(cmd, Create) else None
        out = await manager.save(ArtifactIn(parent_id=parent, data=data))
        run.known.append(out.id)
        return
    target = run.pick(cmd.target)
    assert target is not None
    if isinstance(cmd, Update):
        current = await manager.find_by_id(target, include_content=False)
        parent = current.parent_id if current is not None and cmd.parent is None else run.pick(cmd.parent)
        await manager.save(ArtifactIn(id=target, parent_id=parent, data=data, tags=["t"] if cmd.tagged else []))
    elif isinstance(cmd, Move):
        await manager.move(target, run.pick(cmd.parent))
    elif isinstance(cmd, Delete):
        await manager.delete_by_id(target, cascade=cmd.cascade)
    elif isinstance(cmd, Restore):
        await manager.restore(target)
    else:
        await manager.revert(target, to_version=cmd.version)


async def run_step(manager: ArtifactManager, run: Run, item: Command | Batch, actor: str | None) -> None:
    """Apply one command or batch; a refused one appends nothing (the replay sees exactly the log)."""
    known = list(run.known)
    with attribution(actor=actor):
        try:
            if isinstance(item, Batch):
                async with manager.transaction():
                    for cmd in item.commands:
                        await perform(manager, run, cmd)
            else:
                await perform(manager, run, item)
        except LedgerError:
            run.known = known  # ids created by a rolled-back batch never existed


# ---- the replay -------------------------------------------------------------------------------


def replay(events: Sequence[RecordedEvent]) -> dict[str, dict[str, Any]]:
    """Fold events (oldest first) into {id: state}; deleted artifacts keep ``deleted=True``."""
    states: dict[str, dict[str, Any]] = {}
    for e in events:
        p = e.payload
        s = states.get(e.artifact_id)
        if e.type == "artifact.created":
            s = states[e.artifact_id] = {"created_at": e.recorded_at, "created_by": e.actor}
        assert s is not None, f"{e.type} before created"
        if "data" in p:
            s.update(data=p["data"], tags=p["tags"])
        if "parent_id" in p:
            s["parent"] = p["parent_id"]
        if e.type == "artifact.moved":
            s["parent"] = p["to_parent_id"]
        s.update(version=e.version, deleted=e.type == "artifact.deleted", updated_at=e.recorded_at)
        s["updated_by"] = e.actor
    return states


def live(states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {aid: s for aid, s in states.items() if not s["deleted"]}


def level(states: dict[str, dict[str, Any]], aid: str) -> int:
    depth, parent = 0, states[aid]["parent"]
    while parent is not None:
        assert not states[parent]["deleted"], f"live {aid} below deleted {parent}"
        depth, parent = depth + 1, states[parent]["parent"]
    return depth


def expected_out(states: dict[str, dict[str, Any]], aid: str) -> tuple[Any, ...]:
    s = states[aid]
    return (
        aid,
        s["parent"],
        level(states, aid),
        s["version"],
        s["data"],
        s["tags"],
        s["created_at"],
        s["updated_at"],
        s["created_by"],
        s["updated_by"],
    )


def actual_out(out: ArtifactOut) -> tuple[Any, ...]:
    return (
        str(out.id),
        str(out.parent_id) if out.parent_id else None,
        out.level,
        out.version,
        out.data,
        out.tags,
        out.created_at,
        out.updated_at,
        out.created_by,
        out.updated_by,
    )


def expected_tree(states: dict[str, dict[str, Any]], aid: str) -> tuple[Any, ...]:
    alive = live(states)
    children = sorted(c for c, s in alive.items() if s["parent"] == aid)
    return (expected_out(states, aid), [expected_tree(states, c) for c in children])


def actual_tree(node: ArtifactTreeNode) -> tuple[Any, ...]:
    return (actual_out(node), [actual_tree(c) for c in node.children or []])


# ---- the property -----------------------------------------------------------------------------


async def check_instant(manager: ArtifactManager, events: list[RecordedEvent], ids: list[str], t: datetime) -> None:
    states = replay([e for e in events if e.recorded_at <= t])
    alive = live(states)
    for aid in ids:
        out = await manager.find_by_id(aid, as_of=t, include_content=False)
        if aid in alive:
            assert out is not None, f"{aid} at {t}: expected live"
            assert actual_out(out) == expected_out(states, aid), f"{aid} at {t}"
        else:
            assert out is None, f"{aid} at {t}: expected None, got version {out.version}"
    roots = sorted(aid for aid, s in alive.items() if s["parent"] is None)
    for root in roots:
        tree = await manager.build_tree(root, as_of=t, include_content=False)
        assert tree is not None
        assert actual_tree(tree) == expected_tree(states, root), f"tree of {root} at {t}"
    inner = sorted(aid for aid, s in alive.items() if s["parent"] is not None)[:2]
    for aid in inner:
        nodes = await manager.find_subtree(aid, as_of=t, include_content=False)
        assert str(nodes[0].id) == aid
        tree = await manager.build_tree(aid, as_of=t, include_content=False)
        assert tree is not None
        assert actual_tree(tree) == expected_tree(states, aid), f"subtree of {aid} at {t}"


async def scenario(
    backend: str, steps: Sequence[Command | Batch], who: Sequence[str | None], probes: list[int]
) -> None:
    async with fresh_engine(backend) as engine:
        clock = FixedClock(START, step=timedelta(0))
        run = Run(clock)
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            manager = ArtifactManager(ArtifactRepository(session, secret=SECRET, clock=clock))
            for item, actor in zip(steps, who, strict=True):
                await run_step(manager, run, item, actor)
            async with artifact_ledger.Ledger.open(engine, secret=SECRET) as ledger:
                events = await ledger.events_since(0, limit=100_000)
                live = await projections(engine)  # reverts included: rebuilt row for row
                assert await ledger.rebuild() == len(events)
                assert await projections(engine) == live
            assert events, "every sequence creates at least one artifact"
            ids = sorted(dict.fromkeys(e.artifact_id for e in events))
            stamps = sorted({e.recorded_at for e in events})
            instants = {START - timedelta(seconds=1), stamps[-1] + timedelta(seconds=1), *stamps}
            instants |= {START + timedelta(milliseconds=500 * p) for p in probes}
            for t in sorted(instants):
                await check_instant(manager, events, ids, t)
            for e in events:  # every version of every artifact, by version number
                states = replay([x for x in events if x.position <= e.position])
                out = await manager.find_by_id(e.artifact_id, version=e.version, include_content=False)
                if states[e.artifact_id]["deleted"]:
                    assert out is None
                else:
                    assert out is not None
                    assert actual_out(out) == expected_out(states, e.artifact_id), f"{e.artifact_id} v{e.version}"


def test_as_of_equals_replay_of_the_log(backend: str) -> None:
    @settings(
        max_examples=MAX_EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=sequences, data=st.data())
    def run(steps: list[Command | Batch], data: st.DataObject) -> None:
        who = data.draw(st.lists(actors, min_size=len(steps), max_size=len(steps)))
        probes = data.draw(st.lists(st.integers(min_value=0, max_value=120), max_size=4))
        asyncio.run(scenario(backend, steps, who, probes))

    run()
