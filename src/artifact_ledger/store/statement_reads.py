"""The read side's statements (listings, Merkle reads, whole-log reads for verify, export and the
drift pass, and the clears of rebuild): built here, compiled with the rest by ``statements.py``."""

from __future__ import annotations

from sqlalchemy import (
    ClauseElement,
    delete,
    exists,
    func,
    literal_column,
    select,
)

from .statement_parts import ONE, REPLY_COLUMNS, ZERO, _in_ids, _merkle_nodes_in, _p
from .tables import (
    MERKLE_FRONTIER_ID,
    artifacts,
    blobs,
    checkpoints,
    closure,
    events,
    merkle_frontier,
    merkle_nodes,
    parent_history,
)


def read_definitions(dialect: str) -> dict[str, tuple[ClauseElement, tuple[str, ...], str | None]]:
    """The read side's statements: listings, Merkle reads, whole-log reads (verify, export, drift), clears."""
    a, c, e, h = artifacts, closure, events, parent_history
    f = merkle_frontier
    # ---- the read side's listings: the artifact columns a reply needs, timestamps as stored ----
    reply = select(*(a.c[name] for name in REPLY_COLUMNS))
    by_depth = reply.select_from(c.join(a, a.c.id == c.c.descendant_id))
    return {
        "read_by_id": (reply.where(a.c.id == _p("id")), ("id",), None),
        "read_by_ids": (reply.where(_in_ids(dialect, a.c.id)).order_by(a.c.id), ("ids",), None),
        "read_all": (reply.order_by(a.c.id), (), None),
        "read_page": (reply.order_by(a.c.id).limit(_p("limit")).offset(_p("offset")), ("limit", "offset"), None),
        "read_first": (reply.order_by(a.c.id).limit(_p("limit")).offset(ZERO), ("limit",), None),
        "read_after": (
            reply.where(a.c.id > _p("after")).order_by(a.c.id).limit(_p("limit")).offset(ZERO),
            ("after", "limit"),
            None,
        ),
        "read_subtree": (
            by_depth.where(c.c.ancestor_id == _p("id")).order_by(c.c.depth, a.c.id),
            ("id",),
            None,
        ),
        "read_root": (
            reply.select_from(c.join(a, a.c.id == c.c.ancestor_id))
            .where(c.c.descendant_id == _p("id"))
            .order_by(c.c.depth.desc())
            .limit(ONE)
            .offset(ZERO),
            ("id",),
            None,
        ),
        "artifact_exists": (select(a.c.id).where(a.c.id == _p("id")), ("id",), None),
        "blob_data_in": (select(blobs.c.hash, blobs.c.data).where(_in_ids(dialect, blobs.c.hash)), ("ids",), None),
        "merkle_frontier": (
            select(f.c.size, f.c.roots).where(f.c.id == literal_column(str(MERKLE_FRONTIER_ID))),
            (),
            None,
        ),
        "merkle_frontier_rows": (select(f.c.id, f.c.size, f.c.roots).order_by(f.c.id), (), None),
        "merkle_node_rows": (
            select(merkle_nodes.c.level, merkle_nodes.c.idx, merkle_nodes.c.hash).order_by(
                merkle_nodes.c.level, merkle_nodes.c.idx
            ),
            (),
            None,
        ),
        "merkle_nodes_in": (_merkle_nodes_in(dialect), ("levels", "idxs"), None),
        "event_hashes_between": (
            select(e.c.position, e.c.hash)
            .where(e.c.position > _p("start"), e.c.position <= _p("end"))
            .order_by(e.c.position),
            ("start", "end"),
            None,
        ),
        "clear_merkle_nodes": (delete(merkle_nodes), (), None),
        "clear_merkle_frontier": (delete(merkle_frontier), (), None),
        "clear_parent_history": (delete(h), (), None),
        "clear_closure": (delete(c), (), None),
        "clear_artifacts": (delete(a), (), None),
        "clear_checkpoints": (delete(checkpoints), (), None),
        # ---- whole-log reads (verify, export, drift) ----
        "head_digest": (select(e.c.position, e.c.hash).order_by(e.c.position.desc()).limit(ONE).offset(ZERO), (), None),
        "hash_at": (select(e.c.hash).where(e.c.position == _p("position")), ("position",), None),
        "first_with_hash": (select(func.min(e.c.position)).where(e.c.hash == _p("value")), ("value",), None),
        "first_with_prev_hash": (select(func.min(e.c.position)).where(e.c.prev_hash == _p("value")), ("value",), None),
        "event_count": (select(func.count()).select_from(e), (), None),
        "events_from": (select(e).where(e.c.position > _p("position")).order_by(e.c.position), ("position",), None),
        "events_by_stream": (select(e).order_by(e.c.artifact_id, e.c.version), (), None),
        "checkpoint_rows": (select(checkpoints.c.projector, checkpoints.c.position), (), None),
        "blob_rows": (select(blobs.c.hash, blobs.c.size, blobs.c.data), (), None),
        "blobs_in": (
            select(blobs.c.hash, blobs.c.size, blobs.c.data).where(_in_ids(dialect, blobs.c.hash)),
            ("ids",),
            None,
        ),
        "closure_rows": (
            select(c.c.descendant_id, c.c.ancestor_id, c.c.depth).order_by(c.c.descendant_id, c.c.depth),
            (),
            None,
        ),
        "artifact_count": (select(func.count()).select_from(a), (), None),
        "artifact_without_events": (
            select(a.c.id).where(~exists().where(e.c.artifact_id == a.c.id)).limit(ONE).offset(ZERO),
            (),
            None,
        ),
        # ---- verify's drift pass: the parent links' history against the log ----
        # Some artifacts' links (oldest first), a batch of streams at a time ...
        "parent_history_of": (
            select(h.c.artifact_id, h.c.valid_from, h.c.valid_to, h.c.parent_id)
            .where(_in_ids(dialect, h.c.artifact_id))
            .order_by(h.c.artifact_id, h.c.valid_from),
            ("ids",),
            None,
        ),
        # ... how many rows there are in all, and one of an artifact the log has no events of.
        "parent_history_count": (select(func.count()).select_from(h), (), None),
        "parent_history_without_events": (
            select(h.c.artifact_id, h.c.valid_from)
            .where(~exists().where(e.c.artifact_id == h.c.artifact_id))
            .order_by(h.c.artifact_id, h.c.valid_from)
            .limit(ONE)
            .offset(ZERO),
            (),
            None,
        ),
    }
