"""Read replicas, from a second adversarial review (a careless operator's and an attacker's), against
a real hot standby (``tests/pg_standby.py``, one per module): what a ``url`` / ``read_url`` pair may be,
and where a read may land once the ledger is open.

SQLite has no standby, so its side is that a ``read_url`` is refused there (the same as ever).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from artifact_ledger import ArtifactIn, Ledger, NotAReplicaError, ReplicaUnavailableError, create_engine
from artifact_ledger.replicas import masked
from ledger_support import PG_URL, SECRET
from pg_standby import Standby, autocommit_sql, running_standby


@pytest.fixture(scope="module")
def standby() -> Iterator[Standby]:
    with running_standby(PG_URL) as server:
        yield server


@dataclass
class Pair:
    primary: str
    replica: str
    database: str
    admin: str


@pytest.fixture
async def pair(standby: Standby) -> AsyncIterator[Pair]:
    """A fresh database on the primary and its URL on the standby."""
    name = f"replica_{uuid.uuid4().hex[:12]}"
    server = make_url(PG_URL)
    admin = server.set(database="postgres").render_as_string(hide_password=False)
    await autocommit_sql(admin, f'CREATE DATABASE "{name}"')
    try:
        yield Pair(server.set(database=name).render_as_string(hide_password=False), standby.url(name), name, admin)
    finally:
        await autocommit_sql(standby.url("postgres"), "SELECT pg_wal_replay_resume()")
        await autocommit_sql(admin, f'DROP DATABASE "{name}" WITH (FORCE)')


async def _on_replica(url: str, artifact_id: object) -> None:
    """Wait until the standby has replayed the artifact's row."""
    for _ in range(600):
        try:
            if await autocommit_sql(url, f"SELECT count(*) FROM ledger_artifacts WHERE id = '{artifact_id}'"):
                return
        except Exception:  # the table may not be replayed yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the standby did not replay the save within 30 s")


async def test_reads_resume_once_the_standby_is_back(pair: Pair, standby: Standby) -> None:
    """A standby restarted (a blip): a read on an idle manager runs on the driver's connection,
    whose error never reached the pool, so the closed connection went back into it and every later
    read failed with 'connection is closed' (ReplicaUnavailableError) until pool_recycle, 30 min,
    though the documentation says pooled connections are replaced and reads resume."""
    async with Ledger.open(pair.primary, secret=SECRET, read_url=pair.replica) as ledger:
        async with ledger.manager() as writer:
            saved = await writer.save(ArtifactIn(data={"name": "kept"}))
        await _on_replica(pair.replica, saved.id)
        async with ledger.manager() as reader:
            assert await reader.find_by_id(saved.id) is not None
        await asyncio.to_thread(standby.stop_server)
        await asyncio.to_thread(standby.start_server)
        await _on_replica(pair.replica, saved.id)
        outcomes: list[str] = []
        for _ in range(6):
            async with ledger.manager() as reader:
                try:
                    outcomes.append("found" if await reader.find_by_id(saved.id) is not None else "none")
                except ReplicaUnavailableError as error:
                    outcomes.append(str(error))
        assert outcomes[-3:] == ["found"] * 3, outcomes
        assert len([o for o in outcomes if o != "found"]) <= 1, outcomes  # the one connection that broke


async def test_a_read_url_that_falls_back_to_another_server_is_refused_per_connection(
    pair: Pair, standby: Standby
) -> None:
    """A read_url naming several hosts (the standby, then the primary: asyncpg tries them in turn)
    passed the check at open, which looked at the one server the first connection reached; once the
    standby went away, new connections went to the primary and reads silently came from it, the
    fallback the ledger promises never to make. Each new replica connection is now checked."""
    primary = make_url(pair.primary)
    several = (
        f"postgresql+asyncpg://{primary.username}@/{pair.database}"
        f"?host=127.0.0.1:{standby.port}&host={primary.host}:{primary.port or 5432}"
    )
    async with Ledger.open(pair.primary, secret=SECRET, read_url=several) as ledger:
        async with ledger.manager() as writer:
            saved = await writer.save(ArtifactIn(data={"name": "kept"}))
        await _on_replica(pair.replica, saved.id)
        async with ledger.manager() as reader:
            assert await reader.find_by_id(saved.id) is not None  # from the standby
        await asyncio.to_thread(standby.stop_server)
        try:
            refusal: ReplicaUnavailableError | None = None
            for _ in range(20):  # the pooled connections break one by one; then new ones reach the primary
                async with ledger.manager() as reader:
                    try:
                        found = await reader.find_by_id(saved.id)
                    except ReplicaUnavailableError as error:
                        if "connection is closed" in str(error):
                            continue
                        refusal = error
                        break
                raise AssertionError(f"a read with the standby down came from the primary: {found}")
            assert refusal is not None
            assert "not in recovery" in str(refusal)
            caught = refusal
            assert masked(several) in str(caught)
            assert "consistent=True" in str(caught)
            async with ledger.manager(consistent=True) as reader:
                assert await reader.find_by_id(saved.id) is not None
        finally:
            await asyncio.to_thread(standby.start_server)


async def test_a_standby_given_as_the_primary_is_refused_at_open(pair: Pair) -> None:
    """url naming the standby (and read_url the standby too, or another standby) passed every check
    (both in recovery, one system identifier) and failed later with a bare 'recovery is in progress'
    database error: now NotAReplicaError at open, naming url as a standby."""
    async with Ledger.open(pair.primary, secret=SECRET) as ledger, ledger.manager() as writer:
        saved = await writer.save(ArtifactIn(data={"name": "kept"}))
    await _on_replica(pair.replica, saved.id)
    with pytest.raises(NotAReplicaError) as caught:
        async with Ledger.open(pair.replica, secret=SECRET, read_url=pair.replica, create=False):
            pass
    assert masked(pair.replica) in str(caught.value)
    assert "is itself a standby" in str(caught.value)


async def test_a_read_url_whose_role_may_not_read_the_ledger_says_so(pair: Pair) -> None:
    """A read_url whose role has no SELECT on the ledger's tables (a read-only role nobody granted
    them to): the permission error was taken for 'no ledger_info table yet', so the open said the
    standby's database 'holds no ledger ... after waiting 5 s for replay', sending the operator
    after replication instead of the grant."""
    async with Ledger.open(pair.primary, secret=SECRET) as ledger, ledger.manager() as writer:
        saved = await writer.save(ArtifactIn(data={"name": "kept"}))
    await _on_replica(pair.replica, saved.id)
    role = f"al_ro_{uuid.uuid4().hex[:8]}"
    await autocommit_sql(pair.admin, f'CREATE ROLE "{role}" LOGIN')
    try:
        read_url = make_url(pair.replica).set(username=role).render_as_string(hide_password=False)
        for _ in range(600):  # the role reaches the standby with the WAL
            if await autocommit_sql(
                make_url(pair.replica).set(database="postgres").render_as_string(hide_password=False),
                f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'",
            ):
                break
            await asyncio.sleep(0.05)
        with pytest.raises(ReplicaUnavailableError) as caught:
            async with Ledger.open(pair.primary, secret=SECRET, read_url=read_url):
                pass
        assert "permission denied" in str(caught.value)
        assert "holds no ledger" not in str(caught.value)
        assert masked(read_url) in str(caught.value)
    finally:
        await autocommit_sql(pair.admin, f'DROP ROLE IF EXISTS "{role}"')


async def test_a_ledger_in_a_schema_of_its_own_reads_that_schema_on_the_replica(pair: Pair) -> None:
    """A primary engine whose search_path names the ledger's schema (connect_args server_settings,
    as for any ledger not in public) with read_url as a URL: the replica's connections used the
    role's default search_path, so the standby was refused as 'holds no ledger' though it held this
    one in the same schema. The replica reads the schema the primary's ledger lives in."""
    schema = "ledger_schema"
    await autocommit_sql(pair.primary, f'CREATE SCHEMA "{schema}"')
    primary = create_engine(pair.primary, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with Ledger.open(primary, secret=SECRET) as ledger, ledger.manager() as writer:
            saved = await writer.save(ArtifactIn(data={"name": "kept"}))
        for _ in range(600):
            try:
                if await autocommit_sql(pair.replica, f'SELECT count(*) FROM "{schema}".ledger_artifacts'):
                    break
            except Exception:  # the schema may not be replayed yet
                pass
            await asyncio.sleep(0.05)
        async with Ledger.open(primary, secret=SECRET, read_url=pair.replica) as ledger:
            assert ledger.read_engine is not None
            async with ledger.read_engine.connect() as conn:
                assert (await conn.execute(text("SELECT current_schema()"))).scalar_one() == schema
            async with ledger.manager() as reader:
                assert await reader.find_by_id(saved.id) is not None
    finally:
        await primary.dispose()


async def test_sqlite_still_has_no_replica(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    with pytest.raises(NotAReplicaError):
        async with Ledger.open(url, secret=SECRET, read_url=f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"):
            pass
    assert not (tmp_path / "ledger.db").exists()
