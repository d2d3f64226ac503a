"""``resolve_alias(name)`` on an idle session: one statement on a connection of the ledger's own.

On SQLite that is a connection of the ledger's own threads (``store/sqlite_threads.py``), on
PostgreSQL an asyncpg connection detached from the engine's pool (``store/own_reads.py``). What
must hold: the same answer as the ordinary read through the session (current version, an older
pinned version replayed from the log, content, a removed alias, a deleted artifact), a
transaction's reads going through its own session (and seeing its pending writes), concurrent
reads beyond the connections kept, a connection lost or a read cancelled mid-way, and the
connections closed with the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from artifact_ledger import ArtifactIn, ArtifactManager, ArtifactRepository
from artifact_ledger.errors import AliasNotFoundError, ConnectionLostError, InvalidAliasNameError, InvalidArgumentError
from artifact_ledger.store import own_reads
from ledger_support import SECRET


def _manager(engine: AsyncEngine) -> tuple[Any, Callable[[], ArtifactManager]]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    def make(session: Any) -> ArtifactManager:
        return ArtifactManager(ArtifactRepository(session, secret=SECRET))

    return sessions, make  # type: ignore[return-value]


@pytest.fixture
def own_fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements run on the ledger's own connections (``own_reads.fetch`` answering rows)."""
    seen: list[str] = []
    original = own_reads.fetch

    async def counted(engine: AsyncEngine, sql: str, args: Any) -> Any:
        rows = await original(engine, sql, args)
        if rows is not None:
            seen.append(sql)
        return rows

    monkeypatch.setattr(own_reads, "fetch", counted)
    return seen


async def _ordinary(manager: ArtifactManager, name: str, **kwargs: Any) -> Any:
    """The read through the session (the path every read took before)."""
    return await manager._provenance.resolve_alias(
        name, as_of=None, include_content=kwargs.get("include_content", True)
    )


async def test_the_same_answer_as_the_read_through_the_session(
    manager: ArtifactManager, own_fetches: list[str]
) -> None:
    root = await manager.save(ArtifactIn(data={"name": "project"}))
    model = await manager.save(ArtifactIn(parent_id=root.id, data={"name": "model", "content": b"w1"}, tags=["a"]))
    await manager.set_alias("production", model.id)
    await manager.set_alias("root", root.id)
    for name in ("production", "root"):
        for include_content in (True, False):
            fast = await manager.resolve_alias(name, include_content=include_content)
            assert fast == await _ordinary(manager, name, include_content=include_content)
    assert (await manager.resolve_alias("production")).data["content"] == b"w1"
    assert "content" not in (await manager.resolve_alias("production", include_content=False)).data
    assert (await manager.resolve_alias("root")).parent_id is None
    assert (await manager.resolve_alias("production")).parent_id == root.id
    assert (await manager.resolve_alias("production")).tags == ["a"]

    # The alias pins version 1; the artifact moves on: version 1 is replayed from the log.
    await manager.save(ArtifactIn(id=model.id, parent_id=root.id, data={"name": "model", "content": b"w2"}))
    pinned = await manager.resolve_alias("production")
    assert (pinned.version, pinned.data["content"]) == (1, b"w1")
    assert pinned == await _ordinary(manager, "production")

    await manager.remove_alias("root")
    with pytest.raises(AliasNotFoundError, match="'root'"):
        await manager.resolve_alias("root")
    with pytest.raises(AliasNotFoundError, match="'never'"):
        await manager.resolve_alias("never")
    with pytest.raises(InvalidAliasNameError):
        await manager.resolve_alias("latest")
    with pytest.raises(InvalidArgumentError, match="include_content"):
        await manager.resolve_alias("production", include_content="no")  # type: ignore[arg-type]
    if manager.repo.session.bind.url.database != ":memory:":  # type: ignore[union-attr]
        assert own_fetches, "the reads took the ledger's own connections"
    assert not manager.repo.session.in_transaction()


async def test_an_alias_to_a_deleted_artifact(manager: ArtifactManager) -> None:
    out = await manager.save(ArtifactIn(data={"name": "gone"}))
    await manager.set_alias("old", out.id)
    await manager.delete_by_id(out.id, cascade=True)  # removes the aliases pointing at it
    for read in (manager.resolve_alias, lambda name: _ordinary(manager, name)):
        with pytest.raises(AliasNotFoundError, match="'old'"):
            await read("old")


async def test_a_transaction_reads_its_own_writes_on_its_session(
    manager: ArtifactManager, own_fetches: list[str]
) -> None:
    first = await manager.save(ArtifactIn(data={"v": 1}))
    await manager.set_alias("production", first.id)
    async with manager.transaction():
        before = len(own_fetches)
        second = await manager.save(ArtifactIn(data={"v": 2}))
        await manager.set_alias("production", second.id)
        assert (await manager.resolve_alias("production")).id == second.id  # pending: seen only by the session
        updated = await manager.save(ArtifactIn(id=second.id, data={"v": 3}))
        await manager.set_alias("production", second.id, version=updated.version)
        assert (await manager.resolve_alias("production")).data == {"v": 3}
        assert len(own_fetches) == before  # never on a connection of the ledger's own
    assert (await manager.resolve_alias("production")).data == {"v": 3}  # committed


async def test_concurrent_reads_beyond_the_connections_kept(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()
    sessions, make = _manager(engine)
    async with sessions() as session:
        writer = make(session)
        outs = [await writer.save(ArtifactIn(data={"n": i})) for i in range(12)]
        for i, out in enumerate(outs):
            await writer.set_alias(f"a{i}", out.id)

    async def read(i: int) -> None:
        async with sessions() as session:
            for _ in range(3):
                assert (await make(session).resolve_alias(f"a{i}")).data == {"n": i}

    await asyncio.gather(*(read(i) for i in range(12)))
    if engine.dialect.name == "postgresql":
        own = own_reads.own_of(engine)
        assert 1 <= own.owned <= own_reads.MAX_OWN
        assert len(own.idle) == own.owned  # every one came back


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])  # dispose() ends an in-memory database
async def test_closed_with_the_engine_and_made_again(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()
    sessions, make = _manager(engine)
    async with sessions() as session:
        manager = make(session)
        out = await manager.save(ArtifactIn(data={"n": 1}))
        await manager.set_alias("production", out.id)
        assert (await manager.resolve_alias("production")).id == out.id
        if engine.dialect.name == "postgresql":
            own = own_reads.own_of(engine)
            kept = [entry[0] for entry in own.idle]
            assert len(kept) == 1
        await engine.dispose()
        if engine.dialect.name == "postgresql":
            assert (own.owned, own.idle) == (0, [])
            assert all(connection.is_closed() for connection in kept)
        assert (await manager.resolve_alias("production")).id == out.id  # new connections


@pytest.mark.parametrize("backend", ["postgresql"])  # a server connection to terminate
async def test_a_lost_connection_fails_one_read_then_reads_go_on(make_engine: Callable[[], AsyncEngine]) -> None:
    engine = make_engine()
    sessions, make = _manager(engine)
    async with sessions() as session:
        manager = make(session)
        out = await manager.save(ArtifactIn(data={"n": 1}))
        await manager.set_alias("production", out.id)
        await manager.resolve_alias("production")
        (connection,) = [entry[0] for entry in own_reads.own_of(engine).idle]
        pid = connection.get_server_pid()
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(500):
        if connection.is_closed():
            break
        await asyncio.sleep(0.01)
    async with sessions() as session:
        manager = make(session)
        with contextlib.suppress(ConnectionLostError):  # found broken by this read, or dropped as closed before
            assert (await manager.resolve_alias("production")).id == out.id
        assert (await manager.resolve_alias("production")).id == out.id
    assert connection not in [entry[0] for entry in own_reads.own_of(engine).idle]


async def test_a_cancelled_read_leaves_nothing_behind(
    manager: ArtifactManager, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    out = await manager.save(ArtifactIn(data={"n": 1}))
    await manager.set_alias("production", out.id)
    assert (await manager.resolve_alias("production")).id == out.id
    started = asyncio.Event()
    release = asyncio.Event()
    if backend == "postgresql":
        original = asyncpg.Connection.fetch

        async def stalled(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            started.set()
            await release.wait()
            return await original(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, "fetch", stalled)
    else:
        original_fetch = own_reads.fetch

        async def stalled_fetch(engine: AsyncEngine, sql: str, args: Any) -> Any:
            started.set()
            await release.wait()
            return await original_fetch(engine, sql, args)

        monkeypatch.setattr(own_reads, "fetch", stalled_fetch)
    task = asyncio.ensure_future(manager.resolve_alias("production"))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    assert (await manager.resolve_alias("production")).id == out.id  # the manager and its reads go on
    if backend == "postgresql":
        own = own_reads.own_of(manager.repo.session.bind)  # type: ignore[arg-type]
        assert own.owned == len(own.idle)  # the cancelled one was dropped, not kept busy
