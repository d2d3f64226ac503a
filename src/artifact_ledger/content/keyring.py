"""The keys that sign pickles: :class:`Keyring`, and the key-file format it reads.

One key signs new pickles; every key of the ring verifies, so a key can be rotated
without losing the pickles signed before. Which keyring a database gets (explicit
secret, environment, key file beside the database) is decided in :mod:`artifact_ledger.keys`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Final

__all__ = ["KEY_ID_SIZE", "Keyring"]

KEY_ID_SIZE: Final = 8
"""Bytes of the key id written beside each signature."""
_MIN_KEY_SIZE: Final = 16


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
        return hashlib.sha256(key).digest()[:KEY_ID_SIZE]

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
