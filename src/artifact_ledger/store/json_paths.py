"""Conditions on JSON documents stored as text, per backend: what ``find``'s filters compile to.

SQLite reads a value with ``json_extract(doc, '$."a"."b"[0]')`` and its JSON type with
``json_type``; PostgreSQL casts the text to ``jsonb`` and walks it with ``->``. Paths are
written into the SQL text (an expression index only serves a query whose expression is the
same, which a bound parameter is not); they come here already parsed by
:mod:`artifact_ledger.query.language`, and :func:`_checked` checks every segment again against
the same grammar (letters, digits, ``_``, ``-``; or an array index), so no quote or bracket can
reach the text. Every value is a bound parameter.

Every condition is two-valued wherever the path exists; where it does not, it is false or NULL
(never true), so ``$not`` (``NOT coalesce(cond, false)``) treats a missing path as "no match" for
the condition it negates.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
)
from sqlalchemy import Column as SqlColumn
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import CreateIndex, DropIndex, Index
from sqlalchemy.sql.elements import Grouping

from .. import codec

__all__ = ["Bind", "JsonSql", "json_sql"]

Bind = Callable[..., BindParameter[Any]]
"""Makes a filter value a bound parameter: ``bind(value, type_=None)``, like :func:`sqlalchemy.literal`
(the default). ``find`` passes its own, which names the parameters in the order they are made
so that a compiled statement can be reused for the next filter of the same shape."""

_SEGMENT = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_NUMERIC = ("integer", "real")


def _checked(path: Sequence[str | int]) -> Sequence[str | int]:
    """The path again checked against the grammar (the text of the SQL depends on it)."""
    for seg in path:
        if isinstance(seg, bool) or not (
            (isinstance(seg, int) and 0 <= seg < 10**9) or (isinstance(seg, str) and _SEGMENT.fullmatch(seg))
        ):
            raise ValueError(f"path segment {seg!r:.40} is outside the path grammar")
    return path


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class JsonSql:
    """The conditions, sort keys and index expressions of one backend (see :func:`json_sql`)."""

    dialect: str

    def condition(
        self, doc: Any, path: Sequence[str | int], op: str, value: Any, bind: Bind = literal
    ) -> ColumnElement[bool]:
        """``doc`` at ``path`` ``op`` ``value`` (the operators of the filter language, ``data`` fields)."""
        raise NotImplementedError

    def between(
        self, doc: Any, path: Sequence[str | int], first: tuple[str, Any], second: tuple[str, Any], bind: Bind = literal
    ) -> ColumnElement[bool] | None:
        """``doc`` at ``path`` meeting both comparisons ``(op, value)`` (one of ``gt gte`` and one of
        ``lt lte``), binding ``first``'s value then ``second``'s as :meth:`condition` of each would;
        None where the backend has nothing cheaper than the two conditions."""
        return None

    def has_string(
        self, doc: Any, path: Sequence[str | int], op: str, values: Sequence[str], bind: Bind = literal
    ) -> ColumnElement[bool]:
        """The JSON array of strings at ``path`` (``()``: the document) holds one of ``values`` (``any``)
        or all of them (``all``)."""
        raise NotImplementedError

    def text_holds(self, doc: Any, needle: str, bind: Bind = literal) -> ColumnElement[bool]:
        """The document's JSON text holds ``needle`` (a plain substring test: no parsing)."""
        raise NotImplementedError

    def bound(self, op: str, value: Any) -> list[Any]:
        """The values :meth:`condition` binds for ``op`` ``value``, in the order it binds them.

        ``find`` reuses a statement compiled for the same shape of filter with these values in
        place of the ones it was compiled with (``query/prepared.py``), so this must follow
        :meth:`condition` exactly; ``find`` checks that it does each time it compiles."""
        raise NotImplementedError

    def has_string_bound(self, values: Sequence[str]) -> list[Any]:
        """The values :meth:`has_string` binds, in order (see :meth:`bound`)."""
        raise NotImplementedError

    def sort_number_bound(self, text: str) -> Any:
        """The value :meth:`sort_number` binds."""
        raise NotImplementedError

    def sort_keys(self, doc: Any, path: Sequence[str | int]) -> list[ColumnElement[Any]]:
        """(rank, number, text): numbers first by value, then strings by code point, then other values,
        then documents without the path; each key never NULL."""
        raise NotImplementedError

    def sort_number(self, text: str, bind: Bind = literal) -> ColumnElement[Any]:
        """A number key as the cursor carries it (decimal text), as the backend compares it."""
        raise NotImplementedError

    def number_text(self, value: Any) -> str:
        """A number key as the query returned it, as decimal text for a cursor."""
        raise NotImplementedError

    def index_expression(self, column: Any, path: Sequence[str | int]) -> ColumnElement[Any]:
        raise NotImplementedError

    def create_index(self, name: str, path: Sequence[str | int], *, events: bool = False) -> CreateIndex:
        """``CREATE INDEX IF NOT EXISTS name ON ledger_artifacts (<the expression find compares>)``;
        ``events``: on ``ledger_events`` instead, over the ``data`` of each event's payload (what
        ``find(as_of=)`` compares)."""
        return CreateIndex(self._index(name, path, events), if_not_exists=True)

    def drop_index(self, name: str, path: Sequence[str | int], *, events: bool = False) -> DropIndex:
        return DropIndex(self._index(name, path, events), if_exists=True)

    def _index(self, name: str, path: Sequence[str | int], events: bool) -> Index:
        # A table of its own: an Index built on ``tables.artifacts`` would join the ledger's
        # MetaData (and then create_all and Alembic's comparison).
        table, column, prefix = ("ledger_events", "payload", ("data",)) if events else ("ledger_artifacts", "data", ())
        expression = self.index_expression(literal_column(column, Text), (*prefix, *path))
        if events:
            index = Index(name, expression)
            Table(table, MetaData(), SqlColumn(column, Text), index)
            return index
        # The present's index also holds the id after the value: ``find`` orders by id, so the
        # rows matching an equality come out of the index in page order, and a keyset page
        # deep in them (``id > cursor``) is one seek, like the first page.
        own = Table(table, MetaData(), SqlColumn(column, Text), SqlColumn("id", String))
        index = Index(name, expression, own.c.id)
        own.append_constraint(index)
        return index


def _sqlite_number(text: str) -> int | float:
    """A number key as SQLite holds numbers: a whole number within 64 bits as an integer (exact),
    any other as a double (SQLite reads larger JSON integers as doubles too)."""
    number = Decimal(text)
    if number == number.to_integral_value() and -(2**63) <= number < 2**63:
        return int(number)
    return float(number)


class SqliteJson(JsonSql):
    dialect = "sqlite"

    @staticmethod
    def _path(path: Sequence[str | int]) -> ColumnElement[str]:
        text = "$" + "".join(f"[{seg}]" if isinstance(seg, int) else f'."{seg}"' for seg in _checked(path))
        return literal_column(f"'{text}'", String)

    def _value(self, doc: Any, path: Sequence[str | int]) -> ColumnElement[Any]:
        return func.json_extract(doc, self._path(path))

    def _type(self, doc: Any, path: Sequence[str | int]) -> ColumnElement[Any]:
        return func.json_type(doc, self._path(path))

    def index_expression(self, column: Any, path: Sequence[str | int]) -> ColumnElement[Any]:
        return self._value(column, path)

    def _eq(self, t: ColumnElement[Any], x: ColumnElement[Any], value: Any, bind: Bind) -> ColumnElement[bool]:
        if value is None:
            return t == "null"
        if isinstance(value, bool):
            return t == ("true" if value else "false")
        # ``json_extract`` returns a JSON string as its text, an object or an array as its JSON
        # text (``{…}``, ``[…]``), a number as a number and ``true``/``false`` as 1/0; values of
        # different storage classes are never equal. So a string equals only strings unless it
        # starts with ``{`` or ``[``, and a number only numbers unless it is 0 or 1: only then
        # is the type asked for (``json_type`` parses the document again, per row). The guard
        # tests the bound value, which SQLite evaluates once per statement, not per row; ``IS``
        # keeps the comparison two-valued where the path holds JSON null (``json_extract``: NULL).
        if _is_number(value):
            b = bind(value)
            guard = or_(b.not_in([literal_column("0"), literal_column("1")]), t.in_(_NUMERIC))
        else:
            b = bind(value, String)
            guard = or_(func.substr(b, 1, 1).not_in([literal_column("'{'"), literal_column("'['")]), t == "text")
        return and_(x.is_(b), guard)

    def condition(
        self, doc: Any, path: Sequence[str | int], op: str, value: Any, bind: Bind = literal
    ) -> ColumnElement[bool]:
        t, x = self._type(doc, path), self._value(doc, path)
        if op == "exists":
            return t.is_not(None) if value else t.is_(None)
        if op == "eq":
            return self._eq(t, x, value, bind)
        if op == "ne":
            return and_(t.is_not(None), not_(self._eq(t, x, value, bind)))
        if op in ("in", "nin"):
            anyof = self._any_of(t, x, value, bind)
            return anyof if op == "in" else and_(t.is_not(None), not_(anyof))
        if op in ("lt", "lte", "gt", "gte"):
            if _is_number(value):
                return self._numeric(t, x, ((op, bind(value)),))
            return and_(t == "text", x.operate(_COMPARE[op], bind(value, String)))
        if op == "prefix":
            bound = bind(value, String)
            return and_(t == "text", func.substr(x, 1, func.length(bound)) == bound)
        if op == "contains":
            each = func.json_each(doc, self._path(path)).table_valued("value", "type").alias("elem")
            inside = exists().where(self._eq(each.c.type, each.c.value, value, bind)).select_from(each)
            found = and_(t == "array", inside)
            if isinstance(value, str):
                return or_(found, and_(t == "text", func.instr(x, bind(value, String)) > 0))
            return found
        raise ValueError(f"unknown operator {op}")

    @staticmethod
    def _any_of(t: ColumnElement[Any], x: ColumnElement[Any], values: Sequence[Any], bind: Bind) -> ColumnElement[bool]:
        """``x`` equal to one of ``values``: one ``IN`` list for the strings and numbers, not one
        equality each (SQLite's parser nests ``a OR b OR …`` one level per term, and stops at 1,000).
        A value found in the list is of the list value's storage class, so only the type of JSON it
        was read from is left to check: a string or a number, not an object's or array's text nor
        ``true``/``false`` read as 1/0. Booleans and null are tested by type, each once."""
        scalars = [v for v in values if v is not None and not isinstance(v, bool)]
        listed = [bind(v) if _is_number(v) else bind(v, String) for v in scalars]
        parts: list[ColumnElement[bool]] = []
        if listed:
            parts.append(and_(x.in_(listed), t.in_(("text", *_NUMERIC))))
        kinds = {"null" if v is None else "true" if v else "false" for v in values if v is None or isinstance(v, bool)}
        parts.extend(t == kind for kind in sorted(kinds))
        return or_(false(), *parts)

    @staticmethod
    def _numeric(
        t: ColumnElement[Any], x: ColumnElement[Any], bounds: Sequence[tuple[str, BindParameter[Any]]]
    ) -> ColumnElement[bool]:
        """``x`` within numeric ``bounds`` (``(op, bound value)`` each), a number and not a boolean.

        SQLite orders every number below every text, so an upper bound already keeps out strings,
        objects and arrays, and with no upper bound ``x < ''`` does: either way a bound of the
        index's range, not a test per row. ``true``/``false`` are read as 1/0, so the type is
        asked for (``json_type``, per row) only when 0 or 1 is inside the bounds (a test of the
        bound values, evaluated once per statement)."""
        parts = [x.operate(_COMPARE[op], b) for op, b in bounds]
        if not any(op in ("lt", "lte") for op, _ in bounds):
            parts.append(x < literal_column("''"))
        inside = [and_(*(literal_column(n).operate(_COMPARE[op], b) for op, b in bounds)) for n in ("0", "1")]
        parts.append(or_(not_(or_(*inside)), t.in_(_NUMERIC)))
        return and_(*parts)

    def between(
        self, doc: Any, path: Sequence[str | int], first: tuple[str, Any], second: tuple[str, Any], bind: Bind = literal
    ) -> ColumnElement[bool] | None:
        ops = {first[0], second[0]}
        if not (ops & {"gt", "gte"} and ops & {"lt", "lte"} and _is_number(first[1]) and _is_number(second[1])):
            return None
        t, x = self._type(doc, path), self._value(doc, path)
        return self._numeric(t, x, ((first[0], bind(first[1])), (second[0], bind(second[1]))))

    def text_holds(self, doc: Any, needle: str, bind: Bind = literal) -> ColumnElement[bool]:
        return func.instr(doc, bind(needle, String)) > 0

    @staticmethod
    def _eq_bound(value: Any) -> list[Any]:
        return [] if value is None or isinstance(value, bool) else [value]

    def bound(self, op: str, value: Any) -> list[Any]:
        if op == "exists":
            return []
        if op in ("eq", "ne"):
            return self._eq_bound(value)
        if op in ("in", "nin"):
            return [b for v in value for b in self._eq_bound(v)]
        if op in ("lt", "lte", "gt", "gte", "prefix"):
            return [value]
        if op == "contains":
            return self._eq_bound(value) + ([value] if isinstance(value, str) else [])
        raise ValueError(f"unknown operator {op}")

    def has_string_bound(self, values: Sequence[str]) -> list[Any]:
        return list(values)

    def sort_number_bound(self, text: str) -> Any:
        return _sqlite_number(text)

    def has_string(
        self, doc: Any, path: Sequence[str | int], op: str, values: Sequence[str], bind: Bind = literal
    ) -> ColumnElement[bool]:
        def each() -> Any:
            return (
                func.json_each(doc, self._path(path)).table_valued("value").alias("tag")
                if path
                else func.json_each(doc).table_valued("value").alias("tag")
            )

        if op == "any":  # one walk of the array with an IN list (not one EXISTS per value)
            if not values:
                return false()
            tags = each()
            return exists().where(tags.c.value.in_([bind(v, String) for v in values])).select_from(tags)
        parts = []
        for value in values:
            tags = each()
            parts.append(exists().where(tags.c.value == bind(value, String)).select_from(tags))
        return and_(*parts)

    def sort_keys(self, doc: Any, path: Sequence[str | int]) -> list[ColumnElement[Any]]:
        t, x = self._type(doc, path), self._value(doc, path)
        rank = case((t.in_(_NUMERIC), 0), (t == "text", 1), (t.is_(None), 3), else_=2)
        number = case((t.in_(_NUMERIC), x), else_=literal_column("0"))
        text = case((t == "text", x), else_=literal_column("''"))
        return [rank, number, text]

    def sort_number(self, text: str, bind: Bind = literal) -> ColumnElement[Any]:
        return bind(_sqlite_number(text))

    def number_text(self, value: Any) -> str:
        return repr(value) if isinstance(value, float) else str(int(value))


class PostgresJson(JsonSql):
    dialect = "postgresql"

    @staticmethod
    def _walk(doc: Any, path: Sequence[str | int]) -> ColumnElement[Any]:
        value: Any = cast(doc, JSONB)
        for seg in _checked(path):
            if isinstance(seg, int):
                # A scalar jsonb answers ``-> 0`` with itself (it is stored as a one-element array):
                # only an array has elements.
                step = value.op("->", return_type=JSONB)(literal_column(str(seg), Integer))
                value = case((func.jsonb_typeof(value) == literal_column("'array'"), step))
            else:
                value = value.op("->", return_type=JSONB)(literal_column(f"'{seg}'", String))
        return value  # type: ignore[no-any-return]

    def index_expression(self, column: Any, path: Sequence[str | int]) -> ColumnElement[Any]:
        # In parentheses: CREATE INDEX takes a bare function call or column, and an array step
        # makes the walk a CASE expression.
        return Grouping(self._walk(column, path))

    @staticmethod
    def _text(e: Any) -> ColumnElement[str]:
        return e.op("#>>", return_type=Text)(literal_column("'{}'"))  # type: ignore[no-any-return]

    @staticmethod
    def _json(value: Any, bind: Bind = literal) -> ColumnElement[Any]:
        return cast(bind(codec.dumps(value).decode(), Text), JSONB)

    def _eq(self, t: ColumnElement[Any], e: ColumnElement[Any], value: Any, bind: Bind) -> ColumnElement[bool]:
        if value is None:
            return t == "null"
        return e == self._json(value, bind)

    def condition(
        self, doc: Any, path: Sequence[str | int], op: str, value: Any, bind: Bind = literal
    ) -> ColumnElement[bool]:
        e = self._walk(doc, path)
        t = func.jsonb_typeof(e)
        if op == "exists":
            return e.is_not(None) if value else e.is_(None)
        if op == "eq":
            return self._eq(t, e, value, bind)
        if op == "ne":
            return and_(e.is_not(None), not_(self._eq(t, e, value, bind)))
        if op in ("in", "nin"):
            anyof = or_(false(), *(self._eq(t, e, v, bind) for v in value))
            return anyof if op == "in" else and_(e.is_not(None), not_(anyof))
        if op in ("lt", "lte", "gt", "gte"):
            if _is_number(value):
                return and_(t == "number", e.operate(_COMPARE[op], self._json(value, bind)))
            text = self._text(e).collate("C")
            return and_(t == "string", text.operate(_COMPARE[op], bind(value, Text)))
        if op == "prefix":
            bound = bind(value, Text)
            return and_(t == "string", func.left(self._text(e), func.char_length(bound)) == bound)
        if op == "contains":
            found = and_(t == "array", e.op("@>", return_type=Boolean)(self._json([value], bind)))
            if isinstance(value, str):
                return or_(found, and_(t == "string", func.strpos(self._text(e), bind(value, Text)) > 0))
            return found
        raise ValueError(f"unknown operator {op}")

    def between(
        self, doc: Any, path: Sequence[str | int], first: tuple[str, Any], second: tuple[str, Any], bind: Bind = literal
    ) -> ColumnElement[bool] | None:
        # jsonb orders values of different types by type (null and strings below every number;
        # booleans, arrays and objects above; an extracted empty array below null), so a number
        # above a lower bound and below an upper one is the only kind of value inside both: the
        # ``jsonb_typeof`` guards, each parsing the document again per row, are left out.
        ops = {first[0], second[0]}
        lower, upper = ops & {"gt", "gte"}, ops & {"lt", "lte"}
        if not (lower and upper and _is_number(first[1]) and _is_number(second[1])):
            return None
        e = self._walk(doc, path)
        return and_(
            e.operate(_COMPARE[first[0]], self._json(first[1], bind)),
            e.operate(_COMPARE[second[0]], self._json(second[1], bind)),
        )

    def text_holds(self, doc: Any, needle: str, bind: Bind = literal) -> ColumnElement[bool]:
        return func.strpos(doc, bind(needle, Text)) > 0

    @staticmethod
    def _dumped(value: Any) -> str:
        return codec.dumps(value).decode()

    def bound(self, op: str, value: Any) -> list[Any]:
        if op == "exists":
            return []
        if op in ("eq", "ne"):
            return [] if value is None else [self._dumped(value)]
        if op in ("in", "nin"):
            return [self._dumped(v) for v in value if v is not None]
        if op in ("lt", "lte", "gt", "gte"):
            return [self._dumped(value) if _is_number(value) else value]
        if op == "prefix":
            return [value]
        if op == "contains":
            return [self._dumped([value])] + ([value] if isinstance(value, str) else [])
        raise ValueError(f"unknown operator {op}")

    def has_string_bound(self, values: Sequence[str]) -> list[Any]:
        return [self._dumped([v]) for v in values]

    def sort_number_bound(self, text: str) -> Any:
        return text

    def has_string(
        self, doc: Any, path: Sequence[str | int], op: str, values: Sequence[str], bind: Bind = literal
    ) -> ColumnElement[bool]:
        e = self._walk(doc, path)
        parts = [e.op("@>", return_type=Boolean)(self._json([v], bind)) for v in values]
        return or_(false(), *parts) if op == "any" else and_(*parts)

    def sort_keys(self, doc: Any, path: Sequence[str | int]) -> list[ColumnElement[Any]]:
        e = self._walk(doc, path)
        t = func.jsonb_typeof(e)
        rank = case((t == "number", 0), (t == "string", 1), (e.is_(None), 3), else_=2)
        number = case((t == "number", cast(e, Numeric)), else_=cast(literal_column("0"), Numeric))
        text = case((t == "string", self._text(e)), else_=literal_column("''", Text)).collate("C")
        return [rank, number, text]

    def sort_number(self, text: str, bind: Bind = literal) -> ColumnElement[Any]:
        return cast(bind(text, Text), Numeric)

    def number_text(self, value: Any) -> str:
        return str(value)


_COMPARE: dict[str, Any] = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}

_BY_DIALECT: dict[str, JsonSql] = {"sqlite": SqliteJson(), "postgresql": PostgresJson()}


def json_sql(dialect: str) -> JsonSql:
    """The builders for ``dialect`` (``sqlite`` or ``postgresql``)."""
    found = _BY_DIALECT.get(dialect)
    if found is None:
        raise ValueError(f"no JSON query support for {dialect}")
    return found
