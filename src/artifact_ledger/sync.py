"""The ledger without ``await``: for scripts, notebooks and code that is not async.

```python
from artifact_ledger import ArtifactIn, sync

with sync.Ledger.open("sqlite+aiosqlite:///./artifacts.db") as ledger:
    with ledger.manager() as manager:
        saved = manager.save(ArtifactIn(data={"name": "x"}))
    print(ledger.verify().ok)
```

Each :class:`Ledger` runs one asyncio event loop on a private thread, opened with the ledger
and stopped when it closes; every call hands its coroutine to that loop and waits for the
result. So the calling thread may itself be running an event loop (Jupyter, an ``async def``
test): the call blocks that loop until it returns, which is what a synchronous call means.
Errors are the async API's, raised unchanged (the same ``LedgerError`` subclasses).

The wrappers are made from the async classes' methods (:func:`_blocking`), which keeps
their signatures for type checkers; a test checks that every public method of
:class:`~artifact_ledger.ArtifactManager` and :class:`~artifact_ledger.Ledger` has one.

Two things cannot work and raise :class:`SyncUsageError`: calling the sync API from the
ledger's own loop thread (a ``progress`` callback of ``verify`` calling back into the ledger
would wait for itself forever), and using a ledger after its ``with`` block has closed it.
Callbacks (``progress=``) run on the ledger's thread.

An engine passed in instead of a URL is taken over for the ledger's lifetime (:func:`_take_over`):
a PostgreSQL (asyncpg) connection belongs to the event loop that made it, and each sync ledger
has a loop of its own, so the engine's pool is replaced when the ledger opens (the idle
connections of another loop are let go, not used) and disposed on the ledger's loop when it
closes. An engine with a connection checked out (in use on another loop) is refused with
:class:`SyncUsageError`. SQLite engines are left alone: their connections work from any loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import os
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, suppress
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from . import ledger as _ledger
from . import manager as _manager
from .clock import Clock
from .content import Keyring
from .errors import LedgerError
from .ids import IdFactory
from .namespaces import DEFAULT as DEFAULT_NAMESPACE
from .schemas import ArtifactHierarchy, ArtifactOut

__all__ = ["ArtifactManager", "Ledger", "SyncUsageError"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SyncUsageError(LedgerError, RuntimeError):
    """The sync API was called where it cannot run: from its own event loop's thread (it would
    wait for itself), on a ledger that is closed, or with an engine in use on another loop."""


class _Loop:
    """One event loop on a daemon thread; :meth:`run` runs a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.closed = False
        self.engines: list[AsyncEngine] = []
        """Engines taken over (:func:`_take_over`): their pools are disposed on this loop at close."""
        self.blocks: list[AbstractAsyncContextManager[Any]] = []
        """The async blocks entered by :func:`_bridged` and not yet left, oldest (the ledger's) first."""
        self.blocks_lock = threading.Lock()
        self.thread = threading.Thread(target=self.loop.run_forever, name="artifact-ledger-sync", daemon=True)
        self.thread.start()

    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Await ``work()`` on the loop thread and return its result (or raise its exception)."""
        if self.closed:
            raise SyncUsageError(
                "this sync ledger is closed (its `with sync.Ledger.open(...)` block has ended); open it again"
            )
        if threading.current_thread() is self.thread:
            raise SyncUsageError(
                "the sync API was called from its own event loop's thread (for example from a progress "
                "callback or async code running on the ledger's loop): it would wait for itself forever. "
                "Call it from your own thread, or use the async API (artifact_ledger.Ledger) there"
            )
        # The caller's context variables (ledger.context(actor=...)) travel with the call.
        context = contextvars.copy_context()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        task: list[asyncio.Task[T]] = []

        def finish(finished: asyncio.Task[T]) -> None:
            if finished.cancelled():
                done.cancel()
            elif (error := finished.exception()) is not None:
                done.set_exception(error)
            else:
                done.set_result(finished.result())

        def start() -> None:
            task.append(self.loop.create_task(_awaited(work()), context=context))
            task[0].add_done_callback(finish)

        self.loop.call_soon_threadsafe(start)
        try:
            return done.result()
        except BaseException:
            if not done.done():  # interrupted (Ctrl-C): stop the work on the loop too
                self.loop.call_soon_threadsafe(lambda: task and task[0].cancel())
            raise

    def enter(self, manager: AbstractAsyncContextManager[T]) -> T:
        return self.run(manager.__aenter__)

    def exit(self, manager: AbstractAsyncContextManager[Any], error: BaseException | None) -> None:
        if error is None:
            self.run(lambda: manager.__aexit__(None, None, None))
        else:
            self.run(lambda: manager.__aexit__(type(error), error, error.__traceback__))

    def opened(self, block: AbstractAsyncContextManager[Any]) -> None:
        with self.blocks_lock:
            self.blocks.append(block)

    def still_open(self, block: AbstractAsyncContextManager[Any]) -> bool:
        """Whether ``block`` is open, no longer counted as such: its leaver may now leave it."""
        with self.blocks_lock:
            if any(open_block is block for open_block in self.blocks):
                self.blocks.remove(block)
                return True
            return False

    def end_blocks(self, keep: int = 0) -> None:
        """Leave the blocks still open, newest first, except the ``keep`` oldest: a block left open
        when its ledger closes (a manager or transaction never exited) ends with it, its writes
        rolled back and its connection returned, rather than left holding locks until collected."""
        while True:
            with self.blocks_lock:
                if len(self.blocks) <= keep:
                    return
                block = self.blocks.pop()
            with suppress(Exception):  # a broken connection's rollback, say: the block is over either way
                self.exit(block, SyncUsageError("the sync ledger closed before this block ended"))

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.end_blocks()
            for engine in self.engines:  # its connections were made on this loop: close them here
                self.run(engine.dispose)
        finally:
            self.closed = True
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


def _take_over(engine: AsyncEngine, loop: _Loop) -> None:
    """Make a caller's engine usable on ``loop``, or refuse it with :class:`SyncUsageError`.

    asyncpg connections (and the pool's queue) are bound to the event loop that made them, so
    pooled ones from another loop (the caller's, an earlier sync ledger's) fail there with
    "attached to a different loop". The pool is replaced by a fresh one (``dispose(close=False)``:
    idle connections of the other loop cannot be closed from here, so they are let go), and
    :meth:`_Loop.close` disposes it on ``loop``. A connection checked out means the engine is in
    use elsewhere right now; sharing it would break both sides, so that is refused.
    """
    if engine.dialect.name == "sqlite" or engine in loop.engines:
        return  # aiosqlite's connections work from any loop (and a :memory: pool holds the database)
    checkedout: Callable[[], int] | None = getattr(engine.sync_engine.pool, "checkedout", None)
    in_use = 0 if checkedout is None else checkedout()  # a NullPool keeps nothing, so shares nothing
    if in_use:
        raise SyncUsageError(
            f"this engine ({engine.url.render_as_string(hide_password=True)}) has {in_use} connection(s) in "
            "use (an open connection or session, on another event loop): its connections belong to the loop that "
            "made them, and the sync ledger runs its own. Close them first, pass a URL instead of the engine, or "
            "give the sync API an engine of its own"
        )
    engine.sync_engine.dispose(close=False)
    loop.engines.append(engine)


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


@contextmanager
def _bridged(loop: _Loop, manager: AbstractAsyncContextManager[T], *, commits: bool = False) -> Iterator[T]:
    """An async context manager entered and left on ``loop``, as a sync one.

    A block still open when its ledger closes is ended then (:meth:`_Loop.end_blocks`). Leaving
    it afterwards with an error (or at garbage collection) keeps that error; leaving it normally
    is silent unless it ``commits`` (a transaction): its writes were rolled back, which must not
    pass unnoticed.
    """
    value = loop.enter(manager)
    loop.opened(manager)
    try:
        yield value
    except BaseException as error:
        if loop.still_open(manager):
            loop.exit(manager, error)
        raise
    if loop.still_open(manager):
        loop.exit(manager, None)
    elif commits:
        raise SyncUsageError(
            "the sync ledger was closed before this transaction block ended: its writes were rolled back"
        )


class _Wrapper:
    """What a sync wrapper holds: the async object it drives and the loop it drives it on."""

    _target: Any
    _loop: _Loop


def _blocking(method: Callable[Concatenate[Any, P], Awaitable[R]]) -> Callable[Concatenate[Any, P], R]:
    """A method of the sync class that runs the async class's ``method`` on the ledger's loop.

    Typed from the async method (its parameters, its awaited result), so the sync API needs no
    hand-written signatures and cannot drift from the async one.
    """

    def call(self: _Wrapper, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._loop.run(lambda: method(self._target, *args, **kwargs))

    call.__name__ = method.__name__
    call.__qualname__ = method.__qualname__
    call.__doc__ = method.__doc__
    call.__wrapped__ = method  # type: ignore[attr-defined]  # inspect.signature follows it
    return call


class ArtifactManager(_Wrapper):
    """:class:`artifact_ledger.ArtifactManager` without ``await`` (see the module's docs).

    ``ledger.manager()`` and ``ledger.transaction()`` hand these out; ``async_manager`` is the
    async manager underneath.
    """

    def __init__(self, manager: _manager.ArtifactManager, loop: _Loop) -> None:
        self._target = manager
        self._loop = loop

    @property
    def async_manager(self) -> _manager.ArtifactManager:
        manager: _manager.ArtifactManager = self._target
        return manager

    @property
    def hierarchy(self) -> ArtifactHierarchy | None:
        return self.async_manager.hierarchy

    @hierarchy.setter
    def hierarchy(self, hierarchy: ArtifactHierarchy | None) -> None:
        self.async_manager.hierarchy = hierarchy

    @contextmanager
    def transaction(self) -> Iterator[ArtifactManager]:
        """Every write inside is one transaction: one lock, one commit, all or nothing."""
        with _bridged(self._loop, self.async_manager.transaction(), commits=True):
            yield self

    def iter_all(self, *, include_content: bool = True, page_size: int = 1000) -> Iterator[ArtifactOut]:
        """Every live artifact, ordered by id, read ``page_size`` at a time (see the async method)."""
        pages: AsyncGenerator[ArtifactOut, None] = self.async_manager.iter_all(
            include_content=include_content, page_size=page_size
        )
        try:
            while True:
                try:
                    yield self._loop.run(lambda: anext(pages))
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.closed:
                self._loop.run(pages.aclose)

    def open_content(self, id: Any, *, version: int | None = None) -> Iterator[bytes]:
        """The content's stored bytes, a verified chunk at a time (see the async method)."""
        chunks: AsyncGenerator[bytes, None] = self.async_manager.open_content(id, version=version)
        try:
            while True:
                try:
                    yield self._loop.run(lambda: anext(chunks))
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.closed:
                self._loop.run(chunks.aclose)

    save = _blocking(_manager.ArtifactManager.save)
    save_all = _blocking(_manager.ArtifactManager.save_all)
    move = _blocking(_manager.ArtifactManager.move)
    delete_by_id = _blocking(_manager.ArtifactManager.delete_by_id)
    restore = _blocking(_manager.ArtifactManager.restore)
    revert = _blocking(_manager.ArtifactManager.revert)
    find_by_id = _blocking(_manager.ArtifactManager.find_by_id)
    find_all = _blocking(_manager.ArtifactManager.find_all)
    find_paginated = _blocking(_manager.ArtifactManager.find_paginated)
    find_all_by_id = _blocking(_manager.ArtifactManager.find_all_by_id)
    count = _blocking(_manager.ArtifactManager.count)
    find = _blocking(_manager.ArtifactManager.find)
    patch = _blocking(_manager.ArtifactManager.patch)
    exists_by_id = _blocking(_manager.ArtifactManager.exists_by_id)
    find_subtree = _blocking(_manager.ArtifactManager.find_subtree)
    build_tree = _blocking(_manager.ArtifactManager.build_tree)
    expand_artifact = _blocking(_manager.ArtifactManager.expand_artifact)
    get_root_artifact = _blocking(_manager.ArtifactManager.get_root_artifact)
    history = _blocking(_manager.ArtifactManager.history)
    history_paginated = _blocking(_manager.ArtifactManager.history_paginated)
    diff = _blocking(_manager.ArtifactManager.diff)
    audit = _blocking(_manager.ArtifactManager.audit)
    set_alias = _blocking(_manager.ArtifactManager.set_alias)
    resolve_alias = _blocking(_manager.ArtifactManager.resolve_alias)
    remove_alias = _blocking(_manager.ArtifactManager.remove_alias)
    protect_alias = _blocking(_manager.ArtifactManager.protect_alias)
    alias_history = _blocking(_manager.ArtifactManager.alias_history)
    alias_history_paginated = _blocking(_manager.ArtifactManager.alias_history_paginated)
    alias_history_newest = _blocking(_manager.ArtifactManager.alias_history_newest)
    provenance_history = _blocking(_manager.ArtifactManager.provenance_history)
    provenance_history_paginated = _blocking(_manager.ArtifactManager.provenance_history_paginated)
    provenance_history_newest = _blocking(_manager.ArtifactManager.provenance_history_newest)
    aliases = _blocking(_manager.ArtifactManager.aliases)
    aliases_paginated = _blocking(_manager.ArtifactManager.aliases_paginated)
    link = _blocking(_manager.ArtifactManager.link)
    unlink = _blocking(_manager.ArtifactManager.unlink)
    lineage = _blocking(_manager.ArtifactManager.lineage)
    hold = _blocking(_manager.ArtifactManager.hold)
    release = _blocking(_manager.ArtifactManager.release)
    holds = _blocking(_manager.ArtifactManager.holds)
    redact = _blocking(_manager.ArtifactManager.redact)


class Ledger(_Wrapper):
    """:class:`artifact_ledger.Ledger` without ``await``: ``with sync.Ledger.open(url) as ledger:``.

    ``async_ledger`` is the async ledger underneath (its engine, keyring, clock).
    """

    def __init__(self, ledger: _ledger.Ledger, loop: _Loop) -> None:
        self._target = ledger
        self._loop = loop

    @classmethod
    @contextmanager
    def open(
        cls,
        url_or_engine: str | URL | AsyncEngine,
        *,
        secret: str | bytes | Keyring | None = None,
        clock: Clock | None = None,
        id_factory: IdFactory | None = None,
        create: bool = True,
        lock_timeout: float | None = None,
        read_url: str | URL | AsyncEngine | None = None,
        blobs: str | os.PathLike[str] | None = None,
        group_commit: bool = True,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> Iterator[Ledger]:
        """Open (and by default create) a ledger, as :meth:`artifact_ledger.Ledger.open` does, with
        the same arguments (a test keeps them equal); its event loop thread starts here and stops
        when the block ends."""
        loop = _Loop()
        try:
            for engine in (url_or_engine, read_url):
                if isinstance(engine, AsyncEngine):
                    _take_over(engine, loop)
            opened = _ledger.Ledger.open(
                url_or_engine,
                secret=secret,
                clock=clock,
                id_factory=id_factory,
                create=create,
                lock_timeout=lock_timeout,
                read_url=read_url,
                blobs=blobs,
                group_commit=group_commit,
                namespace=namespace,
            )
            with _bridged(loop, opened) as ledger:
                try:
                    yield cls(ledger, loop)
                finally:
                    loop.end_blocks(keep=1)  # managers and transactions left open, before the ledger
        finally:
            loop.close()

    @property
    def async_ledger(self) -> _ledger.Ledger:
        ledger: _ledger.Ledger = self._target
        return ledger

    @property
    def ledger_id(self) -> str | None:
        return self.async_ledger.ledger_id

    @property
    def namespace(self) -> str:
        """The namespace this ledger is (``default`` unless opened with ``namespace=``)."""
        return self.async_ledger.namespace

    @contextmanager
    def manager(
        self, hierarchy: ArtifactHierarchy | None = None, *, consistent: bool = False
    ) -> Iterator[ArtifactManager]:
        """A manager on a fresh session, closed when the block ends (``consistent``: as in the async ledger's)."""
        with _bridged(self._loop, self.async_ledger.manager(hierarchy, consistent=consistent)) as manager:
            yield ArtifactManager(manager, self._loop)

    @contextmanager
    def transaction(self, hierarchy: ArtifactHierarchy | None = None) -> Iterator[ArtifactManager]:
        """A manager whose writes all commit together at the end of the block, or not at all."""
        with _bridged(self._loop, self.async_ledger.transaction(hierarchy), commits=True) as manager:
            yield ArtifactManager(manager, self._loop)

    context = staticmethod(_ledger.Ledger.context)
    events_since = _blocking(_ledger.Ledger.events_since)
    rebuild = _blocking(_ledger.Ledger.rebuild)
    verify = _blocking(_ledger.Ledger.verify)
    head = _blocking(_ledger.Ledger.head)
    merkle_root = _blocking(_ledger.Ledger.merkle_root)
    prove_inclusion = _blocking(_ledger.Ledger.prove_inclusion)
    prove_consistency = _blocking(_ledger.Ledger.prove_consistency)
    checkpoint = _blocking(_ledger.Ledger.checkpoint)
    apply_retention = _blocking(_ledger.Ledger.apply_retention)
    gc = _blocking(_ledger.Ledger.gc)
    upgrade_chain = _blocking(_ledger.Ledger.upgrade_chain)
    verify_checkpoint = _blocking(_ledger.Ledger.verify_checkpoint)
    create_index = _blocking(_ledger.Ledger.create_index)
    drop_index = _blocking(_ledger.Ledger.drop_index)
    indexes = _blocking(_ledger.Ledger.indexes)
    replica_lag = _blocking(_ledger.Ledger.replica_lag)
    namespaces = _blocking(_ledger.Ledger.namespaces)

    def close(self) -> None:
        """End the managers and transactions still open (rolled back) and the ledger, dispose of the
        engine (if the ledger made it) and stop the loop thread; the ``with`` block does this."""
        self._loop.close()


WRAPPED: dict[type[_Wrapper], type] = {ArtifactManager: _manager.ArtifactManager, Ledger: _ledger.Ledger}
"""Each sync class and the async class it wraps (a test checks every public method is there)."""

GENERATED: dict[type[_Wrapper], list[str]] = {}
"""Coroutine methods of the async classes that have no typed line above yet: they get a wrapper here
at import time, so they work without ``await`` at once; add a typed line for type checkers."""


def _complete(sync_class: type[_Wrapper], async_class: type) -> None:
    for name, member in vars(async_class).items():
        if not name.startswith("_") and name not in vars(sync_class) and inspect.iscoroutinefunction(member):
            setattr(sync_class, name, _blocking(member))
            GENERATED.setdefault(sync_class, []).append(name)


for _sync_class, _async_class in WRAPPED.items():
    _complete(_sync_class, _async_class)
