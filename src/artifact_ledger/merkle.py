"""The Merkle tree over the log: RFC 9162 hashing, the frontier, and audit paths.

The tree's leaves are the events in log order (position ``p`` is leaf ``p - 1``):

- leaf ``SHA-256(0x00 ‖ event hash)``, node ``SHA-256(0x01 ‖ left ‖ right)``;
- the tree of ``n`` leaves splits at ``k``, the largest power of two below ``n``; the
  tree of no leaves has the root ``SHA-256("")``.

The **frontier** of a tree of ``size`` leaves is the roots of its complete right-edge
subtrees, one per bit set in ``size`` (largest first): enough to append a leaf and to
compute the root, in O(log n). Appending completes aligned subtrees (``2**level`` leaves
starting at ``index * 2**level``); those of ``STORED_LEVEL`` or more leaves are kept in
``ledger_merkle_nodes`` for proofs, smaller ones are recomputed from the event hashes.

Proofs are the audit paths of RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency): this
module says which subtrees a proof is made of (:func:`inclusion_ranges`,
:func:`consistency_ranges`) and checks proofs (:func:`verify_inclusion`,
:func:`verify_consistency`). ``verify_bundle.py`` restates the same rules with the standard
library only; ``tests/vectors/merkle.json`` pins both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

HASH_SIZE: Final = 32
STORED_LEVEL: Final = 4
"""Complete subtrees of ``2**STORED_LEVEL`` leaves and more are stored; smaller ones are hashed from events."""
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(event_hash: bytes) -> bytes:
    """The leaf of one event: ``SHA-256(0x00 ‖ event hash)``."""
    return hashlib.sha256(b"\x00" + event_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree over ``leaves`` (leaf hashes), from scratch: the definition, for tests and checks."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


Node = tuple[int, int, bytes]
"""A complete aligned subtree: (level, index, hash), covering leaves ``index * 2**level`` up to the next."""


@dataclass(slots=True)
class Frontier:
    """The roots of the complete right-edge subtrees of a tree of ``size`` leaves (largest first)."""

    size: int = 0
    roots: list[bytes] = field(default_factory=list)

    @classmethod
    def from_stored(cls, size: int, packed: bytes) -> Frontier:
        """The frontier from its stored form; :class:`ValueError` when the bytes do not fit the size."""
        if size < 0 or len(packed) != HASH_SIZE * size.bit_count():
            raise ValueError(
                f"a frontier of {size} leaves holds {size.bit_count() if size >= 0 else '?'} hashes, "
                f"not {len(packed)} bytes"
            )
        return cls(size, [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)])

    def packed(self) -> bytes:
        """The stored form: the roots' bytes, largest subtree first."""
        return b"".join(self.roots)

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.roots))

    def append(self, event_hash: bytes, nodes: list[Node] | None = None) -> None:
        """Add the leaf of ``event_hash``; completed subtrees of ``STORED_LEVEL`` or more go to ``nodes``."""
        digest = leaf_hash(event_hash)
        roots = self.roots
        size = self.size
        level = 0
        while size & 1:  # each trailing one bit is a complete subtree of that level the new leaf completes
            digest = node_hash(roots.pop(), digest)
            size >>= 1
            level += 1
            if nodes is not None and level >= STORED_LEVEL:
                nodes.append((level, self.size >> level, digest))
        roots.append(digest)
        self.size += 1

    def extend(self, event_hashes: Iterable[bytes], nodes: list[Node] | None = None) -> None:
        for digest in event_hashes:
            self.append(digest, nodes)

    def root(self) -> bytes:
        """The tree's root: the frontier folded from the right."""
        if not self.roots:
            return EMPTY_ROOT
        digest = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            digest = node_hash(left, digest)
        return digest


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """The (level, index) of each frontier root of a tree of ``size`` leaves, largest first."""
    out: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


# ---- which subtrees a proof is made of ---------------------------------------------------------

Range = tuple[int, int]
"""Leaves ``[start, end)``: the subtree of the tree they belong to (RFC 9162's ``MTH(D[start:end])``)."""


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees of the inclusion proof of leaf ``index`` in the tree of ``size`` leaves, leaf end first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    out: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index - start < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The subtrees of the consistency proof from ``old_size`` to ``new_size`` leaves (RFC 9162 §2.1.4.1)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        return []
    out: list[Range] = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = split(end - start)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        out.append((start, end))
    out.reverse()
    return out


def range_hash(start: int, end: int, nodes: dict[tuple[int, int], bytes], leaves: dict[int, bytes]) -> bytes:
    """The root of the subtree over leaves ``[start, end)``, from stored ``nodes`` and leaf hashes."""
    width = end - start
    if width == 1:
        return leaves[start]
    level = width.bit_length() - 1
    if width == 1 << level and start % width == 0 and level >= STORED_LEVEL:
        return nodes[(level, start >> level)]
    k = split(width)
    return node_hash(range_hash(start, start + k, nodes, leaves), range_hash(start + k, end, nodes, leaves))


def needed(ranges: Iterable[Range]) -> tuple[set[tuple[int, int]], set[int]]:
    """The stored nodes and the leaves :func:`range_hash` reads for ``ranges``."""
    nodes: set[tuple[int, int]] = set()
    leaves: set[int] = set()
    todo = list(ranges)
    while todo:
        start, end = todo.pop()
        width = end - start
        if width == 1:
            leaves.add(start)
            continue
        level = width.bit_length() - 1
        if width == 1 << level and start % width == 0 and level >= STORED_LEVEL:
            nodes.add((level, start >> level))
            continue
        k = split(width)
        todo += ((start, start + k), (start + k, end))
    return nodes, leaves


def runs(indexes: Iterable[int]) -> list[Range]:
    """Sorted ``indexes`` as contiguous runs ``[start, end)``."""
    out: list[Range] = []
    for i in sorted(indexes):
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


# ---- checking proofs (RFC 9162 §2.1.3.2 and §2.1.4.2) -------------------------------------------


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """Whether ``path`` proves the leaf hash ``leaf`` is leaf ``index`` of the tree of ``size`` with ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> bool:
    """Whether ``path`` proves the tree of ``old_size`` with ``old_root`` is a prefix of the one of ``new_size``."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT
    if not path:
        return False
    items = list(path)
    if old_size & (old_size - 1) == 0:
        items.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = items[0]
    for c in items[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
