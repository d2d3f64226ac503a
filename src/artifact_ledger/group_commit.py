"""Group commit: concurrent commands of one process share one transaction and one write lock.

Every write takes the ledger's write lock for its whole transaction, so concurrent single
saves queue for it one after another, each paying for its own lock, head read and commit (on
PostgreSQL a WAL flush; on SQLite a busy wait for the file lock). Here the commands that
arrive while a transaction is running wait for it to end and then run together, in arrival
order, in the next one: one lock, one head read, one commit for the whole group.

The rules a group keeps:

- A command that runs alone (nothing else waiting) runs at once, in its caller's task, exactly
  as without grouping: no added wait on an idle system.
- Each command keeps its own events, reply and error. A command refused by the ledger's rules
  (parent not found, a stale ``expected_version``, a trust check) appends nothing and fails
  alone; the rest of the group commits. A command that fails after sealing some of its events
  is taken out and the rest run again as a new group. A database refusal in any command but the
  first may be of an earlier command's queued statements: each command then runs on its own.
- A failure of the transaction itself (the lock not granted in time, the connection lost, the
  disk full: every :class:`~artifact_ledger.errors.LedgerUnavailableError`, and the database
  rolling back a serialization conflict) reaches every command of the group; nothing of any
  of them was written. Another database refusal that cannot be pinned on one command makes
  each command of the group run again on its own. The commands queued by the time a group began
  waiting for the lock fail with its ``LockTimeoutError`` too: none waits for more than about
  twice the lock timeout, however many groups are ahead of it.
- Commands in one group see each other's effects, in order: a save whose parent an earlier
  command of the group created works.
- A caller cancelled while its command waits takes it out of the queue; once its group has
  begun, the command commits or fails with the group and only the reply is dropped.

Only the artifact commands of an idle session join (save, save_all, patch, move, delete,
restore, revert, without streamed content): ``manager.transaction()`` blocks and sessions in
use keep their own transaction. ``Ledger.open(..., group_commit=False)`` turns it off for the
ledger's engine.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from .clock import Clock
from .errors import ConcurrencyError, LedgerError, LedgerUnavailableError, LockTimeoutError
from .ids import IdFactory
from .store.engine import lock_timeout_seconds
from .store.errors import enter_site, translated
from .store.recorder import own_transaction
from .writer import WriteBatch

__all__ = ["MAX_GROUP", "Committer", "committer_for", "set_enabled"]

T = TypeVar("T")

MAX_GROUP = 128
"""Commands in one group at most; more wait for the next transaction."""

Action = Callable[[WriteBatch], Awaitable[Any]]


def _new_future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class Member(Generic[T]):
    """One command waiting for (or running in) a group."""

    action: Callable[[WriteBatch], Awaitable[T]]
    clock: Clock
    new_id: IdFactory
    future: asyncio.Future[tuple[WriteBatch, T]] = field(default_factory=_new_future)
    queued_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    def resolve(self, batch: WriteBatch, result: T) -> None:
        if not self.future.done():
            self.future.set_result((batch, result))

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            if isinstance(error, asyncio.CancelledError):
                self.future.cancel()
            else:
                self.future.set_exception(error)


class _NothingToCommit(Exception):
    """Every member was refused by a rule: roll back (an empty commit is still a commit)."""

    def __init__(self, outcomes: list[Any]) -> None:
        super().__init__("every command of the group was refused")
        self.outcomes = outcomes


class _Refused(Exception):
    """Member ``index`` failed in a way its neighbours need not share."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.index, self.error = index, error


@dataclass(frozen=True, slots=True)
class _Span:
    """What one member of a group appended: its events' ordinals in the batch, and their artifacts."""

    start: int
    end: int
    touched: frozenset[str]


def _span(batch: WriteBatch, sealed: int) -> _Span:
    """The span of the member that ran since the batch had ``sealed`` events (its ids: those of its
    events still pending; a member that flushed part-way names only the rest, for the log alone)."""
    end = batch.appended + len(batch.pending)
    kept = batch.pending[max(0, sealed - batch.appended) :] if end > sealed else []
    return _Span(sealed, end, frozenset(e.artifact_id for e in kept))


def _member_view(batch: WriteBatch, span: _Span) -> WriteBatch:
    """A batch that shows one member's part of a committed group: what the write log reports for
    that command (its events' count, positions and artifacts), not the whole group's."""
    view = WriteBatch(batch.driver, batch.clock, batch.new_id)
    view.appended = span.end - span.start
    view.versions = batch.versions
    view.touched = set(span.touched)
    if batch.head is not None:
        last = batch.head.position - (batch.appended - span.end)
        view.head = replace(batch.head, position=last, nodes=[])
    return view


def _whole_transaction(error: BaseException) -> bool:
    """Whether ``error`` is the transaction's own failure, shared by every command in it."""
    if isinstance(error, LedgerUnavailableError):
        return True
    return isinstance(error, ConcurrencyError) and error.driver_error is not None


class Committer:
    """The queue of one engine's grouped commands and the task that runs their groups."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = weakref.ref(engine)
        self._key = weakref.ref(engine.sync_engine)  # weak: the committer must not keep its engine alive
        self.queue: deque[Member[Any]] = deque()
        self.running = False
        self.groups = 0
        """Transactions run (for tests and benchmarks: fewer than commands means groups formed)."""
        self._drainer: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether grouping is on for the engine (one setting for the committers of all its loops)."""
        key = self._key()
        return key is not None and _enabled.get(key, True)

    @enabled.setter
    def enabled(self, value: bool) -> None:
        key = self._key()
        if key is not None:
            _enabled[key] = value

    async def submit(
        self, action: Callable[[WriteBatch], Awaitable[T]], clock: Clock, new_id: IdFactory
    ) -> tuple[WriteBatch, T]:
        """Run ``action`` in a group; returns its batch and result, or raises its own error."""
        if self.running:
            member: Member[T] = Member(action, clock, new_id)
            self.queue.append(member)
            # A caller cancelled while its command waits cancels the member's future, and a group
            # skips members whose future is done: it never runs. It is not taken out of the queue
            # here (a deque's remove is a scan: 20,000 callers cancelled at once took seconds).
            return await member.future
        self.running = True  # nothing runs: this command runs now, alone, in its caller's task
        try:
            return await self._alone(action, clock, new_id)
        finally:
            self._hand_over()

    async def _alone(
        self, action: Callable[[WriteBatch], Awaitable[T]], clock: Clock, new_id: IdFactory
    ) -> tuple[WriteBatch, T]:
        """A group of one, run exactly as an ungrouped command: its errors are its own to raise."""
        engine = self._engine()
        if engine is None:  # pragma: no cover - an engine is alive while its commands run
            raise RuntimeError("the ledger's engine was garbage-collected while a command ran")
        self.groups += 1
        async with own_transaction(engine) as recorder:
            batch = WriteBatch(recorder, clock, new_id)

            async def command() -> T:
                result = await action(batch)
                await batch.flush(commit=True)
                return result

            return batch, await recorder.whole(command)

    def _hand_over(self) -> None:
        """After a group: start the task that runs the commands that queued meanwhile, if any."""
        if not self.queue:
            self.running = False
            return
        loop = asyncio.get_running_loop()
        # A context of its own: nothing of one caller's context variables leaks into others' commands.
        self._drainer = loop.create_task(self._drain(), context=contextvars.Context())

    async def _drain(self) -> None:
        try:
            while self.queue:
                group = self._next_group()
                if group:
                    await self._run(group)
        except BaseException as error:  # the loop is closing: nobody may wait forever
            while self.queue:
                self.queue.popleft().fail(error)
            raise
        finally:
            self.running = False
            self._drainer = None

    def _next_group(self) -> list[Member[Any]]:
        """The queued commands that can share one batch: the same clock and id factory, in order."""
        queue = self.queue
        group: list[Member[Any]] = []
        skipped: list[Member[Any]] = []  # another clock or id factory: the next group's, in their order
        while queue and len(group) < MAX_GROUP:
            member = queue.popleft()
            if member.future.done():  # cancelled while waiting
                continue
            if not group or (member.clock is group[0].clock and member.new_id is group[0].new_id):
                group.append(member)
            else:
                skipped.append(member)
        queue.extendleft(reversed(skipped))  # a full group leaves the rest unscanned
        return group

    def _expire(self, started: float, error: LockTimeoutError) -> None:
        """The write lock was not granted to a transaction that began waiting at ``started``: the
        commands queued by then have waited the lock timeout too, and fail with it rather than
        wait another one per group ahead of them (1,000 queued: 9 lock timeouts for the last). A
        refusal that came well before the timeout (the lock not waited for) expires no one."""
        if asyncio.get_running_loop().time() - started < lock_timeout_seconds(error.lock_timeout) / 2:
            return
        kept: deque[Member[Any]] = deque()
        for member in self.queue:
            if member.queued_at <= started:
                member.fail(error)
            else:
                kept.append(member)
        self.queue = kept

    async def _run(self, group: list[Member[Any]]) -> None:
        """Commit ``group`` in one transaction, each member resolved with its own outcome."""
        engine = self._engine()
        pending = list(group)
        while pending:
            if engine is None:  # pragma: no cover - an engine is alive while its commands run
                raise RuntimeError("the ledger's engine was garbage-collected while commands were queued")
            started = asyncio.get_running_loop().time()
            try:
                batch, outcomes, spans = await self._attempt(engine, pending)
            except _NothingToCommit as refused:
                for member, outcome in zip(pending, refused.outcomes, strict=True):
                    member.fail(outcome)
                return
            except _Refused as refused:
                culprit = pending.pop(refused.index)
                culprit.fail(refused.error)
                continue  # the others again, as a new group
            except BaseException as error:
                if len(pending) == 1 or _whole_transaction(error) or not isinstance(error, LedgerError):
                    for member in pending:
                        member.fail(error)
                    if isinstance(error, LockTimeoutError):
                        self._expire(started, error)
                    if not isinstance(error, Exception):
                        raise
                    return
                for member in pending:  # a refusal no one command can be blamed for: each on its own
                    await self._run([member])
                return
            for member, outcome, span in zip(pending, outcomes, spans, strict=True):
                if isinstance(outcome, BaseException):
                    member.fail(outcome)
                else:
                    member.resolve(batch if len(pending) == 1 else _member_view(batch, span), outcome)
            return

    async def _attempt(
        self, engine: AsyncEngine, group: list[Member[Any]]
    ) -> tuple[WriteBatch, list[Any], list[_Span]]:
        first = group[0]
        self.groups += 1
        # The drainer runs in a context of its own, where no connection of this engine was opened
        # yet: name the ledger (its URL, its lock timeout) in the messages of the errors raised here.
        enter_site(engine)
        async with own_transaction(engine) as recorder:
            batch = WriteBatch(recorder, first.clock, first.new_id)

            spans: list[_Span] = []

            async def commands() -> list[Any]:
                outcomes: list[Any] = []
                for index, member in enumerate(group):
                    sealed = batch.appended + len(batch.pending)
                    try:
                        with translated():
                            outcomes.append(await member.action(batch))
                        spans.append(_span(batch, sealed))
                    except LedgerError as error:
                        if _whole_transaction(error) or (error.driver_error is not None and index > 0):
                            # A database refusal after the first member may be of statements an earlier
                            # member queued (they go with the next reads): no one can be blamed, each alone.
                            raise
                        if (
                            error.driver_error is not None
                            or batch.aborted is not None
                            or batch.appended + len(batch.pending) != sealed
                        ):
                            raise _Refused(index, error) from error  # the batch cannot go on with it
                        outcomes.append(error)  # refused by a rule: nothing of it was appended
                        spans.append(_span(batch, sealed))
                    except Exception as error:
                        raise _Refused(index, error) from error
                    except asyncio.CancelledError as error:
                        if self._drainer is None or self._drainer.cancelling():
                            raise  # the drainer itself is cancelled (its loop closing): every command goes
                        raise _Refused(index, error) from error  # raised by the command's own code
                if all(isinstance(outcome, BaseException) for outcome in outcomes):
                    raise _NothingToCommit(outcomes)
                with translated():
                    await batch.flush(commit=True)
                return outcomes

            outcomes = await recorder.whole(commands)
            return batch, outcomes, spans


_committers: weakref.WeakKeyDictionary[Any, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Committer]] = (
    weakref.WeakKeyDictionary()
)
_enabled: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def committer_for(engine: AsyncEngine) -> Committer:
    """The committer of ``engine`` on the running event loop (made on first use).

    One per engine and loop: a group's futures, its queue and the task that drains it belong to
    one loop, so commands of an engine shared by several loops (threads) never wait on another
    loop's group; each loop groups its own.
    """
    loop = asyncio.get_running_loop()
    per_loop = _committers.get(engine.sync_engine)
    if per_loop is None:
        per_loop = _committers[engine.sync_engine] = weakref.WeakKeyDictionary()
    committer = per_loop.get(loop)
    if committer is None:
        committer = per_loop[loop] = Committer(engine)
    return committer


def set_enabled(engine: AsyncEngine, enabled: bool) -> None:
    """Turn group commit on or off for every manager on ``engine`` (on every loop)."""
    _enabled[engine.sync_engine] = enabled
