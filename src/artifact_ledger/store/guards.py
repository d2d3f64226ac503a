"""The schema's guards, checked when a ledger opens and put back on request; the ledger's id.

The append-only triggers (and on PostgreSQL their functions) are what keeps every client, not
only this code, from changing the log. A ledger restored without them (``pg_dump -t 'ledger_*'``
leaves the functions out, so the triggers fail to restore) or with them dropped or edited would
accept any change silently, so :func:`guard_problems` compares them with what ``tables.py``
creates, in one catalog query, every time a ledger is opened.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, insert, select

from ..ids import new_id, ulid_str
from .guard_ddl import REDACTION_GUARDED
from .tables import EXPIRY_GUARDED, GUARDED_TABLES, LEDGER_ID_KEY, drop_guard_ddl, guard_ddl, info

__all__ = ["assign_ledger_id", "guard_problems", "read_ledger_id", "repair_guards"]

_PG_TRIGGER_TYPE = 2 | 8 | 16 | 32
"""``pg_trigger.tgtype`` of the guards: BEFORE (2), DELETE (8), UPDATE (16), TRUNCATE (32), per statement."""

_PG_GUARDS = """
SELECT 'trigger', c.relname, t.tgname, t.tgtype, t.tgenabled::text,
       t.tgqual IS NULL AND t.tgattr::text = '' AND t.tgnargs = 0,
       p.proname, p.prosrc, l.lanname
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_language l ON l.oid = p.prolang
WHERE NOT t.tgisinternal AND t.tgrelid IN ({tables})
UNION ALL
SELECT 'function', NULL, NULL, NULL, NULL, NULL, p.proname, p.prosrc, l.lanname
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid IN ({functions})
"""


def _squeeze(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


def guard_problems(conn: Connection) -> list[str]:
    """What is missing or altered among the guards of the ledger's tables (empty: all as created).

    Triggers of the application's own on these tables are not looked at.
    """
    if conn.dialect.name == "sqlite":
        return _sqlite_problems(conn)
    if conn.dialect.name == "postgresql":
        return _postgres_problems(conn)
    return []  # pragma: no cover - create_engine accepts only the two


def _sqlite_problems(conn: Connection) -> list[str]:
    rows = conn.exec_driver_sql("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'").all()
    found = {str(name): (str(table), _squeeze(sql)) for name, table, sql in rows}
    problems: list[str] = []
    for table in GUARDED_TABLES:
        for statement in guard_ddl(table, "sqlite"):
            name = statement.split()[2]
            have = found.get(name)
            if have is None:
                problems.append(f"trigger {name} is missing")
            elif have != (table, _squeeze(statement)):
                problems.append(f"trigger {name} is altered")
    return problems


def _pg_expected(table: str) -> list[tuple[str, int, str]]:
    """(function, ``tgtype``, function body) of each trigger ``table`` has at the head revision."""
    statements = guard_ddl(table, "postgresql")
    if table in REDACTION_GUARDED:
        # Revision 0007: deletes and truncation refused per statement; updates checked row by row.
        return [
            (f"{table}_append_only", 2 | 8 | 32, statements[0]),
            (f"{table}_redacted_only", 1 | 2 | 16, statements[2]),
        ]
    if table != EXPIRY_GUARDED:
        return [(f"{table}_append_only", _PG_TRIGGER_TYPE, statements[0])]
    # Revision 0006: updates and truncation refused per statement; deletes checked row by row.
    return [
        (f"{table}_append_only", 2 | 16 | 32, statements[0]),
        (f"{table}_expired_only", 1 | 2 | 8, statements[2]),
    ]


def _postgres_problems(conn: Connection) -> list[str]:
    # to_regclass / to_regprocedure resolve through the search_path, as the ledger's own statements do.
    tables = ", ".join(f"to_regclass('{t}')" for t in GUARDED_TABLES)
    expected = {t: _pg_expected(t) for t in GUARDED_TABLES}
    functions = ", ".join(f"to_regprocedure('{f}()')" for want in expected.values() for f, _, _ in want)
    rows = conn.exec_driver_sql(_PG_GUARDS.format(tables=tables, functions=functions)).all()
    triggers = {(str(r[1]), str(r[2])): r for r in rows if r[0] == "trigger"}
    defined = {str(r[6]): r for r in rows if r[0] == "function"}
    problems: list[str] = []
    for table in GUARDED_TABLES:
        for function, tgtype_wanted, statement in expected[table]:
            body = _squeeze(statement.split("$$")[1])
            have = defined.get(function)
            if have is None:
                problems.append(f"function {function}() is missing")
            elif _squeeze(have[7]) != body or have[8] != "plpgsql":
                problems.append(f"function {function}() is altered")
            trigger = triggers.get((table, function))
            if trigger is None:
                problems.append(f"trigger {function} on {table} is missing")
                continue
            _, _, _, tgtype, enabled, plain, proname, _, _ = trigger
            if enabled not in ("O", "A"):
                problems.append(f"trigger {function} on {table} is disabled")
            elif tgtype != tgtype_wanted or not plain or proname != function:
                problems.append(f"trigger {function} on {table} is altered")
    return problems


def repair_guards(conn: Connection) -> list[str]:
    """Drop and create every guard again, as ``tables.py`` defines them; returns what was wrong before."""
    problems = guard_problems(conn)
    dialect = conn.dialect.name
    for table in GUARDED_TABLES:
        for statement in [*drop_guard_ddl(table, dialect), *guard_ddl(table, dialect)]:
            conn.exec_driver_sql(statement)
    return problems


def read_ledger_id(conn: Connection) -> str | None:
    """The ledger's id as stored in ``ledger_info`` (``None``: no row)."""
    value = conn.execute(select(info.c.value).where(info.c.key == LEDGER_ID_KEY)).scalar_one_or_none()
    return None if value is None else str(value)


def assign_ledger_id(conn: Connection) -> str:
    """The ledger's id, made and stored first if it has none (a ledger from before revision 0002)."""
    found = read_ledger_id(conn)
    if found is not None:
        return found
    made = ulid_str(new_id())
    conn.execute(insert(info).values(key=LEDGER_ID_KEY, value=made))
    return made
