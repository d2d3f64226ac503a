"""Projection rows checked against the log before a write decides anything from them.

The projections are caches: someone with write access to the database can edit them, and a
write that trusted an edited row would seal the damage into the log (a lowered version, a
phantom parent, laundered data, a cycle). So every row the write path loads comes with the
log's word on it, read in the same statement with a few index seeks (see
``store.statements.LOG_COLUMNS``): the stream's head version and type and, for the artifact
the command changes, the parent its last structural event set and the payload of its last
state event. A row that disagrees refuses the write with :class:`ProjectionDriftError`.

Other rows a command loads (the parent of a new artifact) are checked to be live at their
version, not for their own parent or state: no decision reads those. The projector remembers
which rows had their parent compared (or set by an event of the batch), and the write path
compares a row's parent before a later command of the same batch decides from it.

A delete rests on the subtree the closure table lists: its members are checked like any
row, and every live child of a member by the two other projections (open parent links,
``parent_id``) must be a member too, so a closure that lost a descendant cannot make a
delete orphan it in the log.

What is *not* checked here, because no decision rests on it: levels, timestamps and the
attribution columns (``verify`` checks them).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .. import codec
from ..decide import is_artifact_stream, not_an_artifact
from ..errors import ProjectionDriftError
from ..events import DELETED, content_of
from .rows import state_columns

__all__ = ["check_ancestry", "check_row", "check_subtree", "drift", "log_says_live"]

REMEDY = (
    "nothing was written. The projections disagree with the log, which is the only record trusted: "
    "find what changed with `artifact-ledger verify`, then rebuild them from the log with `artifact-ledger rebuild`"
)


def drift(artifact_id: str, problem: str) -> ProjectionDriftError:
    return ProjectionDriftError(f"artifact {artifact_id} {problem}; {REMEDY}", artifact_id=artifact_id)


def check_row(row: Sequence[Any], log: Sequence[Any], *, check_parent: bool = True) -> bool:
    """Refuse ``row`` (a ``ledger_artifacts`` row, every column in table order) unless the log agrees.

    ``log`` holds the row's ``LOG_COLUMNS``; ``check_parent``: its parent was read (the command's
    target, or a statement that reads every row's). Returns whether the row's state (data,
    content, tags) was compared too (only for the command's target, whose state the decision uses).
    """
    artifact_id, parent_id, version = row[0], row[1], row[3]
    log_version, log_type, log_parent, log_state = log
    if log_version is None:
        raise drift(artifact_id, "has a row in ledger_artifacts but no event in the log")
    if log_type == DELETED:
        raise drift(artifact_id, f"is live in ledger_artifacts, but the log deleted it at version {log_version}")
    # Compared as stored: SQLite keeps text or a fraction an UPDATE puts in an integer column, and
    # int() would fail on the one and round the other into agreement.
    if type(version) is not int or int(log_version) != version:
        raise drift(
            artifact_id, f"is at version {version!r:.40} in ledger_artifacts but at version {log_version} in the log"
        )
    if check_parent and log_parent != parent_id:
        raise drift(
            artifact_id,
            f"has parent {parent_id or 'none (a root)'} in ledger_artifacts, "
            f"but the log puts it under {log_parent or 'no parent (a root)'}",
        )
    if log_state is None:
        return False
    # The payload of a state event holds exactly what the projector writes to these columns.
    # (Every payload is at schema version 1; a later version must be upcast before this comparison.)
    payload = codec.loads(log_state)
    expected = state_columns(payload["data"], content_of(payload), payload["tags"])
    stored = (*row[4:9], row[9], row[10])
    if tuple(expected) != stored:
        changed = [
            name
            for name, want, have in zip(
                ("type", "data", "content_hash", "content_codec", "content_type", "content_size", "tags"),
                expected,
                stored,
                strict=True,
            )
            if want != have
        ]
        raise drift(
            artifact_id,
            f"has {', '.join(changed)} in ledger_artifacts that differ from its version {log_version} in the log",
        )
    return True


def log_says_live(artifact_id: str, head: tuple[int, str] | None) -> None:
    """For an id with no row: refuse when the log says the artifact is live (its row was removed).

    The id of a stream that is not an artifact's (an alias's, a link's: the audit trail shows them
    as ``artifact_id``) has no row either, rightly: that is ``ArtifactNotFoundError``, not drift."""
    if head is not None and not is_artifact_stream(head[1]):
        raise not_an_artifact(artifact_id, head[1])
    if head is not None and head[1] != DELETED:
        raise drift(artifact_id, f"is live in the log (version {head[0]}) but has no row in ledger_artifacts")


def check_ancestry(artifact_id: str, rows: Sequence[Sequence[Any]]) -> list[str]:
    """The ancestors of ``artifact_id`` (itself first, root last) from ``ancestry_by_log`` rows,
    refused unless each one is live in the log and its log parent is the next one up."""
    chain = [str(r[0]) for r in rows]
    depths = [r[1] for r in rows]  # as stored: SQLite keeps text or a fraction an UPDATE leaves there
    if (
        not chain
        or chain[0] != artifact_id
        or any(type(d) is not int for d in depths)
        or depths != list(range(len(rows)))
    ):
        raise drift(artifact_id, "has ancestor paths in ledger_artifact_closure that do not form one chain")
    for i, (ancestor, _depth, log_version, log_type, log_parent) in enumerate(rows):
        if log_version is None or log_type == DELETED:
            raise drift(
                ancestor, f"is an ancestor of {artifact_id} in ledger_artifact_closure but is not live in the log"
            )
        expected = chain[i + 1] if i + 1 < len(chain) else None
        if log_parent != expected:
            raise drift(
                ancestor,
                f"has parent {log_parent or 'none (a root)'} in the log, but ledger_artifact_closure puts "
                f"{expected or 'nothing'} above it on the path of {artifact_id}",
            )
    return chain


def check_subtree(root_id: str, members: Collection[str] | Mapping[str, str | None], children: Sequence[str]) -> None:
    """Refuse a delete of ``root_id`` unless its ``members`` (the closure's descendants) are its subtree.

    A live child of the subtree that is not a member would be orphaned; a member that is no child of the
    subtree (neither its ``parent_id`` nor an open parent link puts it under ``root_id`` or a member: a
    planted closure path) would be deleted with it. ``members`` as a mapping gives each member's parent by
    the log (checked against its row), and then a member whose log parent lies outside is refused too,
    whatever the other projections say.
    """
    for child in children:
        if child != root_id and child not in members:
            raise drift(
                child,
                f"is a live child inside the subtree of {root_id}, but ledger_artifact_closure does not list it "
                "there: deleting the subtree would orphan it",
            )
    if isinstance(members, Mapping):
        for member, parent in sorted(members.items(), key=lambda item: item[0]):
            if parent != root_id and parent not in members:
                raise drift(
                    member,
                    f"is listed by ledger_artifact_closure in the subtree of {root_id}, but the log puts it under "
                    f"parent {parent or 'none (a root)'}, outside it: deleting the subtree would delete it",
                )
    reached = set(children)
    for member in sorted(set(members) - reached - {root_id}):
        raise drift(
            member,
            f"is listed by ledger_artifact_closure in the subtree of {root_id}, but neither its parent_id nor an "
            "open parent link puts it under that subtree: deleting the subtree would delete it",
        )
