"""The codec names and media types, and the plain codecs: JSON, bytes and numpy arrays.

Each function here encodes one kind of value or decodes one codec's bytes; none of them
chooses a codec (that is :mod:`.encoding`). Encoders return None when the value cannot be
carried exactly, so the caller can fall back to another codec. numpy is imported only when
an array is encoded or decoded (:func:`import_optional`).
"""

from __future__ import annotations

import importlib
import io
from typing import Any, Final

from artifact_ledger import codec as _canon
from artifact_ledger.errors import MissingExtraError

__all__ = [
    "ARROW_MEDIA_TYPE",
    "BYTES_MEDIA_TYPE",
    "DATAFRAME_MEDIA_TYPE",
    "DEFAULT_MEDIA_TYPE",
    "JSON_MEDIA_TYPE",
    "MEDIA_TYPE_ALIASES",
    "NUMPY_MEDIA_TYPE",
    "PICKLE_MEDIA_TYPE",
    "PICKLE_MEDIA_TYPES",
    "SCALARS",
    "decode_bytes",
    "decode_json",
    "decode_numpy",
    "import_optional",
    "is_ndarray",
    "json_bytes",
    "npy_bytes",
]

DATAFRAME_MEDIA_TYPE: Final = "application/vnd.artifact-ledger.dataframe+json"
JSON_MEDIA_TYPE: Final = "application/json"
BYTES_MEDIA_TYPE: Final = "application/octet-stream"
PICKLE_MEDIA_TYPE: Final = "application/x-pickle"
NUMPY_MEDIA_TYPE: Final = "application/x-npy"
ARROW_MEDIA_TYPE: Final = "application/vnd.apache.arrow.stream"

MEDIA_TYPE_ALIASES: Final = {"application/vnd.chapkit.dataframe+json": DATAFRAME_MEDIA_TYPE}
"""Declared media types read as another (chapkit's DataFrame type is ours)."""
PICKLE_MEDIA_TYPES: Final = frozenset({PICKLE_MEDIA_TYPE, "application/python-pickle"})
DEFAULT_MEDIA_TYPE: Final = {
    "json": JSON_MEDIA_TYPE,
    "bytes": BYTES_MEDIA_TYPE,
    "dataframe": DATAFRAME_MEDIA_TYPE,
    "pandas": DATAFRAME_MEDIA_TYPE,
    "numpy": NUMPY_MEDIA_TYPE,
    "arrow": ARROW_MEDIA_TYPE,
    "chunks": BYTES_MEDIA_TYPE,
    "pickle": PICKLE_MEDIA_TYPE,
}
"""Codec name -> the media type recorded when the content declared none."""

SCALARS: Final = (str, int, float, bool, type(None))
"""The exact types of JSON scalars (subclasses such as ``IntEnum`` would not round-trip)."""

_NPY_MAGIC: Final = b"\x93NUMPY"


def import_optional(name: str, purpose: str) -> Any:
    """Import numpy or pandas, or raise :class:`MissingExtraError` naming the extra that brings it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs {name}: pip install 'artifact-ledger[examples]' (or pip install {name})"
        ) from exc


# -- JSON ---------------------------------------------------------------------------------------


def _is_plain_json(value: object) -> bool:
    """Whether ``value`` is made only of exact dict/list/str/int/float/bool/None (so it round-trips)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in SCALARS:
            continue
        if kind is list:
            stack.extend(item)  # type: ignore[arg-type]  # narrowed by `type(item) is list` above
        elif kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]  # narrowed: type(item) is dict
                if type(key) is not str:
                    return False
                stack.append(child)
        else:
            return False
    return True


def json_bytes(value: object) -> bytes | None:
    """Canonical JSON of ``value`` if it is plain JSON that round-trips exactly, else None."""
    if not _is_plain_json(value):
        return None
    try:
        return _canon.dumps(value)
    except _canon.NotJSONError:  # NaN, infinities, integers beyond 64 bits, nesting beyond 254 levels
        return None  # (the caller falls back to signed pickle, which carries them exactly)


def decode_json(data: bytes) -> object:
    return _canon.loads(data)


# -- bytes --------------------------------------------------------------------------------------


def decode_bytes(data: bytes) -> object:
    return data


# -- numpy --------------------------------------------------------------------------------------


def is_ndarray(value: object) -> bool:
    """Whether ``value`` is a ``numpy.ndarray`` (told by its type's name: numpy is not imported)."""
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray"


def npy_bytes(array: Any) -> bytes | None:
    """The array as ``.npy`` written without pickle, or None when its dtype needs pickle."""
    if array.dtype.hasobject:
        return None
    np = import_optional("numpy", "storing a numpy array")
    buffer = io.BytesIO()
    try:
        np.save(buffer, array, allow_pickle=False)
    except ValueError:  # dtypes that .npy can only hold by pickling
        return None
    return buffer.getvalue()


def decode_numpy(data: bytes) -> object:
    np = import_optional("numpy", "decoding a numpy array")
    if not data.startswith(_NPY_MAGIC):
        raise ValueError("not a .npy file")
    return np.load(io.BytesIO(data), allow_pickle=False)
