"""Canonical JSON and hashing: the only place that calls orjson.

Canonical bytes are orjson with sorted keys and no whitespace. For the value
types the ledger stores (str, int, float, bool, None, lists, str-keyed dicts)
they equal ``json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``,
which lets a standard-library verifier recompute every hash (``docs/chain.md`` states the
rules the hash chain relies on). Values canonical JSON cannot hold are refused with
:class:`NotJSONError` naming where they are, never written approximately: NaN and
infinities, integers beyond 64 bits (-2**63 to 2**64-1), and text holding a lone
surrogate (a code point UTF-8 cannot encode).

NumPy values are converted where the conversion is exact, the same for every backend:
``np.int*``/``np.uint*`` to int, ``np.float16/32/64`` to float (every such value is a float64
exactly; not NaN or infinities), ``np.bool_`` to bool, ``np.str_`` to str, and arrays of those
kinds to (nested) lists. Everything else NumPy makes is refused with the path: complex numbers,
``longdouble`` values a float64 cannot hold, datetime64/timedelta64 (store ISO strings), object,
bytes and structured arrays. NumPy is never imported here: a value is recognised by its type's
module, so it costs nothing to those who do not use it.

Nothing nested deeper than orjson writes (254 levels) is JSON here (:class:`TooDeepError`).
What the ledger *stores as text* (artifact data) obeys more, the same on every backend
(:func:`dumps_stored`): at most :data:`MAX_DEPTH` levels of nesting (:class:`TooDeepError`)
and no NUL character anywhere (PostgreSQL text cannot hold one: :class:`UnstorableError`).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

import orjson

_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_CANONICAL_STRICT = _CANONICAL | orjson.OPT_PASSTHROUGH_SUBCLASS
_ORDERED_STRICT = _CANONICAL_STRICT & ~orjson.OPT_SORT_KEYS

GENESIS_HASH = bytes(32)
"""The ``prev_hash`` of the first event: 32 zero bytes."""

MAX_DEPTH = 200
"""The deepest nesting of lists and dicts stored data may have (``{"a": [1]}`` is 2 levels deep).

orjson refuses values nested 255 levels or deeper; the event payload wraps data in one more
level, and readers that render it (listings, ``--json``) add a few more: 200 leaves them room.
"""

_ORJSON_DEPTH = 254
"""The deepest value orjson writes (it raises "Recursion limit reached" from 255 levels)."""


class NotJSONError(TypeError):
    """A value is not plain JSON; ``path`` says where (e.g. ``["metadata"]["started_at"]``)."""

    def __init__(self, path: str, value: object) -> None:
        self.path = path
        if isinstance(value, _Key):  # an object key that is not a string
            self.value_type = type(value.key).__name__
            self.shown = f"a key of type {self.value_type} ({value.key!r:.40})"
            super().__init__(f"{path or 'value'} is {self.shown}; JSON object keys are strings")
            return
        self.value_type = type(value).__name__
        self.shown = _shown(value)
        """How the value reads in a message: ``nan`` for a non-finite float, else e.g. ``a datetime``."""
        super().__init__(f"{path or 'value'} is {self.shown}, which is not JSON")


class _Key:
    """A dict key that is not a string, as :func:`_find_non_json` reports it."""

    __slots__ = ("key",)

    def __init__(self, key: object) -> None:
        self.key = key


class TooDeepError(NotJSONError):
    """A value nests lists and dicts deeper than the ledger writes (:data:`MAX_DEPTH` for stored data)."""

    def __init__(self, path: str, limit: int) -> None:
        if len(path) > 80:  # a path 200 levels long says nothing more than its start
            path = f"{path[:60]}…"
        self.limit = limit
        self.problem = f"is nested deeper than {limit} levels, the most the ledger stores"
        TypeError.__init__(self, f"{path or 'value'} {self.problem}")
        self.path = path
        self.value_type = "list or dict"
        self.shown = f"nested deeper than {limit} levels"


class UnstorableError(ValueError):
    """Plain JSON the ledger does not store as text: a string or key holding a NUL character.

    ``path`` says where (``""`` is the value itself), ``problem`` what is wrong, as a phrase.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path or 'value'} {problem}")


def _shown(value: object) -> str:
    if type(value).__module__ == "numpy":
        return _numpy_refusal(value)
    if type(value) is float:
        return repr(value)
    if type(value) is int:
        return f"{value}, an integer beyond 64 bits"
    if type(value) is str:
        at = lone_surrogate(value)
        if at is not None:
            return f"text with a lone surrogate (U+{ord(value[at]):04X} at index {at}, which has no UTF-8 encoding)"
    return f"a {type(value).__name__}"


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (a code point UTF-8 cannot encode), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


_NO = object()


def _from_numpy(value: Any) -> Any:
    """The plain-JSON value a NumPy scalar or array equals exactly, or ``_NO`` (then refused)."""
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if type(value).__name__ == "ndarray":
        if kind not in ("b", "i", "u", "f", "U") or (kind == "f" and value.dtype.itemsize > 8):
            return _NO
        out = value.tolist()
        return _NO if kind == "f" and _find_non_finite(out, "") is not None else out
    if kind in ("b", "i", "u", "U"):
        return value.item()
    if kind == "f":
        plain = float(value)
        return plain if math.isfinite(plain) and type(value)(plain) == value else _NO
    return _NO


def _numpy_refusal(value: Any) -> str:
    dtype = getattr(value, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if type(value).__name__ == "ndarray":
        name = f"a numpy.ndarray of dtype {dtype}"
        if kind == "f" and dtype is not None and dtype.itemsize <= 8:
            return f"{name} holding NaN or infinities"
    else:
        name = f"a numpy.{type(value).__name__} ({value!r:.40})"
        if kind == "f":
            return name if not math.isfinite(float(value)) else f"{name} that no float64 holds exactly"
    why = {
        "c": "complex: store the real and imaginary parts",
        "M": "store timestamps as ISO strings",
        "m": "store durations as numbers of a unit you name",
    }.get(kind or "", "convert it, or put it in data['content']")
    return f"{name} [{why}]"


def _strict(value: object) -> Any:
    raise TypeError


def _plain(value: object) -> Any:
    """orjson's ``default``: NumPy values converted exactly (see the module), everything else refused."""
    if type(value).__module__ == "numpy":
        plain = _from_numpy(value)
        if plain is not _NO:
            return plain
    raise TypeError


def dumps(value: Any, *, numpy: bool = False) -> bytes:
    """Canonical JSON bytes of a plain-JSON value; raises :class:`NotJSONError` naming the bad path.

    ``numpy``: convert NumPy values exactly as stored data does (see the module); without it they
    are refused (content codecs rely on that to keep them for the pickle, which round-trips them).
    """
    try:
        out = orjson.dumps(value, option=_CANONICAL_STRICT, default=_plain if numpy else _strict)
    except TypeError:
        _raise_non_json(value, _ORJSON_DEPTH, numpy=numpy)
    if b"null" in out:
        # orjson writes NaN and infinities as null, which would not round-trip.
        path_bad = _find_non_finite(value, "")
        if path_bad is not None:
            raise NotJSONError(path_bad[0], path_bad[1])
    return out


class _Wrapper(threading.local):
    """Per thread: ``254 - MAX_DEPTH`` nested one-item lists whose innermost item is set for one dump."""

    def __init__(self) -> None:
        self.inner: list[Any] = [None]
        outer: list[Any] = self.inner
        for _ in range(_ORJSON_DEPTH - MAX_DEPTH - 1):
            outer = [outer]
        self.outer = outer


_WRAPPER = _Wrapper()


def dumps_stored(value: Any) -> bytes:
    """:func:`dumps` of data the ledger stores as text: also refuses NUL and nesting beyond :data:`MAX_DEPTH`.

    Raises :class:`NotJSONError` (:class:`TooDeepError` for nesting) or :class:`UnstorableError`,
    each naming the path. Checking
    costs almost nothing on ordinary data: a value cannot nest deeper than it has brackets, so
    only when the output holds more than ``MAX_DEPTH`` of them is it written again from inside
    ``254 - MAX_DEPTH`` wrapping lists, where orjson's own limit stops anything too deep; only a
    refused value is walked (without recursion).
    """
    try:
        out = orjson.dumps(value, option=_CANONICAL_STRICT, default=_plain)
    except TypeError:
        _raise_non_json(value, MAX_DEPTH)
    if out.count(b"[") + out.count(b"{") > MAX_DEPTH:
        wrapper = _WRAPPER
        wrapper.inner[0] = value
        try:
            orjson.dumps(wrapper.outer, option=_CANONICAL_STRICT, default=_plain)
        except TypeError:
            _raise_non_json(value, MAX_DEPTH)
        finally:
            wrapper.inner[0] = None
    if b"null" in out:
        path_bad = _find_non_finite(value, "")
        if path_bad is not None:
            raise NotJSONError(path_bad[0], path_bad[1])
    if b"\\u0000" in out:  # orjson writes NUL as \u0000; an escaped backslash before "u0000" also matches
        nul = _find_nul(value)
        if nul is not None:
            raise UnstorableError(*nul)
    return out


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON bytes or text.

    orjson reads an integer beyond 64 bits as a float. Nothing the ledger stores holds one:
    :func:`dumps` refuses it, and the bundle verifier refuses a bundle that holds one, so an
    import cannot bring one in either.
    """
    return orjson.loads(raw)


_EACH_CHUNK = 2048


def loads_each(texts: Sequence[str]) -> list[Any]:
    """Parse each of ``texts`` (JSON text holding one value each) into a list of the values.

    One ``orjson`` call for the lot: joined into one JSON array, the values parse about five
    times faster than text by text (a page of 100 artifacts' ``data`` and ``tags``: ~80 µs
    against ~400 µs here), since each call has a fixed cost larger than a small document's
    parsing. A text that is not exactly one value would shift the rest; the count is checked
    and, when it is off, each text is parsed alone so the bad one raises as ``loads`` would.
    """
    if len(texts) > _EACH_CHUNK:  # a bounded joined copy, whatever the listing's size
        return [v for i in range(0, len(texts), _EACH_CHUNK) for v in loads_each(texts[i : i + _EACH_CHUNK])]
    values: Any = None
    if all(type(t) is str for t in texts):
        try:
            values = orjson.loads("[" + ",".join(texts) + "]")
        except orjson.JSONDecodeError:
            values = None
    if type(values) is not list or len(values) != len(texts):
        return [orjson.loads(t) for t in texts]
    return values


def sha256(data: bytes) -> bytes:
    """The SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()


def _raise_non_json(value: Any, max_depth: int, *, numpy: bool = True) -> NoReturn:
    """Raise the error that says why orjson refused ``value`` (walked without recursion)."""
    found = _find_non_json(value, max_depth, numpy=numpy)
    if isinstance(found, TooDeepError):
        raise found from None
    path, bad = found or ("", value)
    raise NotJSONError(path, bad) from None


def _find_non_json(value: Any, max_depth: int, *, numpy: bool = True) -> tuple[str, object] | TooDeepError | None:
    """Where (path, value) ``value`` stops being plain JSON; the path of the root itself is ``""``.

    An explicit stack, not recursion: a value nested 100,000 deep is walked like any other, and
    nesting beyond ``max_depth`` is reported as a :class:`TooDeepError`.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        kind = type(item)
        if kind.__module__ == "numpy":
            plain = _from_numpy(item) if numpy else _NO
            if plain is _NO:
                return path, item
            item, kind = plain, type(plain)
        if kind is int and not -(2**63) <= item < 2**64:
            return path, item  # orjson refuses integers beyond 64 bits
        if kind is str and lone_surrogate(item) is not None:
            return path, item
        if item is None or kind in (str, int, float, bool):
            continue
        if kind is not dict and kind is not list:
            return path, item
        if depth >= max_depth:
            return TooDeepError(path, max_depth)
        children: list[tuple[Any, str, int]] = []
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return f"{path}[{key!r}] (key)", _Key(key)
                if lone_surrogate(key) is not None:
                    return f"{path}[{key!r}] (key)", key
                children.append((child, f"{path}[{key!r}]", depth + 1))
        else:
            children.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
        stack.extend(reversed(children))  # report the first bad item in document order
    return None


def _find_nul(value: Any) -> tuple[str, str] | None:
    """Where the first NUL character is in ``value``'s keys and strings (an explicit stack), as (path, problem)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if type(item) is str:
            if "\x00" in item:
                return path, _nul_problem(item)
        elif type(item) is dict:
            children = []
            for key, child in item.items():
                if "\x00" in key:
                    return f"{path}[{key!r}] (key)", _nul_problem(key)
                children.append((child, f"{path}[{key!r}]"))
            stack.extend(reversed(children))
        elif type(item) is list:
            stack.extend(reversed([(child, f"{path}[{index}]") for index, child in enumerate(item)]))
    return None


def _nul_problem(text: str) -> str:
    return (
        f"holds a NUL character (U+0000 at index {text.index(chr(0))}), which the ledger does not store "
        "(PostgreSQL text cannot hold it); remove it, or keep binary data in data['content']"
    )


def _find_non_finite(value: Any, path: str) -> tuple[str, object] | None:
    if type(value) is float and not math.isfinite(value):
        return path, value
    if type(value) is dict:
        for key, item in value.items():
            found = _find_non_finite(item, f"{path}[{key!r}]")
            if found is not None:
                return found
    elif type(value) is list:
        for index, item in enumerate(value):
            found = _find_non_finite(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def dumps_trusted(value: Any) -> bytes:
    """Canonical JSON of a value already accepted by :func:`dumps` (no NaN walk: the hot path).

    A value it cannot write still raises :class:`NotJSONError` naming where.
    """
    try:
        return orjson.dumps(value, option=_CANONICAL_STRICT)
    except TypeError:
        found = _find_non_json(value, _ORJSON_DEPTH, numpy=False)
        if found is None:
            raise
        if isinstance(found, TooDeepError):
            raise found from None
        raise NotJSONError(*found) from None


def dumps_ordered(value: dict[str, Any]) -> bytes:
    """Canonical JSON of a flat dict whose keys are already in canonical (sorted) order.

    Skips the sort: the hash chain's envelope is built in order. Raises orjson's
    :class:`TypeError` for a value it cannot write; the caller names the field.
    """
    return orjson.dumps(value, option=_ORDERED_STRICT)
