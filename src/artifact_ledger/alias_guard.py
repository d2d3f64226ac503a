"""What the write path reads about aliases, under the write lock: an alias's state checked against
its stream in the log, and the rule that an aliased artifact is not deleted unless ``cascade=True``
(which removes the aliases, each an ``alias.removed`` event of the same transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import codec
from .aliases import AliasState, decide_remove, state_from_payload
from .errors import ArtifactAliasedError, ProjectionDriftError
from .events import Attribution, RecordedEvent
from .store.provenance import provenance_statements
from .writer import WriteBatch

__all__ = ["alias_state", "delete_checked", "steps_then"]


async def steps_then(batch: WriteBatch, step: tuple[Any, tuple[Any, ...], bool]) -> Sequence[Any]:
    """Run ``step`` after the batch's pending events and queued rows (so it sees them, and the
    log holds every event the rows came from)."""
    if batch.pending:
        await batch.flush()
    return (await batch.driver.pipeline([*batch.projector.steps(), step]))[-1]


async def alias_state(batch: WriteBatch, name: str) -> AliasState | None:
    """The alias as its stream in the log says; its projection row must agree (else drift)."""
    sql = provenance_statements(batch.driver.sql.dialect)
    rows = await steps_then(batch, (sql.alias_checked, (name,), False))
    if not rows:
        return None
    row = rows[0]
    log_version, payload = row[9], row[10]
    if log_version is None:
        raise ProjectionDriftError(
            f"ledger_aliases has a row for alias {name!r} (stream {row[1]}) that no event in the log wrote; "
            "find the damage with `artifact-ledger verify`, repair with `artifact-ledger rebuild`",
            artifact_id=row[1],
        )
    state = state_from_payload(row[1], int(log_version), codec.loads(payload))
    stored = (row[0], row[2], row[3], row[4], bool(row[5]))
    if stored != (state.name, state.stream_version, state.artifact_id, state.version, state.protected):
        raise ProjectionDriftError(
            f"the ledger_aliases row of alias {name!r} differs from the last event of its stream {row[1]} "
            f"(version {log_version}); find the damage with `artifact-ledger verify`, repair with "
            "`artifact-ledger rebuild`",
            artifact_id=row[1],
        )
    return state


async def delete_checked(
    batch: WriteBatch, aid: str, who: Attribution, *, cascade: bool, expected_version: int | None
) -> list[RecordedEvent]:
    """``delete_by_id`` with the alias rule: an artifact (with ``cascade``, a subtree) that aliases
    point at is refused unless ``cascade=True``, which removes those aliases (recorded)."""
    await batch.prefetch([])
    sql = provenance_statements(batch.driver.sql.dialect)
    ids = [aid]
    if cascade:
        ids = [r[0] for r in await steps_then(batch, (sql.subtree_ids, (aid,), False))] or [aid]
    named = [r[0] for r in await steps_then(batch, (sql.aliases_of_subtree, (batch.driver.id_list(ids),), False))]
    if named and not cascade:
        raise ArtifactAliasedError(
            f"artifact {aid} is the target of alias{'es' if len(named) > 1 else ''} "
            f"{', '.join(repr(n) for n in named)}: remove the alias first, or delete with cascade=True "
            "(which removes it)"
        )
    sealed = await batch.delete(aid, who, cascade=cascade, expected_version=expected_version)
    gone = {e.artifact_id for e in sealed}
    for name in named:
        state = await alias_state(batch, name)
        if state is not None and state.artifact_id in gone:
            sealed += await batch._commit_events(decide_remove(name, state, reason=None, cascade=True), who)
    return sealed
