"""Pure decisions and the fold: every write invariant, without a database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from artifact_ledger.decide import (
    ArtifactState,
    MoveArtifact,
    SaveArtifact,
    decide_delete,
    decide_move,
    decide_restore,
    decide_save,
    evolve,
    fold,
)
from artifact_ledger.errors import (
    ArtifactDeletedError,
    ArtifactHasChildrenError,
    ArtifactNotFoundError,
    ConcurrencyError,
    InvalidMoveError,
)
from artifact_ledger.events import CREATED, DELETED, MOVED, RESTORED, UPDATED, ContentRef, NewEvent, RecordedEvent

A, P, Q = "A" * 26, "P" * 26, "Q" * 26
REF = ContentRef("ab" * 32, "bytes", "application/octet-stream", 3)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def state(**changes: Any) -> ArtifactState:
    base: dict[str, Any] = {"id": A, "parent_id": P, "version": 2, "data": {"x": 1}, "content": REF, "tags": ("t",)}
    base.update(changes)
    return ArtifactState(**base)


def save(**changes: Any) -> SaveArtifact:
    base: dict[str, Any] = {"artifact_id": A, "parent_id": P, "data": {"x": 1}, "content": REF, "tags": ("t",)}
    base.update(changes)
    return SaveArtifact(**base)


def recorded(new: NewEvent, position: int, actor: str | None = None) -> RecordedEvent:
    at = T0 + timedelta(seconds=position)
    return RecordedEvent(
        position, f"E{position}", new.artifact_id, new.version, new.type, 1, new.payload, at, actor, None, None, None,
        b"", b"",
    )  # fmt: skip


# ---- save --------------------------------------------------------------------------------------------
def test_save_creates_version_1() -> None:
    [event] = decide_save(save(), None, parent_live=True)
    assert (event.artifact_id, event.version, event.type) == (A, 1, CREATED)
    assert event.payload == {"parent_id": P, "data": {"x": 1}, "content": REF.to_json(), "tags": ["t"]}


def test_identical_save_decides_nothing() -> None:
    assert decide_save(save(), state(), parent_live=True) == []
    assert decide_save(save(data={"x": 1.0}), state(data={"x": 1.0}), parent_live=True) == []


@pytest.mark.parametrize(
    "change", [{"data": {"x": 2}}, {"tags": ("t", "u")}, {"content": None}, {"data": {"x": 1, "y": None}}]
)
def test_changed_save_updates(change: dict[str, Any]) -> None:
    [event] = decide_save(save(**change), state(), parent_live=True)
    assert (event.version, event.type) == (3, UPDATED)
    assert "parent_id" not in event.payload


def test_save_with_new_parent_moves_then_updates() -> None:
    moved_only = decide_save(save(parent_id=Q), state(), parent_live=True)
    assert [(e.type, e.version) for e in moved_only] == [(MOVED, 3)]
    assert moved_only[0].payload == {"from_parent_id": P, "to_parent_id": Q}
    both = decide_save(save(parent_id=None, data={"x": 9}), state(), parent_live=True)
    assert [(e.type, e.version) for e in both] == [(MOVED, 3), (UPDATED, 4)]


def test_save_refusals() -> None:
    with pytest.raises(ArtifactDeletedError, match=f"restore.*{A}"):
        decide_save(save(), state(deleted=True), parent_live=True)
    with pytest.raises(ArtifactNotFoundError, match=P) as err:
        decide_save(save(), None, parent_live=False)
    assert err.value.artifact_id == P
    with pytest.raises(InvalidMoveError, match="own parent"):
        decide_save(save(parent_id=A), state(), parent_live=True)
    with pytest.raises(InvalidMoveError, match="descendants"):
        decide_save(save(parent_id=Q), state(), parent_live=True, parent_in_subtree=True)


def test_save_expected_version() -> None:
    assert decide_save(save(data={"x": 5}, expected_version=2), state(), parent_live=True)[0].version == 3
    assert decide_save(save(expected_version=0), None, parent_live=True)[0].version == 1
    with pytest.raises(ConcurrencyError) as err:
        decide_save(save(data={"x": 5}, expected_version=1), state(), parent_live=True)
    assert (err.value.expected, err.value.actual, err.value.artifact_id) == (1, 2, A)
    assert A in str(err.value)
    assert "version 2" in str(err.value)
    assert "expected version 1" in str(err.value)
    with pytest.raises(ConcurrencyError):
        decide_save(save(expected_version=3), None, parent_live=True)


# ---- move --------------------------------------------------------------------------------------------
def test_move() -> None:
    [event] = decide_move(MoveArtifact(A, Q), state(), parent_live=True, parent_in_subtree=False)
    assert (event.type, event.version, event.payload) == (MOVED, 3, {"from_parent_id": P, "to_parent_id": Q})
    assert decide_move(MoveArtifact(A, P), state(), parent_live=True, parent_in_subtree=False) == []
    [to_root] = decide_move(MoveArtifact(A, None), state(), parent_live=True, parent_in_subtree=False)
    assert to_root.payload["to_parent_id"] is None


def test_move_refusals() -> None:
    with pytest.raises(ArtifactNotFoundError, match=A):
        decide_move(MoveArtifact(A, Q), None, parent_live=True, parent_in_subtree=False)
    with pytest.raises(ArtifactNotFoundError, match=A):
        decide_move(MoveArtifact(A, Q), state(deleted=True), parent_live=True, parent_in_subtree=False)
    with pytest.raises(ArtifactNotFoundError, match=Q):
        decide_move(MoveArtifact(A, Q), state(), parent_live=False, parent_in_subtree=False)
    with pytest.raises(InvalidMoveError, match=A):
        decide_move(MoveArtifact(A, A), state(), parent_live=True, parent_in_subtree=True)
    with pytest.raises(InvalidMoveError, match=Q):
        decide_move(MoveArtifact(A, Q), state(), parent_live=True, parent_in_subtree=True)
    with pytest.raises(ConcurrencyError):
        decide_move(MoveArtifact(A, Q, expected_version=1), state(), parent_live=True, parent_in_subtree=False)


# ---- delete / restore ----------------------------------------------------------------------------------
def test_delete() -> None:
    assert decide_delete(None, [], cascade=False, expected_version=None) == []
    assert decide_delete(state(deleted=True), [], cascade=False, expected_version=None) == []
    [event] = decide_delete(state(), [], cascade=False, expected_version=2)
    assert (event.type, event.version, event.payload) == (DELETED, 3, {"cascade_root": None})
    with pytest.raises(ConcurrencyError):
        decide_delete(state(), [], cascade=False, expected_version=5)


def test_delete_with_children() -> None:
    kids = [state(id=f"K{i}".ljust(26, "0"), parent_id=A, version=1) for i in range(7)]
    with pytest.raises(ArtifactHasChildrenError) as err:
        decide_delete(state(), kids, cascade=False, expected_version=None)
    message = str(err.value)
    assert A in message
    assert "7 live descendant" in message
    assert kids[0].id in message
    assert "cascade=True" in message
    events = decide_delete(state(), kids, cascade=True, expected_version=None)
    assert [e.artifact_id for e in events] == [k.id for k in reversed(kids)] + [A]  # deepest first, root last
    assert {e.payload["cascade_root"] for e in events} == {A}
    assert all(e.version == 2 for e in events[:-1])
    assert events[-1].version == 3


def test_restore() -> None:
    with pytest.raises(ArtifactNotFoundError, match=A):
        decide_restore(None, A, parent_live=True)
    assert decide_restore(state(), A, parent_live=True) == []
    with pytest.raises(ArtifactNotFoundError, match=f"parent {P}") as err:
        decide_restore(state(deleted=True), A, parent_live=False)
    assert err.value.artifact_id == P
    [event] = decide_restore(state(deleted=True, version=4), A, parent_live=True)
    assert (event.type, event.version) == (RESTORED, 5)
    assert event.payload == {"parent_id": P, "data": {"x": 1}, "content": REF.to_json(), "tags": ["t"]}
    [root] = decide_restore(state(deleted=True, parent_id=None), A, parent_live=False)
    assert root.payload["parent_id"] is None


# ---- evolve / fold -------------------------------------------------------------------------------------
def test_fold_follows_every_event_type() -> None:
    created = decide_save(save(), None, parent_live=True)
    log = [recorded(created[0], 1, "alice")]
    current = fold(log)
    assert current is not None
    assert current.version == 1
    assert current.created_by == "alice"
    steps: list[Callable[[ArtifactState], list[NewEvent]]] = [
        lambda s: decide_save(save(parent_id=Q, data={"x": 2}), s, parent_live=True),
        lambda s: decide_delete(s, [], cascade=False, expected_version=None),
        lambda s: decide_restore(s, A, parent_live=True),
    ]
    for position, decided in enumerate(steps, start=2):
        for new in decided(current):
            log.append(recorded(new, len(log) + 1, f"actor{position}"))
        current = fold(log)
        assert current is not None
    assert current is not None
    assert [e.type for e in log] == [CREATED, MOVED, UPDATED, DELETED, RESTORED]
    assert (current.version, current.parent_id, current.data, current.deleted) == (5, Q, {"x": 2}, False)
    assert (current.created_by, current.updated_by) == ("alice", "actor4")
    assert current.created_at == T0 + timedelta(seconds=1)
    assert current.updated_at == T0 + timedelta(seconds=5)
    assert fold([]) is None


def test_evolve_refuses_out_of_order_and_unknown() -> None:
    [update] = decide_save(save(data={"x": 2}), state(), parent_live=True)
    with pytest.raises(ValueError, match="no prior state"):
        evolve(None, recorded(update, 1))
    with pytest.raises(ValueError, match="unknown event type"):
        evolve(state(), recorded(NewEvent(A, 3, "artifact.exploded", {}), 2))


def test_fast_construct_equals_model_construct() -> None:
    from datetime import UTC, datetime

    from ulid import ULID

    from artifact_ledger.schemas import ArtifactOut, ArtifactTreeNode, construct

    now = datetime(2026, 1, 1, tzinfo=UTC)
    values = {
        "id": ULID(),
        "parent_id": None,
        "level": 0,
        "data": {"a": 1},
        "tags": ["x"],
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "created_by": "alice",
        "updated_by": None,
    }
    assert construct(ArtifactOut, dict(values)) == ArtifactOut.model_construct(**values)
    node_values = {**values, "level_label": "training", "hierarchy": "ml", "children": None}
    node = construct(ArtifactTreeNode, dict(node_values))
    assert node == ArtifactTreeNode.model_construct(**node_values)
    assert node.model_dump(mode="json")["level_label"] == "training"
    node.children = []
    assert node.children == []
    assert set(node_values) == set(ArtifactTreeNode.model_fields)
    assert set(values) == set(ArtifactOut.model_fields)


def test_building_many_models_pauses_the_collector_and_restores_it() -> None:
    import gc

    from artifact_ledger.schemas import PAUSE_GC_FROM, building

    assert gc.isenabled()
    with building(PAUSE_GC_FROM - 1):
        assert gc.isenabled()  # small listings leave the collector alone
    with building(PAUSE_GC_FROM):
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), building(10_000):
        raise RuntimeError("a decoder failed half-way")
    assert gc.isenabled()  # restored on errors too
    gc.disable()
    try:
        with building(10_000):
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()
