"""Signed pickle: the codec of last resort, and the only one that can run code when decoded.

A signed pickle is ``b"ALPK" + version (1 byte, 1) + key id (8 bytes) +
HMAC-SHA256(key, pickled) (32 bytes) + pickled`` (protocol 5). The key lives outside the
database (:class:`~artifact_ledger.content.keyring.Keyring`); the signature is checked before
anything is unpickled, so someone who can write the database but cannot read the key cannot
get code executed.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from typing import Final

from artifact_ledger.errors import InvalidArtifactDataError, LedgerError, UntrustedContentError

from .keyring import KEY_ID_SIZE, Keyring

__all__ = ["sign_pickle", "verified_unpickle"]

_MAGIC: Final = b"ALPK"
_VERSION: Final = 1
_MAC_SIZE: Final = 32
_HEADER_SIZE: Final = len(_MAGIC) + 1 + KEY_ID_SIZE + _MAC_SIZE


def sign_pickle(content: object, keyring: Keyring) -> bytes:
    """``content`` pickled and signed with the keyring's signing key.

    Raises :class:`InvalidArtifactDataError` when ``content`` cannot be pickled.
    """
    try:
        payload = pickle.dumps(content, protocol=5)
    except Exception as exc:  # pickling runs arbitrary __reduce__ code: any error means "cannot"
        raise InvalidArtifactDataError(
            f"content of type {type(content).__qualname__} can be stored neither as JSON, bytes, "
            f"a DataFrame or an array, nor pickled: {type(exc).__name__}: {exc}"
        ) from exc
    return _MAGIC + bytes([_VERSION]) + keyring.sign(payload) + payload


def verified_unpickle(blob: bytes, digest: str, keyring: Keyring) -> object:
    """Unpickle ``blob`` (the blob ``digest``) only once its signature verifies with a key of ``keyring``.

    Raises :class:`UntrustedContentError` for an unsigned, unknown-version, unknown-key or
    forged pickle, and :class:`LedgerError` for a genuine one whose classes cannot be loaded here.
    """
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
    key_id = blob[start : start + KEY_ID_SIZE]
    mac = blob[start + KEY_ID_SIZE : _HEADER_SIZE]
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
