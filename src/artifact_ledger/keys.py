"""Where the pickle-signing key comes from. The key never lives in the database.

In order: an explicit ``secret`` (or :class:`Keyring`); the ``ARTIFACT_LEDGER_SECRET``
environment variable (``ARTIFACT_LEDGER_PREVIOUS_SECRETS``, comma-separated, verify
old pickles after a rotation); a ``<database>.key`` file beside a SQLite file
database, created with mode 0600; for an in-memory database, a key made for this
process; for PostgreSQL, a key file under ``~/.config/artifact-ledger/keys/`` named
after the server and database. Someone who can write the database but cannot read
the key cannot get a pickle of theirs unpickled.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy.engine import URL

from .content import Keyring

SECRET_ENV = "ARTIFACT_LEDGER_SECRET"
PREVIOUS_SECRETS_ENV = "ARTIFACT_LEDGER_PREVIOUS_SECRETS"

_process_keyring: Keyring | None = None


def process_keyring() -> Keyring:
    """One random key per process, for in-memory databases (their pickles die with them)."""
    global _process_keyring
    if _process_keyring is None:
        _process_keyring = Keyring.generate()
    return _process_keyring


def key_file_for(url: URL) -> Path | None:
    """The key file that belongs to a database, or None for an in-memory one."""
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in str(url):
            return None
        return Path(database).expanduser().resolve().with_name(Path(database).name + ".key")
    name = f"{url.get_backend_name()}-{url.host or 'local'}-{url.port or ''}-{url.database or ''}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return Path.home() / ".config" / "artifact-ledger" / "keys" / f"{digest}.key"


def resolve_keyring(url: URL | None, secret: str | bytes | Keyring | None = None) -> Keyring:
    """The keyring for a database, by the rules in this module's docstring."""
    if isinstance(secret, Keyring):
        return secret
    previous = [s for s in os.environ.get(PREVIOUS_SECRETS_ENV, "").split(",") if s]
    if secret is not None:
        return Keyring.from_secret(secret, previous=previous)
    env_secret = os.environ.get(SECRET_ENV)
    if env_secret:
        return Keyring.from_secret(env_secret, previous=previous)
    path = key_file_for(url) if url is not None else None
    if path is None:
        return process_keyring()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Keyring.from_key_file(path, create=True)
