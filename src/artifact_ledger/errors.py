"""Every exception the ledger raises: one tree under :class:`LedgerError`.

Messages name the ids and versions involved and, where there is one, the remedy.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error raised by artifact-ledger."""

    driver_error: BaseException | None = None
    """The database driver's exception this error was translated from (``None``: not from the database).

    Set by :func:`artifact_ledger.store.errors.translate`; any error carrying one leaves the whole
    command, and the whole ``transaction()`` it ran in, rolled back.
    """


class ArtifactNotFoundError(LedgerError, LookupError):
    """An artifact id (or a parent id) does not name a live artifact."""

    def __init__(self, message: str, *, artifact_id: object = None) -> None:
        super().__init__(message)
        self.artifact_id = artifact_id


class ArtifactDeletedError(ArtifactNotFoundError):
    """The id names an artifact that was deleted; restore it first."""


class VersionNotFoundError(ArtifactNotFoundError):
    """The artifact exists but has no such version."""


class ConcurrencyError(LedgerError):
    """The artifact's version is not the one the caller expected."""

    def __init__(
        self, message: str, *, artifact_id: object = None, expected: int | None = None, actual: int | None = None
    ) -> None:
        super().__init__(message)
        self.artifact_id = artifact_id
        self.expected = expected
        self.actual = actual


class InvalidMoveError(LedgerError):
    """A move would put an artifact under itself or one of its descendants."""


class ArtifactHasChildrenError(LedgerError):
    """Deleting an artifact that has live children without ``cascade=True``."""


class InvalidArtifactDataError(LedgerError, ValueError):
    """The data fails validation against the schema its ``type`` names."""


class DataNotSerializableError(InvalidArtifactDataError):
    """Metadata holds a value that is not JSON; Python objects belong in ``data["content"]``."""


class ContentTypeMismatchError(InvalidArtifactDataError):
    """The content does not match the content type it declares."""


class UntrustedContentError(LedgerError):
    """Stored content failed its integrity check (unsigned, forged or corrupted) and was not decoded."""


class CorruptBlobError(UntrustedContentError):
    """A blob row already stored under a content hash holds other bytes: the save is refused, so
    content is never lost to a row it would have been deduplicated against."""


class MissingExtraError(LedgerError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class UnknownCodecError(UntrustedContentError, LookupError):
    """No codec is registered under the name stored with a blob, or under the media type a save
    declares in the ``application/vnd.artifact-ledger.codec.`` family: nothing is decoded or
    stored. Register the codec (:func:`artifact_ledger.codecs.register`) in this process first."""


class ContentNotFoundError(LedgerError, LookupError):
    """``open_content`` of a version that has no content (or is the artifact's deletion)."""

    def __init__(self, message: str, *, artifact_id: object = None) -> None:
        super().__init__(message)
        self.artifact_id = artifact_id


class CodecRoundTripError(InvalidArtifactDataError):
    """A registered codec does not give back what it encoded (``decode(encode(x)) != x``) for the
    sample given to ``register`` or for the content of a save: the codec is refused, or nothing
    of the save is written."""


class SchemaOutOfDateError(LedgerError):
    """The database schema is missing or older than this version of artifact-ledger expects."""


class LedgerUnavailableError(LedgerError):
    """The database could not be reached or the operation could not complete (lock timeout, lost connection)."""


class LockTimeoutError(LedgerUnavailableError):
    """Another connection held the ledger's write lock (or a lock it needed) past the lock timeout.

    ``lock_timeout`` is the timeout in seconds when known, ``where`` the ledger's URL (password masked).
    Nothing of the command was written; retry it, or find what holds the lock for so long.
    """

    def __init__(self, message: str, *, lock_timeout: float | None = None, where: str | None = None) -> None:
        super().__init__(message)
        self.lock_timeout = lock_timeout
        self.where = where


class StorageFullError(LedgerUnavailableError):
    """The database's disk (or its size limit) is full; nothing of the command was written."""


class ConnectionLostError(LedgerUnavailableError):
    """The connection to the database broke during the command; nothing of it was written, retry it."""


class StorageCorruptError(LedgerUnavailableError):
    """The database file or an index is damaged; restore it from a backup (see the operations guide)."""


class TransactionAbortedError(LedgerError):
    """A write inside ``transaction()`` failed part-way; the transaction rolls back as a whole."""


class ConcurrentUseError(LedgerError, RuntimeError):
    """One ``ArtifactManager`` was called from a task while another task's call on it was still
    running (``asyncio.gather`` over one manager): one manager per task. The call that found the
    manager busy does nothing; the call already running completes."""

    def __init__(self, called: str, running: str) -> None:
        super().__init__(
            f"ArtifactManager.{called}() was called while {running}() is still running on the same manager "
            "in another task: use one manager per task (open one with `ledger.manager()` in each task, "
            "or await the calls one after another)"
        )
        self.called = called
        self.running = running


class InvalidArgumentError(LedgerError, TypeError, ValueError):
    """A keyword argument of the API has the wrong type or is out of range (e.g. ``expected_version="1"``)."""


class MalformedIdError(ArtifactNotFoundError, InvalidArgumentError):
    """An id (or a parent id) that is not a ULID: bad input, not an unknown artifact.

    Still an :class:`ArtifactNotFoundError`, as chapkit's manager has it (no artifact can have such an
    id), and also an :class:`InvalidArgumentError`, so the CLI exits 2 and HTTP answers 400 for it, as
    for any other malformed argument, where an unknown but well-formed id is exit 3 and 404.
    """


class ExportPathNotEmptyError(InvalidArgumentError, FileExistsError):
    """``export``'s path exists and is not an empty directory: refused before anything is written (an
    export never writes over anything). Still a :class:`FileExistsError`, as it always was, and also an
    :class:`InvalidArgumentError`, so the CLI exits 2 as for its other refused paths."""


class InvalidAttributionError(LedgerError, ValueError):
    """An actor, reason or correlation/causation id the log cannot record (too long, NUL, not text)."""


class IntegrityViolationError(LedgerError):
    """The database refused a write that would violate a ledger invariant."""


class ChainBrokenError(LedgerError):
    """An event a command would rest on no longer matches its hash (its row or, under chain format 2,
    its opening was changed outside the ledger): the command is refused and nothing is written. A
    rebuild raises it for any log ``verify`` reports as tampered (events past the projections'
    checkpoints or missing before them, stray rows, a forged retention run), not only a broken chain.
    Find the damage with ``artifact-ledger verify``. ``position`` names the event (None: no event's)."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class ProjectionDriftError(LedgerError):
    """A projection row a write would rest on disagrees with the log (edited, stale or missing): the
    write is refused so the damage never becomes an event. Rebuild the projections from the log
    (``artifact-ledger rebuild``) after finding out who changed them (``artifact-ledger verify``)."""

    def __init__(self, message: str, *, artifact_id: str | None = None) -> None:
        super().__init__(message)
        self.artifact_id = artifact_id


class InvalidBundleError(LedgerError, ValueError):
    """A bundle is malformed, incomplete or fails verification; the message names the file, line or position."""


class LedgerNotFoundError(SchemaOutOfDateError, LookupError):
    """There is no ledger at the URL (no file, or a database without any ledger table) and the
    caller asked not to create one (``Ledger.open(url, create=False)``, the CLI's read commands).
    Nothing was created. Check the URL, or create the ledger (``artifact-ledger migrate``)."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


class SchemaTamperedError(LedgerError):
    """The ledger's append-only guards (triggers; on PostgreSQL also their functions) are missing,
    disabled or altered, so the database would accept changes to the log. ``problems`` names each
    one. Put them back with ``artifact-ledger migrate --repair-guards``, then run ``verify``."""

    def __init__(self, message: str, *, problems: list[str] | None = None, where: str | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])
        self.where = where


class InvalidQueryError(InvalidArgumentError):
    """A ``find``/``count`` filter, ordering, cursor or limit the ledger cannot run: an unknown field or
    operator, a value of the wrong type for its operator, a path outside the path grammar, a forged or
    stale cursor. The message names the offending key or value and what is accepted instead."""


class BundleRuleError(InvalidBundleError):
    """A bundle breaks one of the rules ``import`` checks (``docs/bundle-format.md``): a malformed or
    tampered file, or an event no writer could have produced (an id that is not a ULID, a version
    gap, an unknown type, a parent that is not live, a cycle, time going backwards, …).

    ``file`` is the bundle file (``events.jsonl``, ``manifest.json`` or a blob's path), ``line`` the
    1-based line of that file when there is one, ``rule`` the short name of the rule broken. The
    import wrote nothing; fix or re-export the bundle.
    """

    def __init__(self, message: str, *, file: str, line: int | None = None, rule: str) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.rule = rule


class InvalidAliasNameError(InvalidArgumentError):
    """An alias name the ledger does not accept: empty, with leading or trailing whitespace or
    control characters, over 200 characters, or reserved (``latest``, a name starting with ``$``,
    or one that reads as an artifact id)."""


class AliasNotFoundError(LedgerError, LookupError):
    """No alias has this name (or it was removed, or it did not exist at the time asked for)."""


class AliasProtectedError(LedgerError):
    """The alias is protected: moving or removing it needs a ``reason``."""


class ArtifactAliasedError(LedgerError):
    """Deleting an artifact that an alias points at: remove the alias first, or delete with
    ``cascade=True``, which removes it (recorded in the log)."""


class InvalidLinkError(LedgerError, ValueError):
    """A lineage link the ledger refuses: a link of an artifact to itself, a ``derived_from`` link
    that would close a cycle (the message names it), or a link kind nobody registered."""


class MerkleDriftError(ProjectionDriftError):
    """The stored Merkle state (``ledger_merkle_frontier``) disagrees with the log: it was edited,
    or the log was written around the ledger. Writes are refused until ``artifact-ledger rebuild``
    recomputes it from the event hashes (``artifact-ledger verify`` shows what differs)."""


class InvalidCheckpointError(LedgerError, ValueError):
    """A checkpoint note that cannot be read (an unknown format, a truncated note, a line that is
    not what it must be), one of another ledger (its origin), or a signature that does not verify
    with the key it names. The message says which."""


class AnchorError(LedgerUnavailableError):
    """``artifact-ledger checkpoint --to`` could not keep the checkpoint where it was sent: ``git``
    is not installed, the note's file in the git repository already holds other bytes or has
    changes not committed, the commit failed, or a witness (``--to URL``) refused the note,
    answered with a note of another tree, timed out or could not be reached. ``target`` (the
    directory, ``git:PATH`` or URL) and ``status`` (the witness's HTTP status, or None) are
    attributes."""

    def __init__(self, message: str, *, target: str, status: int | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.status = status


class ProofRangeError(InvalidArgumentError, LookupError):
    """A Merkle root or proof asked for a tree the log does not hold: a size beyond the head, a
    position past the size, or a consistency proof from a larger size to a smaller one. The
    message names the numbers."""


class NotAReplicaError(LedgerError):
    """``Ledger.open(url, read_url=...)`` was given a ``read_url`` that is not a hot standby of
    ``url``: a server that is not in recovery, a standby of another cluster, a database that does
    not hold this ledger, or SQLite. Nothing was opened; ``url`` and ``read_url`` (passwords
    masked) are attributes."""

    def __init__(self, message: str, *, url: str | None = None, read_url: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.read_url = read_url


class ReplicaUnavailableError(LedgerUnavailableError):
    """A read that goes to the read replica could not reach it. Reads do not fall back to the
    primary by themselves (that would move the replica's load onto it unannounced): read with
    ``ledger.manager(consistent=True)`` meanwhile. ``read_url`` (password masked) is an attribute."""

    def __init__(self, message: str, *, read_url: str | None = None) -> None:
        super().__init__(message)
        self.read_url = read_url


class CitusUnavailableError(LedgerUnavailableError):
    """The database has no Citus 12.0 or later (the ``citus`` extension is missing or too old to
    distribute schemas), so a ledger's namespaces cannot be distributed there. Raised before any
    statement runs: nothing was changed."""


class MissingBlobError(UntrustedContentError, LookupError):
    """A blob the log references is not stored: no row in ``ledger_blobs`` and, with a directory
    store, no file of its hash. The message names the hash and where it was looked for;
    ``blob_hash`` is an attribute."""

    def __init__(self, message: str, *, blob_hash: str | None = None) -> None:
        super().__init__(message)
        self.blob_hash = blob_hash


class BlobStoreError(LedgerError):
    """The blob store cannot be used: a ``blobs=`` URL that is not ``file:///absolute/path`` (or
    holds ``..``), a directory that cannot be created, is not a directory or is not writable, or a
    blob file that cannot be written. The message names the path; nothing was saved."""


class ContentExpiredError(ContentNotFoundError):
    """The content asked for was expired by a retention policy: its bytes are gone, its data,
    history and hash stay. The message names the artifact, the version and the position of the
    ``retention.applied`` event that expired it (``artifact_id``, ``version``, ``position``)."""

    def __init__(
        self, message: str, *, artifact_id: object = None, version: int | None = None, position: int | None = None
    ) -> None:
        super().__init__(message, artifact_id=artifact_id)
        self.version = version
        self.position = position


class HoldNotFoundError(LedgerError, LookupError):
    """``release`` of an artifact that is not held (never held, or released already)."""


class RedactedError(ContentNotFoundError):
    """What was asked for was erased by a redaction: the content of a version (its bytes and its
    reference), never returned stale. The ``artifact.redacted`` event (who, why, what) and the
    version's other fields stay, and the chain still verifies. ``artifact_id`` and ``version`` name it."""

    def __init__(self, message: str, *, artifact_id: object = None, version: int | None = None) -> None:
        super().__init__(message, artifact_id=artifact_id)
        self.version = version


class ChapkitRowError(LedgerError, ValueError):
    """A row of the chapkit table cannot be imported as it is; the message names the table, the row
    and what is wrong. Raised while every row is checked, before anything is written."""

    def __init__(self, table: str, row_id: object, problem: str, *, imported: int = 0) -> None:
        outcome = (
            "nothing was imported"
            if imported == 0
            else f"the {imported} rows imported before it stay (once it is corrected, run the import again: "
            "they are skipped)"
        )
        shown = row_id if isinstance(row_id, str) else repr(row_id)
        super().__init__(f"chapkit table {table!r}, row {shown}: {problem}; {outcome}")
        self.table = table
        self.row_id = row_id
        self.problem = problem
