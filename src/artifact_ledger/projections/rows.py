"""The ``ledger_artifacts`` row as Python sees it, and its mapping to and from bound values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import codec
from ..decide import ArtifactState
from ..errors import ProjectionDriftError
from ..events import ERASED_CONTENT, REDACTED_CODEC, ContentRef
from ..store.recorder import Recorder


def artifact_type(data: Any) -> str | None:
    """``data["type"]`` when it is a string: kept in its own column for filtering."""
    if isinstance(data, dict):
        value = data.get("type")
        if isinstance(value, str):
            return value[:255]
    return None


def state_columns(data: Any, content: ContentRef | None, tags: Sequence[str]) -> tuple[Any, ...]:
    """type, data, content columns and tags as stored: what every state event rewrites."""
    return (
        artifact_type(data),
        codec.dumps_trusted(data).decode(),
        content.hash if content and content.codec != REDACTED_CODEC else None,
        content.codec if content else None,
        content.media_type if content else None,
        content.size if content else None,
        codec.dumps_trusted(list(tags)).decode(),
    )


@dataclass(slots=True)
class ArtifactRow:
    id: str
    parent_id: str | None
    level: int
    version: int
    data: Any
    content: ContentRef | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None

    def state(self) -> ArtifactState:
        return ArtifactState(
            self.id,
            self.parent_id,
            self.version,
            self.data,
            self.content,
            self.tags,
            created_at=self.created_at,
            created_by=self.created_by,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )

    def _state_values(self) -> tuple[Any, ...]:
        return state_columns(self.data, self.content, self.tags)

    def insert_values(self, driver: Recorder) -> tuple[Any, ...]:
        """Bound values in ``insert_artifact`` column order."""
        return (
            self.id,
            self.parent_id,
            self.level,
            self.version,
            *self._state_values(),
            driver.ts(self.created_at),
            driver.ts(self.updated_at),
            self.created_by,
            self.updated_by,
        )

    def update_values(self, driver: Recorder) -> tuple[Any, ...]:
        """Bound values in ``update_artifact`` order (the id last, for its WHERE)."""
        return (self.version, *self._state_values(), driver.ts(self.updated_at), self.updated_by, self.id)


def row_from_db(driver: Recorder, r: Sequence[Any]) -> ArtifactRow:
    """Map a row selected with the artifact statements (every column, in table order)."""
    (
        id_,
        parent_id,
        level,
        version,
        _type,
        data,
        content_hash,
        content_codec,
        content_type,
        content_size,
        tags,
        created_at,
        updated_at,
        created_by,
        updated_by,
    ) = r
    try:
        content: ContentRef | None = None
        if content_hash:
            content = ContentRef(content_hash, content_codec, content_type, int(content_size))
        elif content_codec == REDACTED_CODEC:  # content a redaction erased: what the log's payload says too
            content = ERASED_CONTENT
        return ArtifactRow(
            id_,
            parent_id,
            int(level),
            int(version),
            codec.loads(data),
            content,
            tuple(codec.loads(tags)),
            driver.read_ts(created_at),
            driver.read_ts(updated_at),
            created_by,
            updated_by,
        )
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        # SQLite keeps whatever an UPDATE puts in a column (text in an integer or a time column,
        # a document that is no JSON): a row the ledger did not write, not a bare crash.
        raise ProjectionDriftError(
            f"artifact {id_} has a ledger_artifacts row that cannot be read ({type(exc).__name__}: {exc}): "
            "the projections were changed outside the ledger, which is the only record trusted. Find what "
            "changed with `artifact-ledger verify`, then rebuild them from the log with `artifact-ledger rebuild`",
            artifact_id=id_,
        ) from None
