"""The artifact list, now or as of an instant, filtered and ordered, through ``manager.find`` only.

Every form of the list is a walk over ``find``'s keyset pages, so a filter, an ordering and
``as_of`` mean the same on each form, and the past is read from the ledger's history
projections (no replay of the log per request):

- the whole list (no paging parameters) streams page after page;
- ``limit``/``after`` is one ``find`` page and its cursor;
- chapkit's ``page``/``size`` (offsets and a total) is served by the fast offset query of the
  manager when nothing else is asked; with a filter, another ordering or ``as_of`` it walks the
  keyset pages up to the requested page and counts the total with ``manager.count`` (as of the
  same instant): memory holds one keyset page, time grows with the offset. ``limit``/``after``
  is the form whose cost does not grow with depth.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any, Final

from ... import codec
from ...errors import InvalidQueryError
from ...manager import ArtifactManager
from ...query import FindPage
from ...schemas import ArtifactOut
from ..strictjson import DuplicateMemberError, loads_unique

READ_PAGE: Final = 500
"""Rows per ``find`` page when the route walks pages (the whole list, chapkit pages)."""
MAX_WHERE: Final = 20_000
"""The longest ``where`` text (characters) the list accepts."""


def parse_where(text: str | None) -> dict[str, Any] | None:
    """The ``where`` query parameter: a JSON object in the language of ``manager.find``.

    Malformed JSON, another JSON value, an object naming a member twice or an over-long text is an
    :class:`InvalidQueryError` (400) naming the problem; the filter itself is checked by ``find``.
    """
    if text is None:
        return None
    if len(text) > MAX_WHERE:
        raise InvalidQueryError(f"where is {len(text):,} characters long; at most {MAX_WHERE:,} are accepted")
    try:
        value = codec.loads(text)
    except ValueError as exc:
        raise InvalidQueryError(
            f"where is not valid JSON ({exc}); send a JSON object such as "
            '{"data.metadata.status": "published", "level": {"gte": 1}}'
        ) from None
    try:
        loads_unique(text)  # orjson keeps the last of two same-named members: a condition would vanish
    except DuplicateMemberError as exc:
        raise InvalidQueryError(f"where is ambiguous: {exc}") from None
    except RecursionError:
        raise InvalidQueryError("where nests its conditions too deeply to be read") from None
    if not isinstance(value, dict):
        raise InvalidQueryError(
            f"where must be a JSON object of conditions, not {type(value).__name__}; "
            'e.g. {"data.metadata.status": "published"}'
        )
    return value


class Listing:
    """One list request's question: the filter, the ordering and the instant."""

    def __init__(
        self, manager: ArtifactManager, where: dict[str, Any] | None, order_by: str, as_of: datetime | None
    ) -> None:
        self.manager = manager
        self.where = where
        self.order_by = order_by
        self.as_of = as_of

    @property
    def plain(self) -> bool:
        """The current state, every artifact, by id: the manager's offset pages answer it directly."""
        return self.where is None and self.order_by == "id" and self.as_of is None

    async def page(self, limit: int, after: str | None) -> FindPage:
        return await self.manager.find(
            self.where, order_by=self.order_by, limit=limit, after=after, as_of=self.as_of, include_content=False
        )

    async def walk(self, first: FindPage | None = None) -> AsyncGenerator[ArtifactOut, None]:
        """Every match in order, one keyset page at a time (starting with ``first`` when given)."""
        found = first if first is not None else await self.page(READ_PAGE, None)
        while True:
            for out in found.items:
                yield out
            if found.next_cursor is None:
                return
            found = await self.page(READ_PAGE, found.next_cursor)

    async def offset_page(self, page: int, size: int) -> tuple[list[ArtifactOut], int]:
        """chapkit's page ``page`` of ``size`` and the total."""
        if self.plain:
            return await self.manager.find_paginated(page, size, include_content=False)
        start = (page - 1) * size
        items: list[ArtifactOut] = []
        seen = 0
        async with aclosing(self.walk()) as matches:
            async for out in matches:
                if start <= seen < start + size:
                    items.append(out)
                seen += 1
                if seen >= start + size:
                    break
        return items, await self.manager.count(self.where, as_of=self.as_of)


async def iter_live(manager: ArtifactManager, instant: datetime | None) -> AsyncIterator[ArtifactOut]:
    """Every live artifact ordered by id (as of ``instant`` when given), without content."""
    async for out in Listing(manager, None, "id", instant).walk():
        yield out
