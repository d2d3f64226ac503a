"""The log side of the drift check, pure: what the projector would have written for a stream.

:func:`parent_links` and :func:`depths` give the parent history and levels; :func:`expected_columns`
and :func:`fast_fold` the ``ledger_artifacts`` columns (in :data:`COMPARED` order) a stream folds to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import codec
from ..decide import ArtifactState
from ..events import CREATED, CURRENT_SCHEMA_VERSION, DELETED, MOVED, RESTORED, REVERTED, UPDATED, RecordedEvent
from .rows import artifact_type, state_columns

COMPARED = (
    "parent_id",
    "version",
    "type",
    "data",
    "content_hash",
    "content_codec",
    "content_type",
    "content_size",
    "tags",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
)


Link = tuple[int, int | None, str | None]
"""One ``ledger_artifact_parent_history`` row of an artifact: (valid_from, valid_to, parent_id)."""


def depths(parents: dict[str, str | None]) -> dict[str, int | None]:
    """Each node's depth from the parent links; None where a path meets a cycle or a missing parent."""
    found: dict[str, int | None] = {}
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        broken = False
        while node is not None and node not in found:
            if node in on_path or node not in parents:
                broken = True
                break
            on_path.add(node)
            path.append(node)
            node = parents[node]
        base: int | None = None if broken else (-1 if node is None else found[node])
        for item in reversed(path):
            base = None if base is None else base + 1
            found[item] = base
    return found


def parent_links(stream: Sequence[RecordedEvent]) -> list[Link]:
    """The ``ledger_artifact_parent_history`` rows the projector writes for one stream (oldest first).

    A create or restore opens a link at its position with its ``parent_id``; a move closes
    the open link there and opens one to ``to_parent_id``; a revert does the same when its
    ``parent_id`` differs from the current parent; a delete closes the open link.
    """
    links: list[Link] = []
    current: int | None = None  # index in ``links`` of the open link

    def close(position: int) -> None:
        nonlocal current
        if current is not None:
            links[current] = (links[current][0], position, links[current][2])
            current = None

    def open_(position: int, parent_id: Any) -> None:
        nonlocal current
        close(position)
        links.append((position, None, parent_id))
        current = len(links) - 1

    for event in stream:
        kind, position, payload = event.type, event.position, event.payload
        if kind in (CREATED, RESTORED):
            open_(position, payload["parent_id"])
        elif kind == MOVED:
            open_(position, payload["to_parent_id"])
        elif kind == REVERTED:
            if current is None or links[current][2] != payload["parent_id"]:
                open_(position, payload["parent_id"])
        elif kind == DELETED:
            close(position)
    return links


def expected_columns(state: ArtifactState) -> tuple[Any, ...]:
    """The ``COMPARED`` columns of the row ``state`` projects to (timestamps as stored)."""
    return (
        state.parent_id,
        state.version,
        *state_columns(state.data, state.content, state.tags),
        state.created_at,
        state.updated_at,
        state.created_by,
        state.updated_by,
    )


def fast_fold(rows: Sequence[Sequence[Any]]) -> tuple[bool, tuple[Any, ...], list[Link]] | None:
    """``(deleted, expected columns, parent links)`` of a stream of creates and updates, straight from its rows.

    None when the stream holds anything else (or anything ``fold`` might refuse): the caller
    then folds it event by event, which gives the same state, or the error.
    """
    created = None
    payload: Any = None
    links: list[Link] = []
    for row in rows:
        kind = row[4]
        if (kind != CREATED and kind != UPDATED) or row[5] != CURRENT_SCHEMA_VERSION:
            return None
        try:
            payload = codec.loads(row[6])
        except ValueError:
            return None
        if type(payload) is not dict or "data" not in payload or "content" not in payload or "tags" not in payload:
            return None
        content, tags = payload["content"], payload["tags"]
        if type(tags) is not list or not (content is None or plain_content(content)):
            return None
        if kind == CREATED:
            if "parent_id" not in payload:
                return None
            if created is not None:  # a second create: the general fold (and its error)
                return None
            created = (row, payload["parent_id"])
            links.append((row[0], None, payload["parent_id"]))
        elif created is None:
            return None
    if created is None:
        return None
    first, parent = created
    last = rows[-1]
    data, content = payload["data"], payload["content"]
    return False, (
        parent,
        last[3],
        artifact_type(data),
        codec.dumps_trusted(data).decode(),
        *((content["hash"], content["codec"], content.get("media_type"), content["size"]) if content
          else (None, None, None, None)),
        codec.dumps_trusted(payload["tags"]).decode(),
        first[7],
        last[7],
        first[8],
        last[8],
    ), links  # fmt: skip


def plain_content(content: Any) -> bool:
    """A content reference ``ContentRef.from_json`` reads as it is."""
    return type(content) is dict and "hash" in content and "codec" in content and type(content.get("size")) is int
