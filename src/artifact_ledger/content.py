"""Content codecs and signed pickle.

Content (``data["content"]`` of an artifact) is encoded to bytes by one codec and stored in
the blob table keyed by the SHA-256 of those bytes. Decoding gives back an object of the same
Python type (``bytearray`` and ``memoryview`` come back as ``bytes``):

- ``json``: exact dict/list/str/int/float/bool/None, as canonical JSON (:mod:`artifact_ledger.codec`)
- ``bytes``: bytes, bytearray, memoryview, stored as they are
- ``dataframe``: :class:`artifact_ledger.dataframe.DataFrame`, as canonical JSON ``{"columns", "data"}``
- ``pandas``: a ``pandas.DataFrame`` of JSON-able columns, as canonical JSON of its columns, index,
  dtypes and rows
- ``numpy``: a ``numpy.ndarray`` without Python objects, as ``.npy`` written with ``allow_pickle=False``
- ``pickle``: anything else, as a signed pickle (below)

A signed pickle is ``b"ALPK" + version (1 byte, 1) + key id (8 bytes) +
HMAC-SHA256(key, pickled) (32 bytes) + pickled`` (protocol 5). The key lives outside the
database (:class:`Keyring`); the signature is checked before anything is unpickled, so someone
who can write the database but cannot read the key cannot get code executed.

numpy and pandas are optional: they are imported only when content needs them.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import os
import pickle
import secrets
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from artifact_ledger import codec as _canon
from artifact_ledger.dataframe import DataFrame
from artifact_ledger.errors import (
    ContentTypeMismatchError,
    InvalidArtifactDataError,
    LedgerError,
    MissingExtraError,
    UntrustedContentError,
)

__all__ = [
    "DATAFRAME_MEDIA_TYPE",
    "EncodedContent",
    "Keyring",
    "decode_content",
    "encode_content",
]

DATAFRAME_MEDIA_TYPE: Final = "application/vnd.artifact-ledger.dataframe+json"
JSON_MEDIA_TYPE: Final = "application/json"
BYTES_MEDIA_TYPE: Final = "application/octet-stream"
PICKLE_MEDIA_TYPE: Final = "application/x-pickle"
NUMPY_MEDIA_TYPE: Final = "application/x-npy"

_ALIASES: Final = {"application/vnd.chapkit.dataframe+json": DATAFRAME_MEDIA_TYPE}
_PICKLE_MEDIA_TYPES: Final = frozenset({PICKLE_MEDIA_TYPE, "application/python-pickle"})
_DEFAULT_MEDIA_TYPE: Final = {
    "json": JSON_MEDIA_TYPE,
    "bytes": BYTES_MEDIA_TYPE,
    "dataframe": DATAFRAME_MEDIA_TYPE,
    "pandas": DATAFRAME_MEDIA_TYPE,
    "numpy": NUMPY_MEDIA_TYPE,
    "pickle": PICKLE_MEDIA_TYPE,
}

_MAGIC: Final = b"ALPK"
_VERSION: Final = 1
_KEY_ID_SIZE: Final = 8
_MAC_SIZE: Final = 32
_HEADER_SIZE: Final = len(_MAGIC) + 1 + _KEY_ID_SIZE + _MAC_SIZE
_MIN_KEY_SIZE: Final = 16
_NPY_MAGIC: Final = b"\x93NUMPY"
_PANDAS_FORMAT: Final = 1
_INT64_MIN: Final = -(2**63)  # numpy's NaT as an int64


@dataclass(frozen=True, slots=True)
class EncodedContent:
    """Content ready for the blob table."""

    codec: str
    """``json``, ``bytes``, ``dataframe``, ``pandas``, ``numpy`` or ``pickle``."""
    media_type: str | None
    """The declared content type, normalised, or the codec's default when none was declared."""
    data: bytes
    """Exactly the bytes stored in the blob table."""
    hash: str
    """Hex SHA-256 of ``data``."""
    size: int
    """``len(data)``."""


# -- keys ---------------------------------------------------------------------------------------


class Keyring:
    """HMAC keys for signed pickle: one key signs, every key verifies (rotation)."""

    __slots__ = ("_keys", "_signing_key")

    def __init__(self, signing_key: bytes, *, verify_keys: Sequence[bytes] = ()) -> None:
        for key in (signing_key, *verify_keys):
            if not isinstance(key, bytes):
                raise TypeError(f"a pickle-signing key must be bytes, not {type(key).__name__}")
            if len(key) < _MIN_KEY_SIZE:
                raise ValueError(f"a pickle-signing key must be at least {_MIN_KEY_SIZE} bytes, not {len(key)}")
        self._signing_key = signing_key
        self._keys: dict[bytes, bytes] = {}
        for key in (signing_key, *verify_keys):
            self._keys.setdefault(self.key_id(key), key)

    @staticmethod
    def key_id(key: bytes) -> bytes:
        """The 8-byte id written beside each signature: the first 8 bytes of SHA-256(key)."""
        return hashlib.sha256(key).digest()[:_KEY_ID_SIZE]

    @classmethod
    def generate(cls) -> Keyring:
        """A keyring with one random 32-byte key (for in-memory ledgers)."""
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_secret(cls, secret: str | bytes, *, previous: Sequence[str | bytes] = ()) -> Keyring:
        """Sign with ``secret``; also verify pickles signed with any of ``previous``.

        A str secret is UTF-8 encoded and hashed to a 32-byte key; bytes are used as they are
        (at least 16 of them).
        """
        return cls(_secret_key(secret), verify_keys=[_secret_key(s) for s in previous])

    @classmethod
    def from_key_file(cls, path: Path, *, create: bool = True) -> Keyring:
        """Keys from a file of hex lines: the first signs, later lines only verify.

        A missing file is created (mode 0600, one random 32-byte key) when ``create`` is true,
        else :class:`FileNotFoundError`. On POSIX a file that group or others can read or write is
        refused with :class:`ValueError`. Blank lines and lines starting with ``#`` are skipped.
        """
        path = Path(path)
        if create:
            _create_key_file(path)
        with open(path, "rb") as handle:
            if os.name == "posix":
                mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
                if mode & 0o077:
                    raise ValueError(
                        f"key file {path} has mode {mode:#o}, so other users can read or change the "
                        f"pickle-signing key; run `chmod 600 {path}`"
                    )
            text = handle.read().decode("ascii", errors="replace")
        keys: list[bytes] = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                keys.append(bytes.fromhex(line))
            except ValueError:
                raise ValueError(f"key file {path}, line {number}: not a hex key") from None
        if not keys:
            raise ValueError(f"key file {path} holds no key")
        return cls(keys[0], verify_keys=keys[1:])

    @property
    def signing_key_id(self) -> bytes:
        """The id of the key that signs new pickles."""
        return self.key_id(self._signing_key)

    @property
    def key_ids(self) -> tuple[bytes, ...]:
        """The ids of every key that verifies, the signing key's first."""
        return tuple(self._keys)

    def sign(self, payload: bytes) -> bytes:
        """``key id + HMAC-SHA256(signing key, payload)``."""
        mac = hmac.new(self._signing_key, payload, hashlib.sha256).digest()
        return self.signing_key_id + mac

    def _key_for(self, key_id: bytes) -> bytes | None:
        return self._keys.get(key_id)

    def __repr__(self) -> str:
        ids = ", ".join(k.hex() for k in self._keys)
        return f"Keyring(signing={self.signing_key_id.hex()}, keys=[{ids}])"


def _secret_key(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        return hashlib.sha256(secret.encode("utf-8")).digest()
    return secret


def _create_key_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32).hex().encode("ascii") + b"\n")


# -- optional libraries -------------------------------------------------------------------------


def _import_optional(name: str, purpose: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs {name}: pip install 'artifact-ledger[examples]' (or pip install {name})"
        ) from exc


def _is_pandas_frame(value: object) -> bool:
    cls = type(value)
    return cls.__module__.startswith("pandas") and cls.__name__ == "DataFrame"


def _is_ndarray(value: object) -> bool:
    cls = type(value)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray"


_SCALARS: Final = (str, int, float, bool, type(None))


def _is_plain_json(value: object) -> bool:
    """Whether ``value`` is made only of exact dict/list/str/int/float/bool/None (so it round-trips)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
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


def _json_bytes(value: object) -> bytes | None:
    """Canonical JSON of ``value`` if it is plain JSON that round-trips exactly, else None."""
    if not _is_plain_json(value):
        return None
    try:
        return _canon.dumps(value)
    except _canon.NotJSONError:  # NaN, infinities, integers beyond 64 bits
        return None


# -- encoding -----------------------------------------------------------------------------------


def _normalise_media_type(declared: str | None) -> str | None:
    if declared is None or not declared.strip():
        return None
    base, sep, params = declared.strip().partition(";")
    base = base.strip().lower()
    base = _ALIASES.get(base, base)
    return f"{base}; {params.strip()}" if sep and params.strip() else base


def _mismatch(declared: str, content: object, why: str) -> ContentTypeMismatchError:
    return ContentTypeMismatchError(
        f"content type {declared!r} does not match the content, a {type(content).__module__}."
        f"{type(content).__qualname__}: {why}"
    )


def encode_content(content: object, declared_type: str | None, keyring: Keyring) -> EncodedContent:
    """Choose a codec for ``content`` (forced by ``declared_type`` where it names one) and encode it.

    Raises :class:`ContentTypeMismatchError` when the declared type contradicts the content,
    :class:`InvalidArtifactDataError` when content that must be pickled cannot be, and
    :class:`MissingExtraError` when numpy or pandas would be needed but is not installed.
    """
    media_type = _normalise_media_type(declared_type)
    base = media_type.partition(";")[0] if media_type else None
    try:
        name, data = _encode(content, base, keyring)
    except ContentTypeMismatchError as exc:
        if declared_type is not None and declared_type.strip() != base:
            raise ContentTypeMismatchError(f"{exc} (declared as {declared_type!r})") from None
        raise
    return EncodedContent(
        codec=name,
        media_type=media_type or _DEFAULT_MEDIA_TYPE[name],
        data=data,
        hash=_canon.sha256(data).hex(),
        size=len(data),
    )


def _encode(content: object, declared: str | None, keyring: Keyring) -> tuple[str, bytes]:
    if declared in _PICKLE_MEDIA_TYPES:
        return "pickle", _sign_pickle(content, keyring)
    if declared == JSON_MEDIA_TYPE:
        data = _json_bytes(content)
        if data is None:
            raise _mismatch(declared, content, "it is not plain JSON (dict, list, str, int, float, bool, None)")
        return "json", data
    if declared == BYTES_MEDIA_TYPE:
        if not isinstance(content, bytes | bytearray | memoryview):
            raise _mismatch(declared, content, "it is not bytes, bytearray or memoryview")
        return "bytes", bytes(content)
    if declared == NUMPY_MEDIA_TYPE:
        if not _is_ndarray(content):
            raise _mismatch(declared, content, "it is not a numpy.ndarray")
        npy = _npy_bytes(content)
        if npy is None:
            raise _mismatch(
                declared,
                content,
                "its dtype holds Python objects, which .npy cannot store "
                "without pickle; declare application/x-pickle instead",
            )
        return "numpy", npy
    if declared == DATAFRAME_MEDIA_TYPE:
        if not (type(content) is DataFrame or _is_pandas_frame(content) or _is_dataframe_dict(content)):
            raise _mismatch(
                declared,
                content,
                "it is neither an artifact_ledger DataFrame, a pandas "
                "DataFrame nor a dict of list-valued 'columns' and 'data'",
            )
        if type(content) is dict:
            data = _json_bytes(content)
            if data is None:
                raise _mismatch(declared, content, "the dict is not plain JSON")
            return "json", data
    return _infer(content, keyring)


def _is_dataframe_dict(value: object) -> bool:
    return (
        type(value) is dict
        and set(value) == {"columns", "data"}
        and type(value["columns"]) is list
        and type(value["data"]) is list
    )


def _infer(content: object, keyring: Keyring) -> tuple[str, bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        return "bytes", bytes(content)
    if type(content) is DataFrame:
        data = _json_bytes(content.model_dump())
        if data is not None:
            return "dataframe", data
    elif _is_pandas_frame(content):
        data = _pandas_bytes(content)
        if data is not None:
            return "pandas", data
    elif _is_ndarray(content):
        data = _npy_bytes(content)
        if data is not None:
            return "numpy", data
    else:
        data = _json_bytes(content)
        if data is not None:
            return "json", data
    return "pickle", _sign_pickle(content, keyring)


def _sign_pickle(content: object, keyring: Keyring) -> bytes:
    try:
        payload = pickle.dumps(content, protocol=5)
    except Exception as exc:  # pickling runs arbitrary __reduce__ code: any error means "cannot"
        raise InvalidArtifactDataError(
            f"content of type {type(content).__qualname__} can be stored neither as JSON, bytes, "
            f"a DataFrame or an array, nor pickled: {type(exc).__name__}: {exc}"
        ) from exc
    return _MAGIC + bytes([_VERSION]) + keyring.sign(payload) + payload


def _npy_bytes(array: Any) -> bytes | None:
    if array.dtype.hasobject:
        return None
    np = _import_optional("numpy", "storing a numpy array")
    buffer = io.BytesIO()
    try:
        np.save(buffer, array, allow_pickle=False)
    except ValueError:  # dtypes that .npy can only hold by pickling
        return None
    return buffer.getvalue()


# -- pandas -------------------------------------------------------------------------------------

_NULLABLE_NAMES: Final = frozenset({"str", "string"})


def _pandas_bytes(frame: Any) -> bytes | None:
    """The pandas codec's JSON, or None when the frame holds something JSON cannot carry exactly."""
    pd = _import_optional("pandas", "storing a pandas DataFrame")
    if frame.attrs or not frame.flags.allows_duplicate_labels:
        return None
    index = _encode_index(pd, frame.index)
    columns = _encode_index(pd, frame.columns)
    if index is None or columns is None:
        return None
    dtypes: list[str] = []
    values_by_column: list[list[Any]] = []
    for position in range(frame.shape[1]):
        encoded = _encode_series(pd, frame.iloc[:, position])
        if encoded is None:
            return None
        dtypes.append(encoded[0])
        values_by_column.append(encoded[1])
    if values_by_column:
        rows = [list(row) for row in zip(*values_by_column, strict=True)]
    else:  # no columns: keep one empty row per index entry so the row count stays explicit
        rows = [[] for _ in range(frame.shape[0])]
    document = {
        "format": _PANDAS_FORMAT,
        "columns": columns,
        "index": index,
        "dtypes": dtypes,
        "data": rows,
    }
    try:
        return _canon.dumps(document)
    except _canon.NotJSONError:  # NaN in an object column, infinities, huge integers
        return None


def _allowed_dtype(dtype: Any) -> bool:
    """object, str/string, bool, integers, floats, datetimes and timedeltas (tz-aware included)."""
    name = str(dtype)
    kind = getattr(dtype, "kind", "")
    return name == "object" or name in _NULLABLE_NAMES or (len(kind) == 1 and kind in "biufmM")


def _encode_series(pd: Any, series: Any) -> tuple[str, list[Any]] | None:
    dtype = series.dtype
    name = str(dtype)
    if not _allowed_dtype(dtype):
        return None
    try:
        if pd.api.types.pandas_dtype(name) != dtype:
            return None
    except (TypeError, ValueError):
        return None
    if dtype.kind in "mM":
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert(None)
        ints = series.to_numpy().view("i8").tolist()
        return name, [None if v == _INT64_MIN else v for v in ints]
    values = series.tolist()
    if name != "object":  # missing values (NaN, NA) become null; object columns keep None vs NaN apart
        missing = series.isna().to_numpy()
        if missing.any():
            values = [None if gone else v for v, gone in zip(values, missing.tolist(), strict=True)]
    if not all(type(v) in _SCALARS for v in values):
        return None
    return name, values


def _encode_index(pd: Any, index: Any) -> dict[str, Any] | None:
    name = index.name
    if type(name) not in _SCALARS or isinstance(index, pd.MultiIndex):
        return None
    if isinstance(index, pd.RangeIndex):
        return {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step, "name": name}
    encoded = _encode_series(pd, pd.Series(index, copy=False))
    if encoded is None:
        return None
    freq = getattr(index, "freqstr", None)
    return {"kind": "values", "dtype": encoded[0], "values": encoded[1], "name": name, "freq": freq}


def _decode_series(pd: Any, np: Any, dtype_name: str, values: list[Any]) -> Any:
    dtype = pd.api.types.pandas_dtype(dtype_name)
    if not _allowed_dtype(dtype):
        raise ValueError(f"dtype {dtype_name!r} is not one the pandas codec writes")
    if dtype.kind in "mM":
        ints = np.array([_INT64_MIN if v is None else v for v in values], dtype="int64")
        tz = getattr(dtype, "tz", None)
        unit = dtype.unit if tz is not None else np.datetime_data(dtype)[0]
        letter = "M" if dtype.kind == "M" else "m"
        series = pd.Series(ints.view(f"{letter}8[{unit}]"))
        if tz is not None:
            series = series.dt.tz_localize("UTC").dt.tz_convert(tz)
        return series
    return pd.Series(values, dtype=dtype)


def _decode_index(pd: Any, np: Any, spec: dict[str, Any]) -> Any:
    if spec["kind"] == "range":
        return pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec["name"])
    if spec["kind"] != "values":
        raise ValueError(f"unknown index kind {spec['kind']!r}")
    series = _decode_series(pd, np, spec["dtype"], spec["values"])
    if spec.get("freq") is not None:
        return (
            pd.DatetimeIndex(series, freq=spec["freq"], name=spec["name"])
            if series.dtype.kind == "M"
            else pd.TimedeltaIndex(series, freq=spec["freq"], name=spec["name"])
        )
    return pd.Index(series, dtype=series.dtype, name=spec["name"])


def _pandas_from_json(data: bytes) -> Any:
    pd = _import_optional("pandas", "decoding a pandas DataFrame")
    np = _import_optional("numpy", "decoding a pandas DataFrame")
    document = _canon.loads(data)
    if document.get("format") != _PANDAS_FORMAT:
        raise ValueError(f"unknown pandas codec format {document.get('format')!r}")
    dtypes: list[str] = document["dtypes"]
    rows: list[list[Any]] = document["data"]
    index = _decode_index(pd, np, document["index"])
    columns = _decode_index(pd, np, document["columns"])
    if any(len(row) != len(dtypes) for row in rows) or len(columns) != len(dtypes) or len(index) != len(rows):
        raise ValueError("rows, dtypes, columns and index disagree in size")
    by_column = [list(values) for values in zip(*rows, strict=True)] if rows else [[] for _ in dtypes]
    series = [_decode_series(pd, np, name, values) for name, values in zip(dtypes, by_column, strict=True)]
    frame = pd.DataFrame(dict(enumerate(series))) if series else pd.DataFrame(index=range(len(rows)))
    frame.index = index
    frame.columns = columns
    return frame


# -- decoding -----------------------------------------------------------------------------------


def decode_content(codec: str, data: bytes, expected_hash: str, keyring: Keyring) -> object:
    """The object that :func:`encode_content` encoded as ``data`` with ``codec``.

    The bytes are checked against ``expected_hash`` first, and a pickle's signature before it
    is unpickled; any failure raises :class:`UntrustedContentError` and nothing is decoded.
    :class:`MissingExtraError` says numpy or pandas is needed. A verified pickle whose classes
    cannot be imported here raises :class:`LedgerError` naming the missing module.
    """
    blob = bytes(data)
    digest = expected_hash.lower()
    if _canon.sha256(blob).hex() != digest:
        raise UntrustedContentError(f"blob {digest} is corrupted: its bytes do not match their SHA-256")
    if codec == "pickle":
        return _verified_unpickle(blob, digest, keyring)
    decoder = _DECODERS.get(codec)
    if decoder is None:
        raise UntrustedContentError(
            f"blob {digest} has codec {codec!r}, which this version of artifact-ledger does not "
            "know; refusing to decode it"
        )
    try:
        return decoder(blob)
    except MissingExtraError:
        raise
    except Exception as exc:  # garbage that happens to match its hash: only documented errors escape
        raise UntrustedContentError(
            f"blob {digest} is corrupted: it is not valid {codec} content ({type(exc).__name__}: {exc})"
        ) from exc


def _verified_unpickle(blob: bytes, digest: str, keyring: Keyring) -> object:
    if len(blob) < _HEADER_SIZE or not blob.startswith(_MAGIC):
        raise UntrustedContentError(
            f"blob {digest} is an unsigned pickle (no ALPK signature header): refusing to unpickle"
        )
    version = blob[len(_MAGIC)]
    if version != _VERSION:
        raise UntrustedContentError(
            f"blob {digest} is a signed pickle of version {version}, which this version of "
            "artifact-ledger cannot verify: refusing to unpickle"
        )
    start = len(_MAGIC) + 1
    key_id = blob[start : start + _KEY_ID_SIZE]
    mac = blob[start + _KEY_ID_SIZE : _HEADER_SIZE]
    payload = blob[_HEADER_SIZE:]
    key = keyring._key_for(key_id)
    if key is None:
        raise UntrustedContentError(
            f"blob {digest} is a pickle signed with a key this ledger does not hold (key id "
            f"{key_id.hex()}; this ledger holds {', '.join(k.hex() for k in keyring.key_ids)}): refusing "
            "to unpickle. Configure the key that signed it, e.g. Keyring.from_secret(new, "
            "previous=[old]) or as a later line of the key file"
        )
    expected = hmac.new(key, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise UntrustedContentError(f"blob {digest}: pickle signature does not verify: refusing to unpickle")
    try:
        return pickle.loads(payload)
    except Exception as exc:  # verified, but unpickling runs the pickled classes' own code
        raise LedgerError(
            f"blob {digest} holds a verified pickle that cannot be loaded here "
            f"({type(exc).__name__}: {exc}); install the packages, at the versions, that defined it"
        ) from exc


def _decode_json(data: bytes) -> object:
    return _canon.loads(data)


def _decode_bytes(data: bytes) -> object:
    return data


def _decode_dataframe(data: bytes) -> object:
    document = _canon.loads(data)
    if type(document) is not dict or set(document) != {"columns", "data"}:
        raise ValueError("expected an object with exactly 'columns' and 'data'")
    return DataFrame.model_validate(document, strict=True)


def _decode_numpy(data: bytes) -> object:
    np = _import_optional("numpy", "decoding a numpy array")
    if not data.startswith(_NPY_MAGIC):
        raise ValueError("not a .npy file")
    return np.load(io.BytesIO(data), allow_pickle=False)


_DECODERS: Final[dict[str, Callable[[bytes], object]]] = {
    "json": _decode_json,
    "bytes": _decode_bytes,
    "dataframe": _decode_dataframe,
    "pandas": _pandas_from_json,
    "numpy": _decode_numpy,
}
