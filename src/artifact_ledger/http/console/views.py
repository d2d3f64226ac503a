"""What the pages show, computed from the library's models: names, times, content previews.

Nothing here renders HTML: the templates do, with autoescaping on, so every value that comes
from artifact data is text in the page, never markup.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel

from ...dataframe import DataFrame
from ...schemas import ArtifactOut, strip_content

PREVIEW_ROWS: Final = 20
PREVIEW_CHARS: Final = 100_000
NAME_KEYS: Final = ("name", "title", "label")
NAME_CHARS: Final = 80

PreviewKind = Literal["none", "json", "text", "table", "bytes", "object"]


@dataclass(slots=True)
class Preview:
    """The content of an artifact as the page shows it."""

    kind: PreviewKind
    text: str = ""
    truncated: bool = False
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int = 0
    size: int | None = None
    sha256: str | None = None
    media_type: str | None = None

    @property
    def downloadable(self) -> bool:
        return self.kind not in ("none", "object")


def pretty_json(value: Any) -> str:
    """Indented JSON for reading (values JSON cannot carry are shown by their ``str``)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def _cut(text: str) -> tuple[str, bool]:
    return (text[:PREVIEW_CHARS], True) if len(text) > PREVIEW_CHARS else (text, False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def preview(data: Any) -> Preview:
    """The preview of ``data["content"]`` (data read with its content)."""
    if not isinstance(data, dict) or data.get("content") is None:
        return Preview("none")
    content = data["content"]
    declared = data.get("content_type")
    media = declared if isinstance(declared, str) else None
    if isinstance(content, bytes | bytearray):
        raw = bytes(content)
        return Preview("bytes", size=len(raw), sha256=hashlib.sha256(raw).hexdigest(), media_type=media)
    if isinstance(content, DataFrame):
        rows = [[_cell(v) for v in row] for row in content.data[:PREVIEW_ROWS]]
        return Preview(
            "table", columns=list(content.columns), rows=rows, total_rows=len(content.data), media_type=media
        )
    if isinstance(content, str):
        text, cut = _cut(content)
        return Preview("text", text=text, truncated=cut, size=len(content.encode("utf-8")), media_type=media)
    if content is None or isinstance(content, int | float | bool | list | dict):
        text, cut = _cut(pretty_json(content))
        return Preview("json", text=text, truncated=cut, media_type=media)
    shown = f"{type(content).__module__}.{type(content).__qualname__}: {repr(content)[:2000]}"
    return Preview("object", text=shown, media_type=media)


def data_without_content(data: Any) -> str:
    """The artifact's data as indented JSON, ``content`` left out (the preview shows it)."""
    return pretty_json(strip_content(data))


def display_name(out: ArtifactOut) -> str:
    """A short name for a tree row: ``data.name``/``title``/``label`` (or under ``metadata``), else empty."""
    data = out.data if isinstance(out.data, dict) else {}
    for holder in (data, data.get("metadata")):
        if isinstance(holder, dict):
            for key in NAME_KEYS:
                value = holder.get(key)
                if isinstance(value, str) and value.strip():
                    text = value.strip()
                    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"
    return ""


def show_time(value: datetime | None) -> str:
    """``2026-01-05 10:00:00.123 UTC``: milliseconds, always UTC."""
    if value is None:
        return ""
    utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d} UTC"


def input_time(value: datetime | None) -> str:
    """The value of a ``datetime-local`` input (UTC, milliseconds): ``2026-01-05T10:00:00.123``."""
    if value is None:
        return ""
    utc = value.astimezone(UTC) if value.tzinfo is not None else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


def iso_time(value: datetime | None) -> str:
    """The machine-readable instant of a ``<time datetime=…>``."""
    return "" if value is None else value.isoformat()


def path_segment(value: Any) -> str:
    """``value`` as one percent-encoded path segment (the ``segment`` filter of the templates).

    Jinja's ``urlencode`` keeps ``/``: an alias named ``team/../../verify`` linked with it would
    take the browser, once it resolved the dot segments, to ``/verify`` instead of the alias."""
    return urllib.parse.quote(str(value), safe="")
