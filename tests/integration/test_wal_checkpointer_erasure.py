"""An erasure's ``TRUNCATE`` of the WAL never runs while the checkpointer thread its own commit woke checkpoints.

SQLite runs one checkpoint at a time and answers a second at once with "busy", whatever the busy timeout:
the redaction's commit nudged the pool's checkpointer, whose checkpoint could be running when
``scrub_after_erasure`` asked for ``wal_checkpoint(TRUNCATE)``; the scrub then gave up ("a reader still
open ... kept its write-ahead log") and the erased value stayed in the ``-wal`` file (2 and 5 of 60
redactions in a loop did). Here the checkpointer's first checkpoint after the redaction is held running
until the scrub asks for the thread's lock (or, without one, until the scrub's TRUNCATE is about to run):
the TRUNCATE must come after that checkpoint, and cut the log. PostgreSQL has no WAL of the ledger's to
cut (``scrub.py`` does nothing there).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.store.sqlite_threads import workers_of

SECRET_VALUE = "erase-me-7f3a9c"


class _Contended:
    """The checkpointer's lock: a thread other than the checkpointer's asking for it waits until the held
    checkpoint runs (so the two overlap, the case at stake), then lets it end (``asked``) and waits its turn."""

    def __init__(self, lock: Any, started: threading.Event, asked: threading.Event) -> None:
        self._lock, self._started, self._asked = lock, started, asked

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if threading.current_thread().name != "artifact-ledger-checkpointer":
            assert self._started.wait(30), "the redaction's commit did not start the checkpointer"
            self._asked.set()
        return bool(self._lock.acquire(blocking, timeout))

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class _HeldCheckpoint:
    """The checkpointer's connection: its first checkpoint is running (``running``) until ``go``."""

    def __init__(self, real: sqlite3.Connection, started: threading.Event, go: threading.Event) -> None:
        self._real, self._started, self._go = real, started, go
        self.running = False

    def execute(self, sql: str, *args: Any) -> Any:
        if "wal_checkpoint" not in sql or self._started.is_set():
            return self._real.execute(sql, *args)
        self.running = True
        self._started.set()
        try:
            assert self._go.wait(30), "nothing let the held checkpoint end"
            return self._real.execute(sql, *args)
        finally:
            self.running = False

    def close(self) -> None:
        self._real.close()


async def test_the_scrub_after_a_redaction_waits_for_the_checkpointer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "l.db"
    async with Ledger.open(f"sqlite+aiosqlite:///{path}") as ledger:
        workers = workers_of(ledger.engine)
        assert workers is not None
        checkpointer = workers.checkpointer
        async with ledger.manager() as manager:
            saved = await manager.save(ArtifactIn(data={"secret": SECRET_VALUE, "keep": 1}))
            checkpointer.stop()  # the redaction's commit starts a thread on the connection below
            started, go = threading.Event(), threading.Event()
            held: list[_HeldCheckpoint] = []
            connect = checkpointer._connect

            def held_connect() -> Any:
                held.append(_HeldCheckpoint(connect(), started, go))
                return held[-1]

            checkpointer._connect = held_connect
            folding = checkpointer.__dict__.get("_folding")
            if folding is not None:
                checkpointer._folding = _Contended(folding, started, go)  # type: ignore[assignment]
            overlapped: list[bool] = []

            def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                if "wal_checkpoint(TRUNCATE)" in statement:
                    assert started.wait(30), "the redaction's commit did not start the checkpointer"
                    overlapped.append(held[0].running)
                    go.set()

            event.listen(ledger.engine.sync_engine, "before_cursor_execute", before)
            with caplog.at_level(logging.WARNING, logger="artifact_ledger.writes"):
                await manager.redact(saved.id, fields=["secret"], reason="erasure request")
            event.remove(ledger.engine.sync_engine, "before_cursor_execute", before)
            assert overlapped == [False]  # the TRUNCATE ran after the checkpointer's checkpoint, not during it
            assert not [r for r in caplog.records if "kept its write-ahead log" in r.getMessage()]
            wal = path.with_name(path.name + "-wal")
            assert SECRET_VALUE.encode() not in (wal.read_bytes() if wal.exists() else b"")
            assert (await manager.find_by_id(saved.id)).data == {"keep": 1}  # type: ignore[union-attr]
