"""The request body limit: 413 for a body over ``max_body`` bytes, before the route reads it whole.

A ``Content-Length`` over the limit is refused before a byte is read; a body without one (chunked)
is counted as it arrives and refused the moment it passes the limit.
"""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import BodyTooLarge, Problem, declared_length, response_for
from .service import DEFAULT_MAX_BODY

__all__ = ["DEFAULT_MAX_BODY", "BodyLimit", "read_body"]


class BodyLimit:
    """ASGI middleware: ``app.add_middleware(BodyLimit, max_body=...)``."""

    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.strip().isdigit():
                    await self._refuse(scope, receive, send, Problem(400, "Content-Length is not a number"))
                    return
                if int(value) > limit:
                    await self._refuse(scope, receive, send, _too_large(limit))
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, _too_large(limit))

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        response = response_for(problem, scope.get("path"))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _too_large(limit: int) -> Problem:
    return Problem(413, f"the request body is larger than the limit of {limit:,} bytes", kind="body-too-large")


async def read_body(request: Request, limit: int) -> bytearray:
    """The request body, read chunk by chunk as the server hands them over, into one ``bytearray``.

    A ``Content-Length`` over ``limit`` is refused before a byte is read; otherwise each chunk is
    counted before it is kept, and the first chunk that would take the body past ``limit`` is
    dropped and the request refused (:class:`BodyTooLarge`, answered 413): at most ``limit`` bytes
    are ever held, and nothing after that chunk is read.
    """
    declared_length(request.headers, limit)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise BodyTooLarge(limit)
        body += chunk
    return body
