"""Checkpoints: the Merkle root at a size, signed with Ed25519, written as a C2SP signed note.

A checkpoint's body is three lines (``origin``, the tree size in decimal, the root in
base64), the format transparency logs use, so their tooling can read it; ``origin`` is
``artifact-ledger/<ledger id>``. Signature lines follow a blank line: ``— <name>
<base64(key id ‖ signature)>``, the key id being the first four bytes of
``SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)`` and the signature an Ed25519 signature of the body.
:meth:`Checkpoint.parse` is strict, as ``verify_bundle.py`` is: exactly those three body lines, the size
in ASCII digits without a leading zero, the root and signatures in canonical base64, so the body a
signature is checked over is byte for byte the note's own.

Signing needs the ``cryptography`` package (``pip install artifact-ledger[sign]``); checking a
signature does not (without the package it runs the stdlib verifier's own Ed25519). The
ledger's signing key lives outside the database, in the key directory beside the pickle key
(``<ledger id>.ed25519``, mode 0600, made at the first checkpoint); a witness co-signs with a
key of its own (:func:`cosign`). A verifier holds public keys as C2SP verifier keys:
``<name>+<key id hex>+<base64(0x01 ‖ public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from . import verify_bundle as _standalone
from .errors import InvalidCheckpointError, MissingExtraError
from .verify_bundle import ed25519_verifies, signer_name

__all__ = [
    "Checkpoint",
    "CheckpointCheck",
    "CheckpointSignature",
    "CheckpointSigner",
    "InvalidCheckpointError",
    "cosign",
]

ORIGIN_PREFIX = "artifact-ledger/"
_DASH = "\u2014"
_ED25519 = b"\x01"
MAX_SIZE = 2**63 - 1
"""The largest tree size a note may record (a signed 64-bit integer, as the database stores positions)."""
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX8 = re.compile(r"[0-9a-f]{8}")  # ASCII digits only: str.isdigit() also takes '²', '١٢', '１２'


def _canonical_b64(text: str) -> bytes | None:
    """The bytes of ``text`` if it is standard base64 in its one canonical spelling (it round-trips), else None."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


class CheckpointSignature(BaseModel):
    """One signature line: the signer's ``name``, its ``key_id`` (8 hex digits) and the signature (base64)."""

    model_config = ConfigDict(frozen=True)

    name: str
    key_id: str
    signature: str


class Checkpoint(BaseModel):
    """A signed tree head: the log of ``origin`` had ``size`` events with Merkle root ``root`` (hex)."""

    model_config = ConfigDict(frozen=True)

    origin: str
    size: int
    root: str
    signatures: tuple[CheckpointSignature, ...] = ()

    @property
    def ledger_id(self) -> str | None:
        return self.origin[len(ORIGIN_PREFIX) :] if self.origin.startswith(ORIGIN_PREFIX) else None

    def body(self) -> bytes:
        """The signed text: origin, size and base64 root, one line each."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(bytes.fromhex(self.root)).decode()}\n".encode()

    def note(self) -> str:
        """The C2SP signed note: the body, a blank line, one line per signature."""
        lines = "".join(f"{_DASH} {s.name} {_signature_field(s)}\n" for s in self.signatures)
        return self.body().decode() + "\n" + lines

    @classmethod
    def parse(cls, text: str | bytes, *, ledger_id: str | None = None) -> Checkpoint:
        """A checkpoint from its note; :class:`InvalidCheckpointError` naming what is wrong.

        ``ledger_id``: refuse a checkpoint of another ledger.
        """
        if isinstance(text, bytes):
            try:
                text = text.decode()
            except UnicodeDecodeError:
                raise InvalidCheckpointError("the checkpoint is not UTF-8 text") from None
        body, sep, rest = text.partition("\n\n")
        if not sep:
            raise InvalidCheckpointError(
                "the checkpoint note has no blank line before its signatures: it is truncated or not a signed note"
            )
        lines = body.split("\n")
        if len(lines) != 3:
            raise InvalidCheckpointError(
                f"the checkpoint's body has {len(lines)} line(s), not exactly origin, size and root: "
                "a line the signatures do not cover is refused"
            )
        origin, size_text, root_text = lines
        if not origin.startswith(ORIGIN_PREFIX):
            raise InvalidCheckpointError(
                f"the checkpoint's origin {origin[:80]!r} is not an artifact-ledger log's ({ORIGIN_PREFIX}<ledger id>)"
            )
        if not _SIZE.fullmatch(size_text) or int(size_text) > MAX_SIZE:
            raise InvalidCheckpointError(
                f"the checkpoint's size {size_text[:40]!r} is not a decimal number (ASCII digits 0-9, no leading "
                f"zero, at most {MAX_SIZE})"
            )
        root = _canonical_b64(root_text)
        if root is None or len(root) != 32:
            raise InvalidCheckpointError(
                f"the checkpoint's root {root_text[:60]!r} is not a SHA-256 hash in canonical base64"
            )
        if not rest.endswith("\n") or not rest.strip():
            raise InvalidCheckpointError("the checkpoint note ends without a complete signature line: it is truncated")
        signatures = [_parse_signature(line) for line in rest[:-1].split("\n")]
        found = cls(origin=origin, size=int(size_text), root=root.hex(), signatures=tuple(signatures))
        if found.body() != (body + "\n").encode():  # the signatures are checked over exactly these bytes
            raise InvalidCheckpointError("the checkpoint's body is not in the note format's canonical form")
        if ledger_id is not None and found.ledger_id != ledger_id:
            raise InvalidCheckpointError(
                f"the checkpoint is of the log {found.origin!r}, not of this ledger ({ORIGIN_PREFIX}{ledger_id})"
            )
        return found

    def checked(self) -> Checkpoint:
        """This checkpoint, if its fields are what :meth:`parse` could have read (a note's rules); else
        :class:`InvalidCheckpointError` naming the field and its value.

        A checkpoint made in code, or copied with ``model_copy(update=...)``, is not validated: a root in
        uppercase would be signed and checked over the canonical body yet compared as written, a size of
        ``True`` would print as ``True``, a line break in the origin would add a line to the signed body.
        """
        if type(self.size) is not int or not 0 <= self.size <= MAX_SIZE:
            raise InvalidCheckpointError(
                f"the checkpoint's size {self.size!r} is not a tree size (a whole number from 0 to {MAX_SIZE})"
            )
        if not isinstance(self.root, str) or not _HEX64.fullmatch(self.root):
            raise InvalidCheckpointError(
                f"the checkpoint's root {str(self.root)[:80]!r} is not a SHA-256 hash as 64 lowercase hex digits"
            )
        if not isinstance(self.origin, str) or "\n" in self.origin or not self.origin.startswith(ORIGIN_PREFIX):
            raise InvalidCheckpointError(
                f"the checkpoint's origin {str(self.origin)[:80]!r} is not an artifact-ledger log's "
                f"({ORIGIN_PREFIX}<ledger id>, one line)"
            )
        for signature in self.signatures:
            name, key_id, encoded = signature.name, signature.key_id, signature.signature
            if (
                not isinstance(name, str)
                or not name
                or any(c.isspace() for c in name)
                or not isinstance(key_id, str)
                or not _HEX8.fullmatch(key_id)
                or not isinstance(encoded, str)
                or not _canonical_b64(encoded)
            ):
                raise InvalidCheckpointError(
                    f"the signature of {str(name)[:40]!r} (key {str(key_id)[:40]!r}) on the checkpoint is not a "
                    "signature line's: a name without spaces, an 8-hex-digit key id and a signature in base64"
                )
        return self

    def verified_by(self, verifier_keys: list[str]) -> list[str]:
        """The names of ``verifier_keys`` (C2SP verifier keys) whose signatures on this checkpoint verify.

        A signature line is checked with every key of its name and key id (a 32-bit key id can
        collide): it verifies if one of them verifies it. A line naming one of the keys that none
        of them verifies is :class:`InvalidCheckpointError` (a forged or edited checkpoint);
        signatures by keys not given are ignored.
        """
        verifies = _signature_check()
        keys = [parse_verifier_key(k) for k in verifier_keys]
        body = self.body()
        verified: list[str] = []
        for signature in self.signatures:
            candidates = [
                public for name, key_id, public in keys if (name, key_id) == (signature.name, signature.key_id)
            ]
            if not candidates:
                continue
            raw = base64.b64decode(signature.signature)
            if not any(verifies(public, raw, body) for public in candidates):
                tried = f" (with any of the {len(candidates)} keys of that name and id)" if len(candidates) > 1 else ""
                raise InvalidCheckpointError(
                    f"the signature of {signature.name} (key {signature.key_id}) on the checkpoint of size "
                    f"{self.size} does not verify{tried}: the checkpoint was edited or forged"
                )
            verified.append(signature.name)
        return verified


def _signature_check() -> Callable[[bytes, bytes, bytes], bool]:
    """``verifies(public, signature, body)``: the ``cryptography`` package's Ed25519 when it is installed
    (about 0.1 ms a signature), else the stdlib verifier's own, in plain Python (RFC 8032, a few ms): checking
    a signature never needs the ``[sign]`` extra, only making one does."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        return ed25519_verifies

    def verifies(public: bytes, signature: bytes, body: bytes) -> bool:
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, body)
        except Exception:  # InvalidSignature, or a public key that is no curve point
            return False
        return True

    return verifies


class CheckpointCheck(BaseModel):
    """A checkpoint against the log: ``ok`` when the log's root at its size is the checkpoint's.

    Otherwise ``problem`` says how the log differs: it holds fewer events than the checkpoint
    (dropped from the end), or another history up to the checkpoint's size (rewritten, a fork).
    """

    model_config = ConfigDict(frozen=True)

    ok: bool
    size: int
    root: str
    log_size: int
    log_root: str | None
    problem: str | None = None


def _signature_field(signature: CheckpointSignature) -> str:
    return base64.b64encode(bytes.fromhex(signature.key_id) + base64.b64decode(signature.signature)).decode()


def _parse_signature(line: str) -> CheckpointSignature:
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != _DASH or not parts[1]:
        raise InvalidCheckpointError(f"the checkpoint line {line[:80]!r} is not a signature line ({_DASH} name sig)")
    if not signer_name(parts[1]):  # shown as written, on every terminal (verify_bundle's rule)
        raise InvalidCheckpointError(
            f"the checkpoint line {line[:80]!r} is not a signature line: its name {parts[1][:40]!r} holds a "
            "control, format or space character (a terminal would not show it as written)"
        )
    raw = _canonical_b64(parts[2]) or b""
    if len(raw) < 5:
        raise InvalidCheckpointError(
            f"the signature of {parts[1][:40]!r} is not canonical base64 of a key id and a signature"
        )
    return CheckpointSignature(name=parts[1], key_id=raw[:4].hex(), signature=base64.b64encode(raw[4:]).decode())


def _key_id(name: str, public: bytes) -> str:
    return _standalone.checkpoint_key_id(name, public)  # one derivation, the stdlib verifier's


def parse_verifier_key(text: str) -> tuple[str, str, bytes]:
    """(name, key id hex, public key) of a C2SP Ed25519 verifier key; :class:`InvalidCheckpointError` naming it.

    The rules are ``verify_bundle.parse_verifier_key``'s: a name a signature line can carry (printable, no
    space), the key in canonical base64 (``validate=True`` alone takes extra padding), the algorithm byte 0x01
    and the key id derived from the name and the key."""
    found = _standalone.parse_verifier_key(text)
    if found is None:
        raise InvalidCheckpointError(
            f"{text[:80]!r} is not an Ed25519 verifier key (name+keyid+base64, the key id derived from the name "
            "and the key)"
        )
    return found


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingExtraError(
            "signing checkpoints needs the cryptography package: pip install artifact-ledger[sign]"
        ) from None
    return ed25519


class CheckpointSigner:
    """An Ed25519 signing key with its name (needs ``artifact-ledger[sign]``)."""

    def __init__(self, name: str, private_key: Any) -> None:
        if not name or not name.isprintable() or any(c.isspace() or c == "+" for c in name):
            raise InvalidCheckpointError(
                f"a signer's name {name!r} must be non-empty, printable, without spaces or '+'"
            )
        self.name = name
        self._key = private_key

    @classmethod
    def generate(cls, name: str) -> CheckpointSigner:
        return cls(name, _ed25519().Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> CheckpointSigner:
        return cls(name, _ed25519().Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def for_ledger(cls, ledger_id: str, key_dir: str | os.PathLike[str] | None = None) -> CheckpointSigner:
        """The ledger's own signer: ``<ledger id>.ed25519`` in the key directory, made (mode 0600) if missing.

        The file is made whole or not at all (written and synced under a temporary name, then linked to its
        own, so a write cut short or a second process at the same moment never leaves half a key) and read
        strictly: a regular file, not a link, that group and others cannot read or write, holding the seed as
        64 hex digits. Anything else is :class:`InvalidCheckpointError` naming the file, and the file is left
        as it is (it may be the only copy of the key the earlier notes were signed with).
        """
        from .keys import default_key_dir

        directory = Path(key_dir) if key_dir is not None else default_key_dir()
        path = directory / f"{ledger_id}.ed25519"
        name = f"{ORIGIN_PREFIX}{ledger_id}"
        seed = _read_seed(path)
        if seed is not None:
            return cls.from_seed(name, seed)
        signer = cls.generate(name)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _create_seed_file(path, signer._key.private_bytes_raw()):  # another process made it first
            seed = _read_seed(path)
            if seed is None:  # pragma: no cover - removed again at once
                raise InvalidCheckpointError(f"signing key file {path} vanished as it was made; try again")
            return cls.from_seed(name, seed)
        return signer

    @property
    def public_key(self) -> bytes:
        raw: bytes = self._key.public_key().public_bytes_raw()
        return raw

    @property
    def verifier_key(self) -> str:
        """The C2SP verifier key to give whoever checks the signatures."""
        public = self.public_key
        return f"{self.name}+{_key_id(self.name, public)}+{base64.b64encode(_ED25519 + public).decode()}"

    def sign(self, checkpoint: Checkpoint) -> CheckpointSignature:
        signature = self._key.sign(checkpoint.body())
        return CheckpointSignature(
            name=self.name, key_id=_key_id(self.name, self.public_key), signature=base64.b64encode(signature).decode()
        )


_MAX_KEY_FILE = 4096
"""The most bytes a signing key file may hold (a seed is 65)."""
_SEED = re.compile(r"[0-9a-fA-F]{64}")


def _read_seed(path: Path) -> bytes | None:
    """The Ed25519 seed in the key file ``path``, None when there is no file; :class:`InvalidCheckpointError`
    naming it when it cannot be the ledger's key file (see :meth:`CheckpointSigner.for_ledger`)."""
    from .verify_bundle import READ_FLAGS, file_kind

    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidCheckpointError(
                f"signing key file {path} is {file_kind(mode)}, not a regular file: a key file is never followed "
                "or read from a link, a FIFO or a device"
            )
        fd = os.open(path, READ_FLAGS)
        try:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode):  # swapped after the check
                raise InvalidCheckpointError(
                    f"signing key file {path} is {file_kind(found.st_mode)}, not a regular file"
                )
            if os.name == "posix" and stat.S_IMODE(found.st_mode) & 0o077:
                raise InvalidCheckpointError(
                    f"signing key file {path} has mode {stat.S_IMODE(found.st_mode):#o}, so other users can read or "
                    f"change the ledger's checkpoint-signing key (and sign notes as the ledger); run `chmod 600 {path}`"
                )
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(_MAX_KEY_FILE + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link swapped in after the check
            raise InvalidCheckpointError(f"signing key file {path} is a symbolic link, not a regular file") from None
        raise InvalidCheckpointError(f"signing key file {path} cannot be read ({exc.strerror or exc})") from None
    text = raw.decode("ascii", errors="replace").strip() if len(raw) <= _MAX_KEY_FILE else ""
    if not _SEED.fullmatch(text):
        raise InvalidCheckpointError(
            f"signing key file {path} holds no Ed25519 seed (64 hex digits): it is damaged or not a key file; "
            "restore it from a backup (notes signed with the lost key verify only with its verifier key)"
        )
    return bytes.fromhex(text)


def write_new_synced(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never an existing name or a link: ``FileExistsError``) holding ``data``, on disk;
    removed again if the write fails part-way."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def _create_seed_file(path: Path, seed: bytes) -> bool:
    """Make the key file ``path`` (mode 0600) holding ``seed``, whole or not at all; False when it exists."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".ed25519-tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(seed.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as exc:  # a file system without hard links: created in place, removed if cut short
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.ENOSYS):
                raise
            try:
                write_new_synced(path, (seed.hex() + "\n").encode("ascii"), 0o600)
            except FileExistsError:
                return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return True


def cosign(checkpoint: Checkpoint, signer: CheckpointSigner) -> Checkpoint:
    """``checkpoint`` with one more signature (a witness's), the others kept."""
    return checkpoint.model_copy(update={"signatures": (*checkpoint.signatures, signer.sign(checkpoint))})
