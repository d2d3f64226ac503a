"""The input of the write commands, checked and prepared before any transaction begins.

Arguments (versions, flags), tags, the content of a save read from a stream, and a save's
whole input turned into a :class:`~artifact_ledger.decide.SaveArtifact` (:func:`prepare`):
all of it refuses bad input with a specific error naming the artifact, before anything is
written. :class:`~artifact_ledger.commands.Commands` runs what this prepares.
"""

from __future__ import annotations

import os
from typing import Any

from ulid import ULID

from . import codec
from .content import EncodedContent, encode_content
from .content.streams import ChunkSource, ChunkStager, PreparedStream, is_stream_source, prepare_stream
from .decide import SaveArtifact
from .errors import DataNotSerializableError, InvalidArgumentError, InvalidArtifactDataError
from .events import ContentRef
from .ids import parse_id, ulid_str
from .repository import ArtifactRepository
from .schemas import ArtifactIn, check_typed_data
from .unavailable import UnavailableContent

__all__ = [
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "MAX_TYPE_LENGTH",
    "MAX_VERSION",
    "NO_CONTENT",
    "Prepared",
    "flag_argument",
    "prepare",
    "read_streams",
    "save_input",
    "version_argument",
]

MAX_TAGS = 64
MAX_TAG_LENGTH = 255

_UPDATABLE = frozenset(("parent_id", "tags", "data"))
MAX_VERSION = 2**31 - 1
"""Versions are stored as 32-bit integers."""


def version_argument(value: Any, name: str, *, minimum: int = 0) -> Any:
    """``value`` if it is None or a version number (an ``int``, not a bool, in range); else a clear error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int version number, not {type(value).__name__} {value!r}")
    if not minimum <= value <= MAX_VERSION:
        raise InvalidArgumentError(f"{name} must be between {minimum} and {MAX_VERSION} (got {value})")
    return value


MAX_TYPE_LENGTH = 255
"""Longest ``data["type"]`` (its projection column is VARCHAR(255))."""


def _as_ulid(value: Any, what: str) -> ULID:
    return value if isinstance(value, ULID) else parse_id(value, what=what)


def _checked_tags(value: Any, artifact_id: str) -> tuple[str, ...]:
    """The tags as a tuple, if the ledger can store them; else InvalidArtifactDataError naming the tag."""
    if not isinstance(value, list | tuple):
        raise InvalidArtifactDataError(
            f"artifact {artifact_id}: tags must be a list of strings, not {type(value).__name__} {value!r:.60}"
        )
    tags = tuple(value)
    if len(tags) > MAX_TAGS:
        raise InvalidArtifactDataError(f"artifact {artifact_id}: {len(tags)} tags; the most is {MAX_TAGS}")
    for index, tag in enumerate(tags):
        problem = None
        if type(tag) is not str:
            problem = f"is a {type(tag).__name__}, not a string"
        elif len(tag) > MAX_TAG_LENGTH:
            problem = f"is {len(tag)} characters long; the most is {MAX_TAG_LENGTH}"
        elif "\x00" in tag:
            problem = "holds a NUL character, which the ledger does not store (PostgreSQL text cannot hold it)"
        elif not tag.isascii() and codec.lone_surrogate(tag) is not None:
            problem = "holds a lone surrogate, which has no UTF-8 encoding"
        if problem is not None:
            raise InvalidArtifactDataError(f"artifact {artifact_id}: tag {index} ({tag!r:.60}) {problem}")
    return tags


def save_input(value: Any, what: str) -> ArtifactIn:
    if not isinstance(value, ArtifactIn):
        raise InvalidArgumentError(
            f"{what} must be an ArtifactIn, not {type(value).__name__} {value!r:.80} (build one: ArtifactIn(data=...))"
        )
    return value


def flag_argument(value: Any, name: str) -> bool:
    """``value`` if it is a bool; anything else (``"no"`` is truthy) is refused."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, not {type(value).__name__} {value!r:.80}")
    return value


async def read_streams(
    items: list[ArtifactIn], *, stager: ChunkStager | None = None
) -> tuple[list[ArtifactIn], list[ChunkSource]]:
    """Read once (and hash) the content of ``items`` given as a path, file object or async iterator.

    Runs before the write transaction: a stream that fails part-way has written nothing (a
    ``stager``, the blob directory the content goes to, may hold temporary files of its chunks
    then, removed when the sources are closed). The items come back with that content replaced
    by the :class:`PreparedStream` encoding takes.
    """
    sources: list[ChunkSource] = []
    out: list[ArtifactIn] = []
    readers: dict[int, int] = {}  # id of a file object or iterator -> the item that gives it
    try:
        for index, item in enumerate(items):
            data = item.data
            if isinstance(data, dict) and is_stream_source(data.get("content")):
                given = data["content"]
                if not isinstance(given, str | os.PathLike):  # a path is opened anew; a reader is read once
                    first = readers.setdefault(id(given), index)
                    if first != index:
                        raise InvalidArtifactDataError(
                            f"items {first} and {index} give the same {type(given).__name__} as content: it is read "
                            "once, so the second would be saved empty; give each item a reader of its own, or a path"
                        )
                stream = await prepare_stream(given, stager=stager)
                sources.append(stream.source)
                item = item.model_copy(update={"data": {**data, "content": stream}})
            out.append(item)
    except BaseException:
        for source in sources:
            source.close()
        raise
    return out, sources


NO_CONTENT = object()
"""The reply's data gets no ``content`` key (the save had none, or the row has none)."""

Prepared = tuple[SaveArtifact, EncodedContent | None, Any, bool]
"""A save ready to run: the command, its encoded content, the content as given, and whether the id is new."""


def prepare(
    repo: ArtifactRepository, ulids: dict[str, ULID], item: ArtifactIn, expected_version: int | None
) -> Prepared:
    """A save ready to run: ids parsed (their ULIDs kept in ``ulids`` for the reply), typed data
    checked, content encoded, metadata copied as JSON, tags checked."""
    fresh = item.id is None
    # An ArtifactIn built with model_construct, or whose id was assigned after validation, may hold text.
    ulid = repo.new_id() if item.id is None else _as_ulid(item.id, "artifact id")
    artifact_id = ulid_str(ulid)
    ulids[artifact_id] = ulid
    parent_id = None
    if item.parent_id is not None:
        parent = _as_ulid(item.parent_id, "parent id")
        parent_id = ulid_str(parent)
        ulids[parent_id] = parent
    data = item.data
    check_typed_data(data, artifact_id)
    content: Any = NO_CONTENT
    encoded: EncodedContent | None = None
    rest = data
    if isinstance(data, dict) and data.get("content") is not None:
        content = data["content"]
        if isinstance(content, UnavailableContent):  # a listing's placeholder: saved, it would be pickled
            raise InvalidArtifactDataError(
                f"artifact {artifact_id}: content is the placeholder a listing gives for content that is gone "
                f"({content.reason}: {content.message}), not content; patch the artifact without content to "
                "keep its content as it is, or save new content"
            )
        rest = {k: v for k, v in data.items() if k != "content"}
        if isinstance(content, PreparedStream):  # the reply shows what reads will return
            content = content.content
        declared = data.get("content_type") if isinstance(data.get("content_type"), str) else None
        try:
            encoded = encode_content(data["content"], declared, repo.keyring)
        except InvalidArtifactDataError as exc:
            raise type(exc)(f"artifact {artifact_id}: {exc}") from None
    try:
        # The command keeps its own copy: inside a transaction the batch compares later
        # saves with it, so a caller changing its dict (or a reply) afterwards must not reach it.
        rest = codec.loads(codec.dumps_stored(rest))
    except (codec.TooDeepError, codec.UnstorableError) as exc:
        raise InvalidArtifactDataError(f"artifact {artifact_id}: data{exc.path} {exc.problem}") from None
    except codec.NotJSONError as exc:
        raise DataNotSerializableError(
            f"artifact {artifact_id}: data{exc.path} is {exc.shown}, which is not JSON. Metadata must "
            "be plain JSON (str, int, float, bool, None, lists, dicts with str keys); put Python objects "
            "(models, arrays, DataFrames) in data['content'], and timestamps as ISO strings"
        ) from None
    kind = rest.get("type") if isinstance(rest, dict) else None
    if isinstance(kind, str) and len(kind) > MAX_TYPE_LENGTH:
        raise InvalidArtifactDataError(
            f"artifact {artifact_id}: data['type'] is {len(kind)} characters long; the most is {MAX_TYPE_LENGTH}"
        )
    tags = _checked_tags(item.tags, artifact_id)
    ref = ContentRef(encoded.hash, encoded.codec, encoded.media_type, encoded.size) if encoded else None
    # An update changes only the fields the caller set (chapkit's exclude_unset): no parent_id
    # keeps the parent, an explicit parent_id=None moves the artifact to the root.
    unset = frozenset() if fresh else frozenset(_UPDATABLE - item.model_fields_set)
    cmd = SaveArtifact(artifact_id, parent_id, rest, ref, tags, expected_version, unset)
    return cmd, encoded, content, fresh
