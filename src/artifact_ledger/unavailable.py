"""``UnavailableContent``: what a listing shows in place of content a redaction erased or retention expired.

A read of one version's content that is gone fails (:class:`RedactedError`,
:class:`ContentExpiredError`): the caller asked for those bytes. A listing asks for many
artifacts at once, and one erased or expired item must not make the others unreadable, so
``find_all``, ``iter_all``, ``find_paginated``, ``find_all_by_id``, ``find``, ``find_subtree``,
``build_tree`` and ``history`` put an :class:`UnavailableContent` in that item's
``data["content"]`` instead: never stale bytes, and the error a read of it would raise at hand
(:meth:`UnavailableContent.error`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ContentExpiredError, ContentNotFoundError, RedactedError

__all__ = ["UnavailableContent", "expired", "redacted"]


@dataclass(frozen=True, slots=True)
class UnavailableContent:
    """Content a listing cannot return: ``reason`` is ``"redacted"`` (a redaction erased its bytes
    and its reference) or ``"expired"`` (a retention run deleted its bytes; ``position`` is that
    ``retention.applied`` event's). ``message`` says the same in words."""

    artifact_id: str
    version: int
    reason: Literal["redacted", "expired"]
    message: str
    position: int | None = None

    def error(self) -> ContentNotFoundError:
        """The error a read of this version's content raises (:class:`RedactedError` or
        :class:`ContentExpiredError`): ``raise item.data["content"].error()``."""
        if self.reason == "redacted":
            return RedactedError(self.message, artifact_id=self.artifact_id, version=self.version)
        return ContentExpiredError(
            self.message, artifact_id=self.artifact_id, version=self.version, position=self.position
        )

    def __str__(self) -> str:
        return self.message


def redacted(artifact_id: str, version: int) -> UnavailableContent:
    return UnavailableContent(
        artifact_id,
        version,
        "redacted",
        f"the content of artifact {artifact_id} version {version} was redacted: its bytes and its reference are "
        "erased for good; the artifact.redacted event in its audit trail says who erased it and why",
    )


def expired(artifact_id: str, version: int, digest: str, position: int, *, others: int = 0) -> UnavailableContent:
    """``others``: how many other versions had the same content expired (named in the message)."""
    also = f" (and {others} other version(s) with the same content)" if others else ""
    return UnavailableContent(
        artifact_id,
        version,
        "expired",
        f"the content of artifact {artifact_id} version {version}{also} expired: the retention event at position "
        f"{position} deleted blob {digest}; its data, history and hash stay",
        position,
    )
