"""After a redaction commits, is the erased value still anywhere it could be recovered from?

The database files themselves (SQLite: the .db, -wal and -shm files, read as bytes while the
ledger is still open), every row of every ledger table, a query that would match the value
through an index ``create_index`` made on the erased field, as-of reads and counts, and a copy
that imports the erasure. PostgreSQL keeps dead row versions until VACUUM, which no transaction
can avoid: there the test holds every live row and every query to the erasure (the guide says
what remains in its files and how an operator removes it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.transfer import export_ledger, import_bundle
from ledger_support import SECRET

ERASED = "zq-erasure-probe.4711@example.org"
CONTENT = b"zq-erased-content-bytes " * 40


@pytest.fixture
def without_secure_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new SQLite connection starts with ``secure_delete`` off, as in a build of SQLite whose
    default it is (python.org's, Homebrew's; Debian's build defaults to on)."""
    connect: Callable[..., sqlite3.Connection] = sqlite3.connect

    def plain(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        connection.execute("PRAGMA secure_delete=OFF")
        return connection

    monkeypatch.setattr(sqlite3, "connect", plain)


def _in_files(url: str) -> dict[str, int]:
    """SQLite: how often the erased value and content occur in each of the database's files."""
    db = Path(url.split(":///", 1)[1])
    found: dict[str, int] = {}
    for path in sorted(db.parent.glob(db.name + "*")):
        data = path.read_bytes()
        found[path.name] = data.count(ERASED.encode()) + data.count(CONTENT[:24])
    return found


async def _in_rows(ledger: Ledger) -> list[str]:
    """Every table of the ledger whose rows, as text, still hold the erased value or content."""
    async with ledger.engine.connect() as conn:
        if ledger.engine.dialect.name == "sqlite":
            names = [r[0] for r in await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))]
        else:
            names = [
                r[0]
                for r in await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
            ]
        holding = []
        for name in names:
            rows = await conn.execute(text(f'SELECT * FROM "{name}"'))
            for row in rows:
                blob = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
                if ERASED.encode() in blob or CONTENT[:24] in blob:
                    holding.append(name)
                    break
    return holding


async def _fill(ledger: Ledger) -> tuple[str, datetime]:
    """An index on the field, other artifacts around it, and one customer saved twice with the value."""
    await ledger.create_index("data.email")
    async with ledger.manager() as m:
        for i in range(60):
            await m.save(ArtifactIn(data={"name": f"a{i}", "email": f"a{i}@example.org", "pad": "p" * 300}))
        customer = await m.save(ArtifactIn(data={"name": "c", "email": ERASED, "pad": "p" * 300, "content": CONTENT}))
        for i in range(60):
            await m.save(ArtifactIn(data={"name": f"b{i}", "email": f"b{i}@example.org", "pad": "p" * 300}))
        await m.save(ArtifactIn(id=customer.id, data={"name": "c", "email": ERASED, "pad": "q" * 300}))
    return str(customer.id), datetime.now(UTC)


async def _matches(ledger: Ledger, when: datetime) -> list[int]:
    where = {"data.email": ERASED}
    async with ledger.manager() as m:
        return [
            len((await m.find(where=where)).items),
            len((await m.find(where=where, as_of=when)).items),
            await m.count(where=where),
            await m.count(where=where, as_of=when),
        ]


@pytest.mark.usefixtures("without_secure_delete")
async def test_a_redaction_leaves_the_erased_value_nowhere_in_the_database(url: str) -> None:
    async with Ledger.open(url, secret=SECRET) as ledger:
        customer, before = await _fill(ledger)
        async with ledger.manager() as m:
            await m.redact(customer, fields=["email"], reason="erasure request 2026-117")
            await m.redact(customer, reason="erasure request 2026-117")
        assert await _matches(ledger, before) == [0, 0, 0, 0]
        assert await _in_rows(ledger) == []
        if url.startswith("sqlite"):
            # the ledger is still open: the erasure must not wait for a close to leave the files
            assert set(_in_files(url).values()) <= {0}, _in_files(url)
        assert (await ledger.verify()).ok


@pytest.mark.usefixtures("without_secure_delete")
async def test_a_copy_that_imports_the_erasure_keeps_no_copy_of_the_value(url: str, tmp_path: Path) -> None:
    source_url = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    async with Ledger.open(source_url, secret=SECRET) as source, Ledger.open(url, secret=SECRET) as copy:
        customer, before = await _fill(source)
        await export_ledger(source.engine, tmp_path / "first")
        await import_bundle(copy.engine, tmp_path / "first")
        async with source.manager() as m:
            await m.redact(customer, fields=["email"], reason="erasure request 2026-117")
            await m.redact(customer, reason="erasure request 2026-117")
        await export_ledger(source.engine, tmp_path / "second")
        await import_bundle(copy.engine, tmp_path / "second")
        assert await _matches(copy, before) == [0, 0, 0, 0]
        assert await _in_rows(copy) == []
        if url.startswith("sqlite"):
            assert set(_in_files(url).values()) <= {0}, _in_files(url)
        assert (await copy.verify()).ok
