"""Routes that let a third party check the log: ``$checkpoint`` (a signed tree head) and ``$proof``.

``GET /$checkpoint`` is the log's Merkle root now as a C2SP signed note (``text/plain``), or as
JSON with ``Accept: application/json``. It is signed with the ledger's own Ed25519 key,
``<ledger id>.ed25519`` in the server's key directory (``serve --key-dir DIR``; without it the
key directory :meth:`~artifact_ledger.Ledger.checkpoint` uses). The server never makes a key: a
missing key, or a missing ``cryptography`` package, is a 500 naming what to configure; an
unsigned note only when the request asks for it (``?unsigned=true``).

``GET /$proof/inclusion`` and ``GET /$proof/consistency`` answer the library's proofs as JSON,
hashes in lowercase hex: exactly the documents ``verify_bundle.py --proof FILE`` reads.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependency aliases defined inside
# ``register`` from the annotations themselves, which string annotations would hide.

import base64
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from ...checkpoints import Checkpoint, CheckpointSigner
from ...errors import MissingExtraError, ProofRangeError
from ...keys import default_key_dir
from ...proofs import ConsistencyProof, InclusionProof
from ..integers import whole_number
from ..problems import Problem
from ..responses import json_response
from ..service import Service

MAX_SIZE: Final = 2**63 - 1
NOTE_MEDIA_TYPE: Final = "text/plain; charset=utf-8"


class CheckpointSignatureJson(BaseModel):
    name: str
    key_id: str
    signature: str


class CheckpointJson(BaseModel):
    """``GET /$checkpoint`` with ``Accept: application/json``: the note's fields, and the note itself."""

    ledger_id: str | None
    origin: str
    size: int
    root: str
    root_hex: str
    time: datetime
    signed: bool
    signatures: list[CheckpointSignatureJson]
    verifier_keys: list[str]
    note: str


def whole(value: str, what: str) -> int:
    """A query parameter that must be a whole number: 400 naming it and its value otherwise."""
    number = whole_number(value, -MAX_SIZE, MAX_SIZE)  # a negative one reaches the proof's "is not a tree size"
    if number is None:
        raise Problem(400, f"{what} {value[:40]!r} is not a whole number (0 to {MAX_SIZE})", kind="bad-proof-parameter")
    return number


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/plain" not in accept


def register(router: APIRouter, service: Service) -> None:
    reader = [Depends(service.reader)]

    def signer() -> CheckpointSigner:
        """The ledger's own signer, from the configured key directory; never made here."""
        ledger_id = str(service.ledger.ledger_id)
        directory = service.key_dir if service.key_dir is not None else default_key_dir()
        if not (directory / f"{ledger_id}.ed25519").is_file():
            raise Problem(
                500,
                f"the server has no signing key for the ledger {ledger_id}: start it with "
                f"`artifact-ledger serve --key-dir DIR`, DIR holding {ledger_id}.ed25519 (the key "
                "`artifact-ledger checkpoint --key-dir DIR` makes and uses), or ask for ?unsigned=true",
                kind="no-signing-key",
                ledger_id=ledger_id,
            )
        try:
            return CheckpointSigner.for_ledger(ledger_id, directory)
        except MissingExtraError as exc:
            raise Problem(
                500, f"{exc}, on the server; or ask for ?unsigned=true", kind="missing-extra", ledger_id=ledger_id
            ) from None
        except (OSError, ValueError):
            raise Problem(
                500,
                f"the server's signing key for the ledger {ledger_id} cannot be read (not 64 hex digits, "
                "or not readable by the server)",
                kind="bad-signing-key",
                ledger_id=ledger_id,
            ) from None

    @router.get(
        "/$checkpoint",
        dependencies=reader,
        response_model=CheckpointJson,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
        summary="The log's Merkle root now, signed: a C2SP signed note, or JSON",
        description="The note (`text/plain`): origin `artifact-ledger/<ledger id>`, the size, the base64 "
        "root, a blank line, one signature line per signer. With `Accept: application/json`: the same "
        "fields (`root` base64 as in the note, `root_hex` as the proofs give roots), `time` (when the "
        "server made it: a note carries no time), the signatures and the server's verifier key. Signed "
        "with the ledger's Ed25519 key from the server's key directory (`serve --key-dir`); without "
        "one the answer is a 500 naming what to configure. `unsigned=true`: the root and size only.",
    )
    async def checkpoint(
        request: Request,
        unsigned: Annotated[bool, Query(description="no signature: the root and size only")] = False,
    ) -> Response:
        ledger = service.ledger
        own = None if unsigned else signer()
        made: Checkpoint = await ledger.checkpoint(signers=[] if own is None else [own])
        headers = {"Cache-Control": "no-store"}
        if not wants_json(request):
            return Response(made.note(), media_type=NOTE_MEDIA_TYPE, headers=headers)
        body = {
            "ledger_id": made.ledger_id,
            "origin": made.origin,
            "size": made.size,
            "root": base64.b64encode(bytes.fromhex(made.root)).decode(),
            "root_hex": made.root,
            "time": datetime.now(UTC).isoformat(),
            "signed": own is not None,
            "signatures": [s.model_dump() for s in made.signatures],
            "verifier_keys": [] if own is None else [own.verifier_key],
            "note": made.note(),
        }
        return json_response(body, headers=headers)

    @router.get(
        "/$proof/inclusion",
        dependencies=reader,
        response_model=InclusionProof,
        summary="Proof that the event at a position is in the tree of a size (RFC 9162)",
        description="The audit path (`hashes`, hex, leaf end first) from the event's leaf to the root of "
        "the log's first `size` events (default: all of them), with the event's hash, its leaf hash and "
        "that root. `verify_bundle.py --proof FILE` checks the JSON as it is. A position outside 1..size, "
        "or a size beyond the log, is a 400 naming the numbers.",
    )
    async def inclusion(
        position: Annotated[str, Query(description="the event's log position, 1 to the size")],
        size: Annotated[str | None, Query(description="the tree size (default: the log's size now)")] = None,
    ) -> Response:
        at = whole(position, "position")
        of = None if size is None else whole(size, "size")
        proof = await service.ledger.prove_inclusion(at, of)
        return json_response(proof.model_dump(), headers={"Cache-Control": "no-store"})

    @router.get(
        "/$proof/consistency",
        dependencies=reader,
        response_model=ConsistencyProof,
        summary="Proof that the log's first `from` events are a prefix of its first `to` (RFC 9162)",
        description="Both roots (`old_root`, `new_root`, hex) and the path between them (`hashes`): nothing "
        "before `from` was rewritten or dropped. `to` defaults to the log's size now. `from` larger than "
        "`to`, or either beyond the log, is a 400 naming the numbers.",
    )
    async def consistency(
        old: Annotated[str, Query(alias="from", description="the older tree size (a checkpoint's)")],
        new: Annotated[str | None, Query(alias="to", description="the newer size (default: the log's now)")] = None,
    ) -> Response:
        old_size = whole(old, "from")
        new_size = None if new is None else whole(new, "to")
        try:
            proof = await service.ledger.prove_consistency(old_size, new_size)
        except ProofRangeError as exc:  # the library's words are its arguments' names; these are the query's
            raise ProofRangeError(str(exc).replace("old_size", "from").replace("new_size", "to")) from exc
        return json_response(proof.model_dump(), headers={"Cache-Control": "no-store"})


__all__ = ["CheckpointJson", "register"]
