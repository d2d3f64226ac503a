"""``find``'s statements compiled once per filter shape and run on the bare driver connection.

Building a SQLAlchemy statement, compiling it and running it through a SQLAlchemy connection
cost about a millisecond per call, several times what the database spends on an indexed page.
Here a statement is compiled once for its *shape*, the filter with its values replaced by
their kinds (the same fields, operators and nesting, values of the same types, ``in`` lists
of the same length, the same ordering, page size and cursor kinds, the present or the past)
and the SQL text kept with where each parameter's value comes from. A later call of the same
shape builds its statement (cheap beside compiling) only to collect its values in order
(:class:`Binds`), and runs the kept text with them on the driver connection under
the caller's SQLAlchemy connection or session (:class:`~artifact_ledger.store.recorder.Recorder`),
with the drivers' public calls (``aiosqlite``'s ``execute_fetchall``, ``asyncpg``'s ``fetch``).

Values never become SQL text: the kept text has one placeholder per value, as it had when it
was compiled, and a call whose values do not fit it (another number of values) is compiled
afresh instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import BindParameter, Select, bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.engine import Dialect

from ..store.recorder import Recorder
from .language import And, Compare, Node, Not

__all__ = ["Binds", "Prepared", "fetch", "prepare", "shape"]

_DIALECTS: Final[dict[str, Dialect]] = {
    "sqlite": sqlite.dialect(),
    "postgresql": asyncpg.dialect(),  # type: ignore[no-untyped-call]  # the asyncpg dialect's __init__ is unannotated
}
MAX_SHAPES: Final = 512
"""The most statements kept per process; past it the cache starts again (shapes are few in practice)."""


class Binds:
    """Makes each value of a statement a bound parameter named by the order it was made in
    (``v__0``, ``v__1`` …) and keeps the values in that order.

    Statements of one filter shape are built by the same calls in the same order, so the n-th
    value of one is in the place of the n-th value of another: a statement compiled once serves
    every filter of its shape with the values of the next (see :func:`prepare`).
    """

    __slots__ = ("types", "values")

    PREFIX = "v__"

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.types: list[Any] = []

    def __call__(self, value: Any, type_: Any = None) -> BindParameter[Any]:
        n = len(self.values)
        self.values.append(value)
        self.types.append(type_)
        return bindparam(f"{self.PREFIX}{n}", value, type_=type_)


def _tag(value: Any) -> Any:
    """What of a value the SQL depends on: True, False and None themselves (they are written as
    constants), the type of any other value, and each element of a list."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, tuple):
        return tuple(_tag(v) for v in value)
    return type(value).__name__


def shape(node: Node) -> Any:
    """The filter with each value replaced by :func:`_tag`: equal shapes build the same SQL."""
    if isinstance(node, Compare):
        return (node.field.name, node.field.path, node.op, _tag(node.value))
    if isinstance(node, Not):
        return ("$not", shape(node.part))
    return ("$and" if isinstance(node, And) else "$or", tuple(shape(p) for p in node.parts))


Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Prepared:
    """One compiled statement: its text, and for each placeholder the index of its value among
    the statement's :class:`Binds` values (None: a constant of the statement, kept as ``constants``)."""

    sql: str
    slots: tuple[int | None, ...]
    constants: tuple[Any, ...]
    processors: tuple[Processor, ...]
    values: int
    """How many values the statement binds."""
    mirrored: bool
    """The shape's values can be had without building its statement: the caller's list of them
    equalled what building bound when this was compiled."""

    def args(self, values: Sequence[Any]) -> list[Any]:
        """The driver's positional values for a statement of this shape that bound ``values``."""
        out: list[Any] = []
        for slot, constant, process in zip(self.slots, self.constants, self.processors, strict=True):
            value = constant if slot is None else values[slot]
            out.append(value if process is None or slot is None else process(value))
        return out


_CACHE: dict[tuple[Any, ...], Prepared] = {}


def _compile(stmt: Select[Any], dialect: str, binds: Binds, mirrored: bool) -> Prepared:
    d = _DIALECTS[dialect]
    compiled = stmt.compile(dialect=d, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    slots: list[int | None] = []
    constants: list[Any] = []
    processors: list[Processor] = []
    prefix = Binds.PREFIX
    for name in compiled.positiontup or ():
        bind = compiled.binds.get(name)
        process = bind.type.dialect_impl(d).bind_processor(d) if bind is not None else None
        if name.startswith(prefix):
            slots.append(int(name[len(prefix) :]))
            constants.append(None)
            processors.append(process)
        else:  # a constant of the statement (a JSON type name, a path): processed once, here
            value = params[name]
            slots.append(None)
            constants.append(value if process is None else process(value))
            processors.append(None)
    return Prepared(compiled.string, tuple(slots), tuple(constants), tuple(processors), len(binds.values), mirrored)


def _typed(values: Sequence[Any]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


def prepare(
    key: tuple[Any, ...],
    dialect: str,
    build: Callable[[Binds], Select[Any]],
    values: Callable[[], list[Any]] | None = None,
) -> tuple[Prepared, list[Any]]:
    """The compiled statement of shape ``key`` (compiled now if it is new) and the driver's values
    for this call. ``build`` makes the statement, binding its values through the given ``Binds``;
    ``values`` (optional) lists the same values without building it. When the statement is
    compiled, the two are compared: only if they agree (same values, same types, same order) are
    later calls of the shape served from ``values`` alone; otherwise each call builds."""
    full = (dialect, *key)
    found = _CACHE.get(full)
    if found is not None and found.mirrored and values is not None:
        mirror = values()
        if len(mirror) == found.values:
            return found, found.args(mirror)
    binds = Binds()
    stmt = build(binds)
    if found is None or found.values != len(binds.values):
        mirrored = values is not None and _typed(values()) == _typed(binds.values)
        found = _compile(stmt, dialect, binds, mirrored)
        if len(_CACHE) >= MAX_SHAPES:
            _CACHE.clear()
        _CACHE[full] = found
    return found, found.args(binds.values)


async def fetch(rec: Recorder, prepared: Prepared, args: Sequence[Any]) -> list[Any]:
    """The rows of ``prepared`` with ``args``, on the recorder's driver connection (no commit)."""
    if rec.name == "sqlite":
        return list(await rec.raw.execute_fetchall(prepared.sql, args))
    return list(await rec.raw.fetch(prepared.sql, *args))
