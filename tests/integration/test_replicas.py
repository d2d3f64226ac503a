"""Read replicas against a real hot standby: a second PostgreSQL server that streams from the test server.

The ``standby`` fixture (one per test session) takes a base backup of the test server and starts
it as a standby on a free port (``tests/pg_standby.py``); it stops it and removes its directory at
the end, or at exit. Each test makes a database of its own on the primary, which the standby
replays. Replay is paused with ``pg_wal_replay_pause()`` to tell the replica's answers from the
primary's: whatever a read sees while replay is paused came from the primary.

SQLite has no standby: there the tests check that a ``read_url`` is refused, that a ledger
without a replica reports no lag, and that ``consistent=True`` changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from artifact_ledger import (
    ArtifactIn,
    InvalidArgumentError,
    Ledger,
    NotAReplicaError,
    ReplicaLag,
    ReplicaUnavailableError,
    create_engine,
    sync,
)
from ledger_support import PG_URL, SECRET
from pg_standby import Standby, autocommit_sql, running_standby

WAIT_S = 30.0


@pytest.fixture(scope="session")
def standby() -> Iterator[Standby]:
    with running_standby(PG_URL) as server:
        yield server


@dataclass
class Pair:
    primary: str
    replica: str
    admin: str
    """The standby's ``postgres`` database: where replay is paused and resumed."""

    async def sql(self, url: str, statement: str) -> object:
        return await autocommit_sql(url, statement)

    async def pause(self) -> None:
        await self.sql(self.admin, "SELECT pg_wal_replay_pause()")

    async def resume(self) -> None:
        await self.sql(self.admin, "SELECT pg_wal_replay_resume()")


@pytest.fixture
async def pair(standby: Standby) -> AsyncIterator[Pair]:
    """A fresh database on the primary, its URL on the standby, and the standby's admin URL."""
    name = f"replica_{uuid.uuid4().hex[:12]}"
    server = make_url(PG_URL)
    admin = create_async_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    found = Pair(str(server.set(database=name).render_as_string(hide_password=False)), standby.url(name), "")
    found.admin = standby.url("postgres")
    try:
        yield found
    finally:
        await found.resume()  # a test that failed while replay was paused must not stall the next
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


async def eventually(check: object, what: str) -> None:
    """Await ``check()`` until it is true (the standby replays within a moment), at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        await asyncio.sleep(0.05)


async def on_replica(ledger: Ledger, artifact_id: Any, what: str) -> None:
    """Wait (see :func:`eventually`) until the ledger's reads, which go to the replica, find the artifact."""

    async def there() -> bool:
        async with ledger.manager() as reader:
            return await reader.exists_by_id(artifact_id)

    await eventually(there, what)


# ---- writes reach the replica, and reads go there ---------------------------------------------------


async def test_writes_on_the_primary_reach_the_replica(pair: Pair) -> None:
    async with Ledger.open(pair.primary, secret=SECRET, read_url=pair.replica) as ledger:
        assert ledger.read_engine is not None
        async with ledger.manager() as writer:
            saved = await writer.save(ArtifactIn(data={"name": "model", "content": b"weights"}))

        await on_replica(ledger, saved.id, "the save reaches the replica")
        async with ledger.manager() as reader:
            found = await reader.find_by_id(saved.id)
            assert found is not None
            assert found.data["content"] == b"weights"
            assert [v.version for v in await reader.history(saved.id)] == [1]
            assert (await reader.find({"data.name": "model"})).items[0].id == saved.id

        async def caught_up() -> bool:
            lag = await ledger.replica_lag()
            return lag is not None and lag.caught_up

        await eventually(caught_up, "the replica catches up")
        lag = await ledger.replica_lag()
        assert isinstance(lag, ReplicaLag)
        assert lag.bytes == 0
        assert lag.seconds == 0.0
        assert not lag.paused


async def test_read_your_writes_while_replay_is_paused(pair: Pair) -> None:
    async with Ledger.open(pair.primary, secret=SECRET, read_url=pair.replica) as ledger:
        async with ledger.manager() as setup:
            first = await setup.save(ArtifactIn(data={"name": "first"}))

        await on_replica(ledger, first.id, "the first save reaches the replica")
        await pair.pause()
        try:
            async with ledger.manager() as manager:
                # Before it writes, this manager reads the replica (which has `first`).
                assert await manager.exists_by_id(first.id)
                saved = await manager.save(ArtifactIn(parent_id=first.id, data={"name": "second"}))
                # After its write it reads the primary: its own write, at once.
                found = await manager.find_by_id(saved.id)
                assert found is not None
                assert found.data == {"name": "second"}
                assert [n.id for n in await manager.find_subtree(first.id)] == [first.id, saved.id]
                assert await manager.count() == 2

            async with ledger.manager() as fresh:  # has not written: reads the paused replica
                assert await fresh.find_by_id(saved.id) is None
                assert await fresh.count() == 1
                assert (await fresh.audit(artifact_id=saved.id)).entries == []

            async with ledger.manager(consistent=True) as consistent:  # reads the primary
                assert await consistent.find_by_id(saved.id) is not None
                assert [v.version for v in await consistent.history(saved.id)] == [1]

            async with ledger.transaction() as tx:  # a transaction reads the primary (and its own writes)
                assert await tx.exists_by_id(saved.id)
                third = await tx.save(ArtifactIn(data={"name": "third"}))
                assert await tx.exists_by_id(third.id)

            lag = await ledger.replica_lag()
            assert lag is not None
            assert lag.paused
            assert lag.bytes > 0
            assert not lag.caught_up
            assert lag.seconds is not None
            assert lag.seconds > 0
        finally:
            await pair.resume()

        async def replica_has_all() -> bool:
            async with ledger.manager() as reader:
                return await reader.count() == 3

        await eventually(replica_has_all, "the writes reach the replica once replay resumes")
        async with ledger.manager() as reader:
            assert await reader.find_by_id(saved.id) is not None


async def test_a_failed_write_also_moves_reads_to_the_primary(pair: Pair) -> None:
    async with Ledger.open(pair.primary, secret=SECRET, read_url=pair.replica) as ledger:
        await pair.pause()
        try:
            async with ledger.manager(consistent=True) as other:
                hidden = await other.save(ArtifactIn(data={"name": "not replayed"}))
            async with ledger.manager() as manager:
                assert await manager.find_by_id(hidden.id) is None  # the replica's answer
                with pytest.raises(Exception):  # noqa: B017,PT011 - any refusal: the point is what follows
                    await manager.save(ArtifactIn(data={"name": "x"}), expected_version=7)
                assert await manager.find_by_id(hidden.id) is not None  # now the primary's
        finally:
            await pair.resume()


def test_sync_api_reads_the_replica_and_its_own_writes(pair: Pair) -> None:
    with sync.Ledger.open(pair.primary, secret=SECRET, read_url=pair.replica) as ledger:
        asyncio.run(pair.pause())  # after open: the standby has the new ledger by then
        try:
            with ledger.manager() as manager:
                saved = manager.save(ArtifactIn(data={"name": "sync"}))
                assert manager.find_by_id(saved.id) is not None
            with ledger.manager() as fresh:
                assert fresh.find_by_id(saved.id) is None
            with ledger.manager(consistent=True) as consistent:
                assert consistent.find_by_id(saved.id) is not None
            lag = ledger.replica_lag()
            assert lag is not None
            assert lag.paused
            assert lag.bytes > 0
        finally:
            asyncio.run(pair.resume())


# ---- what is refused --------------------------------------------------------------------------------


async def test_the_primary_itself_is_not_a_replica(pair: Pair) -> None:
    with pytest.raises(NotAReplicaError, match="not in recovery") as caught:
        async with Ledger.open(pair.primary, read_url=pair.primary):
            pass
    message = str(caught.value)
    assert masked(pair.primary) in message
    assert message.count(masked(pair.primary)) == 2
    assert caught.value.url == masked(pair.primary)
    assert caught.value.read_url == masked(pair.primary)


async def test_another_database_on_the_standby_is_refused(pair: Pair, standby: Standby) -> None:
    async with Ledger.open(pair.primary):
        pass
    with pytest.raises(NotAReplicaError, match="holds no ledger") as caught:
        async with Ledger.open(pair.primary, read_url=standby.url("postgres")):
            pass
    assert masked(pair.primary) in str(caught.value)
    assert masked(standby.url("postgres")) in str(caught.value)


@pytest.mark.parametrize("namespace", ["default", "team-a"])
async def test_a_standby_of_another_ledger_is_refused(pair: Pair, standby: Standby, namespace: str) -> None:
    """The standby of another database (in a namespace: one that has a namespace of the same name)
    holds another ledger."""
    name = f"replica_{uuid.uuid4().hex[:12]}"
    server = make_url(PG_URL)
    other = server.set(database=name).render_as_string(hide_password=False)
    maintenance = server.set(database="postgres").render_as_string(hide_password=False)
    await pair.sql(maintenance, f'CREATE DATABASE "{name}"')
    try:
        async with Ledger.open(other, namespace=namespace) as other_ledger:
            other_id = other_ledger.ledger_id
        async with Ledger.open(pair.primary, namespace=namespace) as ledger:
            own_id = ledger.ledger_id
        with pytest.raises(NotAReplicaError, match=f"holds ledger {other_id}, not ledger {own_id}"):
            async with Ledger.open(pair.primary, namespace=namespace, read_url=standby.url(name)):
                pass
    finally:
        await pair.sql(maintenance, f'DROP DATABASE "{name}" WITH (FORCE)')


async def test_a_standby_of_another_cluster_is_refused(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only one cluster streams here, so the replica's system identifier is made to differ."""
    from artifact_ledger import replicas

    real = replicas._system_identifier
    seen: list[int | None] = []

    async def identifier(conn: Any) -> int | None:
        found = await real(conn)
        seen.append(found)
        return None if found is None else (found + 1 if len(seen) == 2 else found)  # the 2nd call: the replica

    monkeypatch.setattr(replicas, "_system_identifier", identifier)
    with pytest.raises(NotAReplicaError, match="standby of another PostgreSQL cluster") as caught:
        async with Ledger.open(pair.primary, read_url=pair.replica):
            pass
    assert seen[0] is not None
    assert f"system identifier {seen[1] + 1}" in str(caught.value)  # type: ignore[operator]
    assert f"the primary's is {seen[0]}" in str(caught.value)


async def test_a_fresh_ledger_is_waited_for_not_refused(pair: Pair) -> None:
    """A ledger created on the primary a moment ago is accepted once the standby has replayed it."""
    async with Ledger.open(pair.primary, read_url=pair.replica) as ledger:
        assert ledger.read_engine is not None


async def test_sqlite_has_no_replicas(tmp_path: Path, pair: Pair) -> None:
    primary = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    copy = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    with pytest.raises(NotAReplicaError, match="the replica is sqlite"):
        async with Ledger.open(pair.primary, read_url=copy):
            pass
    with pytest.raises(NotAReplicaError, match="the primary is sqlite"):
        async with Ledger.open(primary, read_url=pair.replica):
            pass
    with pytest.raises(NotAReplicaError, match="the primary is sqlite"):
        async with Ledger.open(primary, read_url=copy):
            pass
    assert not (tmp_path / "b.db").exists()  # nothing was created on the refused URL


async def test_an_unreachable_read_url_is_refused_at_open(pair: Pair) -> None:
    nowhere = str(make_url(pair.replica).set(port=_closed_port()))
    with pytest.raises(ReplicaUnavailableError) as caught:
        async with Ledger.open(pair.primary, read_url=nowhere):
            pass
    assert masked(nowhere) in str(caught.value)


# ---- refused before anything is created (no standby needed) -------------------------------------------


NOT_A_STANDBY = ["the primary's server", "sqlite", "unreachable", "no such database"]


def _not_a_standby(kind: str, tmp_path: Path) -> str:
    """A read_url that is refused: a server not in recovery, SQLite, a closed port, a database
    that does not exist on a server that is not a standby (with a password, to see it masked)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
    server = make_url(PG_URL).set(password="hunter2")
    if kind == "unreachable":
        server = server.set(host="127.0.0.1", port=_closed_port())
    elif kind == "no such database":
        server = server.set(database=f"missing_{uuid.uuid4().hex[:12]}")
    return server.render_as_string(hide_password=False)


@dataclass
class Fresh:
    """A fresh primary (a SQLite file not made yet, or an engine on an empty PostgreSQL schema)."""

    primary: Any
    schema: str | None

    async def tables(self) -> list[str]:
        if self.schema is None:
            return []  # the file does not exist: checked by the test
        async with self.primary.connect() as conn:
            return list(await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names(schema=self.schema)))


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Fresh]:
    if request.param == "sqlite":
        yield Fresh(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", None)
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    primary = create_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield Fresh(primary, schema)
    finally:
        await primary.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.mark.parametrize("read", NOT_A_STANDBY)
async def test_a_refused_read_url_creates_nothing(
    fresh: Fresh, read: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks that need no ledger id run before the primary's schema is made: a refused
    read_url leaves no ledger table, SQLite file, key file or blob directory behind."""
    from artifact_ledger import LedgerError, replicas

    monkeypatch.setattr(replicas, "REPLAY_WAIT_S", 0.2)  # for the database that never comes
    monkeypatch.delenv("ARTIFACT_LEDGER_SECRET", raising=False)
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))
    read_url = _not_a_standby(read, tmp_path)
    sqlite = fresh.schema is None
    expected: type[LedgerError] = ReplicaUnavailableError if read == "unreachable" and not sqlite else NotAReplicaError
    with pytest.raises(expected) as caught:
        async with Ledger.open(fresh.primary, read_url=read_url, blobs=f"file://{tmp_path / 'blobs'}"):
            pass
    assert masked(read_url) in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.read_url == masked(read_url)  # type: ignore[attr-defined]
    assert await fresh.tables() == []
    for made in ("ledger.db", "ledger.db.key", "copy.db", "keys", "blobs"):
        assert not (tmp_path / made).exists(), made  # no database file, key file or blob directory


@pytest.mark.parametrize("fresh", ["postgresql"], indirect=True)
async def test_an_unreachable_read_url_is_named_not_the_primary(fresh: Fresh) -> None:
    """A read_url whose connection cannot be made: the message names it, never the primary (which
    the same task had just connected to, so a plain translation named the primary)."""
    from artifact_ledger import replicas

    nowhere = make_url(PG_URL).set(password="hunter2", port=_closed_port()).render_as_string(hide_password=False)
    with pytest.raises(ReplicaUnavailableError) as caught:
        async with Ledger.open(fresh.primary, read_url=nowhere):
            pass
    for error in (caught.value, caught.value.__cause__):
        assert masked(nowhere) in str(error)
        assert masked(PG_URL) not in str(error)
        assert "hunter2" not in str(error)
    assert caught.value.read_url == masked(nowhere)
    assert "Nothing was opened" in str(caught.value)
    assert "consistent=True" not in str(caught.value)  # no ledger to read the primary with

    async with Ledger.open(fresh.primary) as ledger:  # replica_lag's replica, unreachable
        unreachable = create_engine(nowhere)
        try:
            with pytest.raises(ReplicaUnavailableError) as lagging:
                await replicas.lag(ledger.engine, unreachable)
        finally:
            await unreachable.dispose()
    assert masked(nowhere) in str(lagging.value)
    assert masked(PG_URL) not in str(lagging.value)
    assert "consistent=True" in str(lagging.value)


# ---- without a replica ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_without_a_replica_everything_reads_the_primary(kind: str, tmp_path: Path, pair: Pair) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'l.db'}" if kind == "sqlite" else pair.primary
    async with Ledger.open(url, secret=SECRET) as ledger:
        assert ledger.read_engine is None
        assert await ledger.replica_lag() is None
        async with ledger.manager() as writer:
            saved = await writer.save(ArtifactIn(data={"k": 1}))
        for consistent in (False, True):
            async with ledger.manager(consistent=consistent) as reader:
                assert await reader.find_by_id(saved.id) is not None


# ---- the replica going away ---------------------------------------------------------------------------


async def test_reads_fail_when_the_replica_goes_away(pair: Pair, standby: Standby) -> None:
    async with Ledger.open(pair.primary, secret=SECRET, read_url=pair.replica) as ledger:
        async with ledger.manager() as writer:
            saved = await writer.save(ArtifactIn(data={"name": "kept"}))

        await on_replica(ledger, saved.id, "the save reaches the replica")
        await asyncio.to_thread(standby.stop_server)
        try:
            async with ledger.manager() as reader:
                with pytest.raises(ReplicaUnavailableError) as caught:
                    await reader.find_by_id(saved.id)  # a pooled connection that broke
                assert masked(pair.replica) in str(caught.value)
                assert "consistent=True" in str(caught.value)
                with pytest.raises(ReplicaUnavailableError):
                    await reader.history(saved.id)  # a new connection that cannot be made
            with pytest.raises(ReplicaUnavailableError):
                await ledger.replica_lag()
            async with ledger.manager(consistent=True) as primary_reader:
                assert await primary_reader.find_by_id(saved.id) is not None
            async with ledger.manager() as writer:  # writes never needed the replica
                await writer.save(ArtifactIn(data={"name": "during the outage"}))
        finally:
            await asyncio.to_thread(standby.start_server)

        async def replica_back() -> bool:
            try:
                async with ledger.manager() as reader:
                    return await reader.count() == 2
            except ReplicaUnavailableError:
                return False

        await eventually(replica_back, "reads work again once the replica is back")


# ---- the CLI ------------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "artifact_ledger", *args], capture_output=True, text=True, timeout=120, check=False
    )


async def test_cli_read_db(pair: Pair) -> None:
    async with Ledger.open(pair.primary, secret=SECRET) as ledger, ledger.manager() as manager:
        first = await manager.save(ArtifactIn(data={"name": "first"}))
    async with Ledger.open(pair.primary, read_url=pair.replica):
        pass  # waits until the standby has the ledger
    await pair.pause()
    try:
        async with Ledger.open(pair.primary, secret=SECRET) as ledger, ledger.manager() as manager:
            await manager.save(ArtifactIn(data={"name": "second"}))
        from_replica = await asyncio.to_thread(cli, "--db", pair.primary, "--read-db", pair.replica, "ls", "--json")
        assert from_replica.returncode == 0, from_replica.stderr
        assert [row["id"] for row in json.loads(from_replica.stdout)] == [str(first.id)]
        from_primary = await asyncio.to_thread(cli, "ls", "--db", pair.primary, "--json")
        assert from_primary.returncode == 0, from_primary.stderr
        assert len(json.loads(from_primary.stdout)) == 2
        refused = await asyncio.to_thread(cli, "show", str(first.id), "--db", pair.primary, "--read-db", pair.primary)
        assert refused.returncode == 4
        assert "is not a standby of" in refused.stderr
        assert "not in recovery" in refused.stderr
    finally:
        await pair.resume()


# ---- helpers ------------------------------------------------------------------------------------------


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _closed_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_engines_passed_in_stay_open(pair: Pair) -> None:
    """A read engine of the caller's is checked and used, and not disposed with the ledger."""

    async def run() -> None:
        read_engine = create_engine(pair.replica)
        try:
            async with Ledger.open(pair.primary, secret=SECRET, read_url=read_engine) as ledger:
                assert ledger.read_engine is read_engine
            async with read_engine.connect() as conn:  # still usable
                assert (await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar() is True
        finally:
            await read_engine.dispose()

    asyncio.run(run())


# ---- namespaces ---------------------------------------------------------------------------------------


async def test_a_namespace_reads_its_own_tables_on_the_replica(pair: Pair) -> None:
    """A namespace's schema is on the standby too: its reads go there, see only that namespace,
    and a manager that wrote (or consistent=True) reads its own writes from the primary."""
    async with Ledger.open(pair.primary, secret=SECRET) as default, default.manager() as manager:
        other = await manager.save(ArtifactIn(data={"name": "default's"}))
    async with Ledger.open(pair.primary, secret=SECRET, namespace="team-a", read_url=pair.replica) as ledger:
        assert ledger.read_engine is not None
        async with ledger.manager() as writer:
            first = await writer.save(ArtifactIn(data={"name": "team-a's"}))

        await on_replica(ledger, first.id, "the namespace's save reaches the replica")
        await pair.pause()
        try:
            async with ledger.manager() as manager:
                assert await manager.find_by_id(other.id) is None  # the default namespace's row: not here
                assert await manager.count() == 1
                second = await manager.save(ArtifactIn(data={"name": "second"}))
                assert await manager.find_by_id(second.id) is not None  # its own write, from the primary
            async with ledger.manager() as fresh:  # has not written: the paused replica's answer
                assert await fresh.find_by_id(second.id) is None
                assert await fresh.find_by_id(first.id) is not None
            async with ledger.manager(consistent=True) as consistent:
                assert await consistent.count() == 2
            lag = await ledger.replica_lag()
            assert lag is not None
            assert lag.paused
        finally:
            await pair.resume()


async def test_a_refused_read_url_creates_no_namespace(pair: Pair, tmp_path: Path) -> None:
    """Refused before the namespace is made: no schema on PostgreSQL, no folder on SQLite."""
    with pytest.raises(NotAReplicaError, match="not in recovery"):
        async with Ledger.open(pair.primary, namespace="team-a", read_url=pair.primary):
            pass
    async with Ledger.open(pair.primary) as ledger:
        assert await ledger.namespaces() == ["default"]
    primary = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    with pytest.raises(NotAReplicaError, match="the primary is sqlite"):
        async with Ledger.open(primary, namespace="team-a", read_url=pair.replica):
            pass
    for made in ("ledger.db", "ledger.db.namespaces"):
        assert not (tmp_path / made).exists(), made
    engine = create_engine(pair.replica)
    try:
        with pytest.raises(InvalidArgumentError, match="read_url for namespace 'team-a' must be the standby's URL"):
            async with Ledger.open(pair.primary, namespace="team-a", read_url=engine):
                pass
    finally:
        await engine.dispose()


async def test_cli_read_db_with_a_namespace(pair: Pair) -> None:
    async with Ledger.open(pair.primary, secret=SECRET, namespace="team-a") as ledger, ledger.manager() as manager:
        first = await manager.save(ArtifactIn(data={"name": "first"}))
    async with Ledger.open(pair.primary, namespace="team-a", read_url=pair.replica):
        pass  # waits until the standby has the namespace
    shown = await asyncio.to_thread(
        cli, "--db", pair.primary, "--read-db", pair.replica, "--namespace", "team-a", "ls", "--json"
    )
    assert shown.returncode == 0, shown.stderr
    assert [row["id"] for row in json.loads(shown.stdout)] == [str(first.id)]
