"""Merkle roots and proofs read from the database, and the Merkle state's own maintenance.

A proof is built from O(log n) subtree hashes: the complete subtrees of ``2**STORED_LEVEL``
leaves or more come from ``ledger_merkle_nodes`` (one statement for all of them), smaller
ones are hashed from the event hashes of at most a few short runs of positions (one range
read each). ``merkle.py`` says which subtrees a proof needs and checks proofs.

Rebuild, ``verify`` and import keep the stored state honest: :func:`recompute` writes it
from the event hashes, :func:`merkle_findings` compares it with them, and :class:`Extender`
grows it as an import appends events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .drift import PROJECTION_DRIFT, Finding
from .errors import ChainBrokenError, MerkleDriftError, ProofRangeError
from .merkle import (
    STORED_LEVEL,
    Frontier,
    Node,
    Range,
    consistency_ranges,
    frontier_nodes,
    inclusion_ranges,
    leaf_hash,
    needed,
    range_hash,
    runs,
    verify_consistency,
    verify_inclusion,
)
from .store.event_store import frontier_at, merkle_drift
from .store.recorder import Recorder, Step

__all__ = ["ConsistencyProof", "InclusionProof", "TreeHead"]

_PAGE = 20_000
_NODE_ROWS = 5_000


class TreeHead(BaseModel):
    """The Merkle root of the log's first ``size`` events (hex), of the ledger ``ledger_id``."""

    model_config = ConfigDict(frozen=True)

    ledger_id: str | None
    size: int
    root: str


Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 hash as 64 lowercase hex digits, nothing else (no uppercase, no spaces)."""
Count = Annotated[int, Field(ge=0, le=2**64 - 1)]
"""A position or tree size: a JSON integer (not a string, a float or a boolean), 0 or more."""
_STRICT = ConfigDict(frozen=True, strict=True)
"""Proof documents are read strictly, by the same rules as ``verify_bundle.py --proof``: every field
present (``kind`` too), integers as JSON integers, hashes as 64 lowercase hex digits."""


class InclusionProof(BaseModel):
    """RFC 9162 inclusion proof: the event at ``position`` is leaf ``position - 1`` of the tree of ``size``.

    ``event_hash`` is the event's chained hash, ``leaf_hash`` its leaf (``SHA-256(0x00 ‖ event hash)``),
    ``hashes`` the audit path (hex, leaf end first), ``root`` the tree's root. The proof alone does not
    fix ``size``: a path can fit trees of several sizes, so the size is pinned by a signed note or bundle.
    """

    model_config = _STRICT

    kind: Literal["inclusion"]
    ledger_id: str | None
    position: Count
    size: Count
    event_hash: Hash
    leaf_hash: Hash
    root: Hash
    hashes: list[Hash]

    def verify(self) -> bool:
        """Whether the path leads from the event's hash to ``root`` (hashes recomputed here)."""
        try:
            leaf = leaf_hash(bytes.fromhex(self.event_hash))
            path = [bytes.fromhex(h) for h in self.hashes]
            root = bytes.fromhex(self.root)
        except ValueError:
            return False
        return leaf.hex() == self.leaf_hash and verify_inclusion(self.position - 1, self.size, leaf, path, root)


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof: the tree of ``old_size`` (``old_root``) is a prefix of the one of ``new_size``."""

    model_config = _STRICT

    kind: Literal["consistency"]
    ledger_id: str | None
    old_size: Count
    new_size: Count
    old_root: Hash
    new_root: Hash
    hashes: list[Hash]

    def verify(self) -> bool:
        """Whether the path proves ``old_root`` and ``new_root`` the roots of one log at the two sizes."""
        try:
            path = [bytes.fromhex(h) for h in self.hashes]
            old, new = bytes.fromhex(self.old_root), bytes.fromhex(self.new_root)
        except ValueError:
            return False
        return verify_consistency(self.old_size, self.new_size, old, new, path)


# ---- reading subtrees ----------------------------------------------------------------------------


async def head_position(driver: Recorder) -> int:
    rows = await driver.fetch(driver.sql.head_digest)
    return int(rows[0][0]) if rows else 0


def _size(size: int | None, head: int, what: str) -> int:
    if size is None:
        return head
    if type(size) is not int or size < 0:
        raise ProofRangeError(f"{what} {size!r} is not a tree size (a whole number of events, 0 or more)")
    if size > head:
        raise ProofRangeError(f"{what} {size} is beyond the log, which holds {head} events")
    return size


async def subtree_hashes(driver: Recorder, ranges: Sequence[Range], extra_leaves: Iterable[int] = ()) -> Any:
    """The hash of each of ``ranges`` (leaves ``[start, end)``), and the event hashes of ``extra_leaves``.

    Two statements at most plus one range read per run of leaves: the stored nodes in one, the
    event hashes below ``STORED_LEVEL`` by position.
    """
    node_keys, leaf_indexes = needed(ranges)
    extra = set(extra_leaves)
    leaf_indexes |= extra
    sql = driver.sql
    steps: list[Step] = []
    keys = sorted(node_keys)
    if keys:
        levels, idxs = [k[0] for k in keys], [k[1] for k in keys]
        bound = (json.dumps(levels), json.dumps(idxs)) if driver.name == "sqlite" else (levels, idxs)
        steps.append((sql.merkle_nodes_in, bound, False))
    spans = _merge_close(runs(leaf_indexes))
    steps.extend((sql.event_hashes_between, (start, end), False) for start, end in spans)
    results = await driver.pipeline(steps)
    nodes: dict[tuple[int, int], bytes] = {}
    if keys:
        nodes = {(int(r[0]), int(r[1])): driver.read_bytes(r[2]) for r in results.pop(0)}
        missing = [k for k in keys if k not in nodes]
        if missing:
            level, idx = missing[0]
            raise merkle_drift(
                f"ledger_merkle_nodes has no row for the subtree of events {(idx << level) + 1} to "
                f"{(idx + 1) << level} (level {level}, index {idx})"
            )
    events: dict[int, bytes] = {}
    for rows in results:
        for position, digest in rows:
            events[int(position) - 1] = driver.read_bytes(digest)
    gone = sorted(leaf_indexes - events.keys())
    if gone:  # a row deleted below the head: the tree of these positions has no leaf there
        raise ChainBrokenError(
            f"the log has no event at position {gone[0] + 1}, below its head: the Merkle tree the proof or root "
            "needs cannot be computed (artifact-ledger verify names the damage)",
            position=gone[0] + 1,
        )
    leaves = {i: leaf_hash(events[i]) for i in leaf_indexes}
    return [range_hash(a, b, nodes, leaves) for a, b in ranges], {i: events[i] for i in extra}


def _merge_close(spans: list[Range]) -> list[Range]:
    """Runs closer than a stored subtree's width read as one range (fewer statements, few more rows)."""
    out: list[Range] = []
    for start, end in spans:
        if out and start - out[-1][1] <= 1 << STORED_LEVEL:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


async def tree_head(driver: Recorder, ledger_id: str | None, size: int | None) -> TreeHead:
    n = _size(size, await head_position(driver), "size")
    (root,), _ = await subtree_hashes(driver, [(0, n)]) if n else ([bytes.fromhex(_EMPTY)], {})
    return TreeHead(ledger_id=ledger_id, size=n, root=root.hex())


_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


async def inclusion(driver: Recorder, ledger_id: str | None, position: int, size: int | None) -> InclusionProof:
    head = await head_position(driver)
    n = _size(size, head, "size")
    if type(position) is not int or not 1 <= position <= n:
        raise ProofRangeError(
            f"position {position!r} is not in the tree of size {n}: positions run from 1 to the size"
            + (f" (the log holds {head} events)" if size is not None else "")
        )
    index = position - 1
    ranges = [*inclusion_ranges(index, n), (0, n)]
    hashes, events = await subtree_hashes(driver, ranges, [index])
    *path, root = hashes
    return InclusionProof(
        kind="inclusion",
        ledger_id=ledger_id,
        position=position,
        size=n,
        event_hash=events[index].hex(),
        leaf_hash=leaf_hash(events[index]).hex(),
        root=root.hex(),
        hashes=[h.hex() for h in path],
    )


async def consistency(driver: Recorder, ledger_id: str | None, old_size: int, new_size: int | None) -> ConsistencyProof:
    if old_size is None:  # only new_size defaults (to the head): the old size is what the proof is about
        raise ProofRangeError("old_size None is not a tree size: give the size of the older tree (0 or more)")
    head = await head_position(driver)
    new = _size(new_size, head, "new_size")
    old = _size(old_size, head, "old_size")
    if old > new:
        raise ProofRangeError(f"old_size {old} is larger than new_size {new}: a log only grows")
    ranges = [*consistency_ranges(old, new), (0, old), (0, new)]
    wanted = [r for r in ranges if r[1] > r[0]]
    computed = iter((await subtree_hashes(driver, wanted))[0]) if wanted else iter(())
    hashes = [next(computed) if r[1] > r[0] else bytes.fromhex(_EMPTY) for r in ranges]
    *path, old_root, new_root = hashes
    return ConsistencyProof(
        kind="consistency",
        ledger_id=ledger_id,
        old_size=old,
        new_size=new,
        old_root=old_root.hex(),
        new_root=new_root.hex(),
        hashes=[h.hex() for h in path],
    )


async def event_roots(driver: Recorder, sizes: Iterable[int]) -> tuple[int, dict[int, str]]:
    """(the log's size, the Merkle root (hex) of its first ``size`` events for each of ``sizes`` it holds), computed
    from the event hashes alone, in one pass up to the largest of ``sizes``.

    Checking a checkpoint must not trust ``ledger_merkle_nodes``: whoever rewrote an event and recomputed the chain
    can put the old subtrees back, and a root read from them (:func:`tree_head`, for any size a multiple of
    ``2**STORED_LEVEL``) is the signed one again. Reads O(largest size) event hashes; sizes past the log are left
    out (the log ends before them). A position missing below a size (the chain check names it) gives that size
    the root of the events there are, which is not the checkpoint's.
    """
    head = await head_position(driver)
    wanted = sorted({n for n in sizes if 0 <= n <= head})
    roots: dict[int, str] = {}
    frontier = Frontier()
    position = 0
    for size in wanted:
        while position < size:
            end = min(position + _PAGE, size)
            rows = await driver.fetch(driver.sql.event_hashes_between, position, end)
            frontier.extend(driver.read_bytes(r[1]) for r in rows)
            position = end
        roots[size] = frontier.root().hex()
    return head, roots


# ---- maintenance: rebuild, import, verify --------------------------------------------------------


class Extender:
    """Grows the stored Merkle state as events are appended outside the write path (import, rebuild)."""

    def __init__(self, driver: Recorder, frontier: Frontier) -> None:
        self.driver = driver
        self.frontier = frontier

    @classmethod
    async def at_head(cls, driver: Recorder, position: int) -> Extender:
        """From the stored frontier, which must fit a log whose head is at ``position``."""
        rows = await driver.fetch(driver.sql.merkle_frontier)
        size, roots = rows[0] if rows else (None, None)
        frontier, problem = frontier_at(driver, position, size, roots)
        if frontier is None:
            raise merkle_drift(problem)
        return cls(driver, frontier)

    async def extend(self, event_hashes: Iterable[bytes]) -> None:
        nodes: list[Node] = []
        self.frontier.extend(event_hashes, nodes)
        for start in range(0, len(nodes), _NODE_ROWS):
            await self.driver.executemany(self.driver.sql.insert_merkle_node, nodes[start : start + _NODE_ROWS])

    async def finish(self) -> None:
        await self.driver.execute(self.driver.sql.upsert_merkle_frontier, self.frontier.size, self.frontier.packed())


async def clear(driver: Recorder) -> Extender:
    """Empty the Merkle tables; the extender returned writes them again from the first event."""
    await driver.pipeline([(driver.sql.clear_merkle_nodes, (), False), (driver.sql.clear_merkle_frontier, (), False)])
    return Extender(driver, Frontier())


async def merkle_findings_since(driver: Recorder, start: int, head: int) -> list[Finding]:
    """The stored Merkle state of the events after ``start`` against their hashes (``verify(since=...)``).

    The tree of the first ``start`` events is trusted with the checkpoint: its frontier is read from
    the stored subtrees (and the event hashes below ``STORED_LEVEL``). Grown from there by the hashes
    of events ``start + 1`` to ``head``, every subtree those events complete must be stored with the
    hash they give, and the frontier row must be the one at ``head``. Reads O(head - start) rows.
    Rows planted for no subtree of the log are left to the full ``verify``.
    """
    ranges = [(index << level, (index + 1) << level) for level, index in frontier_nodes(start)]
    try:
        hashes: list[bytes] = (await subtree_hashes(driver, ranges))[0] if ranges else []
    except (MerkleDriftError, ChainBrokenError) as exc:
        return [Finding(start, PROJECTION_DRIFT, f"{exc} (before the trusted position {start})")]
    frontier = Frontier(start, hashes)
    found: list[Finding] = []
    position = start
    while position < head:
        rows = await driver.fetch(driver.sql.event_hashes_between, position, min(position + _PAGE, head))
        if not rows:
            break
        nodes: list[Node] = []
        frontier.extend((driver.read_bytes(r[1]) for r in rows), nodes)
        position = int(rows[-1][0])
        for chunk in range(0, len(nodes), _NODE_ROWS):
            batch = nodes[chunk : chunk + _NODE_ROWS]
            levels, idxs = [n[0] for n in batch], [n[1] for n in batch]
            bound = (json.dumps(levels), json.dumps(idxs)) if driver.name == "sqlite" else (levels, idxs)
            stored = {
                (int(r[0]), int(r[1])): driver.read_bytes(r[2])
                for r in await driver.fetch(driver.sql.merkle_nodes_in, *bound)
            }
            for level, idx, digest in batch:
                row = stored.get((level, idx))
                if row != digest:
                    first, last = (idx << level) + 1, (idx + 1) << level
                    what = "has no row" if row is None else "holds another hash than the events give"
                    return [
                        Finding(
                            last,
                            PROJECTION_DRIFT,
                            f"ledger_merkle_nodes {what} for the subtree of events {first} to {last} (level {level}, "
                            f"index {idx}), completed after the trusted position {start}: rebuild recomputes the "
                            "Merkle tree from the log",
                        )
                    ]
    rows = await driver.fetch(driver.sql.merkle_frontier_rows)
    if not rows:
        found.append(
            Finding(
                None, PROJECTION_DRIFT, f"ledger_merkle_frontier has no row, but the log holds {frontier.size} events"
            )
        )
    for row_id, size, roots in rows:
        if row_id != 1 or size != frontier.size or driver.read_bytes(roots) != frontier.packed():
            found.append(
                Finding(
                    None,
                    PROJECTION_DRIFT,
                    f"ledger_merkle_frontier row {row_id!r} (size {size!r}) is not the frontier of the log's "
                    f"{frontier.size} events grown from the trusted position {start} by their hashes: rebuild "
                    "recomputes it",
                )
            )
            break
    return found


async def merkle_findings(driver: Recorder, head: int) -> list[Finding]:
    """The stored Merkle state against the tree recomputed from every event hash (the first difference of each kind)."""
    stored: dict[tuple[int, int], Any] = {
        (int(r[0]), int(r[1])): r[2] for r in await driver.fetch(driver.sql.merkle_node_rows)
    }
    found: list[Finding] = []
    frontier = Frontier()
    position = 0
    while True:
        rows = await driver.fetch(driver.sql.event_hashes_between, position, position + _PAGE)
        if not rows:
            break
        nodes: list[Node] = []
        frontier.extend((driver.read_bytes(r[1]) for r in rows), nodes)
        for level, idx, digest in nodes:
            row = stored.pop((level, idx), None)
            if not found and (row is None or driver.read_bytes(row) != digest):
                first, last = (idx << level) + 1, (idx + 1) << level
                what = "has no row" if row is None else "holds another hash than the events give"
                found.append(
                    Finding(
                        last,
                        PROJECTION_DRIFT,
                        f"ledger_merkle_nodes {what} for the subtree of events {first} to {last} (level {level}, "
                        f"index {idx}): rebuild recomputes the Merkle tree from the log",
                    )
                )
        position = int(rows[-1][0])
    if stored and not found:
        level, idx = min(stored)
        found.append(
            Finding(
                None,
                PROJECTION_DRIFT,
                f"ledger_merkle_nodes holds {len(stored)} row(s) for no subtree of the log's {head} events "
                f"(the first: level {level}, index {idx}): rebuild recomputes the Merkle tree from the log",
            )
        )
    rows = await driver.fetch(driver.sql.merkle_frontier_rows)
    expected = frontier.packed()
    if not rows:
        if frontier.size:
            found.append(
                Finding(
                    None,
                    PROJECTION_DRIFT,
                    f"ledger_merkle_frontier has no row, but the log holds {frontier.size} events",
                )
            )
    else:
        for row_id, size, roots in rows:
            if row_id != 1 or size != frontier.size or driver.read_bytes(roots) != expected:
                found.append(
                    Finding(
                        None,
                        PROJECTION_DRIFT,
                        f"ledger_merkle_frontier row {row_id!r} (size {size!r}) is not the frontier of the log's "
                        f"{frontier.size} events recomputed from their hashes: rebuild recomputes it",
                    )
                )
                break
    return found
