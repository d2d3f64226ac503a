"""PostgreSQL's pipeline folding: single-row writes to distinct tables become one CTE statement."""

from __future__ import annotations

from typing import Any

from artifact_ledger.store.postgres import SQL, _commit_plan, _cte, _merge_writes, _split_trailing_inline, inline


def test_cte_renumbers_parameters_in_sequence() -> None:
    statement = _cte((SQL.delete_artifact.sql, SQL.delete_closure_of.sql))
    assert statement == (
        "WITH w0 AS (DELETE FROM ledger_artifacts WHERE ledger_artifacts.id = $1::VARCHAR), "
        "w1 AS (DELETE FROM ledger_artifact_closure WHERE ledger_artifact_closure.descendant_id = $2::VARCHAR) "
        "SELECT 1"
    )


def test_a_parameter_used_twice_keeps_one_number_inside_the_cte() -> None:
    statement = _cte((SQL.insert_event.sql, SQL.insert_closure_for.sql))
    # insert_closure_for binds the new id three times as one $n: after 14 event columns, $15 and $16.
    assert statement.count("$15") == 3
    assert "$16" in statement
    assert "$17" not in statement


def test_single_save_pipeline_becomes_one_statement() -> None:
    steps = [
        (SQL.insert_event, tuple(range(14)), False),
        (SQL.insert_artifact, tuple(range(15)), False),
        (SQL.insert_closure_for, ("a", "p"), False),
        (SQL.upsert_checkpoint, (7,), False),
    ]
    merged = _merge_writes(steps)
    assert len(merged) == 4  # one result slot per original step
    first = merged[0][0]
    assert first is not None
    assert first.sql.startswith("WITH w0 AS (INSERT INTO ledger_events")
    assert merged[0][1] == (*range(14), *range(15), "a", "p", 7)
    assert [m[0] for m in merged[1:]] == [None, None, None]


def test_two_writes_to_one_table_are_never_folded_together() -> None:
    # CTE sub-statements do not see each other's effects: insert-then-update must stay ordered.
    steps = [
        (SQL.insert_artifact, tuple(range(15)), False),
        (SQL.update_artifact, tuple(range(11)), False),
    ]
    assert _merge_writes(steps) == steps


def test_batches_and_reads_are_left_alone() -> None:
    steps = [
        (SQL.insert_event, [tuple(range(14)), tuple(range(14))], True),
        (SQL.is_descendant, ("a", "b"), False),
        (SQL.insert_artifact, tuple(range(15)), False),
    ]
    assert _merge_writes(steps) == steps


def test_a_root_saves_computed_closure_row_folds_into_the_same_statement() -> None:
    steps = [
        (SQL.insert_event, tuple(range(14)), False),
        (SQL.insert_artifact, tuple(range(15)), False),
        (SQL.insert_closure_row, ("r", "r", 0), False),
        (SQL.open_parent_link, ("r", 1, None), False),
        (SQL.upsert_checkpoint, (7,), False),
    ]
    merged = _merge_writes(steps)
    first = merged[0][0]
    assert first is not None
    assert first.sql.startswith("WITH w0 AS (INSERT INTO ledger_events")
    assert [m[0] for m in merged[1:]] == [None, None, None, None]


AID, PARENT = "01JDZ0000000000000000000AA", "01JDZ0000000000000000000BB"
MOVE = [
    (SQL.insert_event, tuple(range(14)), False),
    (SQL.close_parent_link, (5, AID), False),
    (SQL.move_artifact, (PARENT, 3, "t", "alice", AID), False),
    (SQL.open_parent_link, (AID, 5, PARENT), False),
    (SQL.move_closure_detach, (AID, PARENT), False),
    (SQL.move_closure_attach, (PARENT, AID), False),
    (SQL.upsert_checkpoint, (5,), False),
]
"""A move's steps as the projector queues them (no level change)."""


def test_ids_and_integers_are_written_in() -> None:
    text = inline(SQL.shift_levels, (-2, AID))
    assert text is not None
    assert "$" not in text
    assert f"'{AID}'" in text
    assert "CAST(-2 AS INTEGER)" in text


def test_anything_but_ids_integers_and_null_is_never_written_in() -> None:
    for hostile in ("x'; DROP TABLE ledger_events; --", "01JDZ0000000000000000000A'", True, 1.5, b"01"):
        assert inline(SQL.shift_levels, (1, hostile)) is None
        assert inline(SQL.shift_levels, (hostile, AID)) is None
    assert inline(SQL.open_parent_link, (AID, 7, None)) is not None


def test_statements_binding_text_are_never_marked_for_inlining() -> None:
    marked = {s.name for s in SQL.by_name.values() if s.ids_and_integers}
    assert marked == {"open_parent_link", "move_closure_detach", "move_closure_attach", "shift_levels"}


def test_a_moves_trailing_statements_go_inline_and_the_checkpoint_moves_before_them() -> None:
    bound, texts = _split_trailing_inline(MOVE)
    assert [s[0].name for s in bound] == [
        "insert_event",
        "close_parent_link",
        "move_artifact",
        "upsert_checkpoint",
    ]
    assert len(texts) == 3
    assert texts[0].startswith("INSERT INTO ledger_artifact_parent_history")


def test_nothing_goes_inline_when_a_bound_statement_would_have_to_move_past_them() -> None:
    steps = [
        (SQL.open_parent_link, (AID, 5, PARENT), False),
        (SQL.move_artifact, (PARENT, 3, "t", "alice", AID), False),
    ]
    assert _split_trailing_inline(steps) == (steps, [])
    hostile = [(SQL.open_parent_link, (AID, 5, "'; DROP TABLE x; --"), False)]
    assert _split_trailing_inline(hostile) == (hostile, [])


def shape(plan: tuple[list[Any], list[str]]) -> tuple[list[tuple[str | None, Any]], list[str]]:
    """A commit plan comparable by value (each merge makes its CTE statement anew)."""
    return [(m[0].sql if m[0] is not None else None, m[1]) for m in plan[0]], plan[1]


def test_writes_that_fold_into_one_cte_are_bound_whole_and_the_rest_go_inline() -> None:
    save = [
        (SQL.insert_event, tuple(range(14)), False),
        (SQL.insert_artifact, tuple(range(15)), False),
        (SQL.insert_closure_for, (AID, PARENT), False),
        (SQL.open_parent_link, (AID, 5, PARENT), False),
        (SQL.upsert_checkpoint, (5,), False),
    ]
    assert _split_trailing_inline(save)[1]  # the old plan: the parent link written in with the COMMIT
    assert shape(_commit_plan(save)) == shape((_merge_writes(save), []))  # now: one prepared CTE, COMMIT alone
    assert len([m for m in _commit_plan(save)[0] if m[0] is not None]) == 1
    move = MOVE
    assert shape(_commit_plan(move)) == shape((_merge_writes(move), []))  # two pairs change disjoint rows
    assert len([m for m in _commit_plan(move)[0] if m[0] is not None]) == 1
    shifted = [*move[:-1], (SQL.shift_levels, (1, AID), False), move[-1]]
    bound, texts = _split_trailing_inline(shifted)  # the level shift reads the closure
    assert shape(_commit_plan(shifted)) == shape((_merge_writes(bound), texts))
    assert _commit_plan(shifted)[1]
    alone = [(SQL.open_parent_link, (AID, 5, PARENT), False)]
    assert _commit_plan(alone) == ([], [inline(SQL.open_parent_link, (AID, 5, PARENT))])


def test_a_link_opened_earlier_in_the_run_is_never_closed_in_the_same_cte() -> None:
    # A CTE's parts see the table as it was before it: closing a link opened in the same CTE
    # would find nothing to close. Only close-then-open (and detach-then-attach) share one.
    close = (SQL.close_parent_link, (7, AID), False)
    opened = (SQL.open_parent_link, (AID, 5, PARENT), False)
    assert len([m for m in _merge_writes([opened, close]) if m[0] is not None]) == 2
    assert len([m for m in _merge_writes([close, opened]) if m[0] is not None]) == 1
    detach = (SQL.move_closure_detach, (AID, PARENT), False)
    attach = (SQL.move_closure_attach, (PARENT, AID), False)
    assert len([m for m in _merge_writes([attach, detach]) if m[0] is not None]) == 2
    assert len([m for m in _merge_writes([detach, attach]) if m[0] is not None]) == 1
    assert len([m for m in _merge_writes([detach, attach, detach, attach]) if m[0] is not None]) == 2
    assert len([m for m in _merge_writes([close, opened, close, opened]) if m[0] is not None]) == 2
    assert len([m for m in _merge_writes([close, opened, opened]) if m[0] is not None]) == 2
