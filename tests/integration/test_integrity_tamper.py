"""The tamper matrix: every change a DBA could make to the log or the blobs is found at the right position.

Each case runs inside one transaction with the append-only triggers off (``tampering``), in
a savepoint that is rolled back after ``verify`` has looked; the ledger itself is built once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from test_integrity_support import (
    COLUMNS,
    HISTORY_EVENTS,
    event_row,
    forged_after,
    history,
    insert_row,
    set_columns,
    shift_positions,
    tampering,
)

from artifact_ledger import ArtifactManager
from artifact_ledger.integrity import VerifyReport, verify_connection

N = HISTORY_EVENTS
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@asynccontextmanager
async def savepoint(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    await conn.exec_driver_sql("SAVEPOINT tamper")
    try:
        yield conn
    finally:
        await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT tamper")
        await conn.exec_driver_sql("RELEASE SAVEPOINT tamper")


async def chain_verdict(conn: AsyncConnection) -> tuple[int | None, str | None]:
    report = await verify_connection(conn, blobs=False, projections=False)
    assert not report.ok
    assert report.problem
    return report.broken_position, report.reason


async def full_verdict(conn: AsyncConnection) -> VerifyReport:
    report = await verify_connection(conn)
    assert not report.ok
    return report


# ---- single-byte changes --------------------------------------------------------------------------


def text_changes(value: str, every: bool) -> Iterator[str]:
    offsets = range(len(value)) if every else sorted({0, len(value) // 2, len(value) - 1})
    for i in offsets:
        yield value[:i] + chr(ord(value[i]) ^ 1) + value[i + 1 :]


def bytes_changes(value: bytes, every: bool) -> Iterator[bytes]:
    for i in range(len(value)) if every else (0, 31):
        changed = bytearray(value)
        changed[i] ^= 1
        yield bytes(changed)


def int_changes(value: int, width: int) -> Iterator[int]:
    for i in range(width):
        yield value ^ (1 << (8 * i))


def time_changes(value: Any, every: bool) -> Iterator[Any]:
    if isinstance(value, str):  # SQLite keeps the text
        yield from text_changes(value, every)
        return
    micros = (value - PG_EPOCH) // timedelta(microseconds=1)  # PostgreSQL keeps int64 microseconds
    for i in range(8) if every else (0, 3):
        yield PG_EPOCH + timedelta(microseconds=micros ^ (1 << (8 * i)))


def changes(row: dict[str, Any], column: str, every: bool) -> Iterator[Any]:
    value = row[column]
    if column in ("position", "version"):
        yield from int_changes(value, 8 if column == "position" else 4)
    elif column == "schema_version":
        yield from int_changes(value, 2)
    elif column in ("prev_hash", "hash"):
        yield from bytes_changes(bytes(value), every)
    elif column == "recorded_at":
        yield from time_changes(value, every)
    elif value is None:
        yield ""
    else:
        yield from text_changes(value, every)
        if column in ("actor", "reason", "correlation_id", "causation_id"):
            yield None


def expected(column: str, position: int, new: Any) -> tuple[int, str]:
    if column != "position":
        return position, "modified"
    if new <= 0 and position == N:
        return position, "deleted"  # the log now ends at N - 1, but the projections were built from N
    return position, "reordered"  # the event that belongs at `position` is stored at `new`


async def test_every_single_byte_change_is_found_at_its_position(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    checked = 0
    async with tampering(engine) as conn:
        assert (await verify_connection(conn)).ok  # the triggers are off, nothing is changed yet
        rows = {p: await event_row(conn, p) for p in range(1, N + 1)}
        taken = {(r["artifact_id"], r["version"]) for r in rows.values()}
        event_ids = {r["event_id"] for r in rows.values()}
        for position, row in rows.items():
            for column in COLUMNS:
                for new in changes(row, column, every=True):
                    if column == "position" and 1 <= new <= N:
                        continue  # the primary key refuses it
                    if column == "version" and (row["artifact_id"], new) in taken:
                        continue  # the unique (artifact_id, version) constraint refuses it
                    if column == "event_id" and new in event_ids:
                        continue  # monotonic ULIDs of one millisecond differ in their last bit; unique refuses it
                    async with savepoint(conn):
                        await set_columns(conn, position, {column: new})
                        got = await chain_verdict(conn)
                    assert got == expected(column, position, new), (position, column, new)
                    checked += 1
    assert checked > 2000, checked


@pytest.mark.parametrize("backend", ["sqlite-file", "sqlite-memory"])  # PostgreSQL refuses invalid UTF-8 itself
async def test_invalid_utf8_written_into_an_event_is_a_modification(
    manager: ArtifactManager, engine: AsyncEngine
) -> None:
    await history(manager)
    async with tampering(engine) as conn:
        await conn.execute(text("UPDATE ledger_events SET actor = CAST(X'ff' AS TEXT) WHERE position = 3"))
        assert await chain_verdict(conn) == (3, "modified")


# ---- deleted, swapped and inserted rows ---------------------------------------------------------


async def swap(conn: AsyncConnection, first: int, second: int) -> None:
    await conn.execute(text("UPDATE ledger_events SET position = -1 WHERE position = :p"), {"p": first})
    await conn.execute(text("UPDATE ledger_events SET position = :a WHERE position = :b"), {"a": first, "b": second})
    await conn.execute(text("UPDATE ledger_events SET position = :b WHERE position = -1"), {"b": second})


async def test_deleted_rows_are_found_at_their_position(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    async with tampering(engine) as conn:
        for position in range(1, N + 1):
            async with savepoint(conn):
                await conn.execute(text("DELETE FROM ledger_events WHERE position = :p"), {"p": position})
                assert await chain_verdict(conn) == (position, "deleted"), position
            if position < N:
                async with savepoint(conn):  # and the later events renumbered to close the gap
                    await conn.execute(text("DELETE FROM ledger_events WHERE position = :p"), {"p": position})
                    await shift_positions(conn, position + 1, -1)
                    assert await chain_verdict(conn) == (position, "deleted"), ("renumbered", position)
        async with savepoint(conn):
            await conn.execute(text("DELETE FROM ledger_events WHERE position > 5"))
            assert await chain_verdict(conn) == (6, "deleted")


async def test_swapped_rows_are_found_at_the_first_of_them(manager: ArtifactManager, engine: AsyncEngine) -> None:
    await history(manager)
    pairs = [(k, k + 1) for k in range(1, N)] + [(1, N), (2, N - 1), (3, 6)]
    async with tampering(engine) as conn:
        for first, second in pairs:
            async with savepoint(conn):
                await swap(conn, first, second)
                assert await chain_verdict(conn) == (first, "reordered"), (first, second)


async def test_inserted_rows_are_found_at_their_position(manager: ArtifactManager, engine: AsyncEngine) -> None:
    ids = await history(manager)
    async with tampering(engine) as conn:
        last = await event_row(conn, N)
        async with savepoint(conn):  # a forgery chained correctly after the head: only the checkpoints tell
            await insert_row(conn, forged_after(last, ids["root"]))
            assert await chain_verdict(conn) == (N + 1, "inserted")
        async with savepoint(conn):  # a sloppy forgery with a made-up hash
            await insert_row(conn, {**forged_after(last, ids["root"]), "hash": bytes(32)})
            assert await chain_verdict(conn) == (N + 1, "inserted")
        for position in (1, 4, N):  # in the middle, chained to its predecessor, later events renumbered
            async with savepoint(conn):
                before = await event_row(conn, position - 1) if position > 1 else None
                await shift_positions(conn, position, 1)
                forged = forged_after(before or {**last, "position": 0, "hash": bytes(32)}, ids["leaf"])
                await insert_row(conn, forged)
                assert await chain_verdict(conn) == (position, "inserted"), position
        async with savepoint(conn):  # an old event replayed at the end under a new event id and version
            replay = {**await event_row(conn, 3), "position": N + 1, "event_id": "01J99999999999999999999999"}
            await insert_row(conn, {**replay, "version": 50})
            assert await chain_verdict(conn) == (N + 1, "inserted")
        async with savepoint(conn):  # a row outside the positions the log uses
            await insert_row(conn, {**forged_after(last, ids["root"]), "position": -7})
            report = await verify_connection(conn, blobs=False, projections=False)
            assert (report.ok, report.broken_position, report.reason) == (False, None, "inserted")
            assert "outside the log's positions" in str(report.problem)


# ---- blobs -------------------------------------------------------------------------------------------


async def blob_hashes(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(text("SELECT hash FROM ledger_blobs ORDER BY size DESC"))
    return [r[0] for r in rows.all()]


async def test_corrupted_and_missing_blobs_are_found_at_the_event_that_uses_them(
    manager: ArtifactManager, engine: AsyncEngine
) -> None:
    await history(manager)
    async with tampering(engine) as conn:
        refs = {}
        for position in (1, 2):
            payload = (await event_row(conn, position))["payload"]
            refs[position] = payload.split('"hash":"')[1][:64]
        for position, digest in refs.items():
            data = (
                await conn.execute(text("SELECT data FROM ledger_blobs WHERE hash = :h"), {"h": digest})
            ).scalar_one()
            for i in range(len(data)):
                changed = bytearray(data)
                changed[i] ^= 1
                async with savepoint(conn):
                    await conn.execute(
                        text("UPDATE ledger_blobs SET data = :d WHERE hash = :h"), {"d": bytes(changed), "h": digest}
                    )
                    report = await full_verdict(conn)
                    assert (report.broken_position, report.reason, report.blob_hash) == (
                        position,
                        "blob_corrupted",
                        digest,
                    ), (position, i)
            async with savepoint(conn):
                await conn.execute(text("UPDATE ledger_blobs SET size = size + 1 WHERE hash = :h"), {"h": digest})
                report = await full_verdict(conn)
                assert (report.broken_position, report.reason) == (position, "blob_corrupted")
            async with savepoint(conn):
                await conn.execute(text("DELETE FROM ledger_blobs WHERE hash = :h"), {"h": digest})
                report = await full_verdict(conn)
                assert (report.broken_position, report.reason) == (position, "blob_missing")
            async with savepoint(conn):  # renamed: its own bytes no longer match, and the event's blob is gone
                await conn.execute(
                    text("UPDATE ledger_blobs SET hash = :x WHERE hash = :h"), {"x": "0" * 64, "h": digest}
                )
                report = await full_verdict(conn)
                assert (report.broken_position, report.reason) == (position, "blob_missing")
        async with savepoint(conn):  # a stray blob that no event uses, but whose bytes do not match its name
            await conn.execute(
                text("INSERT INTO ledger_blobs (hash, size, data) VALUES (:h, 1, :d)"), {"h": "f" * 64, "d": b"x"}
            )
            report = await full_verdict(conn)
            assert (report.broken_position, report.reason, report.blob_hash) == (None, "blob_corrupted", "f" * 64)
        assert (await verify_connection(conn)).ok
