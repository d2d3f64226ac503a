"""After an erasure commits: what each backend can do at once so the erased bytes leave its files.

SQLite (a database file in WAL mode): the transaction that erased a value rewrote the pages
holding it, but the write-ahead log (``<db>-wal``) still holds earlier images of those pages,
written by the transactions that saved the value, until a checkpoint copies the new pages into
the database file and the log is reset. A passive checkpoint leaves old frames at the log's tail
(the file is reused, not shortened), so :func:`scrub_after_erasure` runs
``PRAGMA wal_checkpoint(TRUNCATE)``: every page into the file (whose freed bytes
``secure_delete`` zeroes, see ``engine.py``), then the log cut to zero bytes. A reader that
still holds a snapshot older than the erasure keeps the log from being cut; the checkpoint then
waits for it up to the busy timeout and, if it is still there, logs a warning naming the remedy.

PostgreSQL keeps old row versions until ``VACUUM``, and their bytes in the tables' free space
and in its write-ahead log after that; nothing a transaction can do removes them, so nothing runs
here (docs/guides/retention-and-erasure.md says what remains and how an operator removes it).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from .one_writer import shares_one_connection
from .sqlite_threads import workers_of

__all__ = ["scrub_after_erasure"]

log = logging.getLogger("artifact_ledger.writes")


async def scrub_after_erasure(engine: AsyncEngine | None) -> bool:
    """Remove the images of erased pages from a SQLite database's write-ahead log, once the erasure
    committed. Returns False when a reader kept the log from being cut (logged); True otherwise,
    also where there is nothing to do (PostgreSQL, an in-memory database, no engine)."""
    if engine is None or engine.dialect.name != "sqlite" or shares_one_connection(engine):
        return True
    workers = workers_of(engine)
    # Not while the engine's checkpointer thread folds the log (the erasure's commit woke it): SQLite
    # refuses a second checkpoint at once, and the erased bytes stayed in the -wal file.
    with workers.checkpointer.held() if workers is not None else contextlib.nullcontext():
        async with engine.connect() as conn:
            result = await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            row: tuple[Any, ...] = tuple(result.one())  # (busy, frames in the log, frames copied)
    busy, frames = row[0], row[1]
    if busy:
        log.warning(
            "after an erasure, a reader still open on %s kept its write-ahead log (%s frames) from "
            "being truncated: the erased values stay in the -wal file until the next checkpoint. "
            "Run `PRAGMA wal_checkpoint(TRUNCATE);` once the readers are gone (or close every "
            "connection to it: the last one to close checkpoints the log and removes it)",
            engine.url.database,
            frames,
        )
        return False
    return True
