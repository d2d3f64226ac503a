"""Who is asking: bearer tokens mapped to an actor and a role (``read`` or ``write``).

The actor of every write comes from here, never from a request body. Tokens are compared in
constant time against every known token (no early exit, so the time taken does not tell how much
of a guess was right), and neither a token nor the token file's contents ever reach a message or
a log line.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from ..ambient import MAX_ID_LENGTH, check_identifier
from ..errors import InvalidArgumentError, InvalidAttributionError

Role = Literal["read", "write"]
ROLES: Final = ("read", "write")
MAX_ACTOR: Final = MAX_ID_LENGTH


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the actor recorded on its writes, and what it may do."""

    actor: str
    role: Role

    @property
    def can_write(self) -> bool:
        return self.role == "write"


class TokenAuth:
    """Bearer tokens -> :class:`Principal`. ``TokenAuth({"s3cret": Principal("alice", "write")})``."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        if not tokens:
            raise InvalidArgumentError("TokenAuth needs at least one token")
        for token, principal in tokens.items():
            _check_token(token)
            _check_principal(principal.actor, principal.role)
        self._tokens: tuple[tuple[bytes, Principal], ...] = tuple(
            (token.encode("utf-8"), principal) for token, principal in tokens.items()
        )

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:  # never the tokens themselves
        return f"TokenAuth(<{len(self._tokens)} tokens>)"

    @classmethod
    def from_mapping(cls, raw: object) -> TokenAuth:
        """From ``{"<token>": {"actor": "alice", "role": "write"}, ...}`` (parsed JSON)."""
        if not isinstance(raw, dict) or not raw:
            raise InvalidArgumentError(
                'the token file must hold a non-empty JSON object: {"<token>": {"actor": "alice", "role": "write"}}'
            )
        tokens: dict[str, Principal] = {}
        for number, (token, entry) in enumerate(raw.items(), start=1):
            where = f"token entry {number}"  # never the token itself
            _check_token(token, where)
            if not isinstance(entry, dict) or set(entry) - {"actor", "role"}:
                raise InvalidArgumentError(f'{where} must be an object with "actor" and "role" only')
            actor, role = entry.get("actor"), entry.get("role", "read")
            _check_principal(actor, role, where)
            tokens[token] = Principal(str(actor), role)
        return cls(tokens)

    @classmethod
    def from_file(cls, path: str | Path) -> TokenAuth:
        """Read a token file; errors name the file and the entry number, never a token."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidArgumentError(f"cannot read the token file {path}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgumentError(f"the token file {path} is not valid JSON") from None
        try:
            return cls.from_mapping(raw)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"token file {path}: {exc}") from None

    def authenticate(self, token: str) -> Principal | None:
        """The principal of ``token``, or None; compares against every token in constant time."""
        presented = token.encode("utf-8", "surrogateescape")
        found: Principal | None = None
        for known, principal in self._tokens:
            if hmac.compare_digest(known, presented):
                found = principal
        return found


def _check_token(token: object, where: str = "a token") -> None:
    if not isinstance(token, str) or not token or len(token) > 4096 or not token.isprintable() or " " in token:
        raise InvalidArgumentError(f"{where}: a token must be 1 to 4096 printable characters without spaces")


def _check_principal(actor: Any, role: Any, where: str = "a token") -> None:
    """The same rules as the actor of any write (so a token's writes are never refused for its actor);
    the message names the entry, never the actor or the token (the file's contents stay out of it)."""
    try:
        check_identifier("actor", actor)
        valid = actor is not None
    except InvalidAttributionError:
        valid = False
    if not valid:
        raise InvalidArgumentError(
            f'{where}: "actor" must be a name of 1 to {MAX_ACTOR} characters without spaces around it, '
            "control or invisible characters, in Unicode normal form NFC"
        )
    if role not in ROLES:
        raise InvalidArgumentError(f'{where}: "role" must be "read" or "write"')


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when there is none."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
