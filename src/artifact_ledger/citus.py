"""Past one primary: the namespaces of a PostgreSQL ledger as distributed schemas of a Citus cluster.

A namespace is a schema of its own (see :mod:`artifact_ledger.namespaces`) holding every table
of its ledger, and no statement of a namespace names another schema. That is exactly the unit
Citus 12's schema-based sharding moves: ``citus_schema_distribute(schema)`` turns each table of
the schema into a single-shard distributed table, all of them in one co-location group, placed
together on one node. Every statement of a namespace then runs on that one node, and its write
lock (``LOCK TABLE ledger_events``) stays a lock on that namespace's own table: namespaces on
different nodes never share a lock, a CPU or a WAL. docs/scaling.md explains the deployment.

Nothing here shards by itself: :func:`citus_plan` reads the namespaces and writes the statements
(print them with ``python -m artifact_ledger.citus URL``); :func:`distribute` runs them on a
coordinator that has the ``citus`` extension, and refuses anywhere else with
:class:`CitusUnavailableError`, before changing anything.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import CitusUnavailableError, InvalidArgumentError, LedgerError
from .namespaces import DEFAULT, list_namespaces, postgres_schema
from .store.engine import create_engine
from .store.errors import translated

__all__ = ["MIN_CITUS", "CitusPlan", "citus_plan", "citus_version", "distribute", "plan_for"]

MIN_CITUS = (12, 0)
"""Schema-based sharding (``citus_schema_distribute``) first shipped in Citus 12.0."""
UNDISTRIBUTABLE = frozenset({"public", "information_schema", "pg_catalog"})
"""Schemas Citus refuses to distribute: a ledger there stays on the coordinator."""
TRIGGERS_SETTING = "citus.enable_unsafe_triggers"
"""The append-only guards are triggers; Citus keeps triggers on distributed tables only with this on."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class CitusPlan:
    """Which schema each namespace is, which of them Citus can distribute, and the statements."""

    database: str
    schemas: dict[str, str]
    """namespace -> its PostgreSQL schema (``default`` first)."""
    kept_local: list[str] = field(default_factory=list)
    """Namespaces whose schema Citus cannot distribute (``public``): they stay on the coordinator."""

    @property
    def distributed(self) -> dict[str, str]:
        return {name: schema for name, schema in self.schemas.items() if name not in self.kept_local}

    def statements(self) -> list[str]:
        """The SQL :func:`distribute` runs, in order (one database setting, then one call per schema)."""
        out = [f"ALTER DATABASE {_ident(self.database)} SET {TRIGGERS_SETTING} TO on", f"SET {TRIGGERS_SETTING} TO on"]
        out += [f"SELECT citus_schema_distribute({_literal(_ident(s))})" for s in self.distributed.values()]
        return out

    def script(self) -> str:
        """The statements as a commented SQL script, for review or for psql."""
        lines = [
            "-- artifact-ledger on Citus: one distributed schema per namespace (Citus 12.0 or later).",
            "-- Run on the coordinator as a superuser, after every namespace exists (opening one creates it).",
            "-- The append-only guards are triggers: Citus runs triggers on distributed tables only with",
            f"-- {TRIGGERS_SETTING} on, for this database (new sessions) and this session.",
        ]
        statements = self.statements()
        lines += [s + ";" for s in statements[:2]]
        for (name, schema), statement in zip(self.distributed.items(), statements[2:], strict=True):
            lines += [f"-- namespace {name}: schema {schema}", statement + ";"]
        for name in self.kept_local:
            lines.append(
                f"-- namespace {name}: schema {self.schemas[name]} cannot be distributed; it stays on the "
                "coordinator (open the ledger in a schema of its own to distribute it)"
            )
        lines += [
            "-- Namespaces created later: run this again, or let Citus distribute every new schema:",
            f"-- ALTER DATABASE {_ident(self.database)} SET citus.enable_schema_based_sharding TO on;",
        ]
        return "\n".join(lines) + "\n"


def plan_for(database: str, base_schema: str, namespaces: list[str]) -> CitusPlan:
    """The plan for the namespaces of the ledger whose default namespace is in ``base_schema``."""
    schemas = {name: base_schema if name == DEFAULT else postgres_schema(base_schema, name) for name in namespaces}
    kept = [name for name, schema in schemas.items() if schema in UNDISTRIBUTABLE]
    return CitusPlan(database, schemas, kept)


def _postgres(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        raise InvalidArgumentError(
            f"Citus is distributed PostgreSQL; the ledger at {engine.url.render_as_string(hide_password=True)} "
            f"is {engine.dialect.name}: export it and import it into PostgreSQL first"
        )


async def citus_plan(engine: AsyncEngine) -> CitusPlan:
    """The plan for every namespace of the PostgreSQL ledger ``engine`` reaches (nothing is changed)."""
    _postgres(engine)
    namespaces = await list_namespaces(engine)
    with translated():
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT current_database(), current_schema()"))).one()
    return plan_for(str(row[0]), str(row[1]), namespaces)


def parse_version(version: str) -> tuple[int, int]:
    """``(major, minor)`` of an extension version such as ``12.1-1`` or ``13.0``."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise CitusUnavailableError(f"cannot read the Citus version {version!r}")
    return int(match.group(1)), int(match.group(2))


async def citus_version(engine: AsyncEngine) -> tuple[int, int] | None:
    """The ``citus`` extension's version in the database ``engine`` reaches, or None without it."""
    _postgres(engine)
    with translated():
        async with engine.connect() as conn:
            found = (await conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'citus'"))).scalar()
    return None if found is None else parse_version(str(found))


async def distribute(engine: AsyncEngine, plan: CitusPlan | None = None) -> CitusPlan:
    """Make each namespace's schema a distributed schema of the Citus cluster ``engine`` reaches.

    Raises :class:`CitusUnavailableError`, before any statement runs, where the ``citus``
    extension is not installed or is older than 12.0. All statements run in one transaction.
    """
    plan = plan or await citus_plan(engine)
    where = engine.url.render_as_string(hide_password=True)
    version = await citus_version(engine)
    if version is None:
        raise CitusUnavailableError(
            f"Citus extension not installed in database {plan.database!r} at {where}: install Citus "
            f"{MIN_CITUS[0]}.{MIN_CITUS[1]} or later and run CREATE EXTENSION citus on the coordinator; "
            "nothing was changed"
        )
    if version < MIN_CITUS:
        raise CitusUnavailableError(
            f"Citus {version[0]}.{version[1]} in database {plan.database!r} at {where} has no schema-based "
            f"sharding: upgrade to {MIN_CITUS[0]}.{MIN_CITUS[1]} or later; nothing was changed"
        )
    with translated():
        async with engine.begin() as conn:
            for statement in plan.statements():  # complete SQL with quoted names: no bind parameters to parse
                await conn.exec_driver_sql(statement)
    return plan


async def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m artifact_ledger.citus",
        description="Print (or with --apply run) the statements that distribute a ledger's namespaces over Citus.",
    )
    parser.add_argument("url", help="the PostgreSQL URL of the ledger (the Citus coordinator)")
    parser.add_argument("--apply", action="store_true", help="run the statements (Citus 12.0 or later required)")
    args = parser.parse_args(argv)
    engine = create_engine(args.url)
    try:
        plan = await citus_plan(engine)
        if args.apply:
            await distribute(engine, plan)
            sys.stdout.write(f"distributed {len(plan.distributed)} namespace schema(s) of {plan.database}\n")
        else:
            sys.stdout.write(plan.script())
    except LedgerError as exc:
        from .cli import exit_code  # the artifact-ledger command's exit codes

        sys.stderr.write(f"python -m artifact_ledger.citus: {exc}\n")
        return exit_code(exc)
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
