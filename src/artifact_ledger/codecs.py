"""The codec registry: how content of your own types is stored without pickle.

A codec turns one kind of value into bytes and back. The built-in codecs (``json``, ``bytes``,
``dataframe``, ``pandas``, ``arrow``, ``numpy``, and ``pickle`` last) are always there; this
module adds your own::

    from artifact_ledger import codecs

    codecs.register(
        "point",
        encode=lambda p: f"{p.x},{p.y}".encode(),
        decode=lambda b: Point(*map(int, b.split(b","))),
        matches=lambda v: type(v) is Point,
        sample=Point(1, 2),
    )

Choosing a codec for ``data["content"]``: a declared ``content_type`` that names a codec's media
type forces that codec; otherwise the registered codecs are asked first, in the order they were
registered (the first whose ``matches`` says yes encodes the value), then the built-ins, and
signed pickle takes whatever nothing else can carry. Every save through a registered codec
checks the round trip (``decode(encode(value))`` equal to the value) before anything is written,
and ``register`` checks it on ``sample`` when one is given: a codec that loses information raises
:class:`~artifact_ledger.errors.CodecRoundTripError`.

Blobs record the codec's name. A process that reads content must have registered the codecs it
was written with; a name it does not know raises :class:`~artifact_ledger.errors.UnknownCodecError`
(nothing is decoded). Registration is per process, not stored in the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .errors import CodecRoundTripError, InvalidArgumentError, UnknownCodecError
from .events import REDACTED_CODEC

__all__ = [
    "BUILTIN_CODECS",
    "CODEC_MEDIA_TYPE_PREFIX",
    "Codec",
    "get",
    "names",
    "register",
    "registered",
    "unregister",
]

BUILTIN_CODECS: Final = ("json", "bytes", "dataframe", "pandas", "arrow", "numpy", "chunks", "pickle")
"""The names the ledger's own codecs are stored under (``chunks``: content saved as a stream);
none of them can be registered again."""

CODEC_MEDIA_TYPE_PREFIX: Final = "application/vnd.artifact-ledger.codec."
"""A registered codec's media type unless it gives its own: this prefix and its name."""

_NAME: Final = re.compile(r"[a-z][a-z0-9._+-]{0,31}")


@dataclass(frozen=True, slots=True)
class Codec:
    """One registered codec."""

    name: str
    """Stored with every blob it wrote (1-32 characters: lowercase letters, digits, ``._+-``)."""
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    matches: Callable[[Any], bool]
    media_type: str
    """Recorded as the content type when a save declares none; declaring it forces this codec."""
    equal: Callable[[Any, Any], bool]
    """How a round trip is compared with the original (``==`` unless ``register`` was given one)."""

    def round_trip(self, value: Any) -> bytes:
        """``encode(value)``, once its decoding is checked equal to ``value``.

        Raises :class:`CodecRoundTripError` when encoding fails, gives something other than bytes,
        or decodes to something unequal.
        """
        try:
            data = self.encode(value)
        except Exception as exc:
            raise CodecRoundTripError(
                f"codec {self.name!r} could not encode a {_kind(value)}: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CodecRoundTripError(f"codec {self.name!r} encoded a {_kind(value)} as a {_kind(data)}, not bytes")
        data = bytes(data)
        try:
            decoded = self.decode(data)
        except Exception as exc:
            raise CodecRoundTripError(
                f"codec {self.name!r} does not round-trip a {_kind(value)}: decoding what it encoded "
                f"raised {type(exc).__name__}: {exc}"
            ) from exc
        try:
            same = self.equal(decoded, value)
        except Exception as exc:
            raise CodecRoundTripError(
                f"codec {self.name!r}: comparing a decoded {_kind(value)} with the original raised "
                f"{type(exc).__name__}: {exc} (give register() an equal= function for such types)"
            ) from exc
        if same is not True:
            raise CodecRoundTripError(
                f"codec {self.name!r} does not round-trip a {_kind(value)}: decode(encode(value)) "
                f"differs from the value ({'equal returned ' + repr(same) if same is not False else 'not equal'})"
            )
        return data


_REGISTRY: dict[str, Codec] = {}
_BY_MEDIA_TYPE: dict[str, Codec] = {}
_NO_SAMPLE: Final[Any] = object()


def _kind(value: object) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def register(
    name: str,
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    matches: Callable[[Any], bool],
    *,
    media_type: str | None = None,
    sample: Any = _NO_SAMPLE,
    equal: Callable[[Any, Any], bool] | None = None,
) -> Codec:
    """Register a codec for content of your own types; returns it.

    ``encode(value) -> bytes`` and ``decode(bytes) -> value`` must be inverse; ``matches(value)``
    says whether the codec takes a value when no content type is declared. ``media_type``: the
    content type recorded (default ``application/vnd.artifact-ledger.codec.<name>``); declaring it
    on a save forces the codec. ``sample``: a value whose round trip is checked now. ``equal``:
    compares a decoded value with the original (default ``==``; give one for types such as numpy
    arrays whose ``==`` is not a bool).

    Raises :class:`InvalidArgumentError` for a malformed, built-in, reserved (``redacted``) or
    taken name or media type, or arguments that are not callables, and
    :class:`CodecRoundTripError` when ``sample`` does not round-trip (the codec is then not
    registered).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"a codec name is 1-32 characters, a lowercase letter then lowercase letters, digits or "
            f"'._+-', not {name!r:.80}"
        )
    if name in BUILTIN_CODECS:
        raise InvalidArgumentError(f"codec {name!r} is built in; register yours under another name")
    if name == REDACTED_CODEC:  # what a redaction leaves as the codec of erased content: never real content
        raise InvalidArgumentError(
            f"codec name {name!r} is reserved (it marks content a redaction erased); register yours under another name"
        )
    if name in _REGISTRY:
        raise InvalidArgumentError(f"a codec {name!r} is already registered; unregister({name!r}) it first")
    for what, function in (("encode", encode), ("decode", decode), ("matches", matches), ("equal", equal)):
        if function is not None and not callable(function):
            raise InvalidArgumentError(f"codec {name!r}: {what} must be callable, not {_kind(function)}")
    media = CODEC_MEDIA_TYPE_PREFIX + name if media_type is None else media_type
    if not isinstance(media, str) or not re.fullmatch(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", media):
        raise InvalidArgumentError(
            f"codec {name!r}: media_type must be a lowercase type/subtype without parameters, not {media!r:.80}"
        )
    if media in _BY_MEDIA_TYPE or _builtin_media_type(media):
        raise InvalidArgumentError(f"codec {name!r}: media type {media!r} already names another codec")
    codec = Codec(name, encode, decode, matches, media, equal if equal is not None else _equal)
    if sample is not _NO_SAMPLE:
        codec.round_trip(sample)
    _REGISTRY[name] = codec
    _BY_MEDIA_TYPE[media] = codec
    return codec


def _builtin_media_type(media: str) -> bool:
    from .content.codecs import DEFAULT_MEDIA_TYPE, MEDIA_TYPE_ALIASES, PICKLE_MEDIA_TYPES

    return media in DEFAULT_MEDIA_TYPE.values() or media in MEDIA_TYPE_ALIASES or media in PICKLE_MEDIA_TYPES


def unregister(name: str) -> None:
    """Forget a registered codec (content it wrote no longer decodes in this process).

    Raises :class:`UnknownCodecError` when no codec of that name is registered.
    """
    codec = get(name)
    del _REGISTRY[codec.name]
    del _BY_MEDIA_TYPE[codec.media_type]


def get(name: str) -> Codec:
    """The registered codec ``name``; :class:`UnknownCodecError` if there is none (built-ins are not listed)."""
    codec = _REGISTRY.get(name) if isinstance(name, str) else None
    if codec is None:
        raise UnknownCodecError(
            f"no codec {name!r:.80} is registered in this process (registered: "
            f"{', '.join(_REGISTRY) or 'none'}); call artifact_ledger.codecs.register first"
        )
    return codec


def registered() -> list[Codec]:
    """The registered codecs, in the order they are asked to take undeclared content."""
    return list(_REGISTRY.values())


def names() -> list[str]:
    """Every codec name this process can decode: the built-ins, then the registered ones."""
    return [*BUILTIN_CODECS, *_REGISTRY]


def for_media_type(media_type: str) -> Codec | None:
    """The registered codec a declared media type (lowercase, without parameters) forces, if any."""
    return _BY_MEDIA_TYPE.get(media_type)


def matching(value: Any) -> Codec | None:
    """The first registered codec whose ``matches`` takes ``value``.

    A ``matches`` that raises is a bug in that codec: :class:`CodecRoundTripError` names it.
    """
    for codec in _REGISTRY.values():
        try:
            taken = codec.matches(value)
        except Exception as exc:
            raise CodecRoundTripError(
                f"codec {codec.name!r}: matches() raised {type(exc).__name__} on a {_kind(value)}: {exc}"
            ) from exc
        if taken:
            return codec
    return None
