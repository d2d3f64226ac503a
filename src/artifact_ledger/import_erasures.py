"""What an import does to what the target held before it: retention runs and redactions carried over.

A bundle that continues the target's log may hold a ``retention.applied`` or an ``artifact.redacted``
event about events the target already held: the source expired or erased them after the earlier
import. The importer lands each such event after the events before it and before those after it
(as it stood where it was written) and then does here what its run did there, with the same code:

- a retention run (or gc) deletes the blobs its ``deleted`` lists (:func:`lifecycle.delete_blobs`,
  which the run itself called: the guard lets the DELETE through for those hashes only, and a blob
  directory other ledgers use keeps its files);
- a redaction erases the leaves it names of the target's own copies of the events
  (:func:`redact.rewrite`, :func:`redact.store_erasures`: openings, payloads, the artifact's row,
  the blobs nothing names any more).

The log is the only thing trusted. A redaction erases only what it names, and only of versions of
the artifact it names, sealed under chain format 2, whose stored payload and opening still give
their hash here; what is left is derived from the target's copy, never taken from the bundle.
Redaction events of the overlap (the target holds them) are carried over too where their erasure
is missing here, before the first new event. At the end, every overlap line the bundle holds
erased must equal the target's copy. Anything else is :class:`ImportConflictError` naming the
line and the position, in the import's transaction: nothing is imported.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

from . import codec
from . import verify_bundle as spec
from .chain_v2 import Erasure, Opening, OpeningError
from .errors import ChainBrokenError
from .events import REDACTED, RETENTION_APPLIED, RecordedEvent
from .gc import referenced_hashes
from .import_checks import ImportConflictError
from .lifecycle import blob_sizes, delete_blobs
from .redact import read_stream, rewrite, store_erasures
from .redaction import erasures_of
from .retention import expired_blob_hashes
from .store.recorder import Recorder

__all__ = ["HeldChanges"]


class HeldChanges:
    """The retention runs and redactions of one import that change what the target held before it.

    ``where`` names the bundle in messages, ``first_position`` is the position on line 1 of its
    ``events.jsonl``, ``held`` the target's head before the import; blob files deleted are set
    aside into ``trash`` (see :func:`~artifact_ledger.blob_files.deleting_files`).
    """

    def __init__(self, driver: Recorder, where: str, first_position: int, held: int, trash: list[Path]) -> None:
        self.driver = driver
        self.where = where
        self.first_position = first_position
        self.held = held
        self.trash = trash
        self.redactions: list[tuple[int, dict[str, Any]]] = []
        """(position, payload) of the overlap's redaction events, carried over before the first new event."""
        self.erased: dict[int, tuple[str, str, Opening]] = {}
        """position -> (artifact id, payload, opening) of each overlap line the bundle holds erased."""
        self.deleted: dict[str, int] = {}
        """hash -> position of the imported retention event that deleted a blob held here."""

    def fail(self, position: int, detail: str) -> ImportConflictError:
        line = position - self.first_position + 1
        at = f"{spec.EVENTS} line {line} (position {position})" if line >= 1 else f"position {position}"
        return ImportConflictError(f"bundle {self.where}: {at}: {detail}. Nothing was imported")

    def note(self, event: spec.Event) -> None:
        """A line of the overlap (the target holds its event): remember what the end needs of it."""
        if event.type == REDACTED:
            with suppress(ValueError):  # the bundle's own checks name a malformed payload
                self.redactions.append((event.position, codec.loads(event.payload)))
        opening = event.opening
        if opening is not None and opening.salt is None:
            self.erased[event.position] = (
                event.artifact_id,
                event.payload,
                Opening(opening.salt, opening.salts, opening.erased),
            )

    def changed_by(self, event: RecordedEvent) -> bool:
        """Whether a new ``event`` deletes blobs (a retention run) or erases events held before."""
        if event.type == RETENTION_APPLIED:  # (what an import into an empty ledger stores, a later event needs)
            return self.held > 0 and bool(event.payload.get("deleted"))
        if event.type == REDACTED:
            with suppress(ValueError):  # the bundle's own checks name a malformed redaction event
                return any(e.target <= self.held for e in erasures_of(event.position, event.payload))
        return False

    async def apply(self, event: RecordedEvent) -> list[str]:
        """Do what a new ``event`` (landed and projected already) did where it ran; the blobs gone."""
        if event.type == RETENTION_APPLIED:
            hashes = list(expired_blob_hashes(event.payload))
            await delete_blobs(self.driver, hashes, self.trash)  # its ledger_expired_blobs rows are projected
            self.deleted.update((h, event.position) for h in hashes)
            return hashes
        return await self._erase(event.position, event.payload)

    async def redactions_held(self) -> list[str]:
        """Carry over the overlap's redaction events whose erasure the target is missing; the blobs gone."""
        gone: list[str] = []
        for position, payload in self.redactions:
            gone.extend(await self._erase(position, payload))
        self.redactions = []
        return gone

    async def _erase(self, position: int, payload: dict[str, Any]) -> list[str]:
        """Erase here what the redaction event at ``position`` names of the events held before."""
        try:
            named = erasures_of(position, payload)
        except ValueError:
            return []  # the bundle's own checks name a malformed redaction event
        paths: dict[int, set[str]] = {}
        for erasure in named:
            if erasure.target <= self.held:
                paths.setdefault(erasure.target, set()).update(erasure.paths)
        if not paths:
            return []
        aid = payload.get("artifact_id")
        if not isinstance(aid, str):
            raise self.fail(position, f"the redaction names no artifact ({aid!r:.60})")
        stream = await read_stream(self.driver, aid)
        targets: list[Erasure] = []
        for target, wanted in sorted(paths.items()):
            if target not in stream.events:
                raise self.fail(
                    position,
                    f"the redaction names event {target}, which this ledger holds, but not as a version of "
                    f"artifact {aid!r:.60}, the artifact the redaction names",
                )
            if target not in stream.openings:
                raise self.fail(
                    position,
                    f"the redaction names event {target}, which this ledger holds sealed under chain format 1: "
                    "erasing any of it would break the chain",
                )
            if not wanted <= set(stream.openings[target].erased):  # erased here already: nothing to carry
                targets.append(Erasure(position, target, frozenset(wanted)))
        rewritten: dict[int, tuple[str, Opening]] = {}
        for erasure in targets:
            try:
                rewritten.update(rewrite(stream, [erasure]))
            except ChainBrokenError as exc:
                raise self.fail(position, f"the redaction names event {erasure.target}, but {exc}") from None
            except OpeningError as exc:
                raise self.fail(
                    position, f"the redaction names leaves of event {erasure.target} it cannot: {exc}"
                ) from None
        if not rewritten:
            return []
        return await store_erasures(self.driver, aid, stream, rewritten, position, self.trash)

    async def check_deleted(self) -> None:
        """Every blob an imported retention run deleted here that a version the log still keeps needs
        (its content, or a chunk of its streamed content) is stored again: a later event of the bundle
        saved the same bytes. A run deletes only what no kept version needs; a bundle whose run
        deleted more (a forged ``deleted`` list) is refused and the held bytes stay."""
        if not self.deleted:
            return
        needed: set[str] = set()
        async for page in referenced_hashes(self.driver):
            needed.update(h for h in page if h in self.deleted)
        if not needed:
            return
        stored = await blob_sizes(self.driver, sorted(needed))
        for digest in sorted(needed):
            if digest not in stored:
                raise self.fail(
                    self.deleted[digest],
                    f"the retention event deletes blob {digest}, which a version whose content no retention "
                    "event expired still needs",
                )

    async def check_erased(self) -> None:
        """Every overlap line the bundle holds erased must now be stored here as the bundle has it
        (payload and opening): a redaction event of the log carried its erasure over, or it is refused."""
        by_artifact: dict[str, list[int]] = {}
        for position, (aid, _, _) in self.erased.items():
            by_artifact.setdefault(aid, []).append(position)
        for aid, positions in by_artifact.items():
            stream = await read_stream(self.driver, aid)
            for position in positions:
                _, payload, opening = self.erased[position]
                if stream.texts.get(position) != payload or stream.openings.get(position) != opening:
                    raise self.fail(
                        position,
                        f"the bundle holds event {position} with leaves erased that this ledger holds otherwise, "
                        "and no redaction event of the log names that erasure here",
                    )
