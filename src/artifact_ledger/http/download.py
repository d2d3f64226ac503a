"""``$download``: an artifact's ``data["content"]`` as a file, chapkit's way.

Bytes go out as they are, under the artifact's ``content_type``; a DataFrame as CSV when the
content type says ``text/csv`` and as its JSON table otherwise; JSON values as JSON. Other Python
objects (a pickled model, an array) have no portable file form here: 406, with the remedy. Content
saved as a stream is sent as a stream by the route (:func:`described` names its type and file).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Final

from ..content.streams import StreamedContent
from ..dataframe import DataFrame
from .problems import Problem
from .responses import json_bytes

CSV: Final = "text/csv"
JSON: Final = "application/json"
MEDIA_TYPE: Final = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+-]+)*", re.ASCII)
"""A content type safe to send as a header; anything else goes out as application/octet-stream."""
EXTENSIONS: Final = {
    "application/zip": "zip",
    CSV: "csv",
    JSON: "json",
    "application/vnd.chapkit.dataframe+json": "json",
    "image/png": "png",
    "text/plain": "txt",
    "application/pdf": "pdf",
}


def _csv(frame: DataFrame) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(frame.columns)
    writer.writerows(frame.data)
    return out.getvalue().encode("utf-8")


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)


def described(artifact_id: str, data: dict[str, Any]) -> tuple[str, str]:
    """``(media type, file name)`` of content saved as a stream (sent as it is, a chunk at a time)."""
    declared = data.get("content_type")
    media = declared if isinstance(declared, str) and MEDIA_TYPE.fullmatch(declared) else "application/octet-stream"
    base = media.split(";", 1)[0].strip().lower()
    return media, f"artifact_{artifact_id}.{EXTENSIONS.get(base, 'bin')}"


def render(artifact_id: str, data: Any) -> tuple[bytes, str, str]:
    """``(body, media type, file name)`` of the artifact's content; a :class:`Problem` when there is none."""
    if not isinstance(data, dict):
        raise Problem(
            404, f"artifact {artifact_id} has no downloadable content (its data is not an object)", kind="no-content"
        )
    if "content" not in data or data["content"] is None:
        raise Problem(404, f"artifact {artifact_id} has no content", kind="no-content")
    content = data["content"]
    declared = data.get("content_type")
    media = declared if isinstance(declared, str) and MEDIA_TYPE.fullmatch(declared) else None
    if isinstance(content, bytes | bytearray):
        body, media = bytes(content), media or "application/octet-stream"
    elif isinstance(content, DataFrame):
        if media == CSV:
            body = _csv(content)
        else:
            body, media = json_bytes(content.model_dump(mode="json")), media or JSON
    elif _is_json(content):
        body, media = json_bytes(content), JSON if media in (None, CSV) else media
    elif isinstance(content, StreamedContent):
        raise Problem(
            406,
            f"artifact {artifact_id} holds content saved as a stream ({content.size:,} bytes, sha256 "
            f"{content.sha256}), which the console does not send: download its current version from the API "
            f"(GET /api/v1/artifacts/{artifact_id}/$download), or read any version from Python with "
            "ArtifactManager.open_content",
            kind="not-downloadable",
        )
    else:
        raise Problem(
            406,
            f"artifact {artifact_id} holds a {type(content).__module__}.{type(content).__qualname__}, which has no "
            "file form over HTTP; read it from Python with ArtifactManager.find_by_id",
            kind="not-downloadable",
        )
    base = media.split(";", 1)[0].strip().lower()
    return body, media, f"artifact_{artifact_id}.{EXTENSIONS.get(base, 'bin')}"
