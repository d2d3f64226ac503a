"""Choosing a codec for content, and decoding a blob only once its bytes are verified.

:func:`encode_content` honours a declared media type where it names a codec (and refuses
content that contradicts it), else infers the codec from the value's type, falling back to
signed pickle. :func:`decode_content` checks the bytes against their SHA-256 first, then
hands them to the codec they were written with; only documented errors escape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from artifact_ledger import codec as _canon
from artifact_ledger import codecs as _registry
from artifact_ledger.dataframe import DataFrame
from artifact_ledger.errors import (
    ContentTypeMismatchError,
    InvalidArtifactDataError,
    MissingExtraError,
    UnknownCodecError,
    UntrustedContentError,
)

from . import arrow
from .codecs import (
    ARROW_MEDIA_TYPE,
    BYTES_MEDIA_TYPE,
    DATAFRAME_MEDIA_TYPE,
    DEFAULT_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    MEDIA_TYPE_ALIASES,
    NUMPY_MEDIA_TYPE,
    PICKLE_MEDIA_TYPES,
    decode_bytes,
    decode_json,
    decode_numpy,
    is_ndarray,
    json_bytes,
    npy_bytes,
)
from .frames import (
    dataframe_bytes,
    decode_dataframe,
    decode_pandas,
    is_dataframe_dict,
    is_pandas_frame,
    pandas_bytes,
)
from .keyring import Keyring
from .pickle_signing import sign_pickle, verified_unpickle
from .streams import ChunkSource, PreparedStream, StreamedContent, decode_manifest

__all__ = ["EncodedContent", "decode_content", "encode_content", "verify_blob"]


@dataclass(frozen=True, slots=True)
class EncodedContent:
    """Content ready for the blob table."""

    codec: str
    """``json``, ``bytes``, ``dataframe``, ``pandas``, ``arrow``, ``numpy``, ``pickle`` or a registered codec's name."""
    media_type: str | None
    """The declared content type, normalised, or the codec's default when none was declared."""
    data: bytes
    """Exactly the bytes stored in the blob table."""
    hash: str
    """Hex SHA-256 of ``data``."""
    size: int
    """``len(data)``."""
    source: ChunkSource | None = None
    """For content saved as a stream (codec ``chunks``, ``data`` its manifest): where its chunks are
    read inside the write transaction. None when the chunks are already stored."""


# -- encoding -----------------------------------------------------------------------------------


MAX_MEDIA_TYPE_LENGTH: Final = 255
"""Longest content type the ledger records (its projection column is VARCHAR(255))."""


def _normalise_media_type(declared: str | None) -> str | None:
    if declared is None or not declared.strip():
        return None
    problem = None
    if len(declared) > MAX_MEDIA_TYPE_LENGTH:
        problem = f"is {len(declared)} characters long; the most is {MAX_MEDIA_TYPE_LENGTH}"
    elif "\x00" in declared:
        problem = "holds a NUL character, which the ledger does not store (PostgreSQL text cannot hold it)"
    elif _canon.lone_surrogate(declared) is not None:
        problem = "holds a lone surrogate, which has no UTF-8 encoding"
    if problem is not None:
        raise InvalidArtifactDataError(f"data['content_type'] ({declared!r:.60}) {problem}")
    base, sep, params = declared.strip().partition(";")
    base = base.strip().lower()
    base = MEDIA_TYPE_ALIASES.get(base, base)
    return f"{base}; {params.strip()}" if sep and params.strip() else base


def _mismatch(declared: str, content: object, why: str) -> ContentTypeMismatchError:
    return ContentTypeMismatchError(
        f"content type {declared!r} does not match the content, a {type(content).__module__}."
        f"{type(content).__qualname__}: {why}"
    )


def encode_content(content: object, declared_type: str | None, keyring: Keyring) -> EncodedContent:
    """Choose a codec for ``content`` (forced by ``declared_type`` where it names one) and encode it.

    Raises :class:`ContentTypeMismatchError` when the declared type contradicts the content,
    :class:`InvalidArtifactDataError` when content that must be pickled cannot be or the declared
    type is not storable text (over 255 characters, a NUL, a lone surrogate), and
    :class:`MissingExtraError` when numpy, pandas or pyarrow would be needed but is not installed,
    :class:`UnknownCodecError` when the declared type is in the registered codecs' family
    (``application/vnd.artifact-ledger.codec.*``) but no codec claims it, and
    :class:`CodecRoundTripError` when a registered codec does not give the content back.
    """
    media_type = _normalise_media_type(declared_type)
    if isinstance(content, PreparedStream | StreamedContent):
        streamed = content.content if isinstance(content, PreparedStream) else content
        manifest = streamed.manifest()
        return EncodedContent(
            codec="chunks",
            media_type=media_type or _default_media_type("chunks"),
            data=manifest,
            hash=_canon.sha256(manifest).hex(),
            size=len(manifest),
            source=content.source if isinstance(content, PreparedStream) else None,
        )
    base = media_type.partition(";")[0] if media_type else None
    try:
        name, data = _encode(content, base, keyring)
    except ContentTypeMismatchError as exc:
        if declared_type is not None and declared_type.strip() != base:
            raise ContentTypeMismatchError(f"{exc} (declared as {declared_type!r})") from None
        raise
    return EncodedContent(
        codec=name,
        media_type=media_type or _default_media_type(name),
        data=data,
        hash=_canon.sha256(data).hex(),
        size=len(data),
    )


def _default_media_type(name: str) -> str:
    default = DEFAULT_MEDIA_TYPE.get(name)
    return default if default is not None else _registry.get(name).media_type


def _encode(content: object, declared: str | None, keyring: Keyring) -> tuple[str, bytes]:
    if declared is not None:
        custom = _registry.for_media_type(declared)
        if custom is not None:
            if not custom.matches(content):
                raise _mismatch(declared, content, f"codec {custom.name!r} does not take it (its matches() said no)")
            return custom.name, custom.round_trip(content)
        if declared.startswith(_registry.CODEC_MEDIA_TYPE_PREFIX):
            raise UnknownCodecError(
                f"content type {declared!r} names codec {declared.removeprefix(_registry.CODEC_MEDIA_TYPE_PREFIX)!r}, "
                "which is not registered in this process; call artifact_ledger.codecs.register first"
            )
    if declared == ARROW_MEDIA_TYPE:
        if not is_pandas_frame(content):
            raise _mismatch(declared, content, "it is not a pandas.DataFrame")
        data = arrow.arrow_bytes(content)
        if data is None:
            raise _mismatch(
                declared,
                content,
                "Arrow would not give the frame back exactly (attrs, duplicate-label flags, or values "
                "or dtypes Arrow changes); declare application/x-pickle instead",
            )
        return "arrow", data
    if declared in PICKLE_MEDIA_TYPES:
        return "pickle", sign_pickle(content, keyring)
    if declared == JSON_MEDIA_TYPE:
        data = json_bytes(content)
        if data is None:
            raise _mismatch(declared, content, "it is not plain JSON (dict, list, str, int, float, bool, None)")
        return "json", data
    if declared == BYTES_MEDIA_TYPE:
        if not isinstance(content, bytes | bytearray | memoryview):
            raise _mismatch(declared, content, "it is not bytes, bytearray or memoryview")
        return "bytes", bytes(content)
    if declared == NUMPY_MEDIA_TYPE:
        if not is_ndarray(content):
            raise _mismatch(declared, content, "it is not a numpy.ndarray")
        npy = npy_bytes(content)
        if npy is None:
            raise _mismatch(
                declared,
                content,
                "its dtype holds Python objects, which .npy cannot store "
                "without pickle; declare application/x-pickle instead",
            )
        return "numpy", npy
    if declared == DATAFRAME_MEDIA_TYPE:
        if not (type(content) is DataFrame or is_pandas_frame(content) or is_dataframe_dict(content)):
            raise _mismatch(
                declared,
                content,
                "it is neither an artifact_ledger DataFrame, a pandas "
                "DataFrame nor a dict of list-valued 'columns' and 'data'",
            )
        if type(content) is dict:
            data = json_bytes(content)
            if data is None:
                raise _mismatch(declared, content, "the dict is not plain JSON")
            return "json", data
    return _infer(content, keyring)


def _infer(content: object, keyring: Keyring) -> tuple[str, bytes]:
    custom = _registry.matching(content)
    if custom is not None:
        return custom.name, custom.round_trip(content)
    if isinstance(content, bytes | bytearray | memoryview):
        return "bytes", bytes(content)
    if type(content) is DataFrame:
        data = dataframe_bytes(content)
        if data is not None:
            return "dataframe", data
    elif is_pandas_frame(content):
        data = pandas_bytes(content)
        if data is not None:
            return "pandas", data
        if arrow.available():  # what JSON cannot carry exactly goes to Arrow before pickle
            data = arrow.arrow_bytes(content)
            if data is not None:
                return "arrow", data
    elif is_ndarray(content):
        data = npy_bytes(content)
        if data is not None:
            return "numpy", data
    else:
        data = json_bytes(content)
        if data is not None:
            return "json", data
    return "pickle", sign_pickle(content, keyring)


# -- decoding -----------------------------------------------------------------------------------


def verify_blob(data: bytes, expected_hash: str, *, what: str | None = None) -> None:
    """Raise :class:`UntrustedContentError` unless ``data`` hashes to ``expected_hash``."""
    digest = expected_hash.lower()
    if _canon.sha256(data).hex() != digest:
        raise UntrustedContentError(f"{what or f'blob {digest}'} is corrupted: its bytes do not match their SHA-256")


def decode_content(codec: str, data: bytes, expected_hash: str, keyring: Keyring) -> object:
    """The object that :func:`encode_content` encoded as ``data`` with ``codec``.

    The bytes are checked against ``expected_hash`` first, and a pickle's signature before it
    is unpickled; any failure raises :class:`UntrustedContentError` and nothing is decoded
    (:class:`UnknownCodecError` when no codec of that name is built in or registered here).
    :class:`MissingExtraError` says numpy, pandas or pyarrow is needed. A verified pickle whose classes
    cannot be imported here raises :class:`LedgerError` naming the missing module.
    """
    blob = bytes(data)
    digest = expected_hash.lower()
    if _canon.sha256(blob).hex() != digest:
        raise UntrustedContentError(f"blob {digest} is corrupted: its bytes do not match their SHA-256")
    if codec == "pickle":
        return verified_unpickle(blob, digest, keyring)
    decoder = _DECODERS.get(codec)
    if decoder is None:
        try:
            decoder = _registry.get(codec).decode
        except UnknownCodecError:
            raise UnknownCodecError(
                f"blob {digest} has codec {codec!r}, which this version of artifact-ledger does not "
                "know and no codec registered in this process has that name "
                "(artifact_ledger.codecs.register); refusing to decode it"
            ) from None
    try:
        return decoder(blob)
    except MissingExtraError:
        raise
    except Exception as exc:  # garbage that happens to match its hash: only documented errors escape
        if codec not in _DECODERS:  # the bytes are the ones saved (their hash matched): the codec failed
            raise UntrustedContentError(
                f"blob {digest} holds the bytes that were saved (they match their SHA-256), but the codec "
                f"{codec!r} registered in this process could not decode them ({type(exc).__name__}: {exc}); "
                "was its decode changed since they were encoded?"
            ) from exc
        raise UntrustedContentError(
            f"blob {digest} is corrupted: it is not valid {codec} content ({type(exc).__name__}: {exc})"
        ) from exc


_DECODERS: Final[dict[str, Callable[[bytes], object]]] = {
    "json": decode_json,
    "bytes": decode_bytes,
    "dataframe": decode_dataframe,
    "pandas": decode_pandas,
    "numpy": decode_numpy,
    "arrow": arrow.decode_arrow,
    "chunks": decode_manifest,
}
