"""Property: any sequence of commands leaves projections equal to the model, to the transitive
closure of the parent links, and to a rebuild from the log; the chain verifies.

Commands run through :class:`ArtifactManager` one by one, or several in one ``transaction()``
(all or nothing). A small in-Python model of parent links, deletions, versions and data says
which commands must fail and how. Hypothesis runs many examples per test, so each example gets
its own fresh database (the ``backend`` fixture only names which kind).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import artifact_ledger
from artifact_ledger import (
    ArtifactHasChildrenError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    ArtifactRepository,
    InvalidMoveError,
    Keyring,
    LedgerError,
)
from artifact_ledger.models import Artifact

PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SECRET = Keyring.from_secret("test-secret-for-the-suite")
MAX_EXAMPLES = {"sqlite-file": 40, "sqlite-memory": 40, "postgresql": 25}


# ---- commands --------------------------------------------------------------------------------
# Targets are indices into the ids created so far, newest first (modulo their number), live or deleted.


@dataclass(frozen=True)
class CreateRoot:
    pass


@dataclass(frozen=True)
class CreateChild:
    parent: int


@dataclass(frozen=True)
class Update:
    """Save new data; ``keep_parent=False`` also reparents through ``save`` (to ``parent``, None = root)."""

    target: int
    keep_parent: bool
    parent: int | None


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


Command = CreateRoot | CreateChild | Update | Move | Delete | Restore


@dataclass(frozen=True)
class Batch:
    commands: tuple[Command, ...]


index = st.integers(min_value=0, max_value=63)
command: st.SearchStrategy[Command] = st.one_of(
    # Hypothesis leans towards the first alternatives and small indices (= the newest ids): deep trees.
    st.builds(CreateChild, index),
    st.builds(Move, index, index),
    st.builds(CreateChild, index),
    st.builds(Move, index, st.none() | index),
    st.builds(Update, index, st.booleans(), st.none() | index),
    st.builds(Delete, index, st.booleans()),
    st.builds(Restore, index),
    st.just(CreateRoot()),
)
batch = st.builds(Batch, st.lists(command, min_size=1, max_size=4).map(tuple))
step: st.SearchStrategy[Command | Batch] = command | batch
sequences = st.lists(step, min_size=10, max_size=25)


# ---- the model ---------------------------------------------------------------------------------


@dataclass
class Model:
    known: list[str] = field(default_factory=list)
    parent: dict[str, str | None] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    version: dict[str, int] = field(default_factory=dict)
    data: dict[str, dict[str, int]] = field(default_factory=dict)
    counter: int = 0

    def pick(self, i: int | None) -> str | None:
        return None if i is None or not self.known else self.known[-1 - i % len(self.known)]

    def live(self) -> set[str]:
        return set(self.known) - self.deleted

    def children(self, aid: str) -> list[str]:
        return [a for a in self.known if a not in self.deleted and self.parent[a] == aid]

    def subtree(self, aid: str) -> list[str]:
        """``aid`` and its live descendants."""
        out = [aid]
        for a in out:
            out.extend(self.children(a))
        return out

    def next_data(self) -> dict[str, int]:
        self.counter += 1
        return {"n": self.counter}

    def expected_error(self, cmd: Command) -> type[LedgerError] | None:
        """The error the ledger must raise for ``cmd`` in this state, or None when it succeeds."""
        if not self.known:
            return None
        if isinstance(cmd, CreateRoot):
            return None
        if isinstance(cmd, CreateChild):
            return ArtifactNotFoundError if self.pick(cmd.parent) in self.deleted else None
        target = self.pick(cmd.target)
        assert target is not None
        if isinstance(cmd, Update | Move):
            if target in self.deleted:
                return ArtifactNotFoundError
            if isinstance(cmd, Update) and cmd.keep_parent:
                return None
            parent = self.pick(cmd.parent)
            if parent is not None and parent in self.deleted:
                return ArtifactNotFoundError
            if parent != self.parent[target] and parent in self.subtree(target):
                return InvalidMoveError
            return None
        if isinstance(cmd, Delete):
            if target not in self.deleted and not cmd.cascade and self.children(target):
                return ArtifactHasChildrenError
            return None
        parent = self.parent[target]  # Restore: the parent it had when deleted must be live
        if target in self.deleted and parent is not None and parent in self.deleted:
            return ArtifactNotFoundError
        return None


async def perform(manager: ArtifactManager, model: Model, cmd: Command) -> None:
    """Run ``cmd`` through the manager, then (only if it did not raise) apply it to the model."""
    if isinstance(cmd, CreateRoot) or (not model.known and isinstance(cmd, CreateChild)):
        data = model.next_data()
        out = await manager.save(ArtifactIn(data=data))
        model.known.append(str(out.id))
        model.parent[str(out.id)], model.version[str(out.id)], model.data[str(out.id)] = None, 1, data
        return
    if not model.known:
        return
    if isinstance(cmd, CreateChild):
        parent = model.pick(cmd.parent)
        data = model.next_data()
        out = await manager.save(ArtifactIn(data=data, parent_id=parent))
        model.known.append(str(out.id))
        model.parent[str(out.id)], model.version[str(out.id)], model.data[str(out.id)] = parent, 1, data
        return
    target = model.pick(cmd.target)
    assert target is not None
    if isinstance(cmd, Update):
        new_parent = model.parent[target] if cmd.keep_parent else model.pick(cmd.parent)
        data = model.next_data()
        await manager.save(ArtifactIn(id=target, parent_id=new_parent, data=data))
        model.version[target] += 1 + (new_parent != model.parent[target])
        model.parent[target], model.data[target] = new_parent, data
    elif isinstance(cmd, Move):
        new_parent = model.pick(cmd.parent)
        out = await manager.move(target, new_parent)
        assert (str(out.parent_id) if out.parent_id else None) == new_parent
        model.version[target] += new_parent != model.parent[target]
        model.parent[target] = new_parent
    elif isinstance(cmd, Delete):
        await manager.delete_by_id(target, cascade=cmd.cascade)
        if target not in model.deleted:
            for aid in model.subtree(target):
                model.deleted.add(aid)
                model.version[aid] += 1
    else:
        out = await manager.restore(target)
        assert out.version == model.version[target] + (target in model.deleted)
        if target in model.deleted:
            model.deleted.discard(target)
            model.version[target] += 1


async def run_step(manager: ArtifactManager, model: Model, item: Command | Batch) -> Model:
    """Apply one command (or a batch in one transaction); return the model after it."""
    if isinstance(item, Batch):
        trial = copy.deepcopy(model)
        expected: type[LedgerError] | None = None
        raised: LedgerError | None = None
        try:
            async with manager.transaction():
                for cmd in item.commands:
                    expected = trial.expected_error(cmd)
                    await perform(manager, trial, cmd)
                    assert expected is None, f"{cmd} in a batch should have raised {expected.__name__}"
        except LedgerError as exc:
            raised = exc
        if expected is None:
            assert raised is None, f"{item}: unexpected {raised!r}"
            return trial
        assert isinstance(raised, expected), f"{item}: expected {expected.__name__}, got {raised!r}"
        return model  # rolled back: nothing of the batch happened
    expected = model.expected_error(item)
    if expected is None:
        await perform(manager, model, item)
    else:
        with pytest.raises(expected):
            await perform(manager, model, item)
    return model


# ---- databases ------------------------------------------------------------------------------


@asynccontextmanager
async def fresh_engine(backend: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a new, empty database with the ledger tables; dropped afterwards."""
    if backend == "postgresql":
        schema = f"p_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Artifact.metadata.create_all)
            yield engine
        finally:
            await engine.dispose()
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = ":memory:" if backend == "sqlite-memory" else str(Path(tmp) / "ledger.db")
        engine = artifact_ledger.create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Artifact.metadata.create_all)
            yield engine
        finally:
            await engine.dispose()


async def rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql))).all()]


async def projections(engine: AsyncEngine) -> list[list[tuple[Any, ...]]]:
    return [
        await rows(engine, "SELECT * FROM ledger_artifacts ORDER BY id"),
        await rows(engine, "SELECT * FROM ledger_artifact_closure ORDER BY ancestor_id, descendant_id"),
        await rows(engine, "SELECT * FROM ledger_artifact_parent_history ORDER BY artifact_id, valid_from"),
    ]


async def checkpoints(engine: AsyncEngine) -> dict[str, int]:
    return {name: int(position) for name, position in await rows(engine, "SELECT * FROM ledger_checkpoints")}


def transitive_closure(parents: dict[str, str | None]) -> set[tuple[str, str, int]]:
    pairs: set[tuple[str, str, int]] = set()
    for aid in parents:
        node: str | None = aid
        depth = 0
        while node is not None:
            pairs.add((node, aid, depth))
            node = parents[node]
            depth += 1
            assert depth <= len(parents), f"cycle in parent links through {aid}"
    return pairs


async def check(engine: AsyncEngine, model: Model) -> None:
    artifacts = await rows(engine, "SELECT id, parent_id, level, version, data FROM ledger_artifacts")
    parents = {aid: parent for aid, parent, *_ in artifacts}
    assert all(p is None or p in parents for p in parents.values()), "a live artifact has a parent with no row"
    closure = set(await rows(engine, "SELECT ancestor_id, descendant_id, depth FROM ledger_artifact_closure"))
    expected = transitive_closure(parents)
    assert closure == expected, f"missing {expected - closure}, extra {closure - expected}"
    for aid, _parent, level, version, data in artifacts:
        assert level == max(n for _a, d, n in expected if d == aid), f"{aid}: level {level} is not its depth"
        assert version == model.version[aid], f"{aid}: version {version}, model {model.version[aid]}"
        assert json.loads(data) == model.data[aid]
    assert set(parents) == model.live()
    assert parents == {aid: model.parent[aid] for aid in model.live()}
    sql = "SELECT artifact_id, parent_id FROM ledger_artifact_parent_history WHERE valid_to IS NULL"
    assert dict(await rows(engine, sql)) == parents, "open parent links differ from the live parents"


async def scenario(backend: str, steps: Sequence[Command | Batch]) -> None:
    async with fresh_engine(backend) as engine:
        model = Model()
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            manager = ArtifactManager(ArtifactRepository(session, secret=SECRET))
            for item in steps:
                model = await run_step(manager, model, item)
        await check(engine, model)
        live = await projections(engine)
        events = sum(model.version.values())
        # A database nobody wrote to has no checkpoint rows yet; after a write they are at the head.
        assert await checkpoints(engine) == ({"artifacts": events, "closure": events} if events else {})
        async with artifact_ledger.Ledger.open(engine, secret=SECRET) as ledger:
            assert await ledger.rebuild() == events
            assert await projections(engine) == live
            assert await checkpoints(engine) == {"artifacts": events, "closure": events}
            report = await ledger.verify()
            assert report.ok, report
            assert report.events_checked == events


def test_projections_match_model_closure_and_rebuild(backend: str) -> None:
    @settings(
        max_examples=MAX_EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=sequences)
    def run(steps: list[Command | Batch]) -> None:
        asyncio.run(scenario(backend, steps))

    run()
