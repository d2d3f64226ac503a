"""Projection drift: a projected row, level, closure path or checkpoint that differs from the fold of the log.

The projections are not append-only (every write updates them), so anyone with write access
can change them; ``verify`` folds every stream and compares. History positions (see
``history``): root's last event is 8, child's 4, leaf's 7.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from test_integrity_support import HISTORY_EVENTS, history, tampered, tampering

from artifact_ledger import ArtifactIn, ArtifactManager, Ledger
from artifact_ledger.integrity import VerifyReport, verify_connection
from ledger_support import SECRET

LAST = {"root": 8, "child": 4, "leaf": 7}


@asynccontextmanager
async def changed(engine: AsyncEngine, sql: str, params: dict[str, Any]) -> AsyncIterator[AsyncConnection]:
    async with tampering(engine) as conn:
        await conn.execute(text(sql), params)
        yield conn


async def drift(conn: AsyncConnection) -> VerifyReport:
    report = await verify_connection(conn)
    assert not report.ok
    assert report.events_checked == HISTORY_EVENTS  # the log itself is fine
    return report


COLUMN_CHANGES = [
    ("parent_id", "'01J00000000000000000000000'"),
    ("version", "version + 1"),
    ("type", "'forged'"),
    ("data", '\'{"name":"root2"}\''),
    ("data", '\'{"name": "root"}\''),  # the same JSON, other bytes: the projection is canonical text
    ("content_hash", "'" + "a" * 64 + "'"),
    ("content_codec", "'pickle'"),
    ("content_type", "'text/plain'"),
    ("content_size", "content_size + 1"),
    ("tags", '\'["x","y"]\''),
    ("created_by", "'mallory'"),
    ("updated_by", "'mallory'"),
]


@pytest.mark.parametrize(
    ("column", "value"), COLUMN_CHANGES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(COLUMN_CHANGES)]
)
async def test_a_changed_column_is_drift(
    manager: ArtifactManager, engine: AsyncEngine, column: str, value: str
) -> None:
    ids = await history(manager)
    async with changed(engine, f"UPDATE ledger_artifacts SET {column} = {value} WHERE id = :root", ids) as conn:
        report = await drift(conn)
    assert (report.broken_position, report.reason, report.artifact_id) == (8, "projection_drift", ids["root"])
    assert f"column {column}" in str(report.problem)


@pytest.mark.parametrize("column", ["created_at", "updated_at"])
async def test_a_changed_timestamp_is_drift(manager: ArtifactManager, engine: AsyncEngine, column: str) -> None:
    ids = await history(manager)
    async with tampering(engine) as conn:
        stored = (await conn.execute(text(f"SELECT {column} FROM ledger_artifacts WHERE id = :root"), ids)).scalar_one()
        later = stored.replace(stored[:4], "2031") if isinstance(stored, str) else stored.replace(year=2031)
        await conn.execute(text(f"UPDATE ledger_artifacts SET {column} = :v WHERE id = :root"), {**ids, "v": later})
        report = await drift(conn)
    assert (report.broken_position, report.artifact_id) == (LAST["root"], ids["root"])
    assert f"column {column}" in str(report.problem)


async def test_level_missing_rows_and_phantoms(manager: ArtifactManager, engine: AsyncEngine) -> None:
    ids = await history(manager)
    async with tampering(engine) as conn:
        cases: list[tuple[str, dict[str, Any], int | None, str, str]] = [
            ("UPDATE ledger_artifacts SET level = 5 WHERE id = :id", {"id": ids["leaf"]}, 7, ids["leaf"], "level 5"),
            (
                "DELETE FROM ledger_artifacts WHERE id = :id",
                {"id": ids["child"]},
                4,
                ids["child"],
                "no ledger_artifacts row",
            ),
            (
                "INSERT INTO ledger_artifacts SELECT :phantom, parent_id, level, version, type, data, content_hash, "
                "content_codec, content_type, content_size, tags, created_at, updated_at, created_by, updated_by "
                "FROM ledger_artifacts WHERE id = :id",
                {"id": ids["child"], "phantom": "01J00000000000000000000000"},
                None,
                "01J00000000000000000000000",
                "no events in the log",
            ),
        ]
        for sql, params, position, artifact, fragment in cases:
            await conn.exec_driver_sql("SAVEPOINT drift")
            await conn.execute(text(sql), params)
            report = await drift(conn)
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT drift")
            assert (report.broken_position, report.artifact_id) == (position, artifact), sql
            assert fragment in str(report.problem)
        assert (await verify_connection(conn)).ok


async def test_a_row_for_a_deleted_artifact_is_drift(manager: ArtifactManager, engine: AsyncEngine) -> None:
    ids = await history(manager)
    gone = await manager.save(ArtifactIn(parent_id=ids["root"], data={"name": "gone"}))
    await manager.delete_by_id(gone.id)
    async with changed(
        engine,
        "INSERT INTO ledger_artifacts SELECT :gone, parent_id, level, version, type, data, content_hash, "
        "content_codec, content_type, content_size, tags, created_at, updated_at, created_by, updated_by "
        "FROM ledger_artifacts WHERE id = :id",
        {"gone": str(gone.id), "id": ids["leaf"]},
    ) as conn:
        report = await verify_connection(conn)
    assert (report.broken_position, report.artifact_id) == (HISTORY_EVENTS + 2, str(gone.id))
    assert "deleted in the log" in str(report.problem)


@pytest.mark.parametrize(
    ("sql", "who", "fragment"),
    [
        ("DELETE FROM ledger_artifact_closure WHERE descendant_id = :leaf AND depth = 1", "leaf", "1 paths"),
        ("DELETE FROM ledger_artifact_closure WHERE descendant_id = :leaf", "leaf", "no paths"),
        ("UPDATE ledger_artifact_closure SET depth = 2 WHERE descendant_id = :leaf AND depth = 1", "leaf", "depth 2"),
        (
            "UPDATE ledger_artifact_closure SET ancestor_id = :child WHERE descendant_id = :leaf AND depth = 1",
            "leaf",
            "do not give",
        ),
        ("INSERT INTO ledger_artifact_closure VALUES (:child, :leaf, 5)", "leaf", "depth 5"),
        ("INSERT INTO ledger_artifact_closure VALUES (:root, '01J00000000000000000000000', 1)", None, "not live"),
    ],
)
async def test_closure_drift(
    manager: ArtifactManager, engine: AsyncEngine, sql: str, who: str | None, fragment: str
) -> None:
    ids = await history(manager)
    async with changed(engine, sql, ids) as conn:
        report = await drift(conn)
    if who is None:
        assert (report.broken_position, report.artifact_id) == (None, "01J00000000000000000000000")
    else:
        assert (report.broken_position, report.artifact_id) == (LAST[who], ids[who])
    assert fragment in str(report.problem)


@pytest.mark.parametrize(
    ("sql", "position", "reason", "fragment"),
    [
        ("UPDATE ledger_checkpoints SET position = position - 1", HISTORY_EVENTS, "inserted", "not appended"),
        ("UPDATE ledger_checkpoints SET position = position + 2", HISTORY_EVENTS + 1, "deleted", "built from 10"),
        ("DELETE FROM ledger_checkpoints", None, "projection_drift", "empty"),
    ],
)
async def test_checkpoints_must_be_at_the_head(
    manager: ArtifactManager, engine: AsyncEngine, sql: str, position: int | None, reason: str, fragment: str
) -> None:
    await history(manager)
    async with changed(engine, sql, {}) as conn:
        report = await drift(conn)
    assert (report.broken_position, report.reason) == (position, reason)
    assert fragment in str(report.problem)


async def test_committed_drift_is_reported_by_ledger_verify_and_rebuild_repairs_it(
    manager: ArtifactManager, engine: AsyncEngine
) -> None:
    ids = await history(manager)
    async with tampered(engine) as conn:
        await conn.execute(text('UPDATE ledger_artifacts SET data = \'{"name":"evil"}\' WHERE id = :child'), ids)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
        assert (report.reason, report.broken_position, report.artifact_id) == ("projection_drift", 4, ids["child"])
        assert (await ledger.verify(projections=False)).ok
        await ledger.rebuild()
        assert (await ledger.verify()).ok


@pytest.mark.parametrize("backend", ["sqlite-file", "sqlite-memory"])  # PostgreSQL refuses invalid UTF-8 itself
@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE ledger_artifacts SET data = CAST(X'ff' AS TEXT) WHERE id = :root", "projection_drift"),
        ("UPDATE ledger_artifact_closure SET ancestor_id = CAST(X'ff' AS TEXT) WHERE depth = 1", "projection_drift"),
        ("INSERT INTO ledger_blobs (hash, size, data) VALUES (CAST(X'ff' AS TEXT), 1, X'00')", "blob_corrupted"),
    ],
)
async def test_text_that_is_not_utf8_is_reported_not_raised(
    manager: ArtifactManager, engine: AsyncEngine, sql: str, reason: str
) -> None:
    ids = await history(manager)
    async with changed(engine, sql, ids) as conn:
        report = await drift(conn)
    assert (report.broken_position, report.reason) == (None, reason)
    assert "not UTF-8" in str(report.problem)
