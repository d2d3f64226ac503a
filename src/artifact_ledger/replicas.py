"""Read replicas: the check that a ``read_url`` is a standby of the ledger's primary, and its lag.

A ledger opened with ``Ledger.open(url, read_url=...)`` has a second engine on a PostgreSQL hot
standby that streams the primary's WAL. At open, :func:`check_standby` refuses a ``read_url``
that is not one: a server that is not in recovery (it takes writes, so nothing keeps it equal to
the primary), one whose system identifier differs (a standby of another cluster), or a database
without this ledger's id in ``ledger_info`` (another database, or another ledger). SQLite has no
standby the ledger could check, so a SQLite ``read_url`` (or primary) is refused too.

The check runs in two halves so that a refused ``read_url`` creates nothing: ``Ledger.open``
runs :func:`open_standby` (:func:`check_origin`: the dialects, recovery, the system identifier)
before it creates or checks the primary's schema, and :func:`check_ledger` (the ledger id, which
only exists afterwards) once it has. A replica that cannot be reached is
:class:`ReplicaUnavailableError` naming the ``read_url``: errors on the replica's connections are
translated with the replica's URL, not the primary's the task used last.

Which reads go where is the repository's rule (see :mod:`artifact_ledger.repository`);
:func:`lag` measures how far the standby is behind, as a :class:`ReplicaLag`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .errors import LedgerError, LedgerUnavailableError, NotAReplicaError, ReplicaUnavailableError
from .store.engine import create_engine
from .store.errors import Site, install, site_of, translate, translated
from .store.guards import read_ledger_id

__all__ = [
    "REPLAY_WAIT_S",
    "ReplicaLag",
    "check_ledger",
    "check_origin",
    "check_standby",
    "lag",
    "open_standby",
    "unavailable",
]

_NO_DATABASE = "3D000"
"""SQLSTATE invalid_catalog_name: the standby has no database of that name (yet)."""

REPLAY_WAIT_S = 5.0
"""How long ``Ledger.open`` waits for a standby to replay a database or ledger it does not hold
yet (one created on the primary moments ago) before it refuses the ``read_url``."""


@dataclass(frozen=True, slots=True)
class ReplicaLag:
    """How far the read replica is behind the primary, measured by ``await ledger.replica_lag()``.

    ``seconds``: a bound on staleness. ``0.0`` when the standby had replayed everything the
    primary had written when the measurement began; otherwise the time since the last
    transaction the standby replayed was committed (reads may miss anything committed after
    it), or ``None`` when the standby has replayed no transaction since it started.
    ``bytes``: WAL the primary has written that the standby has not replayed yet.
    ``paused``: replay is paused on the standby (``pg_wal_replay_pause()``): it falls behind
    until someone resumes it.
    """

    seconds: float | None
    bytes: int
    paused: bool
    primary_lsn: str
    replay_lsn: str

    @property
    def caught_up(self) -> bool:
        """The standby held everything the primary had written when the measurement began."""
        return self.bytes == 0


def masked(url: str | URL) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<not a database URL>"


def _refuse(primary: str, replica: str, why: str) -> NotAReplicaError:
    return NotAReplicaError(
        f"read_url {replica} is not a standby of {primary}: {why}. Reads from it could show another "
        "database's data; pass the URL of a hot standby that streams from this primary, or open without read_url",
        url=primary,
        read_url=replica,
    )


async def _one(conn: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await conn.execute(text(sql), params)).one()


async def _system_identifier(conn: AsyncConnection) -> int | None:
    """``pg_control_system()``'s system identifier, or None where this role may not call it."""
    try:
        async with conn.begin_nested():
            return int((await _one(conn, "SELECT system_identifier FROM pg_control_system()"))[0])
    except DBAPIError:
        return None  # insufficient privilege: the ledger id still ties the two together


async def open_standby(
    primary: AsyncEngine,
    read_url: str | URL | AsyncEngine,
    lock_timeout: float | None = None,
    connect_args: dict[str, Any] | None = None,
) -> AsyncEngine:
    """The read replica's engine (made from ``read_url`` with ``connect_args``, or ``read_url``
    itself), checked by :func:`check_origin`; an engine made here is disposed of when the check refuses it.

    Call it before anything is created on the primary: it needs no ledger id, and a refused
    ``read_url`` must leave nothing behind. :func:`check_ledger` does the rest once the ledger is there.
    """
    if isinstance(read_url, AsyncEngine):
        install(read_url, None)  # storage errors on its connections arrive translated
        await check_origin(primary, read_url)
        return read_url
    engine = create_engine(read_url, lock_timeout=lock_timeout, connect_args=connect_args or {})
    try:
        system_id = await _origin(primary, engine, wait=None)
    except BaseException:
        await engine.dispose()
        raise
    _guard_connections(engine, system_id)
    return engine


def _guard_connections(replica: AsyncEngine, system_id: int | None) -> None:
    """Check every later connection of ``replica`` as :func:`check_origin` checked the first: in
    recovery, and (when the role could read it at open) of the same system identifier.

    The check at open looked at the one server its connection reached; a ``read_url`` naming
    several hosts (``?host=a&host=b``, tried in turn), a DNS name that moves, or a standby
    promoted meanwhile can put a later connection on the primary, another cluster or a writable
    copy, and reads would come from there unnoticed. Such a connection fails the read with
    :class:`ReplicaUnavailableError` (nothing falls back to another server). One round trip per
    new connection, none per read.
    """
    query = "SELECT pg_is_in_recovery(), inet_server_addr()::text, inet_server_port()"
    if system_id is not None:
        query += ", (SELECT system_identifier FROM pg_control_system())"
    where = masked(replica.url)

    def check(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # outside any transaction, as the pool hands it out
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute(query)
            row = cursor.fetchone()
            cursor.close()
        finally:
            dbapi_connection.autocommit = autocommit
        server = "a server" if row[1] is None else f"{row[1].split('/')[0]}:{row[2]}"
        if not row[0]:
            why = f"{server}, which is not in recovery (pg_is_in_recovery() is false): a primary or a writable copy"
        elif system_id is not None and int(row[3]) != system_id:
            why = f"{server}, a standby of another PostgreSQL cluster (system identifier {row[3]}, not {system_id})"
        else:
            return
        dbapi_connection.close()  # the pool keeps no record of a connection whose connect failed
        raise unavailable(where, ConnectionError(f"a new connection reached {why}; no read goes there"))

    event.listen(replica.sync_engine, "connect", check)


async def check_standby(
    primary: AsyncEngine, replica: AsyncEngine, ledger_id: str, *, wait: float | None = None
) -> None:
    """Raise :class:`NotAReplicaError` unless ``replica`` is a hot standby of ``primary`` holding
    ledger ``ledger_id``; :class:`ReplicaUnavailableError` when it cannot be reached.

    Both halves at once (:func:`check_origin`, then :func:`check_ledger`), for a ledger that exists.
    """
    await check_origin(primary, replica, wait=wait)
    await check_ledger(primary, replica, ledger_id, wait=wait)


async def check_origin(primary: AsyncEngine, replica: AsyncEngine, *, wait: float | None = None) -> None:
    """Everything about ``replica`` that needs no ledger id: both are PostgreSQL, the primary is
    not in recovery (a standby given as ``url`` takes no writes), the replica is, and its system
    identifier is the primary's. It reads the primary and creates nothing.

    A database missing on the replica is waited for up to ``wait`` seconds (default
    :data:`REPLAY_WAIT_S`): one created on the primary a moment ago has not been replayed yet.
    """
    await _origin(primary, replica, wait=wait)


async def _origin(primary: AsyncEngine, replica: AsyncEngine, *, wait: float | None) -> int | None:
    """:func:`check_origin`; returns the replica's system identifier when both could be read."""
    p_url, r_url = masked(primary.url), masked(replica.url)
    for engine, role in ((primary, "the primary"), (replica, "the replica")):
        if engine.dialect.name != "postgresql":
            raise _refuse(
                p_url,
                r_url,
                f"{role} is {engine.dialect.name}; read replicas are PostgreSQL hot standbys (SQLite has no "
                "standby whose origin and position the ledger could check)",
            )
    with translated():
        async with primary.connect() as pconn:
            p_standby = (await _one(pconn, "SELECT pg_is_in_recovery()"))[0]
            p_id = await _system_identifier(pconn)
    if p_standby:
        raise NotAReplicaError(
            f"url {p_url} is itself a standby (pg_is_in_recovery() is true there), not the primary: the ledger "
            f"writes to url and a standby takes no writes. Pass the primary's URL as url and the standby's "
            f"({r_url}) as read_url",
            url=p_url,
            read_url=r_url,
        )
    deadline = time.monotonic() + _wait(wait)
    while True:
        try:
            with _on_replica(replica):
                async with replica.connect() as rconn:
                    in_recovery = (await _one(rconn, "SELECT pg_is_in_recovery()"))[0]
                    if not in_recovery:
                        raise _refuse(
                            p_url,
                            r_url,
                            "it is not in recovery (pg_is_in_recovery() is false), so it takes writes of its own; "
                            "a standby replays the primary's WAL",
                        )
                    r_id = await _system_identifier(rconn)
            break
        except LedgerUnavailableError as exc:
            if _no_database(exc) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # a database created a moment ago: not replayed yet
                continue
            raise _replica_error(primary, replica, exc, _wait(wait)) from exc
    if p_id is not None and r_id is not None and p_id != r_id:
        raise _refuse(
            p_url,
            r_url,
            f"it is a standby of another PostgreSQL cluster (system identifier {r_id}; the primary's is {p_id})",
        )
    return r_id if p_id is not None else None


async def check_ledger(
    primary: AsyncEngine, replica: AsyncEngine, ledger_id: str, *, wait: float | None = None
) -> None:
    """Raise :class:`NotAReplicaError` unless the replica's database holds ledger ``ledger_id``,
    waiting up to ``wait`` seconds (default :data:`REPLAY_WAIT_S`) for it to replay a ledger the
    primary created a moment ago. Run :func:`check_origin` first."""
    seconds = _wait(wait)
    p_url, r_url = masked(primary.url), masked(replica.url)
    with translated():
        async with primary.connect() as pconn:
            p_lsn = (await _one(pconn, "SELECT pg_current_wal_lsn()::text"))[0]
    deadline = time.monotonic() + seconds
    try:
        found, database = await _replica_side(replica, p_lsn, deadline)
    except LedgerUnavailableError as exc:
        raise _replica_error(primary, replica, exc, seconds) from exc
    if found is None:
        raise _refuse(
            p_url,
            r_url,
            f"its database {database!r} holds no ledger (no ledger id in ledger_info"
            f"{'' if seconds <= 0 else f' after waiting {seconds:g} s for replay'})",
        )
    if found != ledger_id:
        raise _refuse(p_url, r_url, f"its database {database!r} holds ledger {found}, not ledger {ledger_id}")


def _wait(wait: float | None) -> float:
    return REPLAY_WAIT_S if wait is None else wait


def _no_database(error: LedgerUnavailableError) -> bool:
    return getattr(error.driver_error, "sqlstate", None) == _NO_DATABASE


def _replica_error(
    primary: AsyncEngine, replica: AsyncEngine, error: LedgerUnavailableError, waited: float
) -> LedgerError:
    """The error for a replica that could not be used at open: no such database there, or unreachable."""
    if _no_database(error):
        return _refuse(
            masked(primary.url),
            masked(replica.url),
            f"it has no database {replica.url.database!r} (after waiting {waited:g} s for replay)",
        )
    return unavailable(masked(replica.url), error, opening=True)


@contextmanager
def _on_replica(replica: AsyncEngine) -> Iterator[None]:
    """:func:`translated`, naming the replica in the messages.

    A connection that cannot be made (refused, no route) fails in the driver before any
    SQLAlchemy event names its engine, so ``translated()`` would name the engine this task used
    last: the primary, checked just before. Here the replica's URL is the site.
    """
    site = site_of(replica) or Site(masked(replica.url), None)
    try:
        yield
    except LedgerError:
        raise
    except Exception as error:
        mapped = translate(error, site=site)
        if mapped is None:
            raise
        raise mapped from error


async def _replica_side(replica: AsyncEngine, p_lsn: str, deadline: float) -> tuple[str | None, str]:
    """The ledger id the standby holds (waiting until ``deadline`` for replay up to ``p_lsn`` if it
    holds none yet) and its database's name."""
    with _on_replica(replica):
        async with replica.connect() as rconn:
            database = (await _one(rconn, "SELECT current_database()"))[0]
            found = await _replica_ledger_id(rconn)
            while found is None and time.monotonic() < deadline:
                # A ledger the primary created a moment ago: wait until its WAL is replayed.
                replay_lsn = (await _one(rconn, "SELECT pg_last_wal_replay_lsn()::text"))[0]
                await rconn.rollback()
                found = await _replica_ledger_id(rconn)
                if _lsn(replay_lsn) >= _lsn(p_lsn):
                    break
                await asyncio.sleep(0.05)
    return found, str(database)


_UNDEFINED_TABLE = "42P01"
"""SQLSTATE undefined_table: no ledger_info on the standby (yet)."""


async def _replica_ledger_id(conn: AsyncConnection) -> str | None:
    """The ledger id in the standby's ``ledger_info``, None when there is no such table (yet).

    Only a missing table means "no ledger": any other error (a role with no SELECT on the table
    or no USAGE on its schema) is raised, so the open names it instead of waiting for a replay
    that cannot help and calling the database empty.
    """
    try:
        async with conn.begin_nested():
            return await conn.run_sync(read_ledger_id)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == _UNDEFINED_TABLE:
            return None
        raise


async def lag(primary: AsyncEngine, replica: AsyncEngine) -> ReplicaLag:
    """How far ``replica`` is behind ``primary`` (see :class:`ReplicaLag`)."""
    with translated():
        async with primary.connect() as pconn:
            p_lsn, now = await _one(pconn, "SELECT pg_current_wal_lsn()::text, clock_timestamp()")
    try:
        with _on_replica(replica):
            async with replica.connect() as rconn:
                r_lsn, replayed_at, paused = await _one(
                    rconn,
                    "SELECT pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp(), pg_is_wal_replay_paused()",
                )
    except ReplicaUnavailableError:
        raise  # a connection that reached no standby of the primary (_guard_connections)
    except LedgerUnavailableError as exc:
        raise unavailable(masked(replica.url), exc) from exc
    behind = max(_lsn(p_lsn) - _lsn(r_lsn), 0)
    if behind == 0:
        seconds: float | None = 0.0
    elif replayed_at is None:
        seconds = None
    else:
        seconds = max((now - replayed_at).total_seconds(), 0.0)
    return ReplicaLag(seconds=seconds, bytes=behind, paused=bool(paused), primary_lsn=p_lsn, replay_lsn=r_lsn)


def _lsn(value: str | None) -> int:
    """A WAL position (``16/B374D848``) as a byte offset (``pg_wal_lsn_diff`` without a round trip)."""
    if not value:
        return 0
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def unavailable(read_url: str, error: BaseException, *, opening: bool = False) -> ReplicaUnavailableError:
    """The error when the replica cannot be reached: by a read (nothing falls back to the primary),
    or at open (``opening``: nothing was opened).

    The reason is the driver's own message: a translated error's text names the database its
    site was, which for a connection that could not be made can be the primary.
    """
    driver = error.driver_error if isinstance(error, LedgerError) else None
    reason = str(driver or error).strip() or type(driver or error).__name__
    if opening:
        remedy = (
            "Nothing was opened; check that the standby is up and that read_url is right, "
            "or open the ledger without read_url"
        )
    else:
        remedy = (
            "Reads of this ledger go to the replica; use ledger.manager(consistent=True) to read the primary "
            "meanwhile, or open the ledger without read_url"
        )
    return ReplicaUnavailableError(
        f"the read replica {read_url} cannot be reached ({reason}). {remedy}", read_url=read_url
    )
