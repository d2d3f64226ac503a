"""Read replicas: the check that a ``read_url`` is a standby of the ledger's primary, and its lag.

A ledger opened with ``Ledger.open(url, read_url=...)`` has a second engine on a PostgreSQL hot
standby that streams the primary's WAL. At open, :func:`check_standby` refuses a ``read_url``
that is not one: a server that is not in recovery (it takes writes, so nothing keeps it equal to
the primary), one whose system identifier differs (a standby of another cluster), or a database
without this ledger's id in ``ledger_info`` (another database, or another ledger). SQLite has no
standby the ledger could check, so a SQLite ``read_url`` (or primary) is refused too.

Which reads go where is the repository's rule (see :mod:`artifact_ledger.repository`);
:func:`lag` measures how far the standby is behind, as a :class:`ReplicaLag`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .errors import LedgerUnavailableError, NotAReplicaError, ReplicaUnavailableError
from .store.errors import translated
from .store.guards import read_ledger_id

__all__ = ["REPLAY_WAIT_S", "ReplicaLag", "check_standby", "lag", "unavailable"]

_NO_DATABASE = "3D000"
"""SQLSTATE invalid_catalog_name: the standby has no database of that name (yet)."""

REPLAY_WAIT_S = 5.0
"""How long ``Ledger.open`` waits for a standby to replay a ledger it does not hold yet (one
created on the primary moments ago) before it refuses the ``read_url``."""


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


async def check_standby(
    primary: AsyncEngine, replica: AsyncEngine, ledger_id: str, *, wait: float = REPLAY_WAIT_S
) -> None:
    """Raise :class:`NotAReplicaError` unless ``replica`` is a hot standby of ``primary`` holding
    ledger ``ledger_id``; :class:`ReplicaUnavailableError` when it cannot be reached."""
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
            p_id = await _system_identifier(pconn)
            p_lsn = (await _one(pconn, "SELECT pg_current_wal_lsn()::text"))[0]
    deadline = time.monotonic() + wait
    while True:
        try:
            found, database = await _replica_side(primary, replica, p_id, p_lsn, deadline)
            break
        except LedgerUnavailableError as exc:
            missing = getattr(getattr(exc, "driver_error", None), "sqlstate", None) == _NO_DATABASE
            if missing and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # a database created a moment ago: not replayed yet
                continue
            if missing:
                name = replica.url.database
                raise _refuse(
                    p_url, r_url, f"it has no database {name!r} (after waiting {wait:g} s for replay)"
                ) from exc
            raise unavailable(r_url, exc) from exc
    if found is None:
        raise _refuse(
            p_url,
            r_url,
            f"its database {database!r} holds no ledger (no ledger id in ledger_info"
            f"{'' if wait <= 0 else f' after waiting {wait:g} s for replay'})",
        )
    if found != ledger_id:
        raise _refuse(p_url, r_url, f"its database {database!r} holds ledger {found}, not ledger {ledger_id}")


async def _replica_side(
    primary: AsyncEngine, replica: AsyncEngine, p_id: int | None, p_lsn: str, deadline: float
) -> tuple[str | None, str]:
    """The ledger id the standby holds (waiting until ``deadline`` for replay up to ``p_lsn`` if it
    holds none yet) and its database's name; refuses a server that is not a standby of ``primary``."""
    p_url, r_url = masked(primary.url), masked(replica.url)
    with translated():
        async with replica.connect() as rconn:
            in_recovery, database = await _one(rconn, "SELECT pg_is_in_recovery(), current_database()")
            if not in_recovery:
                raise _refuse(
                    p_url,
                    r_url,
                    "it is not in recovery (pg_is_in_recovery() is false), so it takes writes of its own; "
                    "a standby replays the primary's WAL",
                )
            r_id = await _system_identifier(rconn)
            if p_id is not None and r_id is not None and p_id != r_id:
                raise _refuse(
                    p_url,
                    r_url,
                    f"it is a standby of another PostgreSQL cluster (system identifier {r_id}; "
                    f"the primary's is {p_id})",
                )
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


async def _replica_ledger_id(conn: AsyncConnection) -> str | None:
    try:
        async with conn.begin_nested():
            return await conn.run_sync(read_ledger_id)
    except DBAPIError:
        return None  # no ledger_info table (yet)


async def lag(primary: AsyncEngine, replica: AsyncEngine) -> ReplicaLag:
    """How far ``replica`` is behind ``primary`` (see :class:`ReplicaLag`)."""
    with translated():
        async with primary.connect() as pconn:
            p_lsn, now = await _one(pconn, "SELECT pg_current_wal_lsn()::text, clock_timestamp()")
    try:
        with translated():
            async with replica.connect() as rconn:
                r_lsn, replayed_at, paused = await _one(
                    rconn,
                    "SELECT pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp(), pg_is_wal_replay_paused()",
                )
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


def unavailable(read_url: str, error: BaseException) -> ReplicaUnavailableError:
    """The error a read raises when the replica cannot be reached (nothing falls back to the primary)."""
    return ReplicaUnavailableError(
        f"the read replica {read_url} cannot be reached ({error}). Reads of this ledger go to the replica; "
        "use ledger.manager(consistent=True) to read the primary meanwhile, or open the ledger without read_url",
        read_url=read_url,
    )
