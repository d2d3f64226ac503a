"""PostgreSQL's pipeline folding: single-row writes to distinct tables become one CTE statement."""

from __future__ import annotations

from artifact_ledger.store.dialect import PG_STATEMENTS as SQL
from artifact_ledger.store.dialect import _cte, _merge_writes


def test_cte_renumbers_parameters_in_sequence() -> None:
    statement = _cte((SQL.delete_artifact, SQL.delete_closure_of))
    assert statement == (
        "WITH w0 AS (DELETE FROM ledger_artifacts WHERE id = $1), "
        "w1 AS (DELETE FROM ledger_artifact_closure WHERE descendant_id = $2) SELECT 1"
    )


def test_single_save_pipeline_becomes_one_statement() -> None:
    steps = [
        (SQL.insert_event, tuple(range(14)), False),
        (SQL.insert_artifact, tuple(range(15)), False),
        (SQL.insert_closure_for, ("a", "p", "a", "a"), False),
        (SQL.upsert_checkpoint, (7, 7), False),
    ]
    merged = _merge_writes(steps, SQL)
    assert len(merged) == 4  # one result slot per original step
    assert merged[0][0].startswith("WITH w0 AS (INSERT INTO ledger_events")
    assert len(merged[0][1]) == 14 + 15 + 4 + 2
    assert [m[0] for m in merged[1:]] == ["", "", ""]


def test_two_writes_to_one_table_are_never_folded_together() -> None:
    # CTE sub-statements do not see each other's effects: insert-then-update must stay ordered.
    steps = [
        (SQL.insert_artifact, tuple(range(15)), False),
        (SQL.update_artifact, tuple(range(11)), False),
    ]
    assert _merge_writes(steps, SQL) == steps


def test_batches_and_reads_are_left_alone() -> None:
    steps = [
        (SQL.insert_event, [tuple(range(14)), tuple(range(14))], True),
        (SQL.is_descendant, ("a", "b"), False),
        (SQL.insert_artifact, tuple(range(15)), False),
    ]
    assert _merge_writes(steps, SQL) == steps


def test_a_root_saves_computed_closure_row_folds_into_the_same_statement() -> None:
    steps = [
        (SQL.insert_event, tuple(range(14)), False),
        (SQL.insert_artifact, tuple(range(15)), False),
        (SQL.insert_closure_row, ("r", "r", 0), False),
        (SQL.open_parent_link, ("r", 1, None), False),
        (SQL.upsert_checkpoint, (7, 7), False),
    ]
    merged = _merge_writes(steps, SQL)
    assert merged[0][0].startswith("WITH w0 AS (INSERT INTO ledger_events")
    assert [m[0] for m in merged[1:]] == ["", "", "", ""]
