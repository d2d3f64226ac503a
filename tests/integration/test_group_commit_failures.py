"""Group commit under real concurrency and real storage failures, on every backend.

The groups here form on their own (many tasks saving at once, nothing forced), and the failures
are the database's: a write lock another connection holds past the lock timeout, a PostgreSQL
connection terminated under a group. Lock acquisitions are counted at the write path's one
place that takes the lock (a batch's first head read), independently of the committer's counter.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactNotFoundError, ArtifactOut, ConcurrencyError, Ledger, group_commit
from artifact_ledger.commands import Commands
from artifact_ledger.errors import ConnectionLostError, IntegrityViolationError, LockTimeoutError
from artifact_ledger.group_commit import committer_for
from artifact_ledger.writer import WriteBatch
from ledger_support import PG_URL, SECRET, queued

LOCK_TIMEOUT = 0.2
LONG_LOCK_TIMEOUT = 60.0  # where the lock timeout is incidental: no wait of the test's ever reaches it


async def positions(ledger: Ledger) -> list[int]:
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(text("SELECT position FROM ledger_events ORDER BY position"))
        return [int(p) for (p,) in rows]


async def save(ledger: Ledger, item: ArtifactIn, **kwargs: Any) -> ArtifactOut:
    """One save on a session and manager of its own, as the HTTP API does per request."""
    async with ledger.manager() as manager:
        return await manager.save(item, **kwargs)


async def until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Until ``condition()`` holds, at most ``seconds`` (a slow, loaded machine gets there late, not never)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.005)


async def save_in_lock_wait(ledger: Ledger, locks: list[int]) -> asyncio.Future[ArtifactOut]:
    """A save of ``{"n": "cancelled"}`` started and waiting for the write lock held elsewhere
    (``locks``: :func:`count_locks`'s counter, at 0 before)."""
    waiting = asyncio.ensure_future(save(ledger, ArtifactIn(data={"n": "cancelled"})))
    await until(lambda: locks[0] == 1, "the save asking for the lock")
    await asyncio.sleep(0.05)  # into its wait for the lock
    return waiting


async def healthy(ledger: Ledger, events: int) -> None:
    """Exactly ``events`` events, at positions 1..events (gap-free), and verify() finds nothing wrong."""
    assert await positions(ledger) == list(range(1, events + 1))
    report = await ledger.verify()
    assert report.ok, report.problem
    assert report.events_checked == events


def count_locks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of write-lock acquisitions: a batch takes the lock with its first head read."""
    taken = [0]
    begin = WriteBatch._begin

    async def counted(self: WriteBatch, *args: Any, **kwargs: Any) -> Any:
        if self.head is None:
            taken[0] += 1
        return await begin(self, *args, **kwargs)

    monkeypatch.setattr(WriteBatch, "_begin", counted)
    return taken


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


async def test_a_hundred_tasks_with_failing_neighbours(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    root = await save(ledger, ArtifactIn(data={"root": True}))
    locks = count_locks(monkeypatch)
    missing = ULID()
    calls = []
    for i in range(100):
        if i == 37:  # a parent that does not exist
            calls.append(save(ledger, ArtifactIn(parent_id=missing, data={"i": i})))
        elif i == 71:  # a stale expected_version on the root
            calls.append(save(ledger, ArtifactIn(id=root.id, data={"i": i}), expected_version=5))
        else:
            calls.append(save(ledger, ArtifactIn(parent_id=root.id, data={"i": i})))

    outs = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(outs[37], ArtifactNotFoundError)
    assert str(missing) in str(outs[37])
    assert isinstance(outs[71], ConcurrencyError)
    assert str(root.id) in str(outs[71])
    saved = [out for i, out in enumerate(outs) if i not in (37, 71)]
    assert all(isinstance(out, ArtifactOut) for out in saved), [o for o in saved if not isinstance(o, ArtifactOut)]
    assert [out.data for out in saved] == [{"i": i} for i in range(100) if i not in (37, 71)]
    assert len({out.id for out in saved}) == 98
    assert locks[0] < 98  # groups formed on their own: fewer lock acquisitions than saves
    await healthy(ledger, 1 + 98)
    async with ledger.manager() as manager:
        kept = await manager.find_by_id(root.id)
        children = await manager.count({"parent_id": str(root.id)})
    assert kept is not None
    assert kept.data == {"root": True}
    assert children == 98


async def test_a_caller_cancelled_after_its_group_began_loses_only_the_reply(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a group runs, a cancelled caller's command commits with it (documented); nothing is torn."""
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    loop = asyncio.get_running_loop()
    victim: list[asyncio.Task[Any]] = []
    reply = Commands._reply

    def cancelling_reply(self: Commands, row: Any, content: Any, **kwargs: Any) -> ArtifactOut:
        if row.data == {"n": 0}:  # the group's first member: the group has begun; cancel the second's caller
            loop.call_soon_threadsafe(victim[0].cancel)
        return reply(self, row, content, **kwargs)

    monkeypatch.setattr(Commands, "_reply", cancelling_reply)
    committer.running = True  # as while a transaction runs: the three queue, then run as one group
    tasks = [asyncio.ensure_future(save(ledger, ArtifactIn(parent_id=root.id, data={"n": n}))) for n in range(3)]
    victim.append(tasks[1])
    for _ in range(50):
        if len(committer.queue) == 3:
            break
        await asyncio.sleep(0)
    assert len(committer.queue) == 3
    committer._hand_over()
    outs = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(outs[0], ArtifactOut)
    assert isinstance(outs[1], asyncio.CancelledError)
    assert isinstance(outs[2], ArtifactOut)
    await healthy(ledger, 4)  # the cancelled caller's save committed with its group
    async with ledger.manager() as manager:
        assert await manager.count({"data.n": 1}) == 1
    assert not committer.running
    assert not committer.queue


async def test_each_member_keeps_its_own_attribution(ledger: Ledger) -> None:
    """Actor, reason and correlation id are the caller's, whether given as arguments or by the
    caller's ambient ``ledger.context``, though another task's drainer runs the group."""
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)

    async def ambient(n: int) -> ArtifactOut:
        with ledger.context(actor=f"ambient-{n}", reason=f"why-{n}", correlation_id=f"corr-{n}"):
            return await save(ledger, ArtifactIn(parent_id=root.id, data={"n": n}))

    async def explicit(n: int) -> ArtifactOut:
        return await save(ledger, ArtifactIn(parent_id=root.id, data={"n": n}), actor=f"arg-{n}", reason=f"r-{n}")

    committer.running = True
    tasks = [asyncio.ensure_future(ambient(n) if n % 2 else explicit(n)) for n in range(6)]
    for _ in range(50):
        if len(committer.queue) == 6:
            break
        await asyncio.sleep(0)
    assert len(committer.queue) == 6
    groups = committer.groups
    committer._hand_over()
    outs = await asyncio.gather(*tasks)
    assert committer.groups == groups + 1
    async with ledger.manager() as manager:
        for n, out in enumerate(outs):
            [version] = await manager.history(out.id)
            if n % 2:
                assert (version.actor, version.reason, version.correlation_id) == (
                    f"ambient-{n}",
                    f"why-{n}",
                    f"corr-{n}",
                )
            else:
                assert (version.actor, version.reason, version.correlation_id) == (f"arg-{n}", f"r-{n}", None)
    await healthy(ledger, 7)


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
async def test_a_lone_save_gives_the_same_result_with_and_without_grouping(backend: str, tmp_path: Path) -> None:
    replies = []
    for grouped in (True, False):
        async with (
            fresh_url(backend, tmp_path / f"ledger-{grouped}.db") as url,
            Ledger.open(url, secret=SECRET, group_commit=grouped) as ledger,
        ):
            groups = committer_for(ledger.engine).groups
            root = await save(ledger, ArtifactIn(id=ULID.from_int(1), data={"root": True}))
            child = await save(ledger, ArtifactIn(id=ULID.from_int(2), parent_id=root.id, data={"x": [1, 2]}))
            again = await save(ledger, ArtifactIn(id=child.id, parent_id=root.id, data={"x": [1, 2]}))
            async with ledger.manager() as manager:
                history = await manager.history(child.id)
            # with grouping each lone save is a group of one, run at once; without, none goes through it
            assert committer_for(ledger.engine).groups - groups == (3 if grouped else 0)
            replies.append(
                (
                    [out.model_dump(exclude={"created_at", "updated_at"}) for out in (root, child, again)],
                    [(v.version, v.position, v.event_type, v.data, v.parent_id) for v in history],
                )
            )
            await healthy(ledger, 2)  # the identical save appended nothing, with or without grouping
    assert replies[0] == replies[1]


# ---- storage failures of a whole group ----------------------------------------------------------


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@asynccontextmanager
async def fresh_url(backend: str, path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database: a SQLite file at ``path``, or a PostgreSQL database."""
    if backend == "sqlite-file":
        yield f"sqlite+aiosqlite:///{path}"
        return
    async with pg_database() as url:
        yield url


@asynccontextmanager
async def held_write_lock(
    backend: str, tmp_path: Path, lock_timeout: float = LOCK_TIMEOUT
) -> AsyncIterator[tuple[Ledger, Callable[[], Any]]]:
    """A ledger with a short lock timeout (or ``lock_timeout``), and a context that holds its write lock
    from another connection."""
    if backend == "sqlite-file":
        path = tmp_path / "ledger.db"
        async with Ledger.open(f"sqlite+aiosqlite:///{path}", secret=SECRET, lock_timeout=lock_timeout) as ledger:

            @asynccontextmanager
            async def hold() -> AsyncIterator[None]:
                holder = sqlite3.connect(path, isolation_level=None)
                holder.execute("BEGIN IMMEDIATE")
                try:
                    yield
                finally:
                    holder.execute("ROLLBACK")
                    holder.close()

            yield ledger, hold
        return
    async with pg_database() as url, Ledger.open(url, secret=SECRET, lock_timeout=lock_timeout) as ledger:
        holder = create_async_engine(url)

        @asynccontextmanager
        async def hold_pg() -> AsyncIterator[None]:
            async with holder.begin() as conn:
                await conn.execute(text("LOCK TABLE ledger_events IN EXCLUSIVE MODE"))
                yield

        try:
            yield ledger, hold_pg
        finally:
            await holder.dispose()


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
async def test_a_lock_timeout_fails_every_member_and_writes_nothing(backend: str, tmp_path: Path) -> None:
    async with held_write_lock(backend, tmp_path) as (ledger, hold):
        root = await save(ledger, ArtifactIn(data={"root": True}))
        committer = committer_for(ledger.engine)
        async with hold():
            groups = committer.groups
            calls = [save(ledger, ArtifactIn(parent_id=root.id, data={"n": n})) for n in range(6)]
            outs = await queued(committer, calls)
        assert all(isinstance(out, LockTimeoutError) for out in outs), outs
        assert committer.groups == groups + 1  # one transaction tried, its one failure shared
        assert "lock timeout of 0.2 s" in str(outs[0])
        await healthy(ledger, 1)
        after = await save(ledger, ArtifactIn(parent_id=root.id, data={"after": True}))  # the lock is free again
        assert after.version == 1
        await healthy(ledger, 2)


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
async def test_commands_queued_behind_a_lock_timeout_wait_one_timeout_not_one_per_group(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock held elsewhere: every group behind the first waited a lock timeout of its own, so the
    last of 1,000 queued saves gave up after 9 timeouts (1.6-1.85 s at 0.2 s), and a queue fed faster
    than groups fail never did. Those queued when a group began waiting fail with it."""
    monkeypatch.setattr(group_commit, "MAX_GROUP", 2)  # seven commands: four groups without the fix
    async with held_write_lock(backend, tmp_path) as (ledger, hold):
        await save(ledger, ArtifactIn(data={"seed": 1}))
        committer = committer_for(ledger.engine)
        async with hold():
            groups = committer.groups
            outs = await queued(committer, [save(ledger, ArtifactIn(data={"n": n})) for n in range(7)])
        assert all(isinstance(out, LockTimeoutError) for out in outs), outs
        assert committer.groups == groups + 1  # one lock wait for all seven
        assert not committer.queue
        assert not committer.running
        await healthy(ledger, 1)
        assert (await save(ledger, ArtifactIn(data={"after": True}))).version == 1
        await healthy(ledger, 2)


async def test_a_lock_refusal_before_the_timeout_fails_only_its_own_group(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LockTimeoutError that came at once (the timeout not waited out) says nothing of the commands
    queued behind the group: they run in the next group and commit."""
    monkeypatch.setattr(group_commit, "MAX_GROUP", 2)
    await save(ledger, ArtifactIn(data={"seed": 1}))
    committer = committer_for(ledger.engine)
    flush = WriteBatch.flush
    refused: list[int] = []

    async def refuse_once(self: WriteBatch, *, commit: bool = False) -> None:
        if commit and not refused:
            refused.append(len(self.pending))
            raise LockTimeoutError("the lock was refused at once (provoked by the test)", lock_timeout=30)
        await flush(self, commit=commit)

    monkeypatch.setattr(WriteBatch, "flush", refuse_once)
    committer.running = True
    tasks = [asyncio.ensure_future(save(ledger, ArtifactIn(data={"n": n}))) for n in range(5)]
    for _ in range(50):
        if len(committer.queue) == 5:
            break
        await asyncio.sleep(0)
    assert len(committer.queue) == 5
    committer._hand_over()
    outs = await asyncio.gather(*tasks, return_exceptions=True)
    assert refused == [2]
    assert all(isinstance(out, LockTimeoutError) for out in outs[:2]), outs
    assert all(isinstance(out, ArtifactOut) for out in outs[2:]), outs
    await healthy(ledger, 4)


async def test_a_postgresql_connection_terminated_under_a_group_fails_every_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with pg_database() as url, Ledger.open(url, secret=SECRET) as ledger:
        root = await save(ledger, ArtifactIn(data={"root": True}))
        committer = committer_for(ledger.engine)
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        flush = WriteBatch.flush
        killed: list[int] = []

        async def terminated(self: WriteBatch, *, commit: bool = False) -> None:
            if commit and not killed:  # every member has run; the server ends the connection before the commit
                pid = self.driver.raw.get_server_pid()
                async with admin.connect() as conn:
                    await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                killed.append(pid)
            await flush(self, commit=commit)

        monkeypatch.setattr(WriteBatch, "flush", terminated)
        try:
            committer.running = True
            tasks = [
                asyncio.ensure_future(save(ledger, ArtifactIn(parent_id=root.id, data={"n": n}))) for n in range(5)
            ]
            for _ in range(50):
                if len(committer.queue) == 5:
                    break
                await asyncio.sleep(0)
            assert len(committer.queue) == 5
            committer._hand_over()
            outs = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await admin.dispose()
        assert killed
        assert all(isinstance(out, ConnectionLostError) for out in outs), outs
        assert len({id(out) for out in outs}) == 1  # the transaction's one failure
        await healthy(ledger, 1)
        monkeypatch.setattr(WriteBatch, "flush", flush)
        after = await save(ledger, ArtifactIn(parent_id=root.id, data={"after": True}))  # a new connection
        assert after.version == 1
        await healthy(ledger, 2)


async def test_a_session_in_a_transaction_never_joins_a_group(ledger: Ledger) -> None:
    """A session that already holds a transaction keeps it: its save neither queues behind a busy
    committer (it would wait for that group) nor shares another transaction."""
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    groups = committer.groups
    async with ledger.manager() as manager:
        session = manager.repo.session
        await session.execute(text("SELECT 1"))  # the session's transaction has begun
        assert session.in_transaction()
        committer.running = True  # a group would be running: a grouped command would queue
        try:
            out = await asyncio.wait_for(manager.save(ArtifactIn(parent_id=root.id, data={"own": True})), 30)
        finally:
            committer.running = False
        assert not committer.queue
    assert committer.groups == groups
    async with ledger.manager() as manager:
        found = await manager.find_by_id(out.id)
    assert found is not None
    assert found.data == {"own": True}
    await healthy(ledger, 2)


async def test_a_commit_refusal_no_member_can_be_blamed_for_reruns_each_alone(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the group's commit for a reason that is not the transaction's own
    failure (here: an integrity refusal, once): nothing was written, and each command runs
    again in a transaction of its own, so each gets its own outcome."""
    root = await save(ledger, ArtifactIn(data={"root": True}))
    committer = committer_for(ledger.engine)
    flush = WriteBatch.flush
    refused: list[int] = []

    async def refuse_once(self: WriteBatch, *, commit: bool = False) -> None:
        if commit and not refused:
            refused.append(self.appended + len(self.pending))
            raise IntegrityViolationError("the commit was refused (provoked by the test)")
        await flush(self, commit=commit)

    monkeypatch.setattr(WriteBatch, "flush", refuse_once)
    committer.running = True
    tasks = [asyncio.ensure_future(save(ledger, ArtifactIn(parent_id=root.id, data={"n": n}))) for n in range(4)]
    for _ in range(50):
        if len(committer.queue) == 4:
            break
        await asyncio.sleep(0)
    assert len(committer.queue) == 4
    groups = committer.groups
    committer._hand_over()
    outs = await asyncio.gather(*tasks, return_exceptions=True)
    assert refused == [4]  # the group of four reached its commit once
    assert all(isinstance(out, ArtifactOut) for out in outs), outs
    assert committer.groups == groups + 1 + 4  # the refused group, then each command alone
    assert [out.data for out in outs] == [{"n": n} for n in range(4)]
    await healthy(ledger, 5)


async def test_a_database_refusal_of_an_earlier_member_s_statements_fails_only_that_member(ledger: Ledger) -> None:
    """A member's projection rows are sent with the next member's reads: the database refusing
    them (here a closure row an operator left under the id a client saves) surfaced in the next
    member's turn, and that innocent save failed with its neighbour's error."""
    parent = await save(ledger, ArtifactIn(data={"parent": True}))
    other = await save(ledger, ArtifactIn(data={"other": True}))
    planted = ULID()
    async with ledger.engine.begin() as conn:
        await conn.execute(text("INSERT INTO ledger_artifact_closure VALUES (:a, :a, 0)"), {"a": str(planted)})
    committer = committer_for(ledger.engine)
    calls = [
        save(ledger, ArtifactIn(id=planted, parent_id=parent.id, data={"planted": True})),
        save(ledger, ArtifactIn(parent_id=other.id, data={"innocent": True})),  # reads other's row
        save(ledger, ArtifactIn(data={"third": True})),
    ]
    refused, innocent, third = await queued(committer, calls)
    assert isinstance(refused, IntegrityViolationError)
    assert isinstance(innocent, ArtifactOut), innocent
    assert innocent.parent_id == other.id
    assert isinstance(third, ArtifactOut), third
    assert await positions(ledger) == [1, 2, 3, 4]
    async with ledger.manager() as manager:
        assert await manager.find_by_id(planted) is None
        assert await manager.count({"data.innocent": True}) == 1


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "alone"])
@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
async def test_a_write_cancelled_while_it_waits_for_the_lock_harms_no_other(
    backend: str, tmp_path: Path, grouped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP client that goes away cancels its request's save, maybe while the save waits for the
    write lock: the connection must not go back to the pool inside a half-begun transaction (on
    PostgreSQL it did, 'idle in transaction (aborted)', and the next command on it failed).

    The lock timeout is long: with 0.2 s, a loaded machine's pause of a few tenths of a second
    timed out the saves that should wait (the neighbour failed); the steps wait for each other."""
    async with held_write_lock(backend, tmp_path, LONG_LOCK_TIMEOUT) as (ledger, hold):
        committer = committer_for(ledger.engine)
        committer.enabled = grouped
        await save(ledger, ArtifactIn(data={"seed": 1}))
        locks = count_locks(monkeypatch)
        async with hold():
            waiting = await save_in_lock_wait(ledger, locks)
            neighbour = asyncio.ensure_future(save(ledger, ArtifactIn(data={"n": "neighbour"})))
            # queued behind the waiting group, or (alone) asking for the lock itself
            await until(lambda: len(committer.queue) == 1 or locks[0] == 2, "the neighbour waiting")
            await asyncio.sleep(0.02)
            waiting.cancel()
            await asyncio.sleep(0.02)
        out = await neighbour
        assert out.data == {"n": "neighbour"}
        for n in range(3):  # every pooled connection serves again
            await save(ledger, ArtifactIn(data={"after": n}))
            async with ledger.manager() as manager:
                assert await manager.count({"data.n": "neighbour"}) == 1
        await asyncio.gather(waiting, return_exceptions=True)
        await healthy(ledger, 5)  # the cancelled save wrote nothing


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "alone"])
@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
async def test_a_save_cancelled_while_it_waits_for_the_lock_writes_nothing_once_the_lock_is_free(
    backend: str, tmp_path: Path, grouped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller of a save that waits for the write lock is cancelled (a client gone): the save
    must not commit later, once the lock is free, behind the caller's back. On SQLite the whole
    command runs on the connection's thread, which cannot be interrupted in its wait for the lock:
    it took the lock after the cancellation and committed the save seconds later, after saves
    that began after it (PostgreSQL closes the connection: the server rolls back).

    The lock timeout is long: with 0.2 s, a loaded machine's pause could let the save time out
    before the test cancelled it (a LockTimeoutError, not the cancellation under test)."""
    async with held_write_lock(backend, tmp_path, LONG_LOCK_TIMEOUT) as (ledger, hold):
        committer_for(ledger.engine).enabled = grouped
        await save(ledger, ArtifactIn(data={"seed": 1}))
        locks = count_locks(monkeypatch)
        async with hold():
            waiting = await save_in_lock_wait(ledger, locks)
            waiting.cancel()
            outcome = await asyncio.gather(waiting, return_exceptions=True)
        assert isinstance(outcome[0], asyncio.CancelledError), outcome
        # Every call a thread of the ledger's was given runs to its end before the thread closes.
        await ledger.engine.dispose()
        await healthy(ledger, 1)
        async with ledger.manager() as manager:
            assert await manager.count({"data.n": "cancelled"}) == 0


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
async def test_a_lock_timeout_beyond_the_engines_range_waits_without_limit(backend: str, tmp_path: Path) -> None:
    """PostgreSQL's lock_timeout is a 32-bit count of milliseconds (~24.8 days): a longer wait is no
    limit, as math.inf is, not a setting the server refuses at connect."""
    async with fresh_url(backend, tmp_path / "ledger.db") as url:
        for seconds in (2_147_484.0, 30 * 24 * 3600, 10**12):
            async with Ledger.open(url, secret=SECRET, lock_timeout=seconds) as ledger:
                await save(ledger, ArtifactIn(data={"seconds": seconds}))
                if backend == "postgresql":
                    async with ledger.engine.connect() as conn:
                        assert (await conn.execute(text("SHOW lock_timeout"))).scalar_one() == "0"
