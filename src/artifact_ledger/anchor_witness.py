"""The witness anchor: a note POSTed to an http(s) witness, and the co-signed note it may answer.

urllib only; redirects are refused, the answer's size is bounded, and a co-signed answer must be
a note of the same tree whose new lines are not under the ledger's own name (with ``verifier_keys``,
every new line verified by one of them).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence

from ._version import __version__
from .anchor_targets import first_line, mask_url
from .checkpoints import Checkpoint, CheckpointSignature
from .errors import AnchorError, InvalidArgumentError, InvalidCheckpointError

MAX_WITNESS_ANSWER = 64 * 1024


def check_witness_keys(keys: Sequence[str]) -> None:
    """:class:`InvalidArgumentError` naming the first of ``keys`` that is no Ed25519 verifier key."""
    if not keys:
        return
    try:
        Checkpoint(origin="artifact-ledger/-", size=0, root="00" * 32).verified_by(list(keys))
    except InvalidCheckpointError as exc:
        raise InvalidArgumentError(f"--witness-key {exc}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (refused): following it would re-send the note as a GET."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def witness(
    url: str, checkpoint: Checkpoint, *, timeout: float = 10.0, verifier_keys: Sequence[str] = ()
) -> tuple[Checkpoint, list[str]]:
    """POST the note to a witness at ``url``: (the note to keep, the names of its new signers).

    A 2xx answer with an empty body accepted the note without co-signing it; one with a note
    must be a note of the same tree (origin, size, root), whose new signature lines are added. A
    new line under the name of one of the note's own signers (not a copy of their line) refuses the
    answer. With ``verifier_keys``, every new line must verify with one of them, and there must be one;
    without, lines under other names are kept unchecked. Anything
    else is :class:`AnchorError` naming the URL and the status: a status other than 2xx, a note
    of another tree, an answer that is no note, a timeout, a witness that cannot be reached.
    """
    shown = mask_url(url)
    request = urllib.request.Request(
        url,
        data=checkpoint.note().encode(),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": f"artifact-ledger/{__version__}"},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    what = f"the checkpoint of size {checkpoint.size}"
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            body = response.read(MAX_WITNESS_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        try:
            detail = first_line(exc.read(2000).decode("utf-8", "replace"))
        except Exception:  # no body to read
            detail = "no message"
        raise AnchorError(
            f"the witness {shown} refused {what}: HTTP {exc.code} {exc.reason} ({detail})",
            target=shown,
            status=exc.code,
        ) from None
    except urllib.error.URLError as exc:
        reason = "timed out" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
        raise AnchorError(f"the witness {shown} could not be reached for {what}: {reason}", target=shown) from None
    except TimeoutError:
        raise AnchorError(
            f"the witness {shown} did not answer for {what} within {timeout:g}s (timed out)", target=shown
        ) from None
    except OSError as exc:
        raise AnchorError(f"the witness {shown} could not be reached for {what}: {exc}", target=shown) from None
    if not 200 <= status < 300:
        raise AnchorError(f"the witness {shown} answered HTTP {status} for {what}", target=shown, status=status)
    if not body.strip():
        return checkpoint, []
    if len(body) > MAX_WITNESS_ANSWER:
        raise AnchorError(
            f"the witness {shown} answered HTTP {status} with over {MAX_WITNESS_ANSWER} bytes, not a checkpoint note",
            target=shown,
            status=status,
        )
    try:
        answered = Checkpoint.parse(body)
    except InvalidCheckpointError as exc:
        raise AnchorError(
            f"the witness {shown} answered HTTP {status} with no checkpoint note: {exc}", target=shown, status=status
        ) from None
    if answered.body() != checkpoint.body():
        raise AnchorError(
            f"the witness {shown} answered with a note of another tree (size {answered.size}, root "
            f"{answered.root[:16]}…), not {what} (root {checkpoint.root[:16]}…)",
            target=shown,
            status=status,
        )
    added: list[CheckpointSignature] = []
    for signature in answered.signatures:
        if signature not in checkpoint.signatures and signature not in added:
            added.append(signature)
    ours = {s.name for s in checkpoint.signatures}
    for signature in added:
        if signature.name in ours:  # a copy of our own line is no new line: this one is not ours
            raise AnchorError(
                f"the witness {shown} answered HTTP {status} with a signature line under the ledger's own name "
                f"{signature.name} (key {signature.key_id}) that is not the ledger's signature of {what}: its answer "
                "is refused, and the local targets keep the ledger's own note",
                target=shown,
                status=status,
            )
    if verifier_keys:
        unverified: list[CheckpointSignature] = []
        for signature in added:  # every line kept must verify: a bad one would spoil the note for good
            alone = checkpoint.model_copy(update={"signatures": (signature,)})
            try:
                if not alone.verified_by(list(verifier_keys)):
                    unverified.append(signature)
            except InvalidCheckpointError as exc:
                raise AnchorError(
                    f"the witness {shown} answered with a bad signature: {exc}; its answer is refused, and the "
                    "local targets keep the ledger's own note",
                    target=shown,
                    status=status,
                ) from None
        if not added or len(unverified) == len(added):
            raise AnchorError(
                f"the witness {shown} answered HTTP {status} without a signature by any of the "
                f"{len(verifier_keys)} witness key(s) given",
                target=shown,
                status=status,
            )
        if unverified:
            line = unverified[0]
            raise AnchorError(
                f"the witness {shown} answered HTTP {status} with a signature line by {line.name} (key "
                f"{line.key_id}) that none of the {len(verifier_keys)} witness key(s) given verifies; its answer "
                "is refused, and the local targets keep the ledger's own note",
                target=shown,
                status=status,
            )
    if not added:
        return checkpoint, []
    merged = checkpoint.model_copy(update={"signatures": (*checkpoint.signatures, *added)})
    return merged, [s.name for s in added]
