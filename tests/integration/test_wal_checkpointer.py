"""SQLite's WAL folded by a thread of the pool's own after commits (``store/sqlite_checkpointer.py``).

What must hold: after a committed write the checkpointer folds the WAL into the database file
(every frame backfilled) without a writer doing it; the writers' automatic checkpoint stays, at
a higher bound; closing the ledger ends the thread and leaves no ``-wal`` file, as before; an
idle thread ends and the next commit starts another; a checkpoint that fails breaks no write;
and many saves with the thread folding behind them read back whole. No commit's nudge is lost
to the hand-over between threads: not as an idle thread ends, not as a disposed engine's thread
ends while a commit starts the next; an engine used again after ``dispose()`` gets its WAL folded
again. PostgreSQL has no WAL of the ledger's to fold: its engines get no pool of SQLite threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.store import sqlite_checkpointer
from artifact_ledger.store.engine import WAL_BOUND_PAGES, create_engine
from artifact_ledger.store.sqlite_checkpointer import Checkpointer
from artifact_ledger.store.sqlite_threads import workers_of


async def _until(condition: object, what: str, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _wal_state(path: Path) -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames backfilled) from a passive checkpoint of another connection:
    it copies nothing the checkpointer has not, when the checkpointer has folded everything."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()
    return int(row[0]), int(row[1]), int(row[2])


async def test_commits_are_folded_by_the_checkpointer_not_by_writers(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    async with Ledger.open(f"sqlite+aiosqlite:///{path}") as ledger:
        workers = workers_of(ledger.engine)
        assert workers is not None
        checkpointer = workers.checkpointer
        async with ledger.manager() as manager:
            root = await manager.save(ArtifactIn(data={"n": 0}))
            before = checkpointer.checkpoints
            for n in range(1, 30):
                await manager.save(ArtifactIn(parent_id=root.id, data={"n": n}))
        await _until(lambda: checkpointer.checkpoints > before, "a checkpoint after the saves")
        # The thread's last checkpoint came after the last commit (it is nudged by each): wait for it.
        await _until(lambda: _wal_state(path)[1] == _wal_state(path)[2], "every WAL frame backfilled")
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # a connection of no ledger
        conn.close()
        async with ledger.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            auto = await raw.driver_connection.execute("PRAGMA wal_autocheckpoint")
            assert (await auto.fetchone())[0] == WAL_BOUND_PAGES  # the ledger's: the bound
        async with ledger.manager() as manager:
            assert await manager.count() == 30
    assert not (tmp_path / "l.db-wal").exists()  # the last connection to close folded and removed it


async def test_closing_the_ledger_ends_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    async with Ledger.open(f"sqlite+aiosqlite:///{path}") as ledger:
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"n": 1}))
        workers = workers_of(ledger.engine)
        assert workers is not None
        thread = workers.checkpointer._thread
        assert thread is not None
        assert thread.is_alive()
    assert not thread.is_alive()  # stopped and joined when the engine was disposed
    assert not (tmp_path / "l.db-wal").exists()


async def test_an_idle_thread_ends_and_the_next_commit_starts_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpointer, "IDLE_SECONDS", 0.05)
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}") as ledger:
        workers = workers_of(ledger.engine)
        assert workers is not None
        checkpointer = workers.checkpointer
        async with ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"n": 1}))
            first = checkpointer._thread
            assert first is not None
            await _until(lambda: not first.is_alive(), "the idle thread to end")
            assert checkpointer._thread is None
            done = checkpointer.checkpoints
            await manager.save(ArtifactIn(data={"n": 2}))
            second = checkpointer._thread
            assert second is not None
            assert second is not first
            await _until(lambda: checkpointer.checkpoints > done, "a checkpoint by the new thread")


async def test_a_failing_checkpoint_breaks_no_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}") as ledger:
        workers = workers_of(ledger.engine)
        assert workers is not None
        attempts: list[int] = []

        errors: list[Exception] = [sqlite3.OperationalError("disk I/O error"), OSError("no file descriptors")]
        checkpointer = workers.checkpointer
        good = checkpointer._connect

        def broken() -> sqlite3.Connection:
            attempts.append(1)
            raise errors[len(attempts) % 2]  # sqlite3's errors, and any other

        monkeypatch.setattr(checkpointer, "_connect", broken)
        async with ledger.manager() as manager:
            saved = [await manager.save(ArtifactIn(data={"n": n})) for n in range(5)]
            await _until(lambda: len(attempts) >= 2, "checkpoint attempts failing both ways")
            assert [a.data["n"] for a in await manager.find_all()] == [a.data["n"] for a in saved]
            # The thread lived on (or a new one started): once checkpoints can run, the next commit folds the WAL.
            monkeypatch.setattr(checkpointer, "_connect", good)
            done = checkpointer.checkpoints
            await manager.save(ArtifactIn(data={"n": 5}))
            await _until(lambda: checkpointer.checkpoints > done, "a checkpoint after the failures")
        report = await ledger.verify()
        assert report.ok, report


async def test_many_writers_with_the_thread_folding_behind_them(tmp_path: Path) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}") as ledger:

        async def writer(k: int) -> None:
            async with ledger.manager() as manager:
                root = await manager.save(ArtifactIn(data={"writer": k}))
                for n in range(25):
                    await manager.save(ArtifactIn(parent_id=root.id, data={"writer": k, "n": n}))

        await asyncio.gather(*(writer(k) for k in range(4)))
        async with ledger.manager() as manager:
            assert await manager.count() == 4 * 26
        report = await ledger.verify()
        assert report.ok, report


async def test_either_backend_writes_and_who_folds_its_log(url: str) -> None:
    async with Ledger.open(url) as ledger:
        async with ledger.manager() as manager:
            root = await manager.save(ArtifactIn(data={"n": 0}))
            for n in range(1, 10):
                await manager.save(ArtifactIn(parent_id=root.id, data={"n": n}))
        workers = workers_of(ledger.engine)
        if url.startswith("sqlite"):
            assert workers is not None
            checkpointer = workers.checkpointer
            await _until(lambda: checkpointer.checkpoints > 0, "a checkpoint")
        else:
            assert workers is None  # PostgreSQL's own checkpointer process folds its WAL
        report = await ledger.verify()
        assert report.ok, report


def _until_sync(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _checkpointer(tmp_path: Path) -> Checkpointer:
    """A checkpointer of a WAL database of its own (the thread opens its connection itself)."""
    path = tmp_path / "c.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (n INTEGER)")
    return Checkpointer(lambda: sqlite3.connect(path))


class _PausedAtIdleOut(threading.Event):
    """The checkpointer's wake event: the thread's check, once its wait timed out, of whether a commit
    came in all the same (``is_set``) reads the flag, then pauses (``paused``) until ``resume``."""

    def __init__(self) -> None:
        super().__init__()
        self.paused, self.resume = threading.Event(), threading.Event()

    def is_set(self) -> bool:
        seen = super().is_set()
        if threading.current_thread().name == "artifact-ledger-checkpointer" and not self.paused.is_set():
            self.paused.set()
            assert self.resume.wait(10)
        return seen


class _Watched:
    """The checkpointer's lock: ``asked`` once a thread other than the checkpointer's asks for it."""

    def __init__(self, lock: Any, asked: threading.Event) -> None:
        self._lock, self._asked = lock, asked

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if threading.current_thread().name != "artifact-ledger-checkpointer":
            self._asked.set()
        return bool(self._lock.acquire(blocking, timeout))

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_commit_as_the_idle_thread_ends_is_folded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread's wait timed out and it found no commit; a commit's nudge then comes before the
    thread has let go of its slot: the commit is folded all the same (before, the nudge saw a thread
    running, the thread ended, and the WAL waited for the next commit)."""
    monkeypatch.setattr(sqlite_checkpointer, "IDLE_SECONDS", 0.01)
    checkpointer = _checkpointer(tmp_path)
    wake = _PausedAtIdleOut()
    progressed = threading.Event()  # the nudge returned, or waits for the lock the ending thread holds
    checkpointer._wake = wake
    checkpointer._lock = _Watched(checkpointer._lock, progressed)  # type: ignore[assignment]
    checkpointer.nudge()
    assert wake.paused.wait(10), "the thread did not go idle"
    first = checkpointer._thread
    assert first is not None
    done = checkpointer.checkpoints
    assert done == 1

    def commit() -> None:
        checkpointer.nudge()
        progressed.set()

    nudger = threading.Thread(target=commit)
    nudger.start()
    try:
        assert progressed.wait(10)
    finally:
        wake.resume.set()
        nudger.join(10)
        first.join(10)
    assert not nudger.is_alive()
    assert not first.is_alive()
    # A thread serves the nudge (it checkpoints before it can end), or none does and none runs.
    _until_sync(lambda: checkpointer.checkpoints > done or checkpointer._thread is None, "the nudge served or lost")
    try:
        assert checkpointer.checkpoints > done, "the commit's nudge was lost as the idle thread ended"
    finally:
        checkpointer.stop()


class _PausedAtTaking(threading.Event):
    """The checkpointer's wake event: the first thread, woken, pauses (``paused``) before it clears the
    flag until ``resume``; any other thread looks at the flag only once the first has cleared it.
    ``stopped``: :meth:`Checkpointer.stop` (on the thread named "stopper") has woken the first."""

    def __init__(self) -> None:
        super().__init__()
        self.first: threading.Thread | None = None
        self.paused, self.resume, self.cleared, self.stopped = (threading.Event() for _ in range(4))

    def wait(self, timeout: float | None = None) -> bool:
        if self.first is None:
            self.first = threading.current_thread()
        elif threading.current_thread() is not self.first:
            assert self.cleared.wait(10)
        return super().wait(timeout)

    def set(self) -> None:
        super().set()
        if threading.current_thread().name == "stopper":
            self.stopped.set()

    def clear(self) -> None:
        if threading.current_thread() is self.first and not self.cleared.is_set():
            self.paused.set()
            assert self.resume.wait(10)
            super().clear()
            self.cleared.set()
            return
        super().clear()


def test_a_commit_as_a_disposed_engine_stops_its_thread_is_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stop()`` (the engine disposed) while its thread, woken by a commit, has not yet taken it; a
    worker still in use commits then (the engine is usable after ``dispose()``) and starts the next
    thread. The stopped thread, which cannot checkpoint (an erasure holds the checkpoints), ends; the
    next thread folds the commit (before, the stopped thread took the shared wake-up with it)."""
    monkeypatch.setattr(sqlite_checkpointer, "IDLE_SECONDS", 0.2)
    checkpointer = _checkpointer(tmp_path)
    wake = _PausedAtTaking()
    checkpointer._wake = wake
    checkpointer.nudge()
    assert wake.paused.wait(10), "the thread was not woken"
    first = checkpointer._thread
    assert first is not None
    stopper = threading.Thread(target=checkpointer.stop, name="stopper")
    try:
        with checkpointer.held():
            stopper.start()
            assert wake.stopped.wait(10), "stop() did not wake the thread"
            assert checkpointer._thread is None
            checkpointer.nudge()  # the commit of a worker in use as the engine is disposed
            second = checkpointer._thread
            assert second is not None
            assert second is not first
            wake.resume.set()
            stopper.join(10)
            assert not stopper.is_alive()
            assert not first.is_alive()
            assert checkpointer.checkpoints == 0  # the stopped thread ended without a checkpoint
        _until_sync(lambda: checkpointer.checkpoints > 0 or checkpointer._thread is None, "the nudge served or lost")
        assert checkpointer.checkpoints == 1, "the commit's nudge was lost to the stopped thread"
    finally:
        wake.resume.set()
        checkpointer.stop()
    assert not second.is_alive()


async def test_an_engine_used_again_after_dispose(url: str, tmp_path: Path) -> None:
    """SQLAlchemy's engines work after ``dispose()`` (with new connections): a caller's engine used
    again gets its commits folded by a new checkpointer thread, and the next ``dispose()`` ends it
    and leaves no ``-wal`` file. PostgreSQL: the same engine writes and reads after ``dispose()``."""
    engine = create_engine(url)
    sqlite = url.startswith("sqlite")
    path = tmp_path / "ledger.db"  # the url fixture's SQLite file
    try:
        async with Ledger.open(engine) as ledger, ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"n": 1}))
        await engine.dispose()
        workers = workers_of(engine)
        if sqlite:
            assert workers is not None
            checkpointer = workers.checkpointer
            assert checkpointer._thread is None
            done = checkpointer.checkpoints
        else:
            assert workers is None
        async with Ledger.open(engine) as ledger:
            async with ledger.manager() as manager:
                await manager.save(ArtifactIn(data={"n": 2}))
                assert await manager.count() == 2
            if sqlite:
                thread = checkpointer._thread
                assert thread is not None
                await _until(lambda: checkpointer.checkpoints > done, "a checkpoint after the engine's dispose()")
                await _until(lambda: _wal_state(path)[1] == _wal_state(path)[2], "every WAL frame backfilled")
            report = await ledger.verify()
            assert report.ok, report
    finally:
        await engine.dispose()
    if sqlite:
        assert not thread.is_alive()
        assert not (tmp_path / "ledger.db-wal").exists()
