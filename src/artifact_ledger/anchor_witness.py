"""The witness anchor: a note POSTed to an http(s) witness, and the co-signed note it may answer.

urllib only; redirects are refused, the whole exchange is bounded by the timeout (not only each read), an
answer that is no HTTP is the witness's failure alone, the answer's size is bounded, and a co-signed answer must be
a note of the same tree whose new lines are not under the ledger's own name (with ``verifier_keys``,
every new line verified by one of them).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

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


class _Deadline:
    """The whole exchange with a witness within ``seconds``: a socket read waits at most the timeout, but a
    witness sending a byte at a time (its headers or its answer) would go on for days; at the deadline every
    socket of the exchange is shut down, which ends the read that waits."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed, detached (wrapped in TLS: the wrapper is watched too)
        sock.shutdown(socket.SHUT_RDWR)


def _timed(base: type[http.client.HTTPConnection], deadline: _Deadline) -> Callable[..., http.client.HTTPConnection]:
    """``base`` whose sockets (the TCP one, then its TLS wrapper) the deadline watches."""

    class Timed(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            create: Callable[..., socket.socket] = socket.create_connection
            self._create_connection = lambda *a, **k: deadline.watch(create(*a, **k))

        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    return Timed


class _TimedHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._connection = _timed(http.client.HTTPConnection, deadline)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _TimedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._connection = _timed(http.client.HTTPSConnection, deadline)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._context)  # type: ignore[attr-defined]


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
    what = f"the checkpoint of size {checkpoint.size}"
    late = AnchorError(f"the witness {shown} did not answer for {what} within {timeout:g}s (timed out)", target=shown)
    with _Deadline(timeout) as deadline:
        opener = urllib.request.build_opener(_NoRedirect, _TimedHTTP(deadline), _TimedHTTPS(deadline))
        try:
            with opener.open(request, timeout=timeout) as response:
                status = int(response.status)
                body = response.read(MAX_WITNESS_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            try:
                detail = first_line(exc.read(2000).decode("utf-8", "replace"))
            except Exception:  # no body to read
                detail = "no message"
            if deadline.expired:
                raise late from None
            raise AnchorError(
                f"the witness {shown} refused {what}: HTTP {exc.code} {exc.reason} ({detail})",
                target=shown,
                status=exc.code,
            ) from None
        except urllib.error.URLError as exc:
            if deadline.expired:
                raise late from None
            reason = "timed out" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
            raise AnchorError(f"the witness {shown} could not be reached for {what}: {reason}", target=shown) from None
        except TimeoutError:
            raise late from None
        except OSError as exc:
            if deadline.expired:
                raise late from None
            raise AnchorError(f"the witness {shown} could not be reached for {what}: {exc}", target=shown) from None
        except http.client.HTTPException as exc:  # no HTTP answer: a bad status line, too many headers, cut short
            if deadline.expired:
                raise late from None
            raise AnchorError(
                f"the witness {shown} gave no valid HTTP answer for {what}: {type(exc).__name__}: "
                f"{first_line(str(exc))[:200]}",
                target=shown,
            ) from None
    if deadline.expired:  # what was read before the deadline shut the socket is no answer
        raise late
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
