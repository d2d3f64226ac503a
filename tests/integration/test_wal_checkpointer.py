"""SQLite's WAL folded by a thread of the pool's own after commits (``store/sqlite_checkpointer.py``).

What must hold: after a committed write the checkpointer folds the WAL into the database file
(every frame backfilled) without a writer doing it; the writers' automatic checkpoint stays, at
a higher bound; closing the ledger ends the thread and leaves no ``-wal`` file, as before; an
idle thread ends and the next commit starts another; a checkpoint that fails breaks no write;
and many saves with the thread folding behind them read back whole. PostgreSQL has no WAL of
the ledger's to fold: its engines get no pool of SQLite threads at all.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.store import sqlite_checkpointer
from artifact_ledger.store.engine import WAL_BOUND_PAGES
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
