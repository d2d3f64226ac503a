"""The content diff of two versions: choose the kind, load and decode only what it needs, compare.

A side's kind comes from its codec and media type: a ``str`` (JSON codec) or bytes of a ``text/*``
type are ``text`` (a str against text bytes too: the same text saved once as each); other JSON is
``json``; the two DataFrame codecs are ``dataframe``; bytes, numpy arrays and pickles are ``bytes``
(hash and size — a pickle is never unpickled here, so a diff needs no signing key). Blobs over
``MAX_DECODE_BYTES`` are not loaded: they are compared by hash and size, ``truncated``. Decoding
verifies each blob against its hash first.
"""

from __future__ import annotations

from typing import Any, Final

from .. import queries
from ..events import REDACTED_CODEC, ContentRef
from ..jsondiff import json_patch
from ..repository import ArtifactRepository
from ..schemas.content_diffs import BytesContentDiff, ContentDiff, JsonContentDiff, PatchOperation
from .frames import frame_diff
from .text import text_diff

MAX_DECODE_BYTES: Final = 32 * 1024 * 1024
"""Largest blob decoded for a diff; a bigger one is compared by hash and size."""
MAX_JSON_OPS: Final = 1_000
"""Operations kept in a JSON content patch."""


def _charset(media_type: str | None) -> str:
    for param in (media_type or "").split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


def side_kind(ref: ContentRef) -> str:
    """``json``, ``text``, ``dataframe`` or ``bytes`` from the codec and media type (before decoding)."""
    text_type = (ref.media_type or "").lower().startswith("text/")
    if ref.codec == "json":
        return "json"  # a str (any media type) is refined to text once decoded
    if ref.codec == "bytes":
        return "text" if text_type else "bytes"
    if ref.codec in ("dataframe", "pandas"):
        return "dataframe"
    return "bytes"


def _bytes(old: ContentRef | None, new: ContentRef | None, note: str | None, truncated: bool) -> BytesContentDiff:
    return BytesContentDiff(
        old_sha256=old.hash if old else None,
        new_sha256=new.hash if new else None,
        old_size=old.size if old else None,
        new_size=new.size if new else None,
        note=note,
        truncated=truncated,
    )


def _as_text(value: Any, ref: ContentRef) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode(_charset(ref.media_type))
        except (LookupError, UnicodeDecodeError):
            return None
    return None


def compare(old: ContentRef | None, new: ContentRef | None, old_value: Any, new_value: Any, kind: str) -> ContentDiff:
    """The diff of two decoded sides of one kind (pure; a side is None when it has no content)."""
    if kind == "dataframe":
        return frame_diff(old_value, new_value)
    if kind == "text":
        a = _as_text(old_value, old) if old else ""
        b = _as_text(new_value, new) if new else ""
        if a is None or b is None:
            return _bytes(old, new, "text content that is not valid in its charset: compared by hash and size", False)
        result = text_diff(a if old else None, b if new else None)
        if old and new and not result.hunks and not result.note:  # the hashes differ: say where
            sides = ["str" if isinstance(v, str) else ref.media_type for v, ref in ((old_value, old), (new_value, new))]
            result.note = f"the same text, stored otherwise ({sides[0]} -> {sides[1]})"
        return result
    if old is None:
        ops = [{"op": "add", "path": "", "value": new_value}]
    elif new is None:
        ops = [{"op": "remove", "path": "", "old": old_value}]
    else:
        ops = json_patch(old_value, new_value)
    result_json = JsonContentDiff(ops=[PatchOperation(**op) for op in ops[:MAX_JSON_OPS]])
    if len(ops) > MAX_JSON_OPS:
        result_json.truncated = True
        result_json.note = f"bounded: the first {MAX_JSON_OPS:,} of {len(ops):,} operations kept"
    return result_json


async def content_diff(repo: ArtifactRepository, old: ContentRef | None, new: ContentRef | None) -> ContentDiff | None:
    """What changed inside the content between two versions, or None when it did not change."""
    erased = [ref is not None and ref.codec == REDACTED_CODEC for ref in (old, new)]
    if not all(erased) and (old == new or (old is not None and new is not None and old.hash == new.hash)):
        return None
    if any(erased):  # a redaction erased one side: nothing of it can be compared, or shown
        sides = " and ".join(name for name, gone in zip(("the old", "the new"), erased, strict=True) if gone)
        return _bytes(
            None if erased[0] else old, None if erased[1] else new, f"{sides} content was redacted: not compared", False
        )
    kinds = {side_kind(ref) for ref in (old, new) if ref is not None}
    described = " to ".join(side_kind(ref) if ref else "none" for ref in (old, new))
    changed_kind = f"the content changed kind ({described}): compared by hash and size"
    mixed = kinds == {"json", "text"}  # a str (the JSON codec, whatever its media type) and text bytes
    if len(kinds) > 1 and not mixed:
        return _bytes(old, new, changed_kind, False)
    kind = "json" if mixed else kinds.pop()
    if kind == "bytes":
        codecs = {ref.codec for ref in (old, new) if ref is not None}
        note = None if codecs == {"bytes"} else f"{'/'.join(sorted(codecs))} content is compared by hash and size"
        return _bytes(old, new, note, False)
    refs = {ref.hash: ref for ref in (old, new) if ref is not None}
    if any(ref.size > MAX_DECODE_BYTES for ref in refs.values()):
        note = f"content over {MAX_DECODE_BYTES:,} bytes is compared by hash and size"
        return _bytes(old, new, note, True)
    async with repo.reading() as rec:
        raw = await queries.load_blobs(rec, refs)
    # the DataFrame codecs are canonical JSON: read as JSON (hash-checked), no pandas needed
    values = {h: repo.decode("json" if kind == "dataframe" else ref.codec, raw[h], h) for h, ref in refs.items()}
    old_value = values[old.hash] if old else None
    new_value = values[new.hash] if new else None
    if mixed:  # text only if the JSON side is a str
        json_value = old_value if old is not None and side_kind(old) == "json" else new_value
        if not isinstance(json_value, str):
            return _bytes(old, new, changed_kind, False)
        kind = "text"
    if kind == "json" and all(isinstance(v, str) for v in (old_value, new_value) if v is not None):
        kind = "text"  # str content: the document-history use
    return compare(old, new, old_value, new_value, kind)
