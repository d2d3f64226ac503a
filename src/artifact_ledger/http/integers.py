"""Whole numbers in paths, queries and headers, read strictly and in one place.

pydantic's lax mode reads a query or path ``int`` from ``1_0`` (10), ``1.0``, ``+1``, `` 1``,
``1e0``-free floats and Unicode digits, and ``str.isdigit`` accepts ``²`` (which ``int`` then
refuses). Every integer parameter of the API is declared with :class:`Whole` instead (through the
aliases below, or ``Annotated[int, Whole(low, high)]``): plain ASCII digits, a leading ``-`` only
where the range has negatives, within the range; anything else is a 422 ``validation-failed``
problem naming the parameter and the value. Headers and the console's parameters, read by hand,
use :func:`parse_whole` (a 400 naming them).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from ..arguments import MAX_POSITION, MAX_VERSION, whole_number
from .problems import Problem

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_POSITION",
    "MAX_VERSION",
    "PageNo",
    "PageSize",
    "Position",
    "VersionNo",
    "Whole",
    "parse_whole",
    "whole_number",
]

MAX_PAGE_NO: Final = 2**31 - 1
MAX_PAGE_SIZE: Final = 1000


def _shown(value: object) -> str:
    return repr(value[:40] + "..." if isinstance(value, str) and len(value) > 40 else value)


def refusal(value: object, low: int, high: int) -> str:
    """Why ``value`` is refused: the range, in words, and the value."""
    return f"must be a whole number from {low} to {high} in ASCII digits (got {_shown(value)})"


def parse_whole(text: str, what: str, *, low: int, high: int, kind: str = "bad-number") -> int:
    """``text`` (a header or a parameter read by hand) as a whole number from ``low`` to ``high``;
    a 400 problem of ``kind`` naming ``what`` and the value otherwise."""
    number = whole_number(text, low, high)
    if number is None:
        raise Problem(400, f"{what} {refusal(text, low, high)}", kind=kind)
    return number


class Whole:
    """``Annotated`` metadata: a path or query parameter that is a whole number from ``low`` to ``high``,
    read strictly (see the module); the OpenAPI schema shows the range."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def _check(self, value: object) -> int:
        if type(value) is int and self.low <= value <= self.high:  # a default, or a value from code
            return value
        number = whole_number(value, self.low, self.high) if isinstance(value, str) else None
        if number is None:
            raise PydanticCustomError("whole_number", "{reason}", {"reason": refusal(value, self.low, self.high)})
        return number

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(
            self._check, core_schema.int_schema(ge=self.low, le=self.high)
        )

    def __repr__(self) -> str:
        return f"Whole({self.low}, {self.high})"


VersionNo = Annotated[int, Whole(1, MAX_VERSION)]
"""A version number, from 1."""
PageNo = Annotated[int, Whole(1, MAX_PAGE_NO)]
"""A page number, from 1."""
PageSize = Annotated[int, Whole(1, MAX_PAGE_SIZE)]
"""How many items a page holds (``size``, ``limit``), 1 to 1,000."""
Position = Annotated[int, Whole(0, MAX_POSITION)]
"""A log position to read after (0: from the start)."""
