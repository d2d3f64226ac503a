"""``verify`` checks every projection against the fold of the log, and ``rebuild`` repairs what it finds.

The ledger below has creates, moves, deletes, restores and reverts (a revert that moves and one
that does not), so its parent history has closed and open links. Each case changes one
projection table with plain SQL, committed, as anyone with the database credentials could:
``ledger.verify()`` must report it (naming the artifact and the position), and after
``ledger.rebuild()`` the ledger verifies again.

Positions: 1 create a, 2 create b, 3 create c under a, 4 create d under c, 5 move c to b,
6 delete d, 7 restore d, 8 update c, 9 revert c to version 1 (back under a), 10 update b,
11 revert b to version 1 (same parent: no new link).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import tampered

from artifact_ledger import ArtifactIn, ChainBrokenError, Ledger
from artifact_ledger.drift import BATCH
from ledger_support import SECRET

EVENTS = 11
PHANTOM = "01J00000000000000000000000"


async def build(engine: AsyncEngine) -> dict[str, str]:
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "a"}))
        b = await m.save(ArtifactIn(data={"name": "b"}))
        c = await m.save(ArtifactIn(parent_id=a.id, data={"name": "c"}))
        d = await m.save(ArtifactIn(parent_id=c.id, data={"name": "d"}, tags=["t"]))
        await m.move(c.id, b.id)
        await m.delete_by_id(d.id)
        await m.restore(d.id)
        await m.save(ArtifactIn(id=c.id, data={"name": "c", "v": 2}))
        await m.revert(c.id, to_version=1)
        await m.save(ArtifactIn(id=b.id, data={"name": "b", "v": 2}))
        await m.revert(b.id, to_version=1)
        await m.repo.session.commit()
        assert (await ledger.head()).position == EVENTS
    return {"a": str(a.id), "b": str(b.id), "c": str(c.id), "d": str(d.id), "phantom": PHANTOM}


def expected_history(ids: dict[str, str]) -> set[tuple[Any, ...]]:
    a, b, c, d = ids["a"], ids["b"], ids["c"], ids["d"]
    return {
        (a, 1, None, None),
        (b, 2, None, None),
        (c, 3, 5, a),
        (c, 5, 9, b),
        (c, 9, None, a),
        (d, 4, 6, c),
        (d, 7, None, c),
    }


async def history_rows(engine: AsyncEngine) -> set[tuple[Any, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT artifact_id, valid_from, valid_to, parent_id FROM ledger_artifact_parent_history")
        )
        return {tuple(row) for row in rows.all()}


async def test_an_untampered_ledger_verifies_and_its_history_is_what_the_log_gives(engine: AsyncEngine) -> None:
    ids = await build(engine)
    assert await history_rows(engine) == expected_history(ids)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
        assert report.ok, report.problem
        assert report.artifacts_checked == 4
        await ledger.rebuild()  # the rebuilt history is the live one, and verifies too
        assert (await ledger.verify()).ok
    assert await history_rows(engine) == expected_history(ids)


H = "ledger_artifact_parent_history"

# (case id, SQL, the artifact named (key of ids, or None), broken_position, a fragment of the problem)
CASES: list[tuple[str, str, str | None, int | None, str]] = [
    # ---- the parent links' history ----
    ("history-missing", f"DELETE FROM {H} WHERE artifact_id = :c AND valid_from = 5", "c", 5, "no row"),
    ("history-all-missing", f"DELETE FROM {H} WHERE artifact_id = :d", "d", 4, "that event 4 opened"),
    ("history-extra", f"INSERT INTO {H} VALUES (:d, 6, 7, :c)", "d", 7, "no event of the artifact opened"),
    ("history-extra-open", f"INSERT INTO {H} VALUES (:a, 8, NULL, :b)", "a", 1, "no event of the artifact opened"),
    (
        "history-valid-from",
        f"UPDATE {H} SET valid_from = 6 WHERE artifact_id = :c AND valid_from = 5",
        "c",
        5,
        "no row",
    ),
    (
        "history-valid-to",
        f"UPDATE {H} SET valid_to = 4 WHERE artifact_id = :c AND valid_from = 3",
        "c",
        5,
        "closes it at position 5",
    ),
    (
        "history-reopened",
        f"UPDATE {H} SET valid_to = NULL WHERE artifact_id = :d AND valid_from = 4",
        "d",
        6,
        "closes it at position 6",
    ),
    (
        "history-closed",
        f"UPDATE {H} SET valid_to = 10 WHERE artifact_id = :c AND valid_from = 9",
        "c",
        9,
        "leaves that link open",
    ),
    (
        "history-parent",
        f"UPDATE {H} SET parent_id = :a WHERE artifact_id = :c AND valid_from = 5",
        "c",
        5,
        "names parent",
    ),
    ("history-root-parent", f"UPDATE {H} SET parent_id = :b WHERE artifact_id = :a", "a", 1, "names parent"),
    ("history-phantom", f"INSERT INTO {H} VALUES (:phantom, 1, NULL, NULL)", "phantom", None, "no events in the log"),
    # ---- the checkpoints ----
    (
        "checkpoint-missing",
        "DELETE FROM ledger_checkpoints WHERE projector = 'closure'",
        None,
        None,
        "no row for the closure projector",
    ),
    (
        "checkpoint-unknown",
        "INSERT INTO ledger_checkpoints VALUES ('lineage', 11)",
        None,
        None,
        "'lineage', which is no projector",
    ),
    (
        "checkpoint-behind",
        "UPDATE ledger_checkpoints SET position = 9 WHERE projector = 'closure'",
        None,
        10,
        "checkpoint is at position 9",
    ),
    (
        "checkpoint-ahead",
        "UPDATE ledger_checkpoints SET position = 12 WHERE projector = 'artifacts'",
        None,
        12,
        "built from 12",
    ),
    # ---- the artifact rows and the closure ----
    ("artifact-data", 'UPDATE ledger_artifacts SET data = \'{"name":"evil"}\' WHERE id = :d', "d", 7, "column data"),
    ("artifact-parent", "UPDATE ledger_artifacts SET parent_id = :b WHERE id = :c", "c", 9, "column parent_id"),
    ("artifact-level", "UPDATE ledger_artifacts SET level = 0 WHERE id = :d", "d", 7, "level 0"),
    ("artifact-missing", "DELETE FROM ledger_artifacts WHERE id = :b", "b", 11, "no ledger_artifacts row"),
    (
        "closure-missing",
        "DELETE FROM ledger_artifact_closure WHERE descendant_id = :d AND depth = 2",
        "d",
        7,
        "2 paths",
    ),
    ("closure-extra", "INSERT INTO ledger_artifact_closure VALUES (:b, :d, 2)", "d", 7, "do not give"),
]


@pytest.mark.parametrize(("sql", "who", "position", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_verify_reports_a_tampered_projection_and_rebuild_repairs_it(
    engine: AsyncEngine, sql: str, who: str | None, position: int | None, fragment: str
) -> None:
    ids = await build(engine)
    async with tampered(engine) as conn:
        await conn.execute(text(sql), ids)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
        assert not report.ok
        assert report.events_checked == EVENTS  # the log itself is intact
        assert fragment in str(report.problem), report.problem
        assert report.broken_position == position, report.problem
        if who is None:
            assert report.artifact_id is None
        else:
            assert report.artifact_id == ids[who]
            assert ids[who] in str(report.problem)
        if report.reason == "projection_drift":
            assert not (await ledger.verify(blobs=False)).ok
        assert (await ledger.verify(projections=False)).ok == (report.reason == "projection_drift")
        if report.reason != "projection_drift":
            # A checkpoint moved off the head reads as events added or dropped: verify cannot tell a changed
            # row from a changed log, so a rebuild refuses to reset it (it would wipe that evidence) ...
            with pytest.raises(ChainBrokenError, match=f"tampered \\({report.reason}: "):
                await ledger.rebuild()
            # ... until the operator, having checked the log against a recorded head or checkpoint note,
            # drops the checkpoint rows on purpose: then it is drift, and the rebuild repairs it
            async with engine.begin() as conn:
                await conn.execute(text("DELETE FROM ledger_checkpoints"))
        await ledger.rebuild()
        repaired = await ledger.verify()
        assert repaired.ok, repaired.problem
    assert await history_rows(engine) == expected_history(ids)


async def test_history_drift_is_found_past_the_first_batch_of_streams(engine: AsyncEngine) -> None:
    """More streams than one comparison batch holds: rows of later batches are compared too."""
    async with Ledger.open(engine, secret=SECRET) as ledger, ledger.manager() as m:
        root = await m.save(ArtifactIn(data={"name": "root"}))
        saved = await m.save_all([ArtifactIn(parent_id=root.id, data={"n": i}) for i in range(2 * BATCH + 50)])
        other = await m.save(ArtifactIn(data={"name": "other"}))
        last = sorted(saved, key=lambda s: str(s.id))[-1]  # streams are read in id order: the last batch
        moved = await m.move(last.id, other.id)
        await m.repo.session.commit()
        assert (await ledger.verify()).ok
        position = (await ledger.head()).position
    async with tampered(engine) as conn:
        await conn.execute(
            text(f"UPDATE {H} SET valid_to = NULL WHERE artifact_id = :id AND valid_to IS NOT NULL"),
            {"id": str(moved.id)},
        )
        await conn.execute(
            text(f"DELETE FROM {H} WHERE artifact_id = :id AND valid_from = :p"), {"id": str(moved.id), "p": position}
        )
    async with Ledger.open(engine, secret=SECRET) as ledger:
        report = await ledger.verify()
        assert (report.ok, report.reason, report.artifact_id) == (False, "projection_drift", str(moved.id))
        assert report.broken_position == position
        await ledger.rebuild()
        assert (await ledger.verify()).ok
