"""The PostgreSQL recorder (asyncpg): a table lock as the write lock, few round trips per write.

A single save is one pipeline of single-row writes to different tables: they are folded into
one data-modifying CTE (one round trip). Large batches of new rows go in by binary COPY, middle
sized ones as one ``INSERT … SELECT FROM unnest(arrays)`` statement.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ARRAY, Column, String, Table, bindparam, func, insert, literal_column, select, text, update

from ..chain import canonical_envelope, format_time
from .recorder import Recorder, Rows, Step
from .statements import Statement, compile_for, statements_for
from .tables import artifacts, closure, events, merkle_nodes, openings, parent_history

SQL = statements_for("postgresql")

# PostgreSQL: LOCK TABLE ... IN EXCLUSIVE MODE serialises appenders before they read the head,
# while plain SELECTs (ACCESS SHARE) go on. Without it two transactions could both read
# position n and the later commit would either fail or, worse, commit after a reader had
# already moved past n (a tailing reader would skip it). Held until commit or rollback; a
# waiter gives up after the connection's lock_timeout (LockTimeoutError). A table lock rather
# than an advisory key, so ledgers in different schemas of one database never wait for each other.
_LOCK = text(f"LOCK TABLE {events.name} IN EXCLUSIVE MODE")
_BEGIN_AND_LOCK = f"BEGIN ISOLATION LEVEL READ COMMITTED; LOCK TABLE {events.name} IN EXCLUSIVE MODE"
# The write path's statements look rows up by id, so one generic plan per prepared statement
# serves every call. Left to choose (plan_cache_mode=auto), PostgreSQL plans the checked head
# read afresh each time, because its custom plans look cheaper than the generic one: ~0.1-0.2 ms
# of planning on every write. SET LOCAL ends with the transaction (PostgreSQL 12 and later).
_BEGIN_AND_LOCK_GENERIC = f"{_BEGIN_AND_LOCK}; SET LOCAL plan_cache_mode = force_generic_plan"

_MIGRATION_LOCK = select(func.pg_advisory_xact_lock(literal_column(str(0x4C45_4447_4D49_4752))))
"""A fixed key ("LEDGMIGR" in ASCII), held for the migration only."""

_UNNEST_ROWS = 5000
"""Rows per unnest() statement: keeps each array far below PostgreSQL's 1 GB per value."""
_COPY_FROM_ROWS = 64
"""Batches with at least this many new rows of a table go in by binary COPY (measured faster here
than unnest() and than asyncpg's executemany: save_all of 11,110 went from 104 to 75 µs per artifact)."""


def _array(column: Column[Any]) -> ARRAY[Any]:
    # No length on text arrays: a cast to VARCHAR(n)[] would truncate over-long values silently.
    return ARRAY(String() if isinstance(column.type, String) else column.type)


def _unnest_insert(table: Table, names: Sequence[str]) -> Statement:
    """``INSERT … SELECT * FROM unnest($1::t1[], …)``: many rows in one statement, one array per column."""
    arrays = [bindparam(name, type_=_array(table.c[name])) for name in names]
    construct = insert(table).from_select(list(names), select(literal_column("*")).select_from(func.unnest(*arrays)))
    return compile_for("postgresql", f"unnest_into_{table.name}", construct, names)


def _unnest_update_artifacts() -> Statement:
    """``update_artifact`` for many distinct ids in one ``UPDATE … FROM unnest(…)``."""
    names = SQL.update_artifact.names
    arrays = func.unnest(*(bindparam(n, type_=_array(artifacts.c[n])) for n in names))
    u = arrays.table_valued(*names).render_derived(name="u")
    construct = update(artifacts).values({n: u.c[n] for n in names if n != "id"}).where(artifacts.c.id == u.c.id)
    return compile_for("postgresql", "unnest_update_artifacts", construct, names)


_BULK: dict[Statement, tuple[Table, Statement]] = {
    statement: (table, _unnest_insert(table, statement.names))
    for statement, table in (
        (SQL.insert_event, events),
        (SQL.insert_artifact, artifacts),
        (SQL.insert_closure_row, closure),
        (SQL.open_parent_link, parent_history),
        (SQL.insert_merkle_node, merkle_nodes),
        (SQL.insert_opening, openings),
    )
}
"""Multi-row inserts sent by COPY (large batches) or as one unnest() statement."""
_UPDATE_ARTIFACTS = _unnest_update_artifacts()


class PostgresRecorder(Recorder):
    name = "postgresql"
    sql = SQL
    verify_events: Statement = SQL.events_from
    # Written as joins on correlated subqueries, the generic plan PostgreSQL caches for a prepared
    # point-in-time read hash-joined whole ledger_events scans (7 ms instead of 0.2 ms for one
    # artifact); a LATERAL LIMIT 1 can only run as a nested index probe per member.
    lateral_top_one = True

    async def lock(self) -> None:
        if self.owns_transaction:
            # BEGIN and the lock in one round trip (the simple query protocol runs both).
            generic = self.raw.get_server_version().major >= 12
            await self.raw.execute(_BEGIN_AND_LOCK_GENERIC if generic else _BEGIN_AND_LOCK)
        else:
            # Through SQLAlchemy, so that its transaction is begun (the driver statements then run in it).
            await self.connection.execute(_LOCK)

    async def commit_after(self, steps: Sequence[Step]) -> None:
        merged, trailing = _commit_plan(steps)
        await self._run(merged)
        await self.raw.execute("; ".join([*trailing, "COMMIT"]))

    async def abandon(self) -> None:
        if self.raw.is_in_transaction():
            await self.raw.execute("ROLLBACK")

    async def join(self) -> None:
        # SQLAlchemy's asyncpg adapter sends BEGIN only with its first statement: without it, a
        # driver statement would run outside the session's (say, SERIALIZABLE) transaction.
        if not self.raw.is_in_transaction():
            await self.connection.execute(_BEGIN)

    def in_own_transaction(self) -> bool:
        return self.owns_transaction and bool(self.raw.is_in_transaction())

    async def migration_lock(self) -> None:
        # A transaction-scoped advisory lock on a fixed key: DDL is transactional here, so the
        # loser of a race waits, then reads the version table the winner committed.
        await self.connection.execute(_MIGRATION_LOCK)

    async def pipeline(self, steps: Sequence[Step]) -> list[Rows]:
        return await self._run(_merge_writes(steps))

    async def _run(self, merged: Sequence[_Merged]) -> list[Rows]:
        """Each merged step's rows (one empty row set for each step folded into the CTE before it)."""
        out: list[Rows] = []
        raw = self.raw
        for statement, params, many in merged:
            if statement is None:
                out.append([])  # a step folded into the CTE before it
            elif many and statement in _BULK and len(params) >= _COPY_FROM_ROWS:
                table, _ = _BULK[statement]
                await raw.copy_records_to_table(table.name, records=params, columns=statement.names)
                out.append([])
            elif many and statement in _BULK and len(params) > 1:
                # asyncpg's executemany costs ~15 µs a row here: one statement over one array per column.
                bulk = _BULK[statement][1]
                for start in range(0, len(params), _UNNEST_ROWS):
                    await raw.execute(
                        bulk.sql, *(list(c) for c in zip(*params[start : start + _UNNEST_ROWS], strict=True))
                    )
                out.append([])
            elif many:
                await raw.executemany(statement.sql, [statement.bind(p) for p in params])
                out.append([])
            else:
                out.append(list(await raw.fetch(statement.sql, *statement.bind(params))))
        return out

    async def fetch(self, statement: Statement, *args: Any) -> Rows:
        # One statement (the reads): one round trip on asyncpg's prepared-statement cache, no merging to plan.
        return list(await self.raw.fetch(statement.sql, *statement.bind(args)))

    async def update_distinct_artifacts(self, rows: Sequence[Sequence[Any]]) -> None:
        # Only for distinct ids: with two rows for one id, PostgreSQL would apply either one.
        for start in range(0, len(rows), _UNNEST_ROWS):
            columns = zip(*rows[start : start + _UNNEST_ROWS], strict=True)
            await self.raw.execute(_UPDATE_ARTIFACTS.sql, *(list(column) for column in columns))

    async def pages(self, statement: Statement, params: Sequence[Any], size: int) -> AsyncGenerator[Rows]:
        cursor = await self.raw.cursor(statement.sql, *statement.bind(params))  # inside the snapshot's transaction
        while rows := await cursor.fetch(size):
            yield rows

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        conn = self.connection
        own = not conn.in_transaction()
        if own:
            await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        await conn.execute(_BEGIN)  # begins the transaction through SQLAlchemy, so the driver is in it
        try:
            yield
        finally:
            if own:
                await conn.rollback()

    def id_list(self, ids: Sequence[str]) -> Any:
        return list(ids)

    def blob_digest(self, value: Any) -> str:
        return str(value)  # hashed by the server

    def ts(self, value: datetime) -> Any:
        return value.astimezone(UTC)

    def read_ts(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    @staticmethod
    def sealed_bytes(row: Sequence[Any], position: Any) -> tuple[bytes, Any]:
        # asyncpg returns the text columns as str and the time as an aware datetime.
        return (
            canonical_envelope(
                position, row[1], row[2], row[3], row[4], row[5], format_time(row[7]), row[8], row[9], row[10], row[11]
            ),
            row[6].encode(),
        )


_BEGIN = text("SELECT 1")

_ULID_TEXT = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_COMMUTES_WITH_INLINE = frozenset(("upsert_checkpoint",))
"""Statements that may run before trailing inline ones they followed (they touch other tables)."""


def inline(statement: Statement, values: Sequence[Any]) -> str | None:
    """``statement`` with its values written in, when every value is an artifact id (26 characters
    of Crockford base 32: nothing to escape), an integer or NULL; otherwise None."""
    literals: list[str] = []
    for value in statement.bind(values):
        if value is None:
            literals.append("NULL")
        elif type(value) is int:
            literals.append(str(value))
        elif type(value) is str and _ULID_TEXT.fullmatch(value):
            literals.append(f"'{value}'")
        else:
            return None
    return _PARAM.sub(lambda match: literals[int(match.group(1)) - 1], statement.sql)


def _commit_plan(steps: Sequence[Step]) -> tuple[list[_Merged], list[str]]:
    """How a write's last steps reach the server: (the steps to bind, merged as :func:`_merge_writes`
    does, and the statements sent as text with the ``COMMIT``), either way two round trips.

    When every step folds into one data-modifying CTE (a save: single-row writes to distinct
    tables), all of them are bound: one prepared statement, planned once per connection, then a
    bare ``COMMIT``. Otherwise (a move writes twice to the parent links and the closure) the
    trailing statements whose values are only ids and integers go inline with the ``COMMIT`` (the
    simple query protocol runs several statements in one round trip, but binds nothing, so
    PostgreSQL plans them afresh each time: about 0.1 ms for a save's three).
    """
    merged = _merge_writes(steps)
    if len(steps) > 1 and sum(1 for step in merged if step[0] is not None) == 1:
        return merged, []
    parameterised, trailing = _split_trailing_inline(steps)
    return _merge_writes(parameterised), trailing


def _split_trailing_inline(steps: Sequence[Step]) -> tuple[list[Step], list[str]]:
    """The steps to bind as usual, and the trailing ones that can go inline (as SQL text).

    From the first statement marked ``ids_and_integers`` on, every statement must be one too, or
    one that commutes with them (moved before them); otherwise nothing is inlined.
    """
    first = next((i for i, s in enumerate(steps) if s[0].ids_and_integers and not s[2]), None)
    if first is None:
        return list(steps), []
    tail = steps[first:]
    texts: list[str] = []
    moved: list[Step] = []
    for statement, values, many in tail:
        text_ = inline(statement, values) if statement.ids_and_integers and not many else None
        if text_ is not None:
            texts.append(text_)
        elif statement.name in _COMMUTES_WITH_INLINE and not many:
            moved.append((statement, values, many))
        else:
            return list(steps), []
    return [*steps[:first], *moved], texts


_PARAM = re.compile(r"\$(\d+)")


@lru_cache(maxsize=256)
def _cte(statements: tuple[str, ...]) -> str:
    """One data-modifying CTE running ``statements``, their ``$n`` renumbered in sequence."""
    parts: list[str] = []
    offset = 0
    for index, statement in enumerate(statements):
        shift = offset

        def renumber(match: re.Match[str], shift: int = shift) -> str:
            return f"${int(match.group(1)) + shift}"

        parts.append(f"w{index} AS ({_PARAM.sub(renumber, statement)})")
        offset += max((int(n) for n in _PARAM.findall(statement)), default=0)
    return "WITH " + ", ".join(parts) + " SELECT 1"


_Merged = tuple[Statement | None, Any, bool]

_DISJOINT = frozenset((("close_parent_link", "open_parent_link"), ("move_closure_detach", "move_closure_attach")))
"""(earlier, later): statements on one table that may share a CTE in this order, because the later
one changes rows the earlier neither changes nor reads, and reads none the earlier changes. A
closed link is one open before the CTE, not the one opened after it (in the other order, a link
opened in the batch and closed in the same CTE would stay open); for the closure see
``move_closure_detach`` in statements.py."""


def _merge_writes(steps: Sequence[Step]) -> list[_Merged]:
    """Fold runs of single-row writes to distinct tables into one statement (one round trip).

    Sub-statements of a CTE do not see each other's effects, so a run never holds two writes
    to one table (but for the ordered pairs in ``_DISJOINT``), and only statements that read
    nothing but their own table qualify (their ``writes``). Its result is one empty row set per
    original step, as if run one by one.
    """
    merged: list[_Merged] = []
    run: list[Step] = []
    written: dict[str, str] = {}  # table -> the name of the run's one statement on it ("" after a pair)

    def close() -> None:
        if len(run) > 1:
            texts = tuple(s.sql for s, _, _ in run)
            values = tuple(v for s, row, _ in run for v in s.bind(row))
            merged.append((Statement("cte", _cte(texts), (), None), values, False))
            merged.extend((None, (), False) for _ in run[1:])  # keep one result slot per step
        else:
            merged.extend(run)
        run.clear()
        written.clear()

    for step in steps:
        statement = step[0]
        table = statement.writes if not step[2] else None
        if table is None:
            close()
            merged.append(step)
            continue
        earlier = written.get(table)
        if earlier is None:
            written[table] = statement.name
        elif earlier and (earlier, statement.name) in _DISJOINT:
            written[table] = ""  # the pair is complete: a third write to the table starts a new run
        else:
            close()
            written[table] = statement.name
        run.append(step)
    close()
    return merged
