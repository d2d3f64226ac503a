"""One manager per task: every public call of ``ArtifactManager`` marks the manager as running it.

A manager drives one session, and a session can run one statement at a time: a second task's call
while the first is awaiting the database used to surface as SQLAlchemy's IllegalStateChangeError
(or asyncpg's "another operation is in progress", or a half-used SQLite connection). Every public
call therefore marks the manager as running it, and a call that finds it marked raises
ConcurrentUseError before touching anything. The mark is one attribute, read and written without
a lock: the check and the set happen with no await in between, so no other task can run between
them. It tells overlapping calls apart, not tasks: calls one after another from different tasks
are not misuse (the sync API runs each call as a task of its own).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from .errors import ConcurrentUseError

__all__ = ["exclusive", "exclusive_items", "exclusive_step", "settle"]

T = TypeVar("T")


async def exclusive_step(manager: Any, name: str, step: Callable[[], Awaitable[T]]) -> T:
    """Await ``step()`` with the manager marked as running ``name``; refuse if it already runs a call."""
    running: str | None = manager._running
    if running is not None:
        raise ConcurrentUseError(name, running)
    manager._running = name
    try:
        return await step()
    finally:
        manager._running = None


def exclusive(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """``method`` run as :func:`exclusive_step` does (inlined: this is on every call's path)."""
    name = method.__name__

    @functools.wraps(method)
    async def exclusive(self: Any, /, *args: Any, **kwargs: Any) -> T:
        running = self._running
        if running is not None:
            raise ConcurrentUseError(name, running)
        self._running = name
        try:
            return await method(self, *args, **kwargs)
        finally:
            self._running = None

    exclusive.__exclusive__ = True  # type: ignore[attr-defined]  # tests check every public call has it
    return exclusive


async def exclusive_items(
    manager: Any, items: AsyncGenerator[T, None], name: str = "iter_all"
) -> AsyncGenerator[T, None]:
    """``items`` with each page read as one exclusive call (the caller may use the manager between items)."""
    try:
        while True:
            try:
                item = await exclusive_step(manager, name, items.__anext__)
            except StopAsyncIteration:
                return
            yield item
    finally:
        await items.aclose()


async def settle(manager: Any) -> str | None:
    """Wait for a call another task still runs on the manager (a transaction is ending); its name, or None."""
    running: str | None = manager._running
    # Polling, not an Event: this runs only on misuse, and an Event would cost every call its set().
    while manager._running is not None:  # noqa: ASYNC110
        await asyncio.sleep(0.001)  # the running call holds the session, so it ends on its own
    return running
