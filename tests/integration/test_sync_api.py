"""artifact_ledger.sync on SQLite (file and memory) and PostgreSQL: every manager and ledger method
without await, errors unchanged, transactions, attribution, inside a running loop, and misuse."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import (
    ArtifactHasChildrenError,
    ArtifactIn,
    ArtifactNotFoundError,
    ConcurrencyError,
    FixedClock,
    InvalidArgumentError,
    Ledger,
    create_engine,
    sync,
)
from artifact_ledger.sync import SyncUsageError
from ledger_support import BACKENDS, HIERARCHY, PG_URL, SECRET


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | URL | AsyncEngine]:
    """A URL (SQLite) or an unconnected engine on a fresh PostgreSQL schema: sync.Ledger.open's argument."""
    if request.param == "sqlite-file":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    elif request.param == "sqlite-memory":
        yield "sqlite+aiosqlite:///:memory:"
    else:
        schema = request.getfixturevalue("pg_schema")
        engine = create_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
        yield engine
        # The sync ledger disposed of its pool on its own loop; drop whatever a test left without awaiting.
        engine.sync_engine.dispose(close=False)


def opened(where: str | URL | AsyncEngine, **options: object) -> sync.Ledger:
    return sync.Ledger.open(where, secret=SECRET, **options).__enter__()


def test_every_manager_method_without_await(where: str | URL | AsyncEngine) -> None:
    clock = FixedClock(datetime(2026, 5, 1, tzinfo=UTC), step=timedelta(seconds=1))
    with sync.Ledger.open(where, secret=SECRET, clock=clock) as ledger:
        check_manager(ledger)
        report = ledger.verify()
        assert report.ok
        assert report.events_checked == 8
        assert ledger.head().position == 8
        assert [e.position for e in ledger.events_since(6)] == [7, 8]
        assert ledger.rebuild() == 8
        assert ledger.ledger_id is not None


def check_manager(ledger: sync.Ledger) -> None:
    with ledger.manager(HIERARCHY) as m:
        root = m.save(ArtifactIn(data={"name": "run", "content": b"weights"}))
        a, b = m.save_all(
            [ArtifactIn(parent_id=root.id, data={"name": "a"}), ArtifactIn(parent_id=root.id, data={"name": "b"})]
        )
        assert (root.level, a.level, b.level) == (0, 1, 1)
        found = m.find_by_id(root.id)
        assert found is not None
        assert found.data["content"] == b"weights"
        moved = m.move(b.id, a.id)
        assert (moved.parent_id, moved.level) == (a.id, 2)
        updated = m.save(ArtifactIn(id=a.id, data={"name": "a2"}))
        assert updated.version == 2
        assert m.find_by_id(a.id, version=1).data == {"name": "a"}  # type: ignore[union-attr]
        assert m.revert(a.id, to_version=1).data == {"name": "a"}
        assert [c.op for c in m.diff(a.id, 1, 2).data] == ["replace"]
        assert [v.event_type for v in m.history(a.id)] == ["artifact.created", "artifact.updated", "artifact.reverted"]
        assert m.count() == 3
        assert m.exists_by_id(b.id)
        assert [n.id for n in m.find_subtree(root.id)] == [root.id, a.id, b.id]
        tree = m.build_tree(root.id)
        assert tree is not None
        assert [child.id for child in tree.children or []] == [a.id]
        assert [child.id for child in (tree.children or [])[0].children or []] == [b.id]
        assert m.expand_artifact(b.id).level_label == "evaluation"  # type: ignore[union-attr]
        assert m.get_root_artifact(b.id).id == root.id  # type: ignore[union-attr]
        assert [x.id for x in m.find_all()] == sorted([root.id, a.id, b.id])
        assert [x.id for x in m.iter_all(page_size=2)] == sorted([root.id, a.id, b.id])
        assert [x.id for x in m.find_all_by_id([b.id, a.id])] == sorted([a.id, b.id])
        page, total = m.find_paginated(1, 2)
        assert (len(page), total) == (2, 3)
        m.delete_by_id(b.id)
        assert m.find_by_id(b.id) is None
        assert m.restore(b.id).version == 4
        audit = m.audit(artifact_id=b.id)
        assert [e.event_type for e in audit.entries] == [
            "artifact.created",
            "artifact.moved",
            "artifact.deleted",
            "artifact.restored",
        ]
        assert m.hierarchy == HIERARCHY


def test_errors_pass_through_unchanged(where: str | URL | AsyncEngine) -> None:
    with sync.Ledger.open(where, secret=SECRET) as ledger, ledger.manager() as m:
        parent = m.save(ArtifactIn(data={"name": "p"}))
        m.save(ArtifactIn(parent_id=parent.id, data={"name": "c"}))
        missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        with pytest.raises(ArtifactNotFoundError) as not_found:
            m.save(ArtifactIn(parent_id=missing, data={}))
        assert type(not_found.value) is ArtifactNotFoundError
        assert missing in str(not_found.value)
        with pytest.raises(ConcurrencyError) as conflict:
            m.save(ArtifactIn(id=parent.id, data={"name": "q"}), expected_version=5)
        assert (conflict.value.expected, conflict.value.actual) == (5, 1)
        with pytest.raises(ArtifactHasChildrenError):
            m.delete_by_id(parent.id)
        with pytest.raises(InvalidArgumentError):
            m.find_paginated(0, 10)
        assert m.count() == 2  # nothing half-written, the manager still works


def test_transaction_commits_all_or_nothing(where: str | URL | AsyncEngine) -> None:
    with sync.Ledger.open(where, secret=SECRET) as ledger:
        with ledger.transaction() as m:
            first = m.save(ArtifactIn(data={"n": 1}))
            m.save(ArtifactIn(parent_id=first.id, data={"n": 2}))
        with ledger.manager() as m:

            def abandoned() -> None:
                with m.transaction():
                    m.save(ArtifactIn(data={"n": 3}))
                    raise RuntimeError("give up")

            with pytest.raises(RuntimeError, match="give up"):
                abandoned()
        with ledger.manager() as m:
            assert m.count() == 2
        assert ledger.verify().events_checked == 2


def test_context_attributes_writes(where: str | URL | AsyncEngine) -> None:
    with sync.Ledger.open(where, secret=SECRET) as ledger, ledger.manager() as m:
        with ledger.context(actor="alice", reason="review"):
            saved = m.save(ArtifactIn(data={"n": 1}))
        other = m.save(ArtifactIn(data={"n": 2}), actor="bob")
        assert (saved.created_by, other.created_by) == ("alice", "bob")
        assert m.history(saved.id)[0].reason == "review"


async def test_called_from_a_running_loop(where: str | URL | AsyncEngine) -> None:
    """Inside ``async def`` (as in Jupyter) the calls run on the ledger's own thread and block this loop."""
    asyncio.get_running_loop()
    with sync.Ledger.open(where, secret=SECRET) as ledger, ledger.manager() as m:
        saved = m.save(ArtifactIn(data={"n": 1}))
        assert m.find_by_id(saved.id) is not None
        assert ledger.verify().ok


def test_calling_back_from_the_ledgers_own_thread_is_refused(where: str | URL | AsyncEngine) -> None:
    with sync.Ledger.open(where, secret=SECRET) as ledger:
        with ledger.manager() as m:
            m.save(ArtifactIn(data={"n": 1}))
        threads: list[str] = []

        def progress(_: int) -> None:
            threads.append(threading.current_thread().name)
            ledger.head()  # would wait for the loop it is running on

        with pytest.raises(SyncUsageError, match="its own event loop's thread"):
            ledger.rebuild(progress=progress)
        assert threads == ["artifact-ledger-sync"]
        assert ledger.verify().ok  # the ledger is still usable


def test_a_closed_ledger_says_so(where: str | URL | AsyncEngine) -> None:
    with sync.Ledger.open(where, secret=SECRET) as ledger, ledger.manager() as m:
        m.save(ArtifactIn(data={"n": 1}))
    with pytest.raises(SyncUsageError, match="closed"):
        ledger.verify()
    with pytest.raises(SyncUsageError, match="closed"):
        m.count()
    assert not any(t.name == "artifact-ledger-sync" and t.is_alive() for t in threading.enumerate())


def test_open_refusal_is_the_async_error(tmp_path: Path) -> None:
    """Ledger.open's own errors come through (and the loop thread is stopped)."""
    from artifact_ledger import LedgerNotFoundError

    with (
        pytest.raises(LedgerNotFoundError),
        sync.Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}", create=False),
    ):
        pass
    assert not (tmp_path / "none.db").exists()
    assert not any(t.name == "artifact-ledger-sync" and t.is_alive() for t in threading.enumerate())


def test_holds_redaction_and_retention_without_await(where: str | URL | AsyncEngine) -> None:
    with sync.Ledger.open(where, secret=SECRET) as ledger:
        with ledger.manager() as m:
            a = m.save(ArtifactIn(data={"name": "x", "email": "x@example.org", "content": b"one"}))
            assert m.hold(a.id, "audit").held
            assert m.holds() == [str(a.id)]
            assert not m.release(a.id, "done").held
            done = m.redact(a.id, fields=["email"], reason="erasure")
            assert done.erased == [(1, 1, ['["data","email"]'])]
            assert m.find_by_id(a.id).data == {"name": "x", "content": b"one"}  # type: ignore[union-attr]
        assert ledger.upgrade_chain(reason="already") == 1
        assert ledger.gc().dry_run
        assert ledger.verify().ok


def test_one_engine_serves_one_sync_ledger_after_another(where: str | URL | AsyncEngine) -> None:
    """Each sync ledger runs its own loop and asyncpg connections belong to the loop that made
    them: the second ``open`` of one engine used to fail with "attached to a different loop"."""
    for n in (1, 2):
        with sync.Ledger.open(where, secret=SECRET) as ledger, ledger.manager() as m:
            m.save(ArtifactIn(data={"n": n}))
            assert m.count() == (1 if where == "sqlite+aiosqlite:///:memory:" else n)
        assert not any(t.name == "artifact-ledger-sync" and t.is_alive() for t in threading.enumerate())


async def test_an_engine_used_on_the_callers_loop_is_taken_over_and_handed_back(
    where: str | URL | AsyncEngine,
) -> None:
    """Idle connections pooled on the caller's loop are not used on the sync ledger's, and after
    it closes the engine works on the caller's loop again (a SQLite :memory: engine keeps its data)."""
    engine = where if isinstance(where, AsyncEngine) else create_engine(where)
    try:
        async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as m:
            await m.save(ArtifactIn(data={"n": 1}))
        with sync.Ledger.open(engine, secret=SECRET) as synced, synced.manager() as sm:
            sm.save(ArtifactIn(data={"n": 2}))
            assert sm.count() == 2
        async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as m:
            assert await m.count() == 2
            assert (await ledger.verify()).ok
    finally:
        await engine.dispose()


async def test_an_engine_in_use_on_another_loop_is_refused(where: str | URL | AsyncEngine) -> None:
    """Sharing a connection between loops cannot work: refused at open, before touching the pool."""
    if not isinstance(where, AsyncEngine):
        pytest.skip("SQLite connections are not bound to a loop")
    async with where.connect() as conn:
        with pytest.raises(SyncUsageError, match=r"1 connection\(s\) in use .* pass a URL"):
            opened(where)
        assert not any(t.name == "artifact-ledger-sync" and t.is_alive() for t in threading.enumerate())
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1  # still this loop's, untouched


def test_blocks_left_open_end_with_the_ledger(where: str | URL | AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manager or transaction never exited is ended (rolled back) when the ledger closes: leaving
    it later is silent for a manager, an error for a transaction, and collecting it prints nothing."""
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with sync.Ledger.open(where, secret=SECRET) as ledger:
        with ledger.manager() as m:
            m.save(ArtifactIn(data={"n": 1}))
        manager = ledger.manager()
        assert manager.__enter__().count() == 1
        transaction = ledger.transaction()
        transaction.__enter__().save(ArtifactIn(data={"n": 2}))
        forgotten = ledger.manager()
        forgotten.__enter__().count()
    manager.__exit__(None, None, None)
    with pytest.raises(SyncUsageError, match="rolled back"):
        transaction.__exit__(None, None, None)
    del forgotten
    gc.collect()
    assert unraisable == []
    if where != "sqlite+aiosqlite:///:memory:":
        with sync.Ledger.open(where, secret=SECRET) as ledger, ledger.manager() as m:
            assert m.count() == 1  # the transaction's write is gone, and nothing holds a lock
            assert ledger.verify().ok


@pytest.fixture(params=["sqlite-file", "postgresql"])
def namespaced(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | AsyncEngine]:
    """Like ``where`` on the backends with namespaces (not in-memory SQLite); on PostgreSQL the
    namespace's schema, beside the test's, is dropped afterwards."""
    if request.param == "sqlite-file":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        return
    from artifact_ledger.namespaces import postgres_schema

    schema = request.getfixturevalue("pg_schema")
    engine = create_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    yield engine
    engine.sync_engine.dispose(close=False)

    async def drop() -> None:
        admin = create_engine(PG_URL)
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{postgres_schema(schema, "team-a")}" CASCADE'))
        finally:
            await admin.dispose()

    asyncio.run(drop())


def test_a_namespace_opened_without_await_is_its_own_ledger(namespaced: str | AsyncEngine) -> None:
    with sync.Ledger.open(namespaced, secret=SECRET, namespace="team-a") as team:
        assert team.namespace == "team-a"
        with team.manager() as manager:
            saved = manager.save(ArtifactIn(data={"team": "a"}))
            assert manager.count() == 1
        team_id = team.ledger_id
        assert team.verify().ok
    with sync.Ledger.open(namespaced, secret=SECRET) as default:
        assert default.namespace == "default"
        assert default.ledger_id != team_id
        with default.manager() as manager:
            assert manager.find_by_id(saved.id) is None  # the default namespace does not see it
            assert manager.count() == 0
        assert default.namespaces() == ["default", "team-a"]
    with (
        sync.Ledger.open(namespaced, secret=SECRET, namespace="team-a", create=False) as team,
        team.manager() as manager,
    ):
        assert team.ledger_id == team_id
        assert manager.find_by_id(saved.id) is not None


def test_group_commit_is_passed_through(where: str | URL | AsyncEngine) -> None:
    from artifact_ledger.group_commit import Committer

    for enabled in (False, True):
        with sync.Ledger.open(where, secret=SECRET, group_commit=enabled) as ledger:
            # The engine's one setting, which every committer of it (on any loop) reads.
            assert Committer(ledger.async_ledger.engine).enabled is enabled
            with ledger.manager() as manager:
                manager.save(ArtifactIn(data={"group_commit": enabled}))
    with pytest.raises(InvalidArgumentError, match="group_commit"), sync.Ledger.open(where, group_commit="yes"):  # type: ignore[arg-type]
        pass
