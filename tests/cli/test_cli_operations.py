"""diff/audit/time travel, export/import, migrate and import-chapkit through the real entry point.

Every test runs on a SQLite file and on a fresh PostgreSQL database (created here, dropped after).
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, PickleType, String, Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from ulid import ULID

from artifact_ledger.ledger import Ledger
from artifact_ledger.migrate import HEAD_REVISION
from ledger_support import PG_URL

EXE = shutil.which("artifact-ledger") or str(Path(sys.executable).with_name("artifact-ledger"))
SERVER = PG_URL.rsplit("/", 1)[0]


def run(*args: str, cwd: Path, db: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARTIFACT_LEDGER_URL"}
    env["ARTIFACT_LEDGER_URL"] = db
    env["ARTIFACT_LEDGER_SECRET"] = "cli-test-secret"  # one key for every database: bundles move content
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def fresh_db(tmp_path: Path) -> Iterator[object]:
    """A factory of empty databases of the parametrised kind (URL strings)."""
    created: list[str] = []

    def make(kind: str, name: str) -> str:
        if kind == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}"
        database = f"t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
        created.append(database)
        return f"{SERVER}/{database}"

    yield make
    for database in created:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


KINDS = ["sqlite", "postgresql"]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode not in (0, None), result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """Two demo ledgers on SQLite files, exported: ``one`` (with the demo's summary) and ``other``."""
    cwd = tmp_path_factory.mktemp("bundles")
    summary = json.loads(run("demo", "--json", cwd=cwd, db=f"sqlite+aiosqlite:///{cwd / 'one.db'}").stdout)
    assert run("export", "one", cwd=cwd, db=f"sqlite+aiosqlite:///{cwd / 'one.db'}").returncode == 0
    assert run("demo", "--json", cwd=cwd, db=f"sqlite+aiosqlite:///{cwd / 'other.db'}").returncode == 0
    assert run("export", "other", cwd=cwd, db=f"sqlite+aiosqlite:///{cwd / 'other.db'}").returncode == 0
    return cwd, summary


@pytest.mark.parametrize("kind", KINDS)
def test_import_then_read_diff_audit_and_time_travel(
    kind: str, tmp_path: Path, fresh_db: object, bundles: tuple[Path, dict[str, object]]
) -> None:
    db = fresh_db(kind, "target")  # type: ignore[operator]
    bundle, summary = bundles[0] / "one", bundles[1]
    imported = run("import", str(bundle), "--json", cwd=tmp_path, db=db)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["events_imported"] == 8
    evaluation, training = str(summary["evaluation_id"]), str(summary["training_id"])
    diff = json.loads(run("diff", evaluation, "1", "2", "--json", cwd=tmp_path, db=db).stdout)
    assert [op["path"] for op in diff["data"]] == ["/metrics/threshold"]
    human = run("diff", evaluation, "2", "3", cwd=tmp_path, db=db).stdout
    assert "version 2 -> 3" in human
    assert "parent" in human
    audit = json.loads(run("audit", "--actor", "bob", "--limit", "1", "--json", cwd=tmp_path, db=db).stdout)
    assert [(e["event_type"], e["actor"]) for e in audit["entries"]] == [("artifact.updated", "bob")]
    assert audit["next_after"] == 6
    by_bob = json.loads(run("ls", "--actor", "bob", "--json", cwd=tmp_path, db=db).stdout)
    assert [r["id"] for r in by_bob] == [evaluation]
    v1 = json.loads(run("show", evaluation, "--version", "1", "--json", cwd=tmp_path, db=db).stdout)
    assert (v1["version"], v1["data"]["metrics"]["threshold"]) == (1, 0.5)
    tree = json.loads(run("tree", training, "--as-of", str(v1["created_at"]), "--json", cwd=tmp_path, db=db).stdout)
    assert len(tree["children"]) == 3  # before the delete of prediction 3
    before = run("show", evaluation, "--as-of", "2000-01-01T00:00:00Z", cwd=tmp_path, db=db)
    assert before.returncode == 3
    assert "as of" in one_line_error(before)


@pytest.mark.parametrize("kind", KINDS)
def test_export_import_idempotent_identical_and_refusals(
    kind: str, tmp_path: Path, fresh_db: object, bundles: tuple[Path, dict[str, object]]
) -> None:
    target = fresh_db(kind, "target")  # type: ignore[operator]
    one, other = bundles[0] / "one", bundles[0] / "other"
    assert run("import", str(one), cwd=tmp_path, db=target).returncode == 0
    again = json.loads(run("import", str(one), "--json", cwd=tmp_path, db=target).stdout)
    assert (again["events_imported"], again["events_skipped"]) == (0, 8)
    verified = json.loads(run("verify", "--json", cwd=tmp_path, db=target).stdout)
    assert verified["ok"]
    assert verified["head"].startswith("8:")
    assert run("export", "two", cwd=tmp_path, db=target).returncode == 0
    assert (one / "events.jsonl").read_bytes() == (tmp_path / "two" / "events.jsonl").read_bytes()
    assert sorted(p.name for p in (one / "blobs").rglob("*")) == sorted(
        p.name for p in (tmp_path / "two" / "blobs").rglob("*")
    )
    assert run("export", "two", cwd=tmp_path, db=target).returncode == 2  # never overwrites: refused, nothing written
    conflict = run("import", str(other), cwd=tmp_path, db=target)
    assert conflict.returncode == 1  # a bundle that does not fit the ledger is bad input, not an environment failure
    assert "different history" in one_line_error(conflict)
    shutil.copytree(one, tmp_path / "bad")
    events = tmp_path / "bad" / "events.jsonl"
    events.write_bytes(events.read_bytes().replace(b'"actor":"bob"', b'"actor":"eve"', 1))
    broken = run("import", "bad", cwd=tmp_path, db=fresh_db(kind, "empty"))  # type: ignore[operator]
    assert broken.returncode == 1
    assert "fails verification" in one_line_error(broken)
    assert not (tmp_path / "empty.db").exists()  # nothing written, not even the tables


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, bundles: tuple[Path, dict[str, object]]) -> None:
    bundle = bundles[0] / "one"
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    truncated = tmp_path / "truncated"
    shutil.copytree(bundle, truncated)
    (truncated / "events.jsonl").write_bytes((truncated / "events.jsonl").read_bytes()[:-10])
    assert "truncated" in one_line_error(run("import", str(truncated), cwd=tmp_path, db=target))
    newer = tmp_path / "newer"
    shutil.copytree(bundle, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    assert "format_version 99" in one_line_error(run("import", str(newer), cwd=tmp_path, db=target))
    assert not (tmp_path / "target.db").exists()
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    junk = run("ls", cwd=tmp_path, db=f"sqlite+aiosqlite:///{tmp_path / 'junk.db'}")
    assert "not a database" in one_line_error(junk)
    unknown = run("ls", cwd=tmp_path, db="oracle://scott@localhost/x")
    assert "unsupported database URL" in one_line_error(unknown)
    assert run("show", "x", "--as-of", "yesterday", cwd=tmp_path, db=target).returncode == 2
    unreachable = run("ls", cwd=tmp_path, db="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    assert unreachable.returncode == 4
    one_line_error(unreachable)


@pytest.mark.parametrize("kind", KINDS)
def test_migrate_then_import(
    kind: str, tmp_path: Path, fresh_db: object, bundles: tuple[Path, dict[str, object]]
) -> None:
    db = fresh_db(kind, "m")  # type: ignore[operator]
    result = run("migrate", cwd=tmp_path, db=db)
    assert result.returncode == 0, result.stderr
    assert run("migrate", cwd=tmp_path, db=db).returncode == 0  # idempotent
    assert run("import", str(bundles[0] / "one"), cwd=tmp_path, db=db).returncode == 0
    assert json.loads(run("verify", "--json", cwd=tmp_path, db=db).stdout)["ok"] is True


async def _chapkit_source(url: str) -> tuple[str, str]:
    """A chapkit-style ``artifacts`` table (data as PickleType(protocol=4)) with a parent and a child."""
    table = Table(
        "artifacts",
        MetaData(),
        Column("id", String(26), primary_key=True),
        Column("parent_id", String(26), nullable=True),
        Column("level", Integer),
        Column("data", PickleType(protocol=4)),
        Column("created_at", DateTime(timezone=True)),
        Column("updated_at", DateTime(timezone=True)),
        Column("tags", JSON),
    )
    parent, child = str(ULID()), str(ULID())
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            for row in (
                {"id": parent, "parent_id": None, "level": 0, "data": {"type": "t", "metadata": {"a": 1}}},
                {"id": child, "parent_id": parent, "level": 1, "data": {"type": "p", "content": b"\x00"}},
            ):
                await conn.execute(table.insert().values(**row, created_at=when, updated_at=when, tags=["old"]))
    finally:
        await engine.dispose()
    return parent, child


@pytest.mark.parametrize("kind", KINDS)
def test_import_chapkit_needs_trust_then_keeps_ids(kind: str, tmp_path: Path, fresh_db: object) -> None:
    source = fresh_db(kind, "chapkit")  # type: ignore[operator]
    target = fresh_db(kind, "ledger")  # type: ignore[operator]
    parent, child = asyncio.run(_chapkit_source(source))
    refused = run("import-chapkit", "--from", source, cwd=tmp_path, db=target)
    assert refused.returncode == 4
    assert "--trust-source" in one_line_error(refused)
    assert not (tmp_path / "ledger.db").exists()
    done = run("import-chapkit", "--from", source, "--trust-source", "--json", cwd=tmp_path, db=target)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "imported": 2,
        "skipped": 0,
        "times_raised_by_ledger": 0,
        "times_raised_by_import": 0,
        "times_missing": 0,
    }
    listed = json.loads(run("ls", "--json", cwd=tmp_path, db=target).stdout)
    assert [(r["id"], r["parent_id"], r["level"], r["created_by"]) for r in listed] == [
        (parent, None, 0, "chapkit-import"),
        (child, parent, 1, "chapkit-import"),
    ]
    assert listed[1]["created_at"].startswith("2025-01-02T03:04:05")


async def _chapkit_add_row(url: str, artifact_id: str) -> None:
    """One more row in the chapkit source of :func:`_chapkit_source`, with the given (raw) id."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO artifacts (id, parent_id, level, data, created_at, updated_at, tags) "
                    "VALUES (:id, NULL, 0, :data, :when, :when, '[]')"
                ),
                {
                    "id": artifact_id,
                    "data": pickle.dumps({"n": 1}, protocol=4),
                    "when": datetime(2025, 1, 3, tzinfo=UTC),
                },
            )
    finally:
        await engine.dispose()


async def _delete(url: str, artifact_id: str) -> None:
    async with Ledger.open(url, create=False, secret="cli-test-secret") as ledger, ledger.manager() as manager:
        await manager.delete_by_id(artifact_id)


@pytest.mark.parametrize("kind", KINDS)
def test_import_chapkit_reports_times_it_could_not_keep(kind: str, tmp_path: Path, fresh_db: object) -> None:
    """Into a ledger whose events are later than the chapkit rows, the rows are recorded at the import's
    time: the output says how many and why, and each event's reason keeps chapkit's created_at."""
    source = fresh_db(kind, "chapkit")  # type: ignore[operator]
    target = fresh_db(kind, "ledger")  # type: ignore[operator]
    _parent, child = asyncio.run(_chapkit_source(source))
    assert run("demo", "--json", cwd=tmp_path, db=target).returncode == 0  # events recorded now
    done = run("import-chapkit", "--from", source, "--trust-source", cwd=tmp_path, db=target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "imported 2 chapkit artifacts",
        "2 recorded later than their created_at: the ledger already held later events, and its time never goes "
        "backwards",
        "each imported event's reason keeps the row's chapkit created_at (see `history ID`)",
    ]
    (created,) = json.loads(run("history", child, "--json", cwd=tmp_path, db=target).stdout)
    assert created["reason"] == "imported from chapkit (table 'artifacts', created_at 2025-01-02T03:04:05Z)"
    assert not created["recorded_at"].startswith("2025-01-02")


@pytest.mark.parametrize("kind", KINDS)
def test_import_chapkit_runs_again_after_an_imported_artifact_was_deleted(
    kind: str, tmp_path: Path, fresh_db: object
) -> None:
    source = fresh_db(kind, "chapkit")  # type: ignore[operator]
    target = fresh_db(kind, "ledger")  # type: ignore[operator]
    _parent, child = asyncio.run(_chapkit_source(source))
    assert run("import-chapkit", "--from", source, "--trust-source", cwd=tmp_path, db=target).returncode == 0
    asyncio.run(_delete(target, child))
    again = run("import-chapkit", "--from", source, "--trust-source", "--json", cwd=tmp_path, db=target)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == 2


@pytest.mark.parametrize("kind", KINDS)
def test_import_chapkit_a_bad_row_exits_4_naming_it(kind: str, tmp_path: Path, fresh_db: object) -> None:
    """A source row the import cannot take is a bad source (exit 4, not 3 "not found"), named, and nothing of
    the source is imported."""
    source = fresh_db(kind, "chapkit")  # type: ignore[operator]
    target = fresh_db(kind, "ledger")  # type: ignore[operator]
    asyncio.run(_chapkit_source(source))
    asyncio.run(_chapkit_add_row(source, "not-a-ulid"))
    result = run("import-chapkit", "--from", source, "--trust-source", cwd=tmp_path, db=target)
    assert result.returncode == 4
    assert one_line_error(result) == (
        "artifact-ledger: chapkit table 'artifacts', row not-a-ulid: id 'not-a-ulid' is not a ULID; "
        "nothing was imported\n"
    )
    assert json.loads(run("ls", "--json", cwd=tmp_path, db=target).stdout) == []


@pytest.mark.parametrize("kind", KINDS)
def test_import_chapkit_names_a_source_that_is_not_a_chapkit_database(
    kind: str, tmp_path: Path, fresh_db: object
) -> None:
    """A source without chapkit's table is named as the source (never "the ledger tables are missing", never
    `migrate`), exits 4 as a database that is not one does, and the target ledger is not made."""
    source = fresh_db(kind, "other")  # type: ignore[operator]
    target = fresh_db(kind, "ledger")  # type: ignore[operator]
    assert run("migrate", cwd=tmp_path, db=source).returncode == 0  # a ledger: a database, but no chapkit one
    shown = make_url(source).render_as_string(hide_password=True)
    result = run("import-chapkit", "--from", source, "--trust-source", cwd=tmp_path, db=target)
    assert result.returncode == 4
    error = one_line_error(result)
    assert f"{shown} is not a chapkit database: it has no table 'artifacts'" in error
    assert "ledger tables" not in error
    assert "migrate" not in error
    assert not (tmp_path / "ledger.db").exists()  # refused before the target ledger was opened (or made)
    wrong = run(
        "import-chapkit", "--from", source, "--table", "ledger_events", "--trust-source", cwd=tmp_path, db=target
    )
    assert wrong.returncode == 4
    assert "is not a chapkit database: it has a table 'ledger_events' without id, parent_id, data, tags" in (
        one_line_error(wrong)
    )
    if kind == "sqlite":  # a file that is no database is the source's problem, not the target's
        text_file = tmp_path / "notes.db"
        text_file.write_text("not a database\n")
        damaged = run(
            "import-chapkit", "--from", f"sqlite+aiosqlite:///{text_file}", "--trust-source", cwd=tmp_path, db=target
        )
        assert damaged.returncode == 4
        error = one_line_error(damaged)
        assert f"cannot read the chapkit source sqlite+aiosqlite:///{text_file}: file is not a database" in error
        assert "ledger.db" not in error
        assert not (tmp_path / "ledger.db").exists()


async def _sql(url: str, *statements: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_migrate_says_so_in_a_database_holding_other_tables(kind: str, tmp_path: Path, fresh_db: object) -> None:
    db = fresh_db(kind, "app")  # type: ignore[operator]
    asyncio.run(_sql(db, "CREATE TABLE customers (id INTEGER)", "CREATE TABLE orders (id INTEGER)"))
    result = run("migrate", cwd=tmp_path, db=db)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "created the ledger's tables (all named ledger_*) in a database that already held 2 other tables" in said
    assert "(customers, orders)" in said
    assert "--revision base" in said
    again = run("migrate", cwd=tmp_path, db=db)  # the ledger is there now: nothing more to say
    assert " ".join(again.stdout.split()) == f"the database is at revision {HEAD_REVISION}"
    fresh = run("migrate", cwd=tmp_path, db=fresh_db(kind, "empty"))  # type: ignore[operator]
    assert " ".join(fresh.stdout.split()) == f"the database is at revision {HEAD_REVISION}"


@pytest.mark.parametrize("kind", KINDS)
def test_migrate_refuses_a_database_a_newer_version_migrated(kind: str, tmp_path: Path, fresh_db: object) -> None:
    db = fresh_db(kind, "newer")  # type: ignore[operator]
    assert run("migrate", cwd=tmp_path, db=db).returncode == 0
    asyncio.run(_sql(db, "UPDATE ledger_alembic_version SET version_num = '0042'"))
    for args in (("migrate",), ("migrate", "--revision", "0005"), ("migrate", "--repair-guards"), ("ls",)):
        result = run(*args, cwd=tmp_path, db=db)
        assert result.returncode == 4
        error = one_line_error(result)
        assert "revision '0042', which this artifact-ledger does not know" in error
        assert "a newer version of artifact-ledger migrated it" in error
        assert "CommandError" not in error
