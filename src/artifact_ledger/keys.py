"""Where the pickle-signing key comes from. The key never lives in the database.

In order: an explicit ``secret`` (or :class:`Keyring`); the ``ARTIFACT_LEDGER_SECRET``
environment variable (``ARTIFACT_LEDGER_PREVIOUS_SECRETS``, comma-separated, verify
old pickles after a rotation); for an in-memory database, a key made for this process;
otherwise a key file named after the ledger's id (a ULID stored in the ledger when it was
created), ``<ledger id>.key`` in the key directory: ``key_dir`` if given, else the
``ARTIFACT_LEDGER_KEY_DIR`` environment variable, else ``~/.config/artifact-ledger/keys``.
So every spelling of a database's URL (``localhost``, ``127.0.0.1``, a relative path) reaches
the same key.

Key files of older versions are still read: when the ledger's key file is missing and the old
one exists (``<database>.key`` beside a SQLite file; for PostgreSQL a file in the key directory
named after a hash of the URL's host, port and database), it is copied to the ledger's name
first. Without a ledger id (an :class:`~artifact_ledger.ArtifactRepository` made directly on a
session) the old, URL-based location is used. Key files are created with mode 0600, in a
directory of mode 0700. Someone who can write the database but cannot read the key cannot get
a pickle of theirs unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL

from .content import Keyring
from .errors import UntrustedContentError

SECRET_ENV = "ARTIFACT_LEDGER_SECRET"
PREVIOUS_SECRETS_ENV = "ARTIFACT_LEDGER_PREVIOUS_SECRETS"
KEY_DIR_ENV = "ARTIFACT_LEDGER_KEY_DIR"

_process_keyring: Keyring | None = None


def process_keyring() -> Keyring:
    """One random key per process, for in-memory databases (their pickles die with them)."""
    global _process_keyring
    if _process_keyring is None:
        _process_keyring = Keyring.generate()
    return _process_keyring


def default_key_dir() -> Path:
    """``ARTIFACT_LEDGER_KEY_DIR`` if set, else ``~/.config/artifact-ledger/keys``."""
    configured = os.environ.get(KEY_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "artifact-ledger" / "keys"


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in str(url)


def key_file_for(url: URL) -> Path | None:
    """The key file older versions used for a database (by its URL), or None for an in-memory one.

    SQLite: ``<database file>.key`` beside it. PostgreSQL: a file in ``~/.config/artifact-ledger/keys``
    named after the first 16 hex digits of SHA-256 of ``"<backend>-<host>-<port>-<database>"``.
    """
    if url.get_backend_name() == "sqlite":
        if _is_memory(url):
            return None
        database = url.database or ""
        return Path(database).expanduser().resolve().with_name(Path(database).name + ".key")
    name = f"{url.get_backend_name()}-{url.host or 'local'}-{url.port or ''}-{url.database or ''}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return Path.home() / ".config" / "artifact-ledger" / "keys" / f"{digest}.key"


def ledger_key_file(ledger_id: str, *, key_dir: Path | None = None) -> Path:
    """The key file of the ledger with this id: ``<key dir>/<ledger id>.key``."""
    return (key_dir or default_key_dir()) / f"{ledger_id}.key"


def resolve_keyring(
    url: URL | None,
    secret: str | bytes | Keyring | None = None,
    *,
    ledger_id: str | None = None,
    key_dir: Path | None = None,
) -> Keyring:
    """The keyring for a database, by the rules in this module's docstring."""
    if isinstance(secret, Keyring):
        return secret
    previous = [s for s in os.environ.get(PREVIOUS_SECRETS_ENV, "").split(",") if s]
    if secret is not None:
        return Keyring.from_secret(secret, previous=previous)
    env_secret = os.environ.get(SECRET_ENV)
    if env_secret:
        return Keyring.from_secret(env_secret, previous=previous)
    if url is None or _is_memory(url):
        return process_keyring()
    old = key_file_for(url)
    if ledger_id is None:
        assert old is not None  # not in memory
        old.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return Keyring.from_key_file(old, create=True)
    return KeyFileKeyring(ledger_key_file(ledger_id, key_dir=key_dir), old=old)


class KeyFileKeyring(Keyring):
    """The keys of a ledger's key file, read when a pickle is first signed or verified.

    Opening a ledger, listing it, reading its data or non-pickle content never touches the key
    directory. Signing creates the file when it is missing (one random key, mode 0600); verifying
    with no file anywhere raises :class:`~artifact_ledger.errors.UntrustedContentError` naming the
    file it looked for, and creates nothing: a reader on another machine must not mint a key of
    its own that later writes would sign with.
    """

    __slots__ = ("_loaded", "_old", "_path")

    def __init__(self, path: Path, *, old: Path | None = None) -> None:  # no super().__init__: keys come later
        self._path = path
        self._old = old
        self._loaded: Keyring | None = None

    @property
    def path(self) -> Path:
        """The key file this keyring reads."""
        return self._path

    def _ring(self, *, create: bool) -> Keyring | None:
        if self._loaded is None:
            path = self._path
            if not path.exists():
                if self._old is not None and self._old.exists():
                    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    Keyring.from_key_file(self._old, create=False)  # refuse a file others can read first
                    _copy_key_file(self._old, path)
                elif not create:
                    return None
                else:
                    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._loaded = Keyring.from_key_file(path, create=create)
        return self._loaded

    def _signing(self) -> Keyring:
        ring = self._ring(create=True)
        assert ring is not None  # created when missing
        return ring

    def _verifying(self) -> Keyring:
        ring = self._ring(create=False)
        if ring is None:
            raise UntrustedContentError(
                f"this ledger's pickle-signing key file {self._path} does not exist (nor the older "
                f"{self._old}), so no pickle can be verified: copy the key file from where the ledger "
                f"was written, point {KEY_DIR_ENV} at its directory, or set {SECRET_ENV}"
                if self._old is not None
                else f"this ledger's pickle-signing key file {self._path} does not exist, so no pickle "
                f"can be verified: copy the key file from where the ledger was written, point "
                f"{KEY_DIR_ENV} at its directory, or set {SECRET_ENV}"
            )
        return ring

    @property
    def signing_key_id(self) -> bytes:
        return self._signing().signing_key_id

    @property
    def key_ids(self) -> tuple[bytes, ...]:
        return self._verifying().key_ids

    def sign(self, payload: bytes) -> bytes:
        return self._signing().sign(payload)

    def _key_for(self, key_id: bytes) -> bytes | None:
        return self._verifying()._key_for(key_id)

    def __repr__(self) -> str:
        if self._loaded is None:
            return f"KeyFileKeyring({str(self._path)!r}, not read yet)"
        return f"KeyFileKeyring({str(self._path)!r}, {self._loaded!r})"


def _copy_key_file(source: Path, target: Path) -> None:
    """Copy a key file to a new name, mode 0600, whole or not at all; a file already there is kept.

    Written under a temporary name and linked into place, so a process opening the ledger at the
    same moment never reads a half-written key.
    """
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".key-tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(source.read_bytes())
        with contextlib.suppress(FileExistsError):  # another process copied it first: keep theirs
            os.link(temporary, target)
    finally:
        os.unlink(temporary)
