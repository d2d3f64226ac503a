"""Long random histories, checked after every step (hypothesis stateful testing).

A :class:`RuleBasedStateMachine` drives save / update / move / delete / restore / revert over
many artifacts, keeping a small model of every version (parent, data, deleted). After *each*
step the database must hold: the closure table equal to the transitive closure of the parent
links, every level equal to its depth, every live row equal to the fold of its stream in the
log, and the model's live artifacts. When a history ends, a rebuild changes nothing.

Distinct from ``tests/property/test_closure_properties.py``, which generates a whole command
list and checks once at the end: here the invariants are step-wise, so the first step that
breaks one is the one hypothesis shrinks to.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from reliability_support import PG_URL, SECRET, all_events, check_log_and_rebuild, size
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from artifact_ledger import (
    ArtifactHasChildrenError,
    ArtifactIn,
    ArtifactManager,
    ArtifactNotFoundError,
    InvalidMoveError,
    Ledger,
    LedgerError,
    VersionNotFoundError,
    create_engine,
)
from artifact_ledger.decide import fold
from artifact_ledger.models import Artifact

T = TypeVar("T")
STEPS_CHECKED = {"steps": 0}


@dataclass(frozen=True)
class Snap:
    parent: str | None
    data: dict[str, int]
    deleted: bool = False


class LedgerHistory(RuleBasedStateMachine):
    backend = "sqlite-memory"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.schema: str | None = None
        self.engine = self.run(self.open_engine())
        self.ledger = Ledger(self.engine, keyring=SECRET)
        self.session = self.ledger.sessions()
        self.manager = ArtifactManager(self.ledger.repository(self.session))
        self.versions: dict[str, list[Snap]] = {}
        self.counter = 0

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    async def open_engine(self) -> AsyncEngine:
        if self.backend == "postgresql":
            self.schema = f"t_{uuid.uuid4().hex[:12]}"
            async with create_async_engine(PG_URL).begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            engine = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": self.schema}})
        elif self.backend == "sqlite-file":
            engine = create_engine(f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'ledger.db'}")
        else:
            engine = create_engine("sqlite+aiosqlite:///:memory:")
        async with engine.begin() as conn:
            await conn.run_sync(Artifact.metadata.create_all)
        return engine

    # ---- the model ------------------------------------------------------------------------
    def ids(self) -> list[str]:
        return sorted(self.versions)

    def pick(self, index: int | None, *, live: bool | None = None) -> str | None:
        """The ``index``-th id (modulo), among the live or deleted ones only when ``live`` says so."""
        ids = [i for i in self.ids() if live is None or self.live(i) == live]
        return None if index is None or not ids else ids[index % len(ids)]

    def now(self, aid: str) -> Snap:
        return self.versions[aid][-1]

    def live(self, aid: str | None) -> bool:
        return aid is not None and aid in self.versions and not self.now(aid).deleted

    def subtree(self, aid: str) -> list[str]:
        found = [aid]
        for node in found:
            found.extend(i for i in self.ids() if self.live(i) and self.now(i).parent == node)
        return found

    def new_data(self) -> dict[str, int]:
        self.counter += 1
        return {"n": self.counter}

    def expect(self, error: type[LedgerError] | None, action: Awaitable[Any]) -> bool:
        """Run ``action``; it must raise ``error`` (model unchanged) or succeed when ``error`` is None."""
        if error is None:
            self.run(action)
            return True
        with pytest.raises(error):
            self.run(action)
        return False

    def parent_error(self, parent: str | None) -> type[LedgerError] | None:
        return ArtifactNotFoundError if parent is not None and not self.live(parent) else None

    # ---- rules ----------------------------------------------------------------------------
    @initialize(shape=st.lists(st.none() | st.integers(0, 99), min_size=2, max_size=8))
    def forest(self, shape: list[int | None]) -> None:
        """A few artifacts to start from (None: a root; n: a child of an earlier one), so every rule has targets."""
        for parent in shape:
            self.create(parent)

    @rule(parent=st.none() | st.integers(0, 99))
    def create(self, parent: int | None) -> None:
        pid, data = self.pick(parent), self.new_data()
        error = self.parent_error(pid)
        if error is not None:
            self.expect(error, self.manager.save(ArtifactIn(parent_id=pid, data=data)))
            return
        out = self.run(self.manager.save(ArtifactIn(parent_id=pid, data=data)))
        self.versions[str(out.id)] = [Snap(pid, data)]

    @rule(which=st.integers(0, 99))
    def update(self, which: int) -> None:
        aid = self.pick(which, live=True)
        if aid is None:
            return
        now, data = self.now(aid), self.new_data()
        item = ArtifactIn(id=aid, parent_id=now.parent, data=data)
        self.run(self.manager.save(item, expected_version=len(self.versions[aid])))
        self.versions[aid].append(Snap(now.parent, data))

    @rule(which=st.integers(0, 99), parent=st.none() | st.integers(0, 99))
    def move(self, which: int, parent: int | None) -> None:
        aid, pid = self.pick(which, live=True), self.pick(parent)
        if aid is None:
            return
        now = self.now(aid)
        error = self.parent_error(pid)
        if error is None and pid != now.parent and pid in self.subtree(aid):
            error = InvalidMoveError
        if self.expect(error, self.manager.move(aid, pid)) and pid != now.parent:
            self.versions[aid].append(Snap(pid, now.data))

    @rule(which=st.integers(0, 99), cascade=st.booleans())
    def delete(self, which: int, cascade: bool) -> None:
        aid = self.pick(which)
        if aid is None:
            return
        doomed = self.subtree(aid) if self.live(aid) else []
        error = ArtifactHasChildrenError if len(doomed) > 1 and not cascade else None
        if self.expect(error, self.manager.delete_by_id(aid, cascade=cascade)):
            for i in doomed:
                self.versions[i].append(Snap(self.now(i).parent, self.now(i).data, deleted=True))

    @rule(which=st.integers(0, 99))
    def restore(self, which: int) -> None:
        aid = self.pick(which, live=which % 5 == 0)  # now and then restore a live one: a no-op
        if aid is None:
            return
        now = self.now(aid)
        error = self.parent_error(now.parent) if now.deleted else None
        if self.expect(error, self.manager.restore(aid)) and now.deleted:
            self.versions[aid].append(Snap(now.parent, now.data))

    @rule(which=st.integers(0, 99), to=st.integers(1, 50))
    def revert(self, which: int, to: int) -> None:
        aid = self.pick(which, live=True)
        if aid is None:
            return
        history, now = self.versions[aid], self.now(aid)
        old = history[(to - 1) % len(history)]
        to_version = (to - 1) % len(history) + 1
        error: type[LedgerError] | None = VersionNotFoundError if old.deleted else None
        if error is None and old.parent != now.parent:
            error = self.parent_error(old.parent)
            if error is None and old.parent in self.subtree(aid):
                error = InvalidMoveError
        changed = (old.parent, old.data) != (now.parent, now.data)
        if self.expect(error, self.manager.revert(aid, to_version=to_version)) and changed:
            history.append(Snap(old.parent, old.data))

    # ---- the step-wise invariants ---------------------------------------------------------
    @invariant()
    def projections_match_closure_depth_fold_and_model(self) -> None:
        STEPS_CHECKED["steps"] += 1
        self.run(self.check())

    async def check(self) -> None:
        await self.session.commit()  # end the session's read transaction: see every committed write
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, parent_id, level, version, data FROM ledger_artifacts"))).all()
            closure = set((await conn.execute(text("SELECT * FROM ledger_artifact_closure"))).all())
        parents = {r.id: r.parent_id for r in rows}
        expected: set[tuple[str, str, int]] = set()
        for aid in parents:
            node, depth = aid, 0
            while node is not None:
                expected.add((node, aid, depth))
                node, depth = parents[node], depth + 1
        assert {tuple(c) for c in closure} == expected
        for r in rows:  # the level is the depth below the root: the longest path up
            assert r.level == max(depth for (_, d, depth) in expected if d == r.id)
        streams: dict[str, list[Any]] = {}
        for event in await all_events(self.ledger):
            streams.setdefault(event.artifact_id, []).append(event)
        folded = {aid: fold(events) for aid, events in streams.items()}
        live = {aid: s for aid, s in folded.items() if s is not None and not s.deleted}
        db = {r.id: (r.parent_id, r.version, json.loads(r.data) if isinstance(r.data, str) else r.data) for r in rows}
        assert db == {aid: (s.parent_id, s.version, s.data) for aid, s in live.items()}
        model = {aid: (v[-1].parent, len(v), v[-1].data) for aid, v in self.versions.items() if not v[-1].deleted}
        assert db == model

    def teardown(self) -> None:
        try:
            self.run(self.session.close())
            self.run(check_log_and_rebuild(self.ledger))
        finally:
            self.run(self.engine.dispose())
            if self.schema is not None:
                self.run(self.drop_schema())
            self.loop.close()
            self.tmp.cleanup()

    async def drop_schema(self) -> None:
        admin = create_async_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        await admin.dispose()


EXAMPLES = {"sqlite-memory": 40, "sqlite-file": 20, "postgresql": 20}


@pytest.mark.parametrize("backend", ["sqlite-memory", "sqlite-file", "postgresql"])
def test_random_histories_keep_every_invariant_at_every_step(backend: str) -> None:
    machine = type(f"LedgerHistory_{backend.replace('-', '_')}", (LedgerHistory,), {"backend": backend})
    before = STEPS_CHECKED["steps"]
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=size(f"examples_{backend.replace('-', '_')}", EXAMPLES[backend]),
            stateful_step_count=size("steps", 50),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    checked = STEPS_CHECKED["steps"] - before
    assert checked > 0
    print(f"\n{backend}: {checked} steps checked")
