"""``HEAD`` for every ``GET`` route: the same status and headers, no body, and no stream followed.

FastAPI's routes answer only the methods they declare, so ``HEAD /api/v1/artifacts/{id}`` was a
405 although ``GET`` serves it (RFC 9110 asks every server that serves ``GET`` to serve ``HEAD``;
``curl -I``, link checkers and load-balancer probes send it). :class:`HeadAsGet` runs a ``HEAD``
request as the ``GET`` of the same target and drops what the response would send after its
headers. A streamed response (the event feed, which never ends; a content download; a listing
streamed in pages) is stopped once its headers are out: from then on the request reads as a
client that has gone, which is how a streamed response learns to stop.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HeadAsGet"]

_GONE: Final[Message] = {"type": "http.disconnect"}


class HeadAsGet:
    """ASGI middleware: ``app.add_middleware(HeadAsGet)``; ``create_app`` adds it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # ASGI 2.3: a streamed response watches receive() for the client leaving (with 2.4 it
        # would wait for send() to fail, which here it never does).
        asgi = {**scope.get("asgi", {}), "spec_version": "2.3"}
        headers_sent = asyncio.Event()

        async def head_receive() -> Message:
            if headers_sent.is_set():
                return _GONE
            message = asyncio.ensure_future(receive())
            sent = asyncio.ensure_future(headers_sent.wait())
            try:
                await asyncio.wait((message, sent), return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                message.cancel()
                raise
            finally:
                sent.cancel()
            if message.done():
                return message.result()
            message.cancel()
            return _GONE

        async def head_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                headers_sent.set()
            # Bodies (and trailers) go nowhere: the response to a HEAD has none.

        await self.app({**scope, "method": "GET", "asgi": asgi}, head_receive, head_send)
