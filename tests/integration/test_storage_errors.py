"""Storage errors provoked for real, and what each leaves behind: the right ledger error, nothing written.

Lock timeouts (another connection holds the lock) on SQLite and PostgreSQL; a full SQLite
database (``PRAGMA max_page_count``, and a tiny tmpfs where mounting one is allowed); damaged
SQLite files; a PostgreSQL backend terminated under the ledger; serialization failures and
deadlocks on PostgreSQL. Then ``translate()`` over every code of its table, each from an
exception the driver really raised (the few that cannot be provoked portably are built by
hand and say so).
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from artifact_ledger import (
    ArtifactIn,
    ConcurrencyError,
    IntegrityViolationError,
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    SchemaOutOfDateError,
    TransactionAbortedError,
    create_engine,
)
from artifact_ledger.errors import ConnectionLostError, LockTimeoutError, StorageCorruptError, StorageFullError
from artifact_ledger.store.errors import Site, site_of, translate, translated
from artifact_ledger.store.sqlite_threads import Worker, workers_of
from ledger_support import PG_URL, SECRET

LOCK_TIMEOUT = 0.2
UNLIMITED_PAGES = 1073741823


# ---- helpers -------------------------------------------------------------------------------------


async def event_count(ledger: Ledger) -> int:
    async with ledger.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM ledger_events"))).scalar_one())


async def healthy(ledger: Ledger, events: int) -> None:
    """The log holds ``events`` events and verifies (chain, checkpoints, blobs, projections)."""
    assert await event_count(ledger) == events
    report = await ledger.verify()
    assert report.ok, report.problem


@asynccontextmanager
async def pg_database(password: str | None = None) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database; dropped afterwards (``password``: put in the URL)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name)
    if password is not None:
        url = url.set(password=password)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def schema_engine(schema: str, **kwargs: Any) -> AsyncEngine:
    """A ledger engine (``create_engine``) whose connections work in ``schema``."""
    return create_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}}, **kwargs)


async def backend_pid(manager: Any) -> int:
    """The PostgreSQL backend of the manager's session connection (the session keeps it until it ends)."""
    return int((await manager.repo.session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(url: str, pid: int) -> None:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
        for _ in range(500):  # until the backend is gone
            gone = await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
            if gone.scalar_one() == 0:
                break
            await asyncio.sleep(0.01)
    await admin.dispose()


# ---- lock timeouts -------------------------------------------------------------------------------


async def test_sqlite_write_waits_for_the_lock_timeout_then_fails(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    url = f"sqlite+aiosqlite:///{path}"
    async with Ledger.open(url, secret=SECRET, lock_timeout=LOCK_TIMEOUT) as ledger, ledger.manager() as manager:
        root = await manager.save(ArtifactIn(data={"n": 0}))
        before = await event_count(ledger)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        try:
            began = time.monotonic()
            with pytest.raises(LockTimeoutError) as caught:
                await manager.save(ArtifactIn(parent_id=root.id, data={"n": 1}))
            waited = time.monotonic() - began
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        error = caught.value
        assert LOCK_TIMEOUT * 0.75 <= waited < 10, waited
        assert "lock timeout of 0.2 s" in str(error)
        assert url in str(error)
        assert "lock_timeout" in str(error)  # the remedy
        assert (error.lock_timeout, error.where) == (LOCK_TIMEOUT, url)
        assert isinstance(error.driver_error, sqlite3.OperationalError)
        assert error.driver_error.sqlite_errorcode == sqlite3.SQLITE_BUSY
        assert await event_count(ledger) == before

        after = await manager.save(ArtifactIn(parent_id=root.id, data={"n": 2}))  # the lock is free again
        assert after.level == 1
        await healthy(ledger, before + 1)


async def test_postgresql_write_lock_wait_ends_at_the_lock_timeout() -> None:
    async with pg_database(password="not-a-secret") as url:
        masked = make_url(url).render_as_string(hide_password=True)
        async with Ledger.open(url, secret=SECRET, lock_timeout=LOCK_TIMEOUT) as ledger, ledger.manager() as manager:
            async with ledger.engine.connect() as conn:
                assert (await conn.execute(text("SHOW lock_timeout"))).scalar_one() == "200ms"
            root = await manager.save(ArtifactIn(data={"n": 0}))
            before = await event_count(ledger)
            holder = create_async_engine(url)
            async with holder.begin() as conn:
                await conn.execute(text("LOCK TABLE ledger_events IN EXCLUSIVE MODE"))  # the ledger's write lock
                began = time.monotonic()
                with pytest.raises(LockTimeoutError) as caught:
                    await manager.save(ArtifactIn(parent_id=root.id, data={"n": 1}))
                waited = time.monotonic() - began
            await holder.dispose()
            error = caught.value
            assert LOCK_TIMEOUT * 0.75 <= waited < 10, waited
            assert "lock timeout of 0.2 s" in str(error)
            assert masked in str(error)
            assert "not-a-secret" not in str(error)
            assert error.where == masked
            assert isinstance(error.driver_error, asyncpg.LockNotAvailableError)
            # A command on an idle session takes the lock on the driver itself (no SQLAlchemy wrapper).
            wrapped = sa_exc.DBAPIError | sa_exc.EmulatedDBAPIException
            assert isinstance(error.__cause__, wrapped | asyncpg.PostgresError)
            assert await event_count(ledger) == before

            await manager.save(ArtifactIn(parent_id=root.id, data={"n": 2}))
            await healthy(ledger, before + 1)


async def sent(manager: Any, item: ArtifactIn) -> Any:
    """Save ``item`` and, inside a transaction, send it at once (a read flushes the pending writes)."""
    out = await manager.save(item)
    await manager.count()
    return out


async def test_postgresql_lock_timeout_mid_transaction_rolls_back_the_whole_transaction() -> None:
    """A row lock held elsewhere: the transaction's second write times out; its first is not kept either."""
    async with (
        pg_database() as url,
        Ledger.open(url, secret=SECRET, lock_timeout=LOCK_TIMEOUT) as ledger,
        ledger.manager() as manager,
    ):
        held = await manager.save(ArtifactIn(data={"held": 0}))
        before = await event_count(ledger)
        holder = create_async_engine(url)
        first_ids = []

        async def transaction() -> None:
            async with manager.transaction():
                first_ids.append((await sent(manager, ArtifactIn(data={"first": True}))).id)  # holds the write lock
                with pytest.raises(LockTimeoutError) as caught:
                    await sent(manager, ArtifactIn(id=held.id, data={"held": 1}))
                assert isinstance(caught.value.driver_error, asyncpg.LockNotAvailableError)
                with pytest.raises(TransactionAbortedError):  # the transaction is over
                    await manager.save(ArtifactIn(data={"later": True}))

        async with holder.begin() as conn:
            await conn.execute(text("SELECT 1 FROM ledger_artifacts WHERE id = :id FOR UPDATE"), {"id": str(held.id)})
            with pytest.raises(TransactionAbortedError):
                await transaction()
        await holder.dispose()
        assert await event_count(ledger) == before
        assert len(first_ids) == 1
        assert await manager.find_by_id(first_ids[0]) is None
        found = await manager.find_by_id(held.id)
        assert found is not None
        assert found.data == {"held": 0}
        await manager.save(ArtifactIn(id=held.id, data={"held": 2}))
        await healthy(ledger, before + 1)


# ---- a full disk ---------------------------------------------------------------------------------


@contextmanager
def page_limit(engine: AsyncEngine) -> Iterator[dict[str, int]]:
    """Every connection handed out gets ``PRAGMA max_page_count`` = ``limit["pages"]`` (none: unlimited)."""
    limit: dict[str, int] = {}

    def apply(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {limit.get('pages', UNLIMITED_PAGES)}")
        cursor.close()

    event.listen(engine.sync_engine, "checkout", apply)
    # The ledger's own SQLite connections (the write path, reads on idle sessions) come from its
    # worker pool, not SQLAlchemy's: each one handed out gets the same PRAGMA on its thread first.
    threads = workers_of(engine)
    assert threads is not None
    acquire = threads.acquire

    def acquire_limited() -> Worker:
        worker = acquire()
        worker.post(lambda connection: apply(connection, None, None))
        return worker

    threads.acquire = acquire_limited  # type: ignore[method-assign]
    try:
        yield limit
    finally:
        event.remove(engine.sync_engine, "checkout", apply)
        threads.acquire = acquire  # type: ignore[method-assign]


async def test_sqlite_full_database_writes_nothing_and_recovers(tmp_path: Path) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", secret=SECRET) as ledger:
        with page_limit(ledger.engine) as limit:
            async with ledger.manager() as manager:
                await manager.save(ArtifactIn(data={"n": 0}))
                pages = int((await manager.repo.session.execute(text("PRAGMA page_count"))).scalar_one())
                await manager.repo.session.commit()
                before = await event_count(ledger)
                limit["pages"] = pages + 16  # room for a small save, not for 400 KB of content
                big = ArtifactIn(data={"content": os.urandom(400_000)})

                with pytest.raises(StorageFullError) as caught:
                    await manager.save(big)
                assert "is full" in str(caught.value)
                assert "max_page_count" in str(caught.value)
                assert caught.value.driver_error.sqlite_errorcode == sqlite3.SQLITE_FULL  # type: ignore[union-attr]
                assert await event_count(ledger) == before

                # Inside a transaction: the small first write goes too.
                small_ids = []

                async def transaction() -> None:
                    async with manager.transaction():
                        small_ids.append((await sent(manager, ArtifactIn(data={"small": True}))).id)
                        await sent(manager, big)

                with pytest.raises(StorageFullError):
                    await transaction()
                assert len(small_ids) == 1
                assert await manager.find_by_id(small_ids[0]) is None
                assert await event_count(ledger) == before

                del limit["pages"]
                await manager.repo.rollback()  # hand the limited connection back: the next checkout lifts it
                await manager.save(big)
        await healthy(ledger, before + 1)


def _mount(*args: str) -> bool:
    if shutil.which("mount") is None or (hasattr(os, "geteuid") and os.geteuid() != 0):
        return False
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True, check=False)


async def test_sqlite_on_a_full_disk(tmp_path: Path) -> None:
    """A real ENOSPC: the ledger on a 512 KiB tmpfs (needs root and permission to mount; skipped otherwise)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not await asyncio.to_thread(_mount, "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        async with Ledger.open(f"sqlite+aiosqlite:///{disk / 'ledger.db'}", secret=SECRET) as ledger:
            async with ledger.manager() as manager:
                counts: list[int] = []

                async def fill() -> None:
                    for _ in range(100):
                        counts.append(await event_count(ledger))
                        await manager.save(ArtifactIn(data={"content": os.urandom(20_000)}))

                with pytest.raises(StorageFullError) as caught:
                    await fill()
                assert len(counts) > 1  # some saves fitted
                assert caught.value.driver_error.sqlite_errorcode == sqlite3.SQLITE_FULL  # type: ignore[union-attr]
                before = counts[-1]
                assert await event_count(ledger) == before
                assert await asyncio.to_thread(_mount, "-o", "remount,size=8m", str(disk))
                await manager.save(ArtifactIn(data={"content": os.urandom(20_000)}))
            await healthy(ledger, before + 1)
    finally:
        await asyncio.to_thread(_umount, disk)


# ---- a damaged file ------------------------------------------------------------------------------


async def _filled(path: Path, count: int = 50) -> None:
    async with Ledger.open(f"sqlite+aiosqlite:///{path}", secret=SECRET) as ledger, ledger.manager() as manager:
        for n in range(count):
            await manager.save(ArtifactIn(data={"n": n, "pad": "x" * 300}))


def _overwrite_root_page(path: Path, table: str) -> None:
    """``table``'s root page becomes garbage; the schema and the other tables stay readable."""
    conn = sqlite3.connect(path)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(path, "r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)


def _damage(path: Path, damage: str) -> None:
    with open(path, "r+b") as file:
        if damage == "garbage header":
            file.write(os.urandom(100))
        else:
            file.truncate(path.stat().st_size // 2)


async def test_sqlite_damaged_pages(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    await _filled(path)
    _overwrite_root_page(path, "ledger_artifacts")

    async with Ledger.open(f"sqlite+aiosqlite:///{path}", secret=SECRET) as ledger, ledger.manager() as manager:
        with pytest.raises(StorageCorruptError) as on_write:  # the append path, on the driver connection
            await manager.save(ArtifactIn(data={"n": "new"}))
        assert on_write.value.driver_error.sqlite_errorcode == sqlite3.SQLITE_CORRUPT  # type: ignore[union-attr]
        assert "backup" in str(on_write.value)
        with pytest.raises(StorageCorruptError) as on_read:  # a read through SQLAlchemy (handle_error)
            await manager.find_all()
        assert isinstance(on_read.value.__cause__, sqlite3.DatabaseError)
        assert await event_count(ledger) == 50


@pytest.mark.parametrize(
    ("damage", "code"),
    [("garbage header", sqlite3.SQLITE_NOTADB), ("truncated", sqlite3.SQLITE_CORRUPT)],
)
async def test_sqlite_damaged_file_fails_to_open(tmp_path: Path, damage: str, code: int) -> None:
    path = tmp_path / "ledger.db"
    await _filled(path)
    _damage(path, damage)
    with pytest.raises(StorageCorruptError) as caught:
        async with Ledger.open(f"sqlite+aiosqlite:///{path}", secret=SECRET):
            pass
    assert caught.value.driver_error.sqlite_errorcode == code  # type: ignore[union-attr]
    assert str(path) in str(caught.value)


# ---- a lost connection ---------------------------------------------------------------------------


async def test_postgresql_terminated_connection() -> None:
    async with pg_database() as url, Ledger.open(url, secret=SECRET) as ledger, ledger.manager() as manager:
        root = await manager.save(ArtifactIn(data={"n": 0}))
        before = await event_count(ledger)
        await terminate(url, await backend_pid(manager))
        with pytest.raises(ConnectionLostError) as caught:
            await manager.save(ArtifactIn(parent_id=root.id, data={"n": 1}))
        assert "retry" in str(caught.value).lower()
        assert caught.value.driver_error is not None
        assert await event_count(ledger) == before

        # Inside a transaction: the first write, sent before the connection died, is not kept.
        first_ids = []

        async def transaction() -> None:
            async with manager.transaction():
                first_ids.append((await sent(manager, ArtifactIn(parent_id=root.id, data={"first": True}))).id)
                await terminate(url, await backend_pid(manager))
                await sent(manager, ArtifactIn(parent_id=root.id, data={"second": True}))

        with pytest.raises(ConnectionLostError):
            await transaction()
        assert len(first_ids) == 1
        assert await manager.find_by_id(first_ids[0]) is None
        assert await event_count(ledger) == before

        await manager.save(ArtifactIn(parent_id=root.id, data={"n": 2}))  # a new connection from the pool
        await healthy(ledger, before + 1)


def test_a_broken_asyncpg_protocol_state_is_a_lost_connection() -> None:
    """The server ended the connection mid-operation: asyncpg's state machine refuses the next
    statement with an InternalClientError (no SQLSTATE). The connection cannot be used again."""
    error = asyncpg.exceptions.InternalClientError("cannot switch to state 11; another operation (2) is in progress")
    mapped = translate(error)
    assert isinstance(mapped, ConnectionLostError)
    assert "retry" in str(mapped).lower()
    assert "cannot switch to state 11" in str(mapped)
    assert mapped.driver_error is error


# ---- serialization failures and deadlocks --------------------------------------------------------


async def test_postgresql_serialization_failure_is_a_concurrency_error(pg_schema: str) -> None:
    """At SERIALIZABLE, a transaction that read before another writer committed cannot write after it."""
    engine = schema_engine(pg_schema, isolation_level="SERIALIZABLE")
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as one, ledger.manager() as other:
        await one.save(ArtifactIn(data={"n": 0}))
        failures: list[ConcurrencyError] = []

        async def transaction() -> None:
            async with one.transaction():
                assert await one.count() == 1  # its snapshot is taken (a write first would hold the write lock)
                await other.save(ArtifactIn(data={"theirs": 1}))  # commits in between
                with pytest.raises(ConcurrencyError) as caught:
                    await sent(one, ArtifactIn(data={"mine": 2}))
                failures.append(caught.value)
                with pytest.raises(TransactionAbortedError):  # the transaction is over
                    await one.save(ArtifactIn(data={"mine": 2}))

        with pytest.raises(TransactionAbortedError):
            await transaction()
        assert isinstance(failures[0].driver_error, asyncpg.SerializationError)
        assert "retry" in str(failures[0])
        await one.save(ArtifactIn(data={"mine": 3}))  # a retry succeeds
        assert sorted(str(a.data) for a in await one.find_all()) == sorted(
            str(d) for d in ({"n": 0}, {"theirs": 1}, {"mine": 3})
        )
        await healthy(ledger, 3)
    await engine.dispose()


async def test_postgresql_deadlock_is_a_concurrency_error(pg_schema: str) -> None:
    engine = schema_engine(pg_schema)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE pair (id int PRIMARY KEY, v int)"))
        await conn.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    async with engine.connect() as a, engine.connect() as b:
        for conn in (a, b):
            await conn.execute(text("SET deadlock_timeout = '50ms'"))
        await a.execute(text("UPDATE pair SET v = 1 WHERE id = 1"))
        await b.execute(text("UPDATE pair SET v = 1 WHERE id = 2"))

        async def cross(conn: Any, row: int) -> BaseException | None:
            try:
                await conn.execute(text("UPDATE pair SET v = 2 WHERE id = :id"), {"id": row})
            except Exception as exc:
                await conn.rollback()
                return exc
            await conn.commit()
            return None

        outcomes = await asyncio.gather(cross(a, 2), cross(b, 1))
    failures = [o for o in outcomes if o is not None]
    assert len(failures) == 1, outcomes
    error = failures[0]
    assert isinstance(error, ConcurrencyError)  # raised by the engine's handle_error
    assert "deadlock" in str(error)
    assert isinstance(error.driver_error, asyncpg.DeadlockDetectedError)
    assert isinstance(translate(error.driver_error), ConcurrencyError)  # the raw driver exception too
    await engine.dispose()


# ---- translate(): PostgreSQL, every SQLSTATE of the table ---------------------------------------

PG_CODES: list[tuple[str, type[LedgerError], bool]] = [
    # (SQLSTATE, ledger error, a storage condition: raised by handle_error too)
    ("40001", ConcurrencyError, True),
    ("40P01", ConcurrencyError, True),
    ("55P03", LockTimeoutError, True),
    ("57014", LedgerUnavailableError, True),
    ("53100", StorageFullError, True),
    ("53200", LedgerUnavailableError, True),
    ("53300", LedgerUnavailableError, True),
    ("08000", ConnectionLostError, True),
    ("08003", ConnectionLostError, True),
    ("08006", ConnectionLostError, True),
    ("57P01", ConnectionLostError, True),
    ("57P02", ConnectionLostError, True),
    ("57P03", ConnectionLostError, True),
    ("57P05", ConnectionLostError, True),
    ("25P03", ConnectionLostError, True),
    ("XX001", StorageCorruptError, True),
    ("XX002", StorageCorruptError, True),
    ("58030", LedgerUnavailableError, True),
    ("28P01", LedgerUnavailableError, True),
    ("3D000", LedgerUnavailableError, True),
    ("42P01", SchemaOutOfDateError, False),
    ("3F000", SchemaOutOfDateError, False),
    ("42703", SchemaOutOfDateError, False),
    ("23505", IntegrityViolationError, False),
    ("23503", IntegrityViolationError, False),
    ("23502", IntegrityViolationError, False),
    ("23514", IntegrityViolationError, False),
    ("23001", IntegrityViolationError, False),
    ("P0001", IntegrityViolationError, False),
    ("22001", IntegrityViolationError, False),
    ("22003", IntegrityViolationError, False),
    ("22P05", IntegrityViolationError, False),
    ("54000", IntegrityViolationError, False),
    ("25P02", TransactionAbortedError, False),
    ("42601", LedgerUnavailableError, False),  # anything else with a code: a database error
]


def _raise(code: str, constraint: str | None = None) -> str:
    extra = f", CONSTRAINT = '{constraint}'" if constraint else ""
    return f"DO $$ BEGIN RAISE EXCEPTION 'provoked {code}' USING ERRCODE = '{code}'{extra}; END $$"


async def test_translate_every_postgresql_code() -> None:
    """The server raises each SQLSTATE (PL/pgSQL ``RAISE … USING ERRCODE``).

    translate() maps what the drivers make of it.
    """
    plain = create_async_engine(PG_URL)  # no handle_error: SQLAlchemy's wrapped exception reaches us
    ledger_engine = create_engine(PG_URL)
    raw = await asyncpg.connect(make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False))
    wrong: list[str] = []
    try:
        for code, expected, storage in PG_CODES:
            try:
                async with plain.connect() as conn:
                    await conn.execute(text(_raise(code)))
            except sa_exc.DBAPIError as exc:
                mapped = translate(exc)
                if type(mapped) is not expected or getattr(mapped.driver_error, "sqlstate", None) != code:
                    wrong.append(f"{code} wrapped: {mapped!r}")
                elif not isinstance(mapped.driver_error, asyncpg.PostgresError):
                    wrong.append(f"{code}: driver_error is {mapped.driver_error!r}")
            try:
                await raw.execute(_raise(code))
            except asyncpg.PostgresError as exc:
                if type(translate(exc)) is not expected:
                    wrong.append(f"{code} raw: {translate(exc)!r}")
            try:  # through a ledger engine: storage conditions arrive translated, refusals stay SQLAlchemy's
                async with ledger_engine.connect() as conn:
                    await conn.execute(text(_raise(code)))
            except Exception as exc:
                if storage and type(exc) is not expected:
                    wrong.append(f"{code} handle_error: {exc!r}")
                if not storage and not isinstance(exc, sa_exc.DBAPIError):
                    wrong.append(f"{code} left alone: {exc!r}")
        # The unique (artifact_id, version) of ledger_events: another writer took the version.
        with pytest.raises(asyncpg.UniqueViolationError) as taken:
            await raw.execute(_raise("23505", "uq_ledger_events_artifact_id_version"))
        assert isinstance(translate(taken.value), ConcurrencyError)
    finally:
        await raw.close()
        await plain.dispose()
        await ledger_engine.dispose()
    assert not wrong, wrong


async def test_a_closed_asyncpg_connection_is_a_lost_connection() -> None:
    raw = await asyncpg.connect(make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False))
    await raw.close()
    with pytest.raises(asyncpg.InterfaceError) as caught:
        await raw.execute("SELECT 1")
    assert isinstance(translate(caught.value), ConnectionLostError)


# ---- translate(): SQLite, every result code of the table ----------------------------------------


def _sqlite_error(path: Path, setup: Callable[[sqlite3.Connection], None], statement: str) -> sqlite3.Error:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        setup(conn)
        conn.execute(statement)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError(f"{statement} did not fail")


def _tables(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        PRAGMA foreign_keys = ON;
        CREATE TABLE IF NOT EXISTS ledger_events (artifact_id TEXT, version INT, UNIQUE (artifact_id, version));
        CREATE TABLE IF NOT EXISTS other (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL CHECK (name <> ''),
            parent INT REFERENCES other (id));
        CREATE TABLE IF NOT EXISTS frozen (x INT);
        CREATE TRIGGER IF NOT EXISTS frozen_no_insert BEFORE INSERT ON frozen BEGIN SELECT RAISE(ABORT, 'frozen'); END;
        INSERT OR IGNORE INTO ledger_events VALUES ('a', 1);
        INSERT OR IGNORE INTO other (id, name) VALUES (1, 'one');
        """
    )


_COUNT_TO_100000 = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT count(*) FROM n"
)


def _nothing(conn: sqlite3.Connection) -> None:
    pass


def _busy(path: Path) -> sqlite3.Error:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        return _sqlite_error(path, lambda c: c.execute("PRAGMA busy_timeout = 0"), "BEGIN IMMEDIATE")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _busy_snapshot(path: Path) -> sqlite3.Error:
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("PRAGMA journal_mode = WAL")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM other").fetchall()  # a read snapshot
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("INSERT INTO other (name) VALUES ('later')")
    writer.close()
    try:
        reader.execute("INSERT INTO other (name) VALUES ('stale')")
    except sqlite3.Error as exc:
        return exc
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    raise AssertionError("a write on a stale snapshot succeeded")


def _locked_shared_cache(path: Path) -> sqlite3.Error:
    uri = f"file:locked-{uuid.uuid4().hex}?mode=memory&cache=shared"
    writer = sqlite3.connect(uri, uri=True, isolation_level=None)
    writer.execute("CREATE TABLE t (x INT)")
    writer.execute("BEGIN")
    writer.execute("INSERT INTO t VALUES (1)")
    reader = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        reader.execute("SELECT * FROM t").fetchall()
    except sqlite3.Error as exc:
        return exc
    finally:
        reader.close()
        writer.close()
    raise AssertionError("read of a table locked in the shared cache succeeded")


def _full(path: Path) -> sqlite3.Error:
    def limit(conn: sqlite3.Connection) -> None:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages}")

    return _sqlite_error(path, limit, "INSERT INTO other (name) VALUES (randomblob(100000))")


def _damaged(path: Path, header: bool) -> sqlite3.Error:
    damaged = path.with_name(f"damaged-{header}.db")
    conn = sqlite3.connect(damaged)
    conn.executescript(
        "CREATE TABLE t (x BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
        "INSERT INTO t SELECT randomblob(500) FROM n;"
    )
    conn.close()
    with open(damaged, "r+b") as file:
        if header:
            file.write(os.urandom(100))
        else:
            file.seek(4096)
            file.write(b"\xff" * (damaged.stat().st_size - 4096))
    return _sqlite_error(damaged, _nothing, "SELECT count(*), sum(length(x)) FROM t")


def _readonly(path: Path) -> sqlite3.Error:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("INSERT INTO other (name) VALUES ('ro')")
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("wrote to a read-only database")


def _cantopen(path: Path) -> sqlite3.Error:
    try:
        sqlite3.connect(path.parent / "missing" / "x.db")
    except sqlite3.Error as exc:
        return exc
    raise AssertionError("opened a database in a missing directory")


def _built(message: str, code: int, name: str, cls: type[sqlite3.Error] = sqlite3.OperationalError) -> sqlite3.Error:
    """An error SQLite raises but no test here can make it raise portably, with the attributes it would carry."""
    error = cls(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


SQLITE_CASES: list[tuple[str, Callable[[Path], sqlite3.Error], type[LedgerError]]] = [
    ("SQLITE_BUSY", _busy, LockTimeoutError),
    ("SQLITE_BUSY_SNAPSHOT", _busy_snapshot, LockTimeoutError),
    ("SQLITE_LOCKED_SHAREDCACHE", _locked_shared_cache, LockTimeoutError),
    ("SQLITE_FULL", _full, StorageFullError),
    ("SQLITE_CORRUPT", lambda p: _damaged(p, header=False), StorageCorruptError),
    ("SQLITE_NOTADB", lambda p: _damaged(p, header=True), StorageCorruptError),
    ("SQLITE_CANTOPEN", _cantopen, LedgerUnavailableError),
    ("SQLITE_READONLY", _readonly, LedgerUnavailableError),
    (
        "SQLITE_AUTH",
        lambda p: _sqlite_error(p, lambda c: c.set_authorizer(lambda *a: sqlite3.SQLITE_DENY), "SELECT * FROM other"),
        LedgerUnavailableError,
    ),
    (
        "SQLITE_INTERRUPT",
        lambda p: _sqlite_error(
            p,
            lambda c: c.set_progress_handler(lambda: 1, 1),
            _COUNT_TO_100000,
        ),
        LedgerUnavailableError,
    ),
    (
        "SQLITE_TOOBIG",
        lambda p: _sqlite_error(p, lambda c: c.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100), "SELECT randomblob(1000)"),
        IntegrityViolationError,
    ),
    (
        "SQLITE_MISMATCH",
        lambda p: _sqlite_error(p, _nothing, "INSERT INTO other (id, name) VALUES ('not a rowid', 'x')"),
        IntegrityViolationError,
    ),
    (
        "SQLITE_CONSTRAINT_UNIQUE",  # on ledger_events (artifact_id, version): another writer took the version
        lambda p: _sqlite_error(p, _nothing, "INSERT INTO ledger_events VALUES ('a', 1)"),
        ConcurrencyError,
    ),
    (
        "SQLITE_CONSTRAINT_UNIQUE",  # any other unique constraint
        lambda p: _sqlite_error(p, _nothing, "INSERT INTO other (name) VALUES ('one')"),
        IntegrityViolationError,
    ),
    (
        "SQLITE_CONSTRAINT_PRIMARYKEY",
        lambda p: _sqlite_error(p, _nothing, "INSERT INTO other (id, name) VALUES (1, 'two')"),
        IntegrityViolationError,
    ),
    (
        "SQLITE_CONSTRAINT_NOTNULL",
        lambda p: _sqlite_error(p, _nothing, "INSERT INTO other (name) VALUES (NULL)"),
        IntegrityViolationError,
    ),
    (
        "SQLITE_CONSTRAINT_CHECK",
        lambda p: _sqlite_error(p, _nothing, "INSERT INTO other (name) VALUES ('')"),
        IntegrityViolationError,
    ),
    (
        "SQLITE_CONSTRAINT_FOREIGNKEY",
        lambda p: _sqlite_error(
            p, lambda c: c.execute("PRAGMA foreign_keys = ON"), "INSERT INTO other (name, parent) VALUES ('x', 99)"
        ),
        IntegrityViolationError,
    ),
    (
        "SQLITE_CONSTRAINT_TRIGGER",  # RAISE(ABORT) in a trigger, like the append-only triggers
        lambda p: _sqlite_error(p, _nothing, "INSERT INTO frozen VALUES (1)"),
        IntegrityViolationError,
    ),
    ("SQLITE_ERROR", lambda p: _sqlite_error(p, _nothing, "SELECT * FROM no_table"), SchemaOutOfDateError),
    ("SQLITE_ERROR", lambda p: _sqlite_error(p, _nothing, "SELECT no_column FROM other"), SchemaOutOfDateError),
    ("SQLITE_ERROR", lambda p: _sqlite_error(p, _nothing, "SELEKT 1"), LedgerUnavailableError),
    # Not provoked: a failing disk, memory exhaustion, a file-permission refusal, an
    # out-of-range parameter index (Python's sqlite3 checks parameter counts itself).
    ("SQLITE_IOERR_WRITE", lambda p: _built("disk I/O error", 778, "SQLITE_IOERR_WRITE"), LedgerUnavailableError),
    ("SQLITE_NOMEM", lambda p: _built("out of memory", 7, "SQLITE_NOMEM"), LedgerUnavailableError),
    ("SQLITE_PERM", lambda p: _built("access permission denied", 3, "SQLITE_PERM"), LedgerUnavailableError),
    (
        "SQLITE_RANGE",
        lambda p: _built("column index out of range", 25, "SQLITE_RANGE", sqlite3.ProgrammingError),
        IntegrityViolationError,
    ),
]


@pytest.mark.parametrize(
    ("name", "provoke", "expected"), SQLITE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(SQLITE_CASES)]
)
def test_translate_every_sqlite_code(
    tmp_path: Path, name: str, provoke: Callable[[Path], sqlite3.Error], expected: type[LedgerError]
) -> None:
    path = tmp_path / "codes.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        _tables(conn)
    conn.close()
    error = provoke(path)
    assert error.sqlite_errorname == name, (error, error.sqlite_errorname)  # type: ignore[attr-defined]
    mapped = translate(error)
    assert type(mapped) is expected, repr(mapped)
    assert mapped.driver_error is error
    assert str(error) in str(mapped)


async def test_sqlite_refusals_on_a_ledger_engine_stay_sqlalchemy_errors(tmp_path: Path) -> None:
    """handle_error leaves an application's own constraint errors alone; the ledger's own calls translate them."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE app (name TEXT UNIQUE)"))
        await conn.execute(text("INSERT INTO app VALUES ('one')"))
    with pytest.raises(sa_exc.IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO app VALUES ('one')"))
    with pytest.raises(IntegrityViolationError) as caught, translated():
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO app VALUES ('one')"))
    assert isinstance(caught.value.driver_error, sqlite3.IntegrityError)
    await engine.dispose()


# ---- translate(): errors without a code ----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), ConnectionLostError),
        (BrokenPipeError(32, "Broken pipe"), ConnectionLostError),
        (ConnectionRefusedError(111, "Connect call failed"), LedgerUnavailableError),
        (TimeoutError(), LedgerUnavailableError),
        (OSError("Multiple exceptions: [Errno 111]"), LedgerUnavailableError),
        (ValueError("not a database error"), None),
        (FileNotFoundError("a file, not the database"), None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_translate_errors_without_a_code(error: BaseException, expected: type[LedgerError] | None) -> None:
    mapped = translate(error)
    if expected is None:
        assert mapped is None
    else:
        assert type(mapped) is expected
        assert mapped.driver_error is error


def test_a_ledger_error_passes_unchanged() -> None:
    error = ConcurrencyError("expected version 2")
    assert translate(error) is error
    assert error.driver_error is None


# ---- lock_timeout: the argument ------------------------------------------------------------------


async def test_lock_timeout_sets_the_connection_settings(tmp_path: Path) -> None:
    for timeout, busy_ms in ((None, 30000), (0.2, 200), (2, 2000), (math.inf, 2**31 - 1)):
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", lock_timeout=timeout)
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == busy_ms
        site = site_of(engine)
        assert site is not None
        assert site.lock_timeout == (30.0 if timeout is None else timeout)
        await engine.dispose()
    for timeout, setting in ((None, "30s"), (0.2, "200ms"), (math.inf, "0")):
        engine = create_engine(PG_URL, lock_timeout=timeout, connect_args={"server_settings": {"search_path": "x"}})
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW lock_timeout"))).scalar_one() == setting
            assert (await conn.execute(text("SHOW search_path"))).scalar_one() == "x"  # the caller's settings stay
            assert (await conn.execute(text("SHOW jit"))).scalar_one() == "off"
        await engine.dispose()
    engine = create_engine(PG_URL, connect_args={"server_settings": {"jit": "on"}})  # the caller's choice wins
    async with engine.connect() as conn:
        assert (await conn.execute(text("SHOW jit"))).scalar_one() == "on"
    await engine.dispose()


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan")])
def test_lock_timeout_must_be_positive_seconds(bad: Any) -> None:
    with pytest.raises(LedgerError, match="lock_timeout"):
        create_engine("sqlite+aiosqlite:///:memory:", lock_timeout=bad)


async def test_an_engine_passed_in_keeps_its_own_settings() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:", lock_timeout=5)
    with pytest.raises(LedgerError, match="create_engine"):
        async with Ledger.open(engine, secret=SECRET, lock_timeout=1):
            pass
    async with Ledger.open(engine, secret=SECRET):
        site = site_of(engine)
        assert site is not None
        assert site.lock_timeout == 5  # what create_engine recorded, not forgotten by Ledger.open
    await engine.dispose()


def test_the_site_masks_the_password() -> None:
    engine = create_engine("postgresql+asyncpg://user:s3cret@127.0.0.1:1/db", lock_timeout=2)
    site = site_of(engine)
    assert site == Site("postgresql+asyncpg://user:***@127.0.0.1:1/db", 2.0)
    error = translate(asyncpg.LockNotAvailableError("canceling statement due to lock timeout"), site=site)
    assert isinstance(error, LockTimeoutError)
    assert "s3cret" not in str(error)
    assert "user:***@" in str(error)
    assert "2 s" in str(error)
