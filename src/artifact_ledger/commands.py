"""The command side: every write as a unit of work around one :class:`~artifact_ledger.writer.WriteBatch`.

Each command prepares its input here (ids parsed, typed data checked, content encoded,
metadata copied as JSON, attribution taken), then runs inside a unit of work: the batch
decides and records the events and projects them, and the unit of work commits (the
session's, or the recorder's own transaction when the session is idle), or rolls back
on any error. Inside :meth:`Commands.transaction` the commands share one batch and one
commit; a command that fails part-way (or a database error) marks the batch aborted so the
block cannot commit half of it.

Replies are built from the batch's own projection rows, never re-read: a reply shows what
this transaction wrote, and content comes back as the object that was saved.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from ulid import ULID

from . import codec, logs, queries
from .alias_guard import delete_checked
from .ambient import current as current_attribution
from .command_input import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TYPE_LENGTH,
    MAX_VERSION,
    NO_CONTENT,
    Prepared,
    flag_argument,
    prepare,
    read_streams,
    save_input,
    version_argument,
)
from .decide import MoveArtifact, RevertArtifact
from .errors import (
    ArtifactNotFoundError,
    ContentExpiredError,
    InvalidArgumentError,
    LedgerError,
    TransactionAbortedError,
)
from .events import REDACTED_CODEC
from .ids import id_str, ulid_from_text
from .projections.rows import ArtifactRow
from .repository import ArtifactRepository
from .schemas import ArtifactIn, ArtifactOut, building, construct
from .store.errors import translated
from .store.one_writer import engine_of, one_writer
from .writer import WriteBatch

__all__ = [
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "MAX_TYPE_LENGTH",
    "MAX_VERSION",
    "Commands",
    "flag_argument",
    "version_argument",
]

T = TypeVar("T")


class Commands:
    """The writes of one manager: save, save_all, move, delete, restore, revert, and transactions."""

    def __init__(self, repo: ArtifactRepository) -> None:
        self.repo = repo
        self.batch: WriteBatch | None = None
        """The open transaction's batch, or None outside ``transaction()``."""
        self._ulids: dict[str, ULID] = {}
        """ULID objects of the artifacts being saved, so replies need not re-parse their text."""

    # ---- the unit of work ---------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One batch for every write inside: one lock, one commit, all or nothing (re-entrant)."""
        if self.batch is not None:
            yield
            return
        # In-memory SQLite: one writer at a time (store/one_writer.py).
        async with one_writer(engine_of(self.repo.session)), self._transaction():
            yield

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        with translated():
            self.batch = await self.repo.batch()
        try:
            yield
            if self.batch.aborted is not None:
                raise TransactionAbortedError(
                    f"the transaction was not committed: an earlier write in it failed part-way "
                    f"({self.batch.aborted}); nothing in it was written"
                )
            with translated():
                await self.batch.flush()
                await self.repo.commit()
            logs.committed("transaction", self.batch, None, started)
        except BaseException as exc:
            logs.refused("transaction", exc)
            await self.repo.rollback()
            raise
        finally:
            self.batch = None

    async def _write(
        self, action: Callable[[WriteBatch], Awaitable[T]], *, whole: bool = True, group: bool = False
    ) -> T:
        """Run one command: in the open transaction's batch, or in a batch of its own that commits.

        ``whole``: see :meth:`ArtifactRepository.unit` (False when the command reads a stream).
        ``group``: the command may share its transaction with other managers' (group commit).
        """
        batch = self.batch
        if batch is not None:
            if batch.aborted is not None:
                raise TransactionAbortedError(
                    f"this transaction was aborted by an earlier error ({batch.aborted}); "
                    "leave the transaction block and start a new one"
                )
            sealed = batch.appended + len(batch.pending)
            try:
                with translated():
                    return await action(batch)
            except BaseException as exc:
                logs.refused(logs.command_name(action), exc)
                # The whole transaction must go when the command sealed some of its events
                # before failing (save_all item k would leave half of itself in the batch),
                # or when the database itself failed (PostgreSQL refuses every later statement
                # of a failed transaction). A rule refused by decide() writes nothing: keep going.
                from_database = isinstance(exc, LedgerError) and exc.driver_error is not None
                if batch.appended + len(batch.pending) != sealed or from_database:
                    batch.aborted = f"{type(exc).__name__}: {exc}"
                raise
        command, started = logs.command_name(action), time.perf_counter()
        try:
            with translated(), logs.span(command):
                batch, result = await self.repo.unit(action, whole=whole, group=group)
        except BaseException as exc:
            logs.refused(command, exc)
            raise
        logs.committed(command, batch, result, started)
        return result

    async def sync(self) -> None:
        """Inside a transaction, send pending writes so reads see them."""
        if self.batch is not None:
            try:
                with translated():
                    await self.batch.flush()
            except BaseException as exc:  # a flush that fails part-way leaves the batch unusable
                self.batch.aborted = f"{type(exc).__name__}: {exc}"
                raise

    # ---- preparing input ----------------------------------------------------------------------------
    def _prepare(self, item: ArtifactIn, expected_version: int | None) -> Prepared:
        return prepare(self.repo, self._ulids, item, expected_version)

    # ---- commands -----------------------------------------------------------------------------------
    async def save(
        self,
        data: ArtifactIn,
        *,
        expected_version: int | None,
        actor: str | None,
        reason: str | None,
        streams: bool = True,
    ) -> ArtifactOut:
        """``streams=False``: content given as a path (or file object, async iterator) is a value
        like any other, pickled, not a file to read (the chapkit import: a pickled path stays a path)."""
        self._ulids.clear()
        data = save_input(data, "save's data")
        expected_version = version_argument(expected_version, "expected_version")
        sources: list[Any] = []
        if streams:
            [data], sources = await read_streams([data], stager=self.repo.chunk_stager())
        try:
            cmd, encoded, content, fresh = self._prepare(data, expected_version)
            who = current_attribution(actor=actor, reason=reason)

            async def action(batch: WriteBatch) -> ArtifactOut:
                await batch.save(cmd, who, encoded, fresh_id=fresh)
                if "data" in cmd.unset:  # the data kept is the stored one: its content comes from its blob
                    return await self._written(batch, cmd.artifact_id)
                row = await batch.projector.get(cmd.artifact_id)
                assert row is not None
                return self._reply(row, content, shared=_replied(batch, cmd.artifact_id))

            return await self._write(action, whole=not sources, group=True)  # a stream is read in the transaction
        finally:
            for source in sources:
                source.close()

    async def save_all(
        self, items: Iterable[ArtifactIn], *, actor: str | None, reason: str | None
    ) -> list[ArtifactOut]:
        self._ulids.clear()
        if isinstance(items, str | bytes | dict | ArtifactIn) or not isinstance(items, Iterable):
            raise InvalidArgumentError(f"save_all takes an iterable of ArtifactIn, not {type(items).__name__}")
        items = [save_input(item, f"save_all's item {index}") for index, item in enumerate(items)]
        items, sources = await read_streams(items, stager=self.repo.chunk_stager())
        try:
            return await self._save_all(items, actor=actor, reason=reason, whole=not sources)
        finally:
            for source in sources:
                source.close()

    async def _save_all(
        self, items: list[ArtifactIn], *, actor: str | None, reason: str | None, whole: bool = True
    ) -> list[ArtifactOut]:
        with building(len(items)):
            prepared = [self._prepare(item, None) for item in items]
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> list[ArtifactOut]:
            client_ids = [cmd.artifact_id for cmd, _, _, fresh in prepared if not fresh]
            known = {*client_ids, *(cmd.parent_id for cmd, _, _, _ in prepared if cmd.parent_id is not None)}
            await batch.prefetch(sorted(known), streams=client_ids)
            outs: list[ArtifactOut] = []
            # Deciding, sealing and projecting is in-memory work once the rows are prefetched
            # (the loop awaits the database only for what prefetch could not know).
            with building(len(prepared)):
                for cmd, encoded, _content, fresh in prepared:
                    await batch.save(cmd, who, encoded, fresh_id=fresh)
                for cmd, _, content, _ in prepared:
                    shared = _replied(batch, cmd.artifact_id)
                    if "data" in cmd.unset:
                        outs.append(await self._written(batch, cmd.artifact_id, shared=shared))
                        continue
                    row = await batch.projector.get(cmd.artifact_id)
                    assert row is not None
                    outs.append(self._reply(row, content, shared=shared))
            return outs

        return await self._write(action, whole=whole, group=True)

    async def move(
        self,
        artifact_id: ULID | str,
        new_parent_id: ULID | str | None,
        *,
        expected_version: int | None,
        actor: str | None,
        reason: str | None,
    ) -> ArtifactOut:
        aid = id_str(artifact_id)
        parent = id_str(new_parent_id, what="parent id") if new_parent_id is not None else None
        expected_version = version_argument(expected_version, "expected_version")
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> ArtifactOut:
            await batch.move(MoveArtifact(aid, parent, expected_version), who)
            return await self._written(batch, aid, names_content=None)

        return await self._write(action, group=True)

    async def delete(
        self,
        id: ULID | str,
        *,
        cascade: bool,
        expected_version: int | None,
        actor: str | None,
        reason: str | None,
    ) -> None:
        aid = id_str(id)
        cascade = flag_argument(cascade, "cascade")
        expected_version = version_argument(expected_version, "expected_version")
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> None:
            # An id nothing was ever recorded under, or an artifact already deleted, is a no-op (chapkit);
            # the id of an alias's or a link's stream is refused as every other command refuses it.
            await batch.prefetch([aid], streams=[aid])
            await delete_checked(batch, aid, who, cascade=cascade, expected_version=expected_version)

        await self._write(action, group=True)

    async def restore(self, id: ULID | str, *, actor: str | None, reason: str | None) -> ArtifactOut:
        aid = id_str(id)
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> ArtifactOut:
            await batch.restore(aid, who)
            return await self._written(batch, aid, names_content="restore")

        return await self._write(action, group=True)

    async def revert(
        self,
        id: ULID | str,
        *,
        to_version: int,
        expected_version: int | None,
        actor: str | None,
        reason: str | None,
    ) -> ArtifactOut:
        aid = id_str(id)
        if version_argument(to_version, "to_version") is None:
            raise InvalidArgumentError("to_version must be an int version number, not None")
        cmd = RevertArtifact(aid, to_version, version_argument(expected_version, "expected_version"))
        who = current_attribution(actor=actor, reason=reason)

        async def action(batch: WriteBatch) -> ArtifactOut:
            await batch.revert(cmd, who)
            return await self._written(batch, aid, names_content="revert")

        return await self._write(action, group=True)

    # ---- replies ------------------------------------------------------------------------------------
    async def _written(
        self, batch: WriteBatch, artifact_id: str, *, shared: bool | None = None, names_content: str | None = "save"
    ) -> ArtifactOut:
        """The artifact as this transaction left it (from the batch's own rows: no later writer shows).

        ``names_content``: the command (its verb) whose new version names the artifact's content
        again (a save keeping the stored data, a patch, a restore, a revert); None for one that does
        not (a move). Content a retention run deleted cannot be named again (its bytes are gone, and
        ``verify`` holds every later reference to a blob that is there): such a command is refused
        with :class:`ContentExpiredError`; one naming none replies without content, as for erased
        content."""
        if shared is None:
            shared = _replied(batch, artifact_id)
        row = await batch.projector.get(artifact_id)
        if row is None:
            raise ArtifactNotFoundError(f"artifact {artifact_id} not found", artifact_id=artifact_id)
        content: Any = NO_CONTENT
        # erased content (a redaction): no blob to read; the reply has none, as a read without content
        if row.content is not None and row.content.codec != REDACTED_CODEC:
            await batch.flush()  # the blob may have been written earlier in this transaction
            digest = row.content.hash
            try:
                raw = await queries.load_blobs(batch.driver, [digest])
            except ContentExpiredError as expired:
                if names_content is None:  # the artifact still names it: a read with content says it expired
                    return self._reply(row, NO_CONTENT, shared=shared)
                raise ContentExpiredError(
                    f"cannot {names_content} artifact {artifact_id}: its new version would name content that "
                    f"retention deleted ({expired}). Save it with new content, or with content=None",
                    artifact_id=artifact_id,
                    version=expired.version,
                    position=expired.position,
                ) from None
            content = self.repo.decode(row.content.codec, raw[digest], digest)
        return self._reply(row, content, shared=shared)

    def _ulid(self, text: str) -> ULID:
        found = self._ulids.get(text)
        return found if found is not None else ulid_from_text(text)  # stored text: canonical

    def _reply(self, row: ArtifactRow, content: Any, *, shared: bool = False) -> ArtifactOut:
        """The reply for ``row``. Its data is a deep copy inside a transaction, whose batch lives on
        (a caller editing its reply would change what later saves are compared with), and where
        ``shared`` (another reply of this batch has the same row: of this command, or of another
        command of its group); otherwise the row, which goes with the command's batch, hands its
        data over (a copy costs a Python object per value)."""
        data = row.data
        if isinstance(data, (dict, list)):
            if self.batch is not None or shared:
                data = codec.loads(codec.dumps_trusted(data))
            if content is not NO_CONTENT and isinstance(data, dict):
                data = {**data, "content": content}
        values = {
            "id": self._ulid(row.id),
            "parent_id": self._ulid(row.parent_id) if row.parent_id else None,
            "level": row.level,
            "data": data,
            "tags": list(row.tags),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "version": row.version,
            "created_by": row.created_by,
            "updated_by": row.updated_by,
        }
        return construct(ArtifactOut, values)


def _replied(batch: WriteBatch, artifact_id: str) -> bool:
    """Whether a reply of ``batch`` was built from ``artifact_id``'s row already (then another must copy
    its data: two callers of one group, or two items of one save_all, never share a reply's objects)."""
    if artifact_id in batch.replied:
        return True
    batch.replied.add(artifact_id)
    return False
