"""The append-only guards: checked on open, repaired on request, and (SQLite) no row replaced by an upsert."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from artifact_ledger import (
    ArtifactIn,
    ConcurrencyError,
    IntegrityViolationError,
    Ledger,
    SchemaTamperedError,
    migrate,
)
from artifact_ledger.store.errors import translated
from ledger_support import BACKENDS, PG_URL, SECRET, pg_engine

EVENT_COLUMNS = (
    "position, event_id, artifact_id, version, type, schema_version, payload, recorded_at, actor, reason, "
    "correlation_id, causation_id, prev_hash, hash"
)


async def saved(engine: AsyncEngine) -> str:
    """One artifact with content saved; the log then holds one event and one blob."""
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger, ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"name": "model", "content": b"weights"}))
    return str(out.id)


async def execute(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def log_rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(f"SELECT {EVENT_COLUMNS} FROM ledger_events ORDER BY position"))).all()
        blobs = (await conn.execute(text("SELECT hash, size, data FROM ledger_blobs ORDER BY hash"))).all()
        info = (await conn.execute(text("SELECT key, value FROM ledger_info ORDER BY key"))).all()
    return [tuple(r) for r in [*rows, *blobs, *info]]


async def verified(engine: AsyncEngine) -> None:
    async with Ledger.open(engine, secret=SECRET, create=False) as ledger:
        report = await ledger.verify()
    assert report.ok, report


def sqlite(backend: str) -> bool:
    return backend.startswith("sqlite")


# ---- checked on open ------------------------------------------------------------------------------


async def test_a_guarded_ledger_opens_and_reports_nothing(engine: AsyncEngine) -> None:
    await saved(engine)
    assert await migrate.check_guards(engine) == []
    await verified(engine)


def _dropped(backend: str) -> list[tuple[str, str]]:
    """(statement removing one guard, the words the refusal must name), per backend."""
    if sqlite(backend):
        return [
            ("DROP TRIGGER ledger_events_no_update", "trigger ledger_events_no_update is missing"),
            ("DROP TRIGGER ledger_events_no_delete", "trigger ledger_events_no_delete is missing"),
            ("DROP TRIGGER ledger_events_no_replace", "trigger ledger_events_no_replace is missing"),
            ("DROP TRIGGER ledger_blobs_no_delete", "trigger ledger_blobs_no_delete is missing"),
            ("DROP TRIGGER ledger_blobs_no_replace", "trigger ledger_blobs_no_replace is missing"),
            ("DROP TRIGGER ledger_info_no_update", "trigger ledger_info_no_update is missing"),
        ]
    return [
        (
            "DROP TRIGGER ledger_events_append_only ON ledger_events",
            "trigger ledger_events_append_only on ledger_events is missing",
        ),
        (
            "DROP FUNCTION ledger_blobs_append_only() CASCADE",
            "function ledger_blobs_append_only() is missing; "
            "trigger ledger_blobs_append_only on ledger_blobs is missing",
        ),
        (
            "ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only",
            "trigger ledger_events_append_only on ledger_events is disabled",
        ),
        (
            "ALTER TABLE ledger_blobs ENABLE REPLICA TRIGGER ledger_blobs_append_only",
            "trigger ledger_blobs_append_only on ledger_blobs is disabled",
        ),
        (
            "DROP TRIGGER ledger_info_append_only ON ledger_info",
            "trigger ledger_info_append_only on ledger_info is missing",
        ),
    ]


def _altered(backend: str) -> list[tuple[list[str], str]]:
    if sqlite(backend):
        return [
            (
                [
                    "DROP TRIGGER ledger_events_no_delete",
                    "CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events WHEN 0 "
                    "BEGIN SELECT RAISE(ABORT, 'no'); END",
                ],
                "trigger ledger_events_no_delete is altered",
            ),
            (
                [  # the right text on the wrong table
                    "DROP TRIGGER ledger_blobs_no_update",
                    "CREATE TRIGGER ledger_blobs_no_update BEFORE UPDATE ON ledger_checkpoints "
                    "BEGIN SELECT RAISE(ABORT, 'artifact-ledger'); END",
                ],
                "trigger ledger_blobs_no_update is altered",
            ),
        ]
    return [
        (
            [
                "CREATE OR REPLACE FUNCTION ledger_events_append_only() RETURNS trigger AS $$ "
                "BEGIN RETURN NULL; END $$ LANGUAGE plpgsql"
            ],
            "function ledger_events_append_only() is altered",
        ),
        (
            [
                "DROP TRIGGER ledger_blobs_append_only ON ledger_blobs",
                "CREATE TRIGGER ledger_blobs_append_only BEFORE TRUNCATE ON ledger_blobs "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_blobs_append_only()",
            ],
            "trigger ledger_blobs_append_only on ledger_blobs is altered",
        ),
        (
            [
                "DROP TRIGGER ledger_events_append_only ON ledger_events",
                "CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_events "
                "FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION ledger_events_append_only()",
            ],
            "trigger ledger_events_append_only on ledger_events is altered",
        ),
    ]


def _pairs(cases: Callable[[str], list[Any]]) -> list[tuple[str, int]]:
    return [(backend, i) for backend in BACKENDS for i in range(len(cases(backend)))]


@pytest.mark.parametrize(("backend", "which"), _pairs(_dropped))
async def test_a_missing_guard_refuses_the_open_until_repaired(engine: AsyncEngine, backend: str, which: int) -> None:
    cases = _dropped(backend)
    await saved(engine)
    before = await log_rows(engine)
    statement, named = cases[which]
    await execute(engine, statement)
    for create in (True, False):
        with pytest.raises(SchemaTamperedError) as caught:
            async with Ledger.open(engine, secret=SECRET, create=create):
                pass
        assert named in str(caught.value)
        assert "artifact-ledger migrate --repair-guards" in str(caught.value)
        assert caught.value.problems == named.split("; ")
    assert await migrate.check_guards(engine) == named.split("; ")
    assert await migrate.repair_guards(engine) == named.split("; ")
    assert await migrate.check_guards(engine) == []
    assert await log_rows(engine) == before
    await verified(engine)
    with pytest.raises(Exception, match="append-only"):
        await execute(engine, "DELETE FROM ledger_events")


@pytest.mark.parametrize(("backend", "which"), _pairs(_altered))
async def test_an_altered_guard_refuses_the_open(engine: AsyncEngine, backend: str, which: int) -> None:
    statements, named = _altered(backend)[which]
    await saved(engine)
    await execute(engine, *statements)
    with pytest.raises(SchemaTamperedError, match=re.escape(named)):
        async with Ledger.open(engine, secret=SECRET):
            pass
    assert await migrate.repair_guards(engine) == [named]
    await verified(engine)


async def test_a_ledger_id_that_is_no_ulid_is_refused(engine: AsyncEngine, backend: str) -> None:
    """The id names the key file: a path there could reach outside the key directory."""
    await saved(engine)
    guard = "ledger_info_no_update" if sqlite(backend) else "ledger_info_append_only ON ledger_info"
    await execute(engine, f"DROP TRIGGER {guard}", "UPDATE ledger_info SET value = '../../etc/passwd'")
    await migrate.repair_guards(engine)
    with pytest.raises(SchemaTamperedError, match=r"'\.\./\.\./etc/passwd'.*not a ULID"):
        async with Ledger.open(engine, secret=SECRET):
            pass


async def test_the_ledger_id_cannot_be_changed_or_removed(engine: AsyncEngine, backend: str) -> None:
    await saved(engine)
    before = await log_rows(engine)
    refusals = ["UPDATE ledger_info SET value = '01ARZ3NDEKTSV4RRFFQ69G5FAV'", "DELETE FROM ledger_info"]
    if sqlite(backend):
        refusals.append(
            "INSERT OR REPLACE INTO ledger_info (key, value) VALUES ('ledger_id', '01ARZ3NDEKTSV4RRFFQ69G5FAV')"
        )
    for statement in refusals:
        with pytest.raises(Exception, match="artifact-ledger"):
            await execute(engine, statement)
    assert await log_rows(engine) == before


async def test_a_pg_dump_of_the_tables_alone_restores_without_guards_and_is_refused() -> None:
    """``pg_dump -t 'ledger_*'`` leaves out the trigger functions, so the triggers fail to restore."""
    source_schema = f"d_{uuid.uuid4().hex[:10]}"
    target_db = f"restore_{uuid.uuid4().hex[:10]}"
    admin = pg_engine()
    root = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    target_url = PG_URL.rsplit("/", 1)[0] + f"/{target_db}"
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{source_schema}"'))
        source = pg_engine(source_schema)
        await migrate.upgrade(source)
        await saved(source)
        await source.dispose()
        async with root.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{target_db}"'))
        restored = await asyncio.to_thread(_dump_and_restore, source_schema, target_db)
        assert "does not exist" in restored  # CREATE TRIGGER failed: no function
        target = create_async_engine(target_url, connect_args={"server_settings": {"search_path": source_schema}})
        try:
            with pytest.raises(SchemaTamperedError) as caught:
                async with Ledger.open(target, secret=SECRET):
                    pass
            assert "function ledger_events_append_only() is missing" in str(caught.value)
            assert "trigger ledger_blobs_append_only on ledger_blobs is missing" in str(caught.value)
            await migrate.repair_guards(target)
            await verified(target)
        finally:
            await target.dispose()
    finally:
        async with root.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)'))
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{source_schema}" CASCADE'))
        await root.dispose()
        await admin.dispose()


def _dump_and_restore(schema: str, database: str) -> str:
    """``pg_dump -t '<schema>.ledger_*'`` restored with psql into ``database``; returns psql's errors."""
    libpq = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "-t", f"{schema}.ledger_*", libpq], capture_output=True, text=True, check=True
    ).stdout
    assert "CREATE TRIGGER ledger_events_append_only" in dump  # the triggers are in the dump...
    assert "CREATE FUNCTION" not in dump  # ...their functions are not
    target = libpq.rsplit("/", 1)[0] + f"/{database}"
    subprocess.run(["psql", "-q", target, "-c", f'CREATE SCHEMA "{schema}"'], check=True, capture_output=True)
    restored = subprocess.run(["psql", "-q", target], input=dump, capture_output=True, text=True, check=False)
    return restored.stderr


# ---- no row replaced -------------------------------------------------------------------------------


def _replacements(backend: str) -> list[str]:
    """Statements that would put another row in place of the stored event or blob (``:h`` the blob's hash)."""
    event = (
        "SELECT position, '01ARZ3NDEKTSV4RRFFQ69G5FAV', artifact_id, version, type, schema_version, "
        "'{}', recorded_at, 'mallory', reason, correlation_id, causation_id, prev_hash, hash FROM ledger_events"
    )
    if sqlite(backend):
        return [
            f"INSERT OR REPLACE INTO ledger_events ({EVENT_COLUMNS}) {event}",
            f"REPLACE INTO ledger_events ({EVENT_COLUMNS}) {event}",
            f"INSERT INTO ledger_events ({EVENT_COLUMNS}) {event} WHERE true "
            "ON CONFLICT (position) DO UPDATE SET actor = 'mallory'",
            # the same event id at a new position: REPLACE would drop the old row by its event_id
            f"INSERT OR REPLACE INTO ledger_events ({EVENT_COLUMNS}) SELECT position + 100, event_id, "
            "'01ARZ3NDEKTSV4RRFFQ69G5FAW', 1, type, schema_version, payload, recorded_at, actor, reason, "
            "correlation_id, causation_id, prev_hash, hash FROM ledger_events",
            # a new event id and position for the same artifact version
            f"INSERT OR REPLACE INTO ledger_events ({EVENT_COLUMNS}) SELECT position + 100, "
            "'01ARZ3NDEKTSV4RRFFQ69G5FAX', artifact_id, version, type, schema_version, payload, recorded_at, "
            "actor, reason, correlation_id, causation_id, prev_hash, hash FROM ledger_events",
            "INSERT OR REPLACE INTO ledger_blobs (hash, size, data) VALUES (:h, 6, X'706c616e7465')",
            "REPLACE INTO ledger_blobs (hash, size, data) VALUES (:h, 6, X'706c616e7465')",
            "INSERT INTO ledger_blobs (hash, size, data) VALUES (:h, 6, X'706c616e7465') "
            "ON CONFLICT (hash) DO UPDATE SET data = excluded.data",
            "INSERT INTO ledger_blobs (hash, size, data) SELECT hash, size, data FROM ledger_blobs WHERE true "
            "ON CONFLICT (hash) DO UPDATE SET size = 1",  # an upsert's DO UPDATE, even with the same bytes
        ]
    return [
        f"INSERT INTO ledger_events ({EVENT_COLUMNS}) {event} ON CONFLICT (position) DO UPDATE SET actor = 'mallory'",
        "INSERT INTO ledger_blobs (hash, size, data) VALUES (:h, 6, '\\x706c616e7465'::bytea) "
        "ON CONFLICT (hash) DO UPDATE SET data = excluded.data",
        "INSERT INTO ledger_blobs (hash, size, data) SELECT hash, size, data FROM ledger_blobs "
        "ON CONFLICT (hash) DO UPDATE SET size = 1",
    ]


@pytest.mark.parametrize(("backend", "which"), _pairs(_replacements))
async def test_no_upsert_replaces_an_event_or_a_blob(engine: AsyncEngine, backend: str, which: int) -> None:
    await saved(engine)
    before = await log_rows(engine)
    statement = _replacements(backend)[which]
    digest = next(str(r[0]) for r in before if len(r) == 3)
    with pytest.raises(Exception, match="artifact-ledger"):
        await execute_with(engine, statement, digest)
    assert await log_rows(engine) == before
    await verified(engine)


async def execute_with(engine: AsyncEngine, statement: str, digest: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(statement), {"h": digest} if ":h" in statement else {})


async def test_plain_inserts_keep_their_translation(engine: AsyncEngine, backend: str) -> None:
    """A taken (artifact_id, version) is still a concurrent append; a planted blob an integrity refusal."""
    await saved(engine)
    before = await log_rows(engine)
    same_version = (
        f"INSERT INTO ledger_events ({EVENT_COLUMNS}) SELECT position + 1, '01ARZ3NDEKTSV4RRFFQ69G5FAX', "
        "artifact_id, version, type, schema_version, payload, recorded_at, actor, reason, correlation_id, "
        "causation_id, prev_hash, hash FROM ledger_events"
    )
    with pytest.raises(ConcurrencyError, match="another writer appended to the same artifact first"), translated():
        await execute(engine, same_version)
    same_position = (
        f"INSERT INTO ledger_events ({EVENT_COLUMNS}) SELECT position, '01ARZ3NDEKTSV4RRFFQ69G5FAX', "
        "'01ARZ3NDEKTSV4RRFFQ69G5FAY', 1, type, schema_version, payload, recorded_at, actor, reason, "
        "correlation_id, causation_id, prev_hash, hash FROM ledger_events"
    )
    with pytest.raises(IntegrityViolationError), translated():
        await execute(engine, same_position)
    digest = next(str(r[0]) for r in before if len(r) == 3)
    other_bytes = "INSERT INTO ledger_blobs (hash, size, data) VALUES (:h, 5, :d)"
    with pytest.raises(IntegrityViolationError), translated():
        async with engine.begin() as conn:
            await conn.execute(text(other_bytes), {"h": digest, "d": b"other"})
    assert await log_rows(engine) == before


async def test_the_same_blob_again_is_not_a_replacement(engine: AsyncEngine, backend: str) -> None:
    """An import stores blobs with ON CONFLICT DO NOTHING: content already there must not fail it."""
    await saved(engine)
    before = await log_rows(engine)
    again = (
        "INSERT OR IGNORE INTO ledger_blobs (hash, size, data) SELECT hash, size, data FROM ledger_blobs"
        if sqlite(backend)
        else "INSERT INTO ledger_blobs (hash, size, data) SELECT hash, size, data FROM ledger_blobs "
        "ON CONFLICT DO NOTHING"
    )
    await execute(engine, again)
    if sqlite(backend):
        await execute(engine, "INSERT OR REPLACE INTO ledger_blobs (hash, size, data) SELECT * FROM ledger_blobs")
    assert await log_rows(engine) == before
    await verified(engine)
