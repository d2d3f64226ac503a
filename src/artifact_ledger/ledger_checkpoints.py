"""This ledger's checkpoints: sign the Merkle root of the log now, check a recorded one against the log.

:meth:`Ledger.checkpoint <artifact_ledger.ledger.Ledger.checkpoint>` and
:meth:`Ledger.verify_checkpoint <artifact_ledger.ledger.Ledger.verify_checkpoint>` delegate here; the
checkpoint format itself (the note, its signatures) is in :mod:`artifact_ledger.checkpoints`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .checkpoints import Checkpoint, CheckpointCheck, CheckpointSigner
    from .proofs import TreeHead

RootOf = Callable[[int | None], Awaitable["TreeHead"]]
"""The log's Merkle root of its first ``size`` events (None: all of them)."""


async def make_checkpoint(
    root_of: RootOf,
    ledger_id: str | None,
    *,
    signers: Sequence[CheckpointSigner] | None,
    key_dir: str | os.PathLike[str] | None,
) -> Checkpoint:
    """The log's root now, cosigned by ``signers`` (None: the ledger's own key; ``[]``: unsigned)."""
    from .checkpoints import ORIGIN_PREFIX, Checkpoint, CheckpointSigner, cosign

    head = await root_of(None)
    made = Checkpoint(origin=f"{ORIGIN_PREFIX}{ledger_id}", size=head.size, root=head.root)
    if signers is None:
        signers = [CheckpointSigner.for_ledger(str(ledger_id), key_dir)]
    for signer in signers:
        made = cosign(made, signer)
    return made


def accepted(
    ledger_id: str | None,
    checkpoint: Checkpoint | str | bytes,
    *,
    verifier_keys: Sequence[str],
    witness_keys: Sequence[str] = (),
) -> Checkpoint:
    """The checkpoint (parsed from its note, or an object held to a note's rules) if it is of this ledger,
    when ``verifier_keys`` are given signed by one of them, and co-signed by every one of ``witness_keys``;
    else :class:`InvalidCheckpointError`.

    ``verifier_keys`` are alternatives (the ledger's key before and after a rotation, say): whoever holds
    any one of them can sign a note for a rewritten log. A witness is there to stop exactly that, so its
    co-signature is required, not one more alternative."""
    from .checkpoints import Checkpoint
    from .errors import InvalidCheckpointError

    witness_apart(verifier_keys, witness_keys)
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = Checkpoint.parse(checkpoint, ledger_id=ledger_id)
    elif checkpoint.checked().ledger_id != ledger_id:  # an object is held to the rules a note is parsed by
        checkpoint = Checkpoint.parse(checkpoint.note(), ledger_id=ledger_id)  # raises, naming both
    if verifier_keys and not checkpoint.verified_by(list(verifier_keys)):
        raise InvalidCheckpointError(
            f"the checkpoint of size {checkpoint.size} is signed by none of the {len(verifier_keys)} key(s) given"
        )
    for witness in witness_keys:
        if not checkpoint.verified_by([witness]):
            raise InvalidCheckpointError(
                f"the checkpoint of size {checkpoint.size} is not co-signed by the witness key {witness[:80]!r}: "
                "a note only the ledger's key signed proves nothing against whoever holds that key"
            )
    return checkpoint


def witness_apart(verifier_keys: Sequence[str], witness_keys: Sequence[str]) -> None:
    """:class:`InvalidArgumentError` when the one witness key given is also every one of ``verifier_keys``.

    The witness requirement is then met by the signature the ``verifier_keys`` check accepts: given the
    ledger's own key as both (one value in two settings, say), a note only the ledger's key signed passed
    as co-signed, and the witness protected nothing. With another witness key beside it, or another
    verifier key, a second signer is still required or the keys are alternatives, as documented. Keys that
    are no verifier keys are left to the check that reads them (:class:`InvalidCheckpointError`)."""
    from .checkpoints import parse_verifier_key
    from .errors import InvalidArgumentError, InvalidCheckpointError

    if not verifier_keys or not witness_keys:
        return
    try:
        witnesses = {parse_verifier_key(k) for k in witness_keys}
        keys = [parse_verifier_key(k) for k in verifier_keys]
    except InvalidCheckpointError:
        return
    if len(witnesses) == 1 and all(key in witnesses for key in keys):
        names = ", ".join(sorted({f"{name} (key {key_id})" for name, key_id, _ in keys}))
        raise InvalidArgumentError(
            f"the witness key (witness_keys, --witness-key) is every verifier key given (verifier_keys, --key): "
            f"{names}; a note signed by that key alone would pass as co-signed; give the ledger's key as a "
            "verifier key and the witness's, another signer's, as the witness key"
        )


def compared(checkpoint: Checkpoint, log_size: int, log_root: str | None) -> CheckpointCheck:
    """The checkpoint against a log of ``log_size`` events whose first ``checkpoint.size`` have the root
    ``log_root`` (None when the log is shorter)."""
    from .checkpoints import CheckpointCheck

    common = {"size": checkpoint.size, "root": checkpoint.root, "log_size": log_size}
    if checkpoint.size > log_size or log_root is None:
        return CheckpointCheck(
            ok=False,
            log_root=None,
            problem=f"the log holds {log_size} events, but the checkpoint recorded {checkpoint.size}: "
            f"the newest {checkpoint.size - log_size} were dropped",
            **common,
        )
    if log_root != checkpoint.root:
        return CheckpointCheck(
            ok=False,
            log_root=log_root,
            problem=f"the log's first {checkpoint.size} events have the root {log_root}, not the checkpoint's "
            f"{checkpoint.root}: history up to position {checkpoint.size} was rewritten (or this is a fork)",
            **common,
        )
    return CheckpointCheck(ok=True, log_root=log_root, **common)
