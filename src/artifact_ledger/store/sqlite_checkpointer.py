"""Folding SQLite's WAL into the database file on a thread of its own, off the writers' path.

In WAL mode every commit appends its pages to the ``-wal`` file, and the commit that takes the
file past ``wal_autocheckpoint`` pages (1,000 by default) copies them into the database file
and syncs it before it returns: with a ledger's ten or so pages per save, one save in a hundred
paid for a hundred others, and the mean commit took twice the median. A :class:`Checkpointer`
runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own after commits instead (at
most one every :data:`PAUSE` seconds), so a writer's commit finds the WAL already folded. A
passive checkpoint never waits for a lock and never blocks a writer or a reader; it copies what
no reader still needs, and the next writer starts the WAL over from its beginning. The writers'
automatic checkpoint stays as the bound should this thread fall behind.

The thread starts with the first commit it is told of and ends once it has been idle for
:data:`IDLE_SECONDS` (its connection closed), or when the engine is disposed
(:meth:`Checkpointer.stop`, which waits for it, so a closed ledger's WAL is folded and removed by
its last connection as before); a commit after either starts the next thread, also on an engine
used again after ``dispose()``, as SQLAlchemy allows. A failing checkpoint (a full disk, say) is not an error of any
write: the writers' own checkpoint reports it, if it persists.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator

__all__ = ["IDLE_SECONDS", "PAUSE", "Checkpointer"]

PAUSE = 0.02
"""Seconds between two checkpoints: commits in between are folded by one."""

IDLE_SECONDS = 2.0
"""Seconds without a commit after which the thread ends (the next commit starts another)."""


class Checkpointer:
    """One thread folding one database file's WAL after the commits it is told of (:meth:`nudge`)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping: threading.Event | None = None
        self._folding = threading.Lock()
        """Held while this thread checkpoints, and by :meth:`held`."""
        self.checkpoints = 0
        """Checkpoints run so far (for tests and benchmarks)."""

    def nudge(self) -> None:
        """A commit happened: fold the WAL soon (starts the thread if none is running).

        Under the lock the ending thread takes to give up its slot: either that thread sees this
        wake-up and keeps serving, or this call sees the slot free and starts the next thread
        (checked outside the lock, a nudge as an idle thread ended was lost until the next commit)."""
        with self._lock:
            self._wake.set()
            if self._thread is None:
                stopping = self._stopping = threading.Event()
                thread = threading.Thread(
                    target=self._serve,
                    args=(stopping, self._wake),
                    name="artifact-ledger-checkpointer",
                    daemon=True,
                )
                self._thread = thread
                thread.start()

    def stop(self) -> None:
        """End the thread, if one runs, and wait for it (its connection closed).

        A later :meth:`nudge` starts anew: the engine is disposed, and SQLAlchemy's engines are used
        after ``dispose()`` with new connections (so are this pool's workers); its commits need their
        WAL folded as before. The ending thread keeps its own wake-up event: one it took after this
        call cannot be the next thread's (a commit during ``dispose()`` was lost that way)."""
        with self._lock:
            thread, stopping, wake = self._thread, self._stopping, self._wake
            self._thread = self._stopping = None
            if thread is not None:
                self._wake = threading.Event()
        if thread is None or stopping is None:
            return
        stopping.set()
        wake.set()
        if thread is not threading.current_thread():
            thread.join()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """No checkpoint of this thread runs in the block (one running is waited for first: a passive
        checkpoint takes milliseconds, and needs nothing of the caller's).

        SQLite lets one checkpoint run at a time and answers any other at once with "busy", busy
        timeout or not: the ``TRUNCATE`` after an erasure (``scrub.py``), run as the erasure's own
        commit woke this thread, gave up and left the erased bytes in the ``-wal`` file."""
        with self._folding:
            yield

    def _serve(self, stopping: threading.Event, wake: threading.Event) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                woken = wake.wait(IDLE_SECONDS)
                if stopping.is_set():
                    return
                if not woken:
                    with self._lock:  # as nudge() sets the event and looks at the slot
                        if wake.is_set():
                            continue  # a commit came in as the wait ended
                        if self._stopping is stopping:
                            self._thread = self._stopping = None
                        return
                wake.clear()
                try:
                    if connection is None:
                        connection = self._connect()
                    while not self._folding.acquire(timeout=PAUSE):  # held() by an erasure's TRUNCATE
                        if stopping.is_set():
                            return
                    try:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    finally:
                        self._folding.release()
                    self.checkpoints += 1
                except Exception:
                    # A failed checkpoint fails no write; the next commit retries. sqlite3's errors or any
                    # other: the thread must not die with the engine alive, holding the slot a new one takes.
                    if connection is not None:
                        _close(connection)
                        connection = None
                if stopping.wait(PAUSE):
                    return
        finally:
            with self._lock:
                if self._stopping is stopping:  # ended by an error nothing caught: the next commit starts anew
                    self._thread = self._stopping = None
            if connection is not None:
                _close(connection)


def _close(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        connection.close()
