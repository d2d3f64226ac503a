"""The per-operation read path: find_by_id and resolve_alias on an idle session (``repo.read``).

Such a read checks a connection out of the pool, runs its statement and checks it back in
within one greenlet entry (``store.recorder.read_once``). What must hold whatever the path:
the connection goes back to the pool after every outcome (found, not found, an error, a
cancelled call), the session stays idle (no transaction, no connection), reads see the writes
committed before them, and a transaction's reads see its own pending writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from ulid import ULID

from artifact_ledger import ArtifactIn, ArtifactManager
from artifact_ledger.errors import AliasNotFoundError, ArtifactNotFoundError
from artifact_ledger.ids import id_str
from artifact_ledger.store import recorder as recorder_module


@pytest.fixture
def checked_out(engine: AsyncEngine) -> Iterator[Callable[[], int]]:
    """Connections of the engine's pool checked out and not yet back (from pool events: any pool class).

    A connection detached from the pool (the ledger's own for ``resolve_alias``, ``store/own_reads.py``)
    is no longer the pool's: it counts as given back."""
    balance = [0]

    def out(*_args: Any) -> None:
        balance[0] += 1

    def back(*_args: Any) -> None:
        balance[0] -= 1

    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", out)
    event.listen(pool, "checkin", back)
    event.listen(pool, "detach", back)
    try:
        yield lambda: balance[0]
    finally:
        event.remove(pool, "checkout", out)
        event.remove(pool, "checkin", back)
        event.remove(pool, "detach", back)


def session_of(manager: ArtifactManager) -> AsyncSession:
    return manager.repo.session


async def test_reads_give_their_connection_back_and_leave_the_session_idle(
    manager: ArtifactManager, checked_out: Callable[[], int]
) -> None:
    out = await manager.save(ArtifactIn(data={"a": 1}))
    await manager.set_alias("production", out.id)
    assert checked_out() == 0
    assert (await manager.find_by_id(out.id)) == out
    assert (await manager.find_by_id(str(out.id).lower())) == out  # not canonical: parsed, then read
    assert await manager.find_by_id(ULID()) is None
    assert (await manager.resolve_alias("production")).id == out.id
    with pytest.raises(AliasNotFoundError, match="'staging'"):
        await manager.resolve_alias("staging")
    assert checked_out() == 0
    assert not session_of(manager).in_transaction()


async def test_a_cancelled_read_gives_its_connection_back(
    manager: ArtifactManager, checked_out: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = await manager.save(ArtifactIn(data={"a": 1}))
    started = asyncio.Event()
    original = recorder_module.Recorder.fetch

    async def stalled(self: Any, statement: Any, *args: Any) -> Any:
        started.set()
        await asyncio.sleep(30)
        return await original(self, statement, *args)

    for dialect in ("sqlite", "postgresql"):
        monkeypatch.setattr(recorder_module.recorder_class(dialect), "fetch", stalled)
    task = asyncio.ensure_future(manager.find_by_id(out.id))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    assert checked_out() == 0
    assert (await manager.find_by_id(out.id)) == out  # the connection is usable again


async def test_reads_see_commits_of_other_managers_and_a_transaction_its_own_writes(
    manager: ArtifactManager, checked_out: Callable[[], int]
) -> None:
    first = await manager.save(ArtifactIn(data={"v": 1}))
    await manager.set_alias("production", first.id)
    assert (await manager.resolve_alias("production")).data == {"v": 1}
    second = await manager.save(ArtifactIn(id=first.id, data={"v": 2}))
    assert (await manager.find_by_id(first.id)) == second  # read-your-writes across operations
    assert (await manager.resolve_alias("production")).version == 1  # the alias still points at version 1
    async with manager.transaction():
        third = await manager.save(ArtifactIn(id=first.id, data={"v": 3}))
        await manager.set_alias("production", first.id)
        assert (await manager.find_by_id(first.id)) == third  # pending, read on the session's connection
        assert (await manager.resolve_alias("production")).data == {"v": 3}
    assert checked_out() == 0
    assert (await manager.find_by_id(first.id)) == third


async def test_a_bad_id_is_refused_before_any_read(manager: ArtifactManager, checked_out: Callable[[], int]) -> None:
    for bad in ("", "not-a-ulid", "8" + "0" * 25, "0" * 27, 42, b"short"):
        with pytest.raises(ArtifactNotFoundError) as caught:
            await manager.find_by_id(bad)  # type: ignore[arg-type]
        assert repr(bad) in str(caught.value)
    assert checked_out() == 0


def test_id_str_keeps_canonical_text_and_parses_the_rest() -> None:
    ulid = ULID()
    text = str(ulid)
    assert id_str(text) is text
    assert id_str(text.lower()) == text
    assert id_str(ulid) == text
    assert id_str(ulid.bytes) == text
    for bad in ("I" * 26, "8" + text[1:], text[:-1], text + "0", None, 3.0):
        with pytest.raises(ArtifactNotFoundError, match="artifact id"):
            id_str(bad)
