"""``find``/``count`` with a filter or an ordering over a ``ledger_artifacts`` row whose ``data`` or
``tags`` is not JSON (planted by an UPDATE): the database's statement fails (SQLite "malformed JSON",
PostgreSQL a cast error) and the ledger reports ProjectionDriftError naming the rows, on every backend,
inside a transaction too; an error that is not about such a row goes on as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artifact_ledger import ArtifactIn, Ledger, LedgerError, ProjectionDriftError
from artifact_ledger.query import find as finding
from artifact_ledger.query import unreadable
from ledger_support import SECRET


@pytest.fixture
async def ledger(engine: AsyncEngine) -> AsyncIterator[Ledger]:
    async with Ledger.open(engine, secret=SECRET) as opened:
        yield opened


async def plant(ledger: Ledger, aid: str, column: str, value: str) -> None:
    async with ledger.engine.begin() as conn:
        await conn.execute(text(f"UPDATE ledger_artifacts SET {column} = :v WHERE id = :id"), {"v": value, "id": aid})


async def saved(ledger: Ledger, n: int) -> list[str]:
    async with ledger.manager() as m:
        outs = await m.save_all([ArtifactIn(data={"n": i, "kind": "run"}, tags=["t"]) for i in range(n)])
    return sorted(str(o.id) for o in outs)


async def test_the_rows_are_named_for_find_and_count(ledger: Ledger) -> None:
    ids = await saved(ledger, 30)
    await plant(ledger, ids[3], "data", '{"n": 3,')
    await plant(ledger, ids[7], "tags", "[t]")
    await plant(ledger, ids[20], "data", "not json")
    await plant(ledger, ids[20], "tags", "")
    for call in (
        lambda m: m.find({"data.kind": "run"}),
        lambda m: m.find({"tags": "t"}),
        lambda m: m.find({"$or": [{"data.n": {"gte": 0}}, {"tags": "x"}]}, order_by="-data.n", limit=5),
        lambda m: m.count({"data.kind": "run", "tags": "t"}),
    ):
        async with ledger.manager() as m:
            with pytest.raises(ProjectionDriftError) as caught:
                await call(m)
        message = str(caught.value)
        assert message.startswith(f"artifact {ids[3]} has a ledger_artifacts row that cannot be read"), message
        assert caught.value.artifact_id == ids[3]
        assert f"{ids[3]} (data), {ids[7]} (tags), {ids[20]} (data and tags)" in message
        assert "`artifact-ledger rebuild`" in message
        assert caught.value.driver_error is not None  # the database's own error, also the cause
        assert caught.value.__cause__ is not None
    assert not (await ledger.verify()).ok
    await ledger.rebuild()
    async with ledger.manager() as m:
        assert len((await m.find({"data.kind": "run", "tags": "t"}, limit=100)).items) == 30
        assert await m.count({"data.kind": "run"}) == 30


async def test_at_most_ten_are_named_and_the_first_pages_are_enough(ledger: Ledger) -> None:
    ids = await saved(ledger, 1200)
    bad = ids[-12:]  # past two of PostgreSQL's search pages
    for aid in bad:
        await plant(ledger, aid, "data", "{")
    async with ledger.manager() as m:
        with pytest.raises(ProjectionDriftError) as caught:
            await m.find({"data.n": 5})
    assert caught.value.artifact_id == bad[0]
    message = str(caught.value)
    assert f"rows found (the first {unreadable.NAMED})" in message
    assert all(aid in message for aid in bad[: unreadable.NAMED])
    assert not any(aid in message for aid in bad[unreadable.NAMED :])


async def test_inside_a_transaction(ledger: Ledger) -> None:
    """On PostgreSQL the failed statement aborts the transaction: the rows are found all the same."""
    ids = await saved(ledger, 3)
    await plant(ledger, ids[1], "data", "[")

    async def save_then_find() -> None:
        async with ledger.transaction() as m:
            await m.save(ArtifactIn(data={"n": 9}))
            await m.find({"data.n": 9})

    with pytest.raises(ProjectionDriftError, match=f"artifact {ids[1]} "):
        await save_then_find()
    async with ledger.manager() as m:
        assert await m.count() == 3  # the transaction's save was rolled back


async def test_the_past_and_a_filter_on_other_columns_do_not_read_the_row(ledger: Ledger) -> None:
    ids = await saved(ledger, 3)
    async with ledger.manager() as m:
        before = (await m.find_by_id(ids[0], include_content=False)).updated_at  # type: ignore[union-attr]
    await plant(ledger, ids[1], "data", "[")
    async with ledger.manager() as m:
        assert await m.count({"version": 1}) == 3  # reads no document
        past = await m.find({"data.n": 1}, as_of=before)  # the log's payloads, not the projection
        assert [str(o.id) for o in past.items] == [ids[1]]


class Planted(Exception):
    """Stands for a driver error: ``sqlstate`` as asyncpg's carry it."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def json_error(backend: str) -> Exception:
    if backend.startswith("sqlite"):
        return sqlite3.OperationalError("malformed JSON")
    return Planted("invalid input syntax for type json", "22P02")


async def test_an_error_of_another_cause_goes_on_as_it_was(
    ledger: Ledger, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON error with no unreadable row, or another error beside an unreadable row, is never drift."""
    ids = await saved(ledger, 3)
    raised: list[Exception] = []

    async def failing(*_args: Any) -> Any:
        raise raised[-1]

    monkeypatch.setattr(finding, "fetch", failing)
    raised.append(json_error(backend))  # every row reads: nothing to name
    async with ledger.manager() as m:
        with pytest.raises((type(raised[-1]), LedgerError)) as caught:
            await m.find({"data.n": 1})
    assert not isinstance(caught.value, ProjectionDriftError)
    assert "malformed JSON" in str(caught.value) or "type json" in str(caught.value)

    await plant(ledger, ids[0], "data", "{")
    raised.append(sqlite3.OperationalError("disk I/O error") if backend.startswith("sqlite") else Planted("x", "57014"))
    async with ledger.manager() as m:
        with pytest.raises((type(raised[-1]), LedgerError)) as caught:
            await m.count({"data.n": 1})
    assert not isinstance(caught.value, ProjectionDriftError)
