"""``patch``: an RFC 7396 merge patch of an artifact's data, on the ordinary save path.

The patch is applied to the row the write batch loads under the write lock (checked against
the log like every row a write decides from), so no writer can slip in between the read and
the write; the result goes through the same preparation and the same ``decide_save`` as a
``save``, so the same rules hold and a patch that changes nothing appends nothing. The content
stays as it is (by reference: its blob is neither read nor written) unless the patch sets
``content`` or changes ``content_type``: the declared type decides the content's codec and media
type, so then the stored content is read back and saved again under the new type, exactly as a
``save`` of the whole artifact would (a type that contradicts the content is refused the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ulid import ULID

from . import codec, queries
from .ambient import current as current_attribution
from .commands import Commands, version_argument
from .errors import (
    ArtifactDeletedError,
    ArtifactNotFoundError,
    DataNotSerializableError,
    InvalidArgumentError,
    InvalidArtifactDataError,
    RedactedError,
)
from .events import REDACTED_CODEC, ContentRef
from .ids import parse_id
from .projections.rows import ArtifactRow
from .schemas import ArtifactIn, ArtifactOut
from .unavailable import UnavailableContent
from .writer import WriteBatch

__all__ = ["merge_patch", "patch"]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target`` (neither is changed; the result shares no containers
    with ``patch``). A dict merges key by key, None removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return codec.loads(codec.dumps(patch, numpy=True)) if isinstance(patch, list) else patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _checked_patch(data: Any, artifact_id: str) -> tuple[dict[str, Any], bool, Any]:
    """The patch without ``content``, whether it sets ``content``, and the content it sets."""
    if not isinstance(data, dict):
        raise InvalidArgumentError(
            f"patch of {artifact_id}: data must be a dict (an RFC 7396 merge patch), not {type(data).__name__}"
        )
    rest = {k: v for k, v in data.items() if k != "content"}
    try:
        codec.dumps(rest, numpy=True)
    except codec.NotJSONError as exc:
        raise DataNotSerializableError(
            f"patch of {artifact_id}: data{exc.path} is {exc.shown}, which is not JSON"
        ) from None
    content = data.get("content")
    if isinstance(content, UnavailableContent):  # a listing's placeholder: saved, it would be pickled as the content
        raise InvalidArtifactDataError(
            f"patch of {artifact_id}: content is the placeholder a listing gives for content that is gone "
            f"({content.reason}: {content.message}), not content; leave content out to keep the artifact's "
            "as it is, or set new content"
        )
    return rest, "content" in data, content


def _declared_type(data: Any) -> Any:
    """The ``content_type`` a save reads from ``data`` (None when data is not a dict or names none)."""
    return data.get("content_type") if isinstance(data, dict) else None


async def _stored_content(commands: Commands, batch: WriteBatch, ref: ContentRef) -> Any:
    """The content behind ``ref`` as the object it was saved as (its bytes checked against their hash)."""
    await batch.flush()  # the blob may have been written earlier in this transaction
    raw = await queries.load_blobs(batch.driver, [ref.hash])
    return commands.repo.decode(ref.codec, raw[ref.hash], ref.hash)


async def _patched_data(
    commands: Commands, batch: WriteBatch, row: ArtifactRow, rest: dict[str, Any], sets_content: bool, content: Any
) -> tuple[dict[str, Any], bool]:
    """The data the patch leaves (with the content to encode, if any), and whether the stored
    content is kept by reference instead (the patch neither sets it nor changes its declared type)."""
    base = codec.loads(codec.dumps_trusted(row.data))  # the batch's row is never changed in place
    merged: dict[str, Any] = merge_patch(base, rest)
    if sets_content:
        if content is not None:
            merged["content"] = content
        return merged, False
    if row.content is None or _declared_type(merged) == _declared_type(base):
        return merged, True
    if row.content.codec == REDACTED_CODEC:  # its bytes are gone: nothing to store again under the new type
        raise RedactedError(
            f"the content of artifact {row.id} version {row.version} was redacted, so it cannot be stored again "
            f"under content_type {_declared_type(merged)!r:.80}; set content in the same patch, or leave "
            "content_type as it is",
            artifact_id=row.id,
            version=row.version,
        )
    # The declared type decides the codec and the media type: encode the content again, like a save.
    merged["content"] = await _stored_content(commands, batch, row.content)
    return merged, False


async def patch(
    commands: Commands,
    id: ULID | str,
    data: Any,
    *,
    tags: Sequence[str] | None,
    expected_version: int | None,
    actor: str | None,
    reason: str | None,
) -> ArtifactOut:
    aid = str(parse_id(id))
    rest, sets_content, content = _checked_patch(data, aid)
    expected_version = version_argument(expected_version, "expected_version")
    if tags is not None and (isinstance(tags, str | bytes) or not isinstance(tags, Sequence)):
        raise InvalidArgumentError(f"patch of {aid}: tags must be a list of strings, not {type(tags).__name__}")
    for i, tag in enumerate(tags or ()):
        if type(tag) is not str:
            raise InvalidArgumentError(
                f"patch of {aid}: tags[{i}] is {type(tag).__name__} {tag!r:.40}; tags are strings"
            )
    who = current_attribution(actor=actor, reason=reason)

    async def action(batch: WriteBatch) -> ArtifactOut:
        await batch.prefetch([aid], streams=[aid])
        row = await batch.projector.get(aid)
        if row is None:
            if aid in batch.versions:
                raise ArtifactDeletedError(
                    f"artifact {aid} was deleted; restore it before patching it", artifact_id=aid
                )
            raise ArtifactNotFoundError(f"artifact {aid} not found", artifact_id=aid)
        merged, by_reference = await _patched_data(commands, batch, row, rest, sets_content, content)
        fields: dict[str, Any] = {"id": ULID.from_str(aid), "data": merged}
        if tags is not None:
            fields["tags"] = list(tags)
        cmd, encoded, _, _ = commands._prepare(ArtifactIn(**fields), expected_version)
        if by_reference:
            cmd = replace(cmd, content=row.content)  # kept by reference: same hash, no blob read
        await batch.save(cmd, who, encoded, fresh_id=False)
        return await commands._written(batch, aid, names_content="patch")

    return await commands._write(action, group=True)
