"""What the write path reads about aliases, under the write lock: an alias's state checked against
its stream in the log, and the rule that an aliased artifact is not deleted unless ``cascade=True``
(which removes the aliases, each an ``alias.removed`` event of the same transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import codec
from .aliases import AliasState, decide_remove, state_from_payload
from .errors import ArtifactAliasedError, ChainBrokenError, ProjectionDriftError
from .events import Attribution, RecordedEvent
from .store.provenance import provenance_statements
from .writer import WriteBatch

__all__ = ["alias_state", "aliases_pointing_at", "delete_checked", "steps_then"]

_REMEDY = "find the damage with `artifact-ledger verify`, repair with `artifact-ledger rebuild`"


async def steps_then(batch: WriteBatch, step: tuple[Any, tuple[Any, ...], bool]) -> Sequence[Any]:
    """Run ``step`` after the batch's pending events and queued rows (so it sees them, and the
    log holds every event the rows came from)."""
    if batch.pending:
        await batch.flush()
    return (await batch.driver.pipeline([*batch.projector.steps(), step]))[-1]


async def alias_state(batch: WriteBatch, name: str) -> AliasState | None:
    """The alias as the log says: the head of the stream that holds ``name`` (one seek on the log's
    alias-name index, whatever ``ledger_aliases`` holds); its projection row must agree (else drift).

    The row is not what finds the stream: with it deleted the alias was taken for new (a second
    stream, set again without the reason its protection asks for), and ``remove_alias`` for absent.
    """
    sql = provenance_statements(batch.driver.sql.dialect)
    rows, heads = await _steps_then_both(batch, (sql.alias_row, (name,)), (sql.alias_heads_named, (name,)))
    logged = _newest(heads)
    if logged is None:
        if rows:
            raise ProjectionDriftError(
                f"ledger_aliases has a row for alias {name!r} (stream {rows[0][1]}) that no event in the log wrote; "
                f"{_REMEDY}",
                artifact_id=rows[0][1],
            )
        return None
    stream_id, log_version, payload = logged
    try:
        state = state_from_payload(stream_id, log_version, payload)
    except KeyError as exc:
        raise ChainBrokenError(
            f"the head event of alias stream {stream_id} lacks {exc}; check the log with `artifact-ledger verify`"
        ) from exc
    if not rows:
        raise ProjectionDriftError(
            f"ledger_aliases has no row for alias {name!r}, which the log holds (stream {stream_id}, version "
            f"{log_version}); {_REMEDY}",
            artifact_id=stream_id,
        )
    row = rows[0]
    stored = (row[0], row[1], row[2], row[3], row[4], bool(row[5]))
    if stored != (state.name, stream_id, state.stream_version, state.artifact_id, state.version, state.protected):
        raise ProjectionDriftError(
            f"the ledger_aliases row of alias {name!r} differs from the last event of its stream {stream_id} "
            f"(version {log_version}); {_REMEDY}",
            artifact_id=stream_id,
        )
    return state


async def _steps_then_both(
    batch: WriteBatch, first: tuple[Any, tuple[Any, ...]], second: tuple[Any, tuple[Any, ...]]
) -> tuple[Sequence[Any], Sequence[Any]]:
    """Two statements after the batch's pending events and queued rows, in one pipeline."""
    if batch.pending:
        await batch.flush()
    *_, a, b = await batch.driver.pipeline(
        [*batch.projector.steps(), (first[0], first[1], False), (second[0], second[1], False)]
    )
    return a, b


def _newest(heads: Sequence[Any]) -> tuple[str, int, dict[str, Any]] | None:
    """The stream whose head came last, of the alias streams the log holds for one name (more than
    one only in a log an earlier version wrote from a deleted row)."""
    if not heads:
        return None
    stream_id, version, payload, _position = max(heads, key=lambda h: int(h[3]))
    return str(stream_id), int(version), _payload(stream_id, payload)


def _payload(stream_id: str, payload: str) -> dict[str, Any]:
    try:
        loaded = codec.loads(payload)
        if not isinstance(loaded, dict) or not isinstance(loaded.get("name"), str):
            raise TypeError("not an alias payload")
        return loaded
    except (ValueError, TypeError) as exc:
        raise ChainBrokenError(
            f"the head event of alias stream {stream_id} has a payload no writer of ours makes; check the log "
            "with `artifact-ledger verify`"
        ) from exc


async def aliases_pointing_at(batch: WriteBatch, ids: Sequence[str]) -> list[str]:
    """The names of the aliases that point at one of ``ids``, as the log says (one seek per id on the
    log's alias-target index); ``ledger_aliases`` must name the same (else drift)."""
    sql = provenance_statements(batch.driver.sql.dialect)
    listed = batch.driver.id_list(list(ids))
    rows, heads = await _steps_then_both(
        batch, (sql.aliases_of_subtree, (listed,)), (sql.alias_heads_targeting, (listed,))
    )
    wanted = set(ids)
    logged: dict[str, str] = {}
    for stream_id, _version, payload, _position in heads:
        p = _payload(stream_id, payload)
        if p.get("artifact_id") in wanted:
            logged[p["name"]] = str(stream_id)
    cached = {str(r[0]): str(r[1]) for r in rows}
    if cached != logged:
        differ = sorted(n for n in cached.keys() | logged.keys() if cached.get(n) != logged.get(n))
        target = ids[0] if len(ids) == 1 else f"{ids[0]} (or its subtree)"
        raise ProjectionDriftError(
            f"the ledger_aliases rows pointing at artifact {target} differ from the log's alias events "
            f"(alias{'es' if len(differ) > 1 else ''} {', '.join(repr(n) for n in differ)}); {_REMEDY}",
            artifact_id=ids[0],
        )
    return sorted(logged)


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
    named = await aliases_pointing_at(batch, ids)
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
