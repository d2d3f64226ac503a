"""Streaming reads of whole tables on the driver connection, inside one read-only snapshot.

``verify`` and bundle export read every event (and blob, and projection row) once; at
100,000 events the SQLAlchemy layer would cost more than the hashing. So they read pages
from a cursor on the driver connection (aiosqlite or asyncpg) under one SQLAlchemy
connection, in one snapshot: ``REPEATABLE READ`` on PostgreSQL, a deferred read
transaction on SQLite. A writer committing meanwhile is simply not seen.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from .store.dialect import Driver, driver_for

_PLACEHOLDER = re.compile(r"\?")


@asynccontextmanager
async def reading(conn: AsyncConnection) -> AsyncIterator[Driver]:
    """The driver under ``conn`` inside one consistent snapshot (the caller's transaction, if one is open)."""
    if conn.dialect.name == "postgresql":
        own = not conn.in_transaction()
        if own:
            await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        await conn.execute(text("SELECT 1"))  # begins the transaction through SQLAlchemy, so the driver is in it
        try:
            yield await driver_for(conn)
        finally:
            if own:
                await conn.rollback()
        return
    driver = await driver_for(conn)
    own = not driver.raw.in_transaction
    if own:
        await driver.execute("BEGIN")  # deferred: the snapshot starts at the first read and lasts to ROLLBACK
    try:
        yield driver
    finally:
        if own and driver.raw.in_transaction:
            await driver.execute("ROLLBACK")


def statement(driver: Driver, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in the driver's style (``$1, $2, …`` for asyncpg)."""
    if driver.name == "sqlite":
        return sql
    numbers = iter(range(1, sql.count("?") + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)


def id_list(driver: Driver) -> str:
    """A subquery over one bound parameter made by ``driver.id_list(...)`` (a JSON array or a text array)."""
    return "SELECT value FROM json_each(?)" if driver.name == "sqlite" else "SELECT unnest(?::varchar[])"


async def pages(driver: Driver, sql: str, params: Sequence[Any], size: int) -> AsyncGenerator[Sequence[Sequence[Any]]]:
    """The rows of one query, ``size`` at a time, from a cursor: one thread hop or round trip per page.

    Use it under ``contextlib.aclosing`` so the cursor closes when the caller stops early.
    """
    if driver.name == "sqlite":
        cursor = await driver.raw.execute(sql, tuple(params))
        try:
            while rows := await cursor.fetchmany(size):
                yield rows
        finally:
            await cursor.close()
        return
    cursor = await driver.raw.cursor(statement(driver, sql), *params)  # inside the snapshot's transaction
    while rows := await cursor.fetch(size):
        yield rows


async def fetch(driver: Driver, sql: str, *params: Any) -> list[Sequence[Any]]:
    """Every row of a small query written with ``?`` placeholders."""
    return list(await driver.fetch(statement(driver, sql), *params))
