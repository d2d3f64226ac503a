"""Projection rows as stored to :class:`ArtifactOut` models, with as little Python per row as it takes.

A page of ``find`` (and every present-state listing without content) is rows the ledger wrote
itself: ``REPLY_COLUMNS`` with ``data`` and ``tags`` as canonical JSON text and timestamps as the
driver returns them. Building their models was most of an indexed ``find``'s own time, about what
the database spends on the whole query, so this loop does only what each row needs:

- the page's JSON parsed in one call (:func:`~artifact_ledger.codec.loads_each`);
- each id parsed once per page: a parent shared by the page's rows (the runs of one experiment)
  is parsed once, and an id that is also a parent is reused;
- each distinct timestamp text parsed once (the rows of one batch share one);
- the model built as :func:`.build.construct` does, with the field set copied, not rebuilt.

The result equals the general path's, model for model (a test checks it on both backends).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from ulid import ULID

from .. import codec
from ..errors import ProjectionDriftError
from ..ids import ulid_from_text
from .artifacts import ArtifactOut

__all__ = ["outs_from_stored", "unreadable"]

OutT = TypeVar("OutT", bound=ArtifactOut)

_FIELDS = frozenset(
    ("id", "parent_id", "level", "data", "tags", "created_at", "updated_at", "version", "created_by", "updated_by")
)
_new = object.__new__
_setattr = object.__setattr__


def _stamp(value: Any, seen: dict[Any, datetime]) -> datetime:
    """A timestamp as the driver returns it (SQLite's text, asyncpg's datetime) as aware UTC."""
    if isinstance(value, str):
        found = seen[value] = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return found
    stamp: datetime = value
    if stamp.tzinfo is UTC:
        return stamp
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def outs_from_stored(cls: type[OutT], rows: Sequence[Sequence[Any]]) -> list[OutT]:
    """One ``cls`` (``ArtifactOut`` or a subclass with no more fields) per stored row, without content.

    A row the ledger did not write (SQLite keeps text in an integer or a time column, and a document
    that is no JSON, if an UPDATE puts them there) is :class:`ProjectionDriftError` naming the artifact,
    never a bare ``ValueError`` or a model holding the wrong type."""
    if set(cls.model_fields) != _FIELDS:
        raise TypeError(f"{cls.__name__} has other fields than ArtifactOut's; use the general path")
    try:
        return _outs(cls, rows)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise unreadable(rows) or exc from None


def unreadable(rows: Sequence[Sequence[Any]]) -> ProjectionDriftError | None:
    """The error naming the first of ``rows`` (stored ``REPLY_COLUMNS``) that cannot be read, each tried
    alone; None when every one reads."""
    for row in rows:
        try:
            _outs(ArtifactOut, [row])
        except (ValueError, TypeError) as exc:
            return ProjectionDriftError(
                f"artifact {row[0]} has a ledger_artifacts row that cannot be read ({type(exc).__name__}: {exc}): "
                "the projections were changed outside the ledger, which is the only record trusted. Find what "
                "changed with `artifact-ledger verify`, then rebuild them from the log with `artifact-ledger rebuild`",
                artifact_id=row[0],
            )
    return None


def _outs(cls: type[OutT], rows: Sequence[Sequence[Any]]) -> list[OutT]:
    decoded = iter(codec.loads_each([t for r in rows for t in (r[4], r[7])]))
    ulids: dict[str, ULID] = {}
    seen: dict[Any, datetime] = {}
    fields = set(_FIELDS)
    outs: list[OutT] = []
    append = outs.append
    for aid, parent_id, level, version, _, _, _, _, created, updated, by, upd in rows:
        ulid = ulids.get(aid)
        if ulid is None:
            ulid = ulids[aid] = ulid_from_text(aid)
        parent = None
        if parent_id is not None:
            parent = ulids.get(parent_id)
            if parent is None:
                parent = ulids[parent_id] = ulid_from_text(parent_id)
        if type(level) is not int or type(version) is not int:
            raise TypeError(f"its level {level!r:.40} or version {version!r:.40} is not a whole number")
        made = seen.get(created)
        if made is None:
            made = _stamp(created, seen)
        changed = seen.get(updated)
        if changed is None:
            changed = _stamp(updated, seen)
        model = _new(cls)
        _setattr(
            model,
            "__dict__",
            {
                "id": ulid,
                "parent_id": parent,
                "level": level,
                "data": next(decoded),
                "tags": next(decoded),
                "created_at": made,
                "updated_at": changed,
                "version": version,
                "created_by": by,
                "updated_by": upd,
            },
        )
        _setattr(model, "__pydantic_fields_set__", fields.copy())
        _setattr(model, "__pydantic_extra__", None)
        _setattr(model, "__pydantic_private__", None)
        append(model)
    return outs
