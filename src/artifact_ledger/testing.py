"""A pytest plugin for testing your own code against a ledger (registered as ``pytest11``).

Installed with artifact-ledger, so pytest loads it by itself; nothing to configure. Fixtures:

- ``ledger``: a :class:`~artifact_ledger.Ledger` on a fresh in-memory SQLite database;
- ``ledger_file``: the same on a SQLite file in the test's ``tmp_path``;
- ``pg_ledger``: a ledger in a fresh PostgreSQL schema of the database named by
  ``ARTIFACT_LEDGER_TEST_URL`` (``postgresql+asyncpg://...``), dropped after the test; the
  test is skipped, saying why, when the variable is not set, and fails, naming the variable,
  when the database cannot be reached (within :data:`CONNECT_TIMEOUT` seconds);
- ``frozen_clock``: a :class:`~artifact_ledger.FixedClock` starting at
  :data:`FROZEN_AT` and advancing one microsecond per reading. A test that asks for it gets
  ledgers (from the fixtures above) that use it, so recorded times are known in advance (a
  ``frozen_clock`` of the project's own is used only when it is a ``FixedClock``).

Assertion helpers: :func:`assert_history` and :func:`assert_verified`.

The ledger fixtures are async: they need pytest-asyncio (``pip install pytest-asyncio``);
ledgers use a fixed test key (:data:`TEST_SECRET`), so no key file is written.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from .clock import Clock, FixedClock

if TYPE_CHECKING:  # imported where used: pytest loads this plugin in every run, keep that cheap
    from ulid import ULID

    from .content import Keyring
    from .integrity import VerifyReport
    from .ledger import Ledger
    from .manager import ArtifactManager

__all__ = [
    "CONNECT_TIMEOUT",
    "FROZEN_AT",
    "TEST_SECRET",
    "TEST_URL_VARIABLE",
    "assert_history",
    "assert_verified",
    "frozen_clock",
    "ledger",
    "ledger_file",
    "pg_ledger",
    "postgres_schema",
]

TEST_URL_VARIABLE = "ARTIFACT_LEDGER_TEST_URL"
FROZEN_AT = datetime(2026, 1, 1, tzinfo=UTC)
"""Where ``frozen_clock`` starts."""
CONNECT_TIMEOUT = 10.0
"""Seconds ``pg_ledger`` waits for PostgreSQL to answer before failing the test (never a hang)."""
_EXAMPLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TEST_SECRET = "artifact-ledger-pytest-plugin"
"""The pickle-signing secret of every ledger the fixtures open (fixed, so no key file is written)."""


def _keyring() -> Keyring:
    from .content import Keyring

    return Keyring.from_secret(TEST_SECRET)


F = TypeVar("F", bound=Callable[..., Any])


def _async_fixture(function: F) -> F:
    """``pytest_asyncio.fixture``, or (without pytest-asyncio) a fixture that says it is needed."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - the plugin still loads; using the fixture says what is missing

        def missing(request: pytest.FixtureRequest) -> None:
            pytest.fail(
                f"the {request.fixturename} fixture of artifact_ledger.testing needs pytest-asyncio: "
                "pip install pytest-asyncio"
            )

        return cast(F, pytest.fixture(name=function.__name__)(missing))
    return cast(F, pytest_asyncio.fixture(function))


def _clock(request: pytest.FixtureRequest) -> Clock | None:
    """The test's ``frozen_clock`` when it asked for one and it is a FixedClock, else None (the system clock).

    A ``frozen_clock`` fixture of the project's own (a freezegun or time-machine handle, say) is
    left alone: only a :class:`~artifact_ledger.FixedClock` is a clock the ledger can read.
    """
    if "frozen_clock" in request.fixturenames:
        clock = request.getfixturevalue("frozen_clock")
        if isinstance(clock, FixedClock):
            return clock
    return None


@pytest.fixture
def frozen_clock() -> FixedClock:
    """A clock at 2026-01-01T00:00:00Z that advances 1 µs per reading (``.advance(timedelta)`` jumps)."""
    return FixedClock(FROZEN_AT)


@_async_fixture
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[Ledger]:
    """A ledger on a fresh in-memory SQLite database."""
    from .ledger import Ledger

    async with Ledger.open("sqlite+aiosqlite:///:memory:", secret=_keyring(), clock=_clock(request)) as opened:
        yield opened


@_async_fixture
async def ledger_file(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    """A ledger on a SQLite file (``tmp_path / "ledger.db"``)."""
    from .ledger import Ledger

    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    async with Ledger.open(url, secret=_keyring(), clock=_clock(request)) as opened:
        yield opened


@_async_fixture
async def pg_ledger(request: pytest.FixtureRequest) -> AsyncIterator[Ledger]:
    """A ledger in a fresh schema of the PostgreSQL database ``$ARTIFACT_LEDGER_TEST_URL`` names."""
    url = os.environ.get(TEST_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{TEST_URL_VARIABLE} is not set; set it to a postgresql+asyncpg://user@host/db URL "
            "to run the tests that use pg_ledger"
        )
    async with postgres_schema(url) as where, _schema_ledger(where, _clock(request)) as opened:
        yield opened


@asynccontextmanager
async def postgres_schema(url: str) -> AsyncIterator[tuple[str, str]]:
    """A fresh schema in the PostgreSQL database at ``url``, dropped with everything in it afterwards.

    Yields ``(url, schema)``.
    """
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from .store.engine import create_engine

    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None:  # failed outside the except block, so the report is the message alone
        pytest.fail(f"{TEST_URL_VARIABLE} is not a database URL; set it to {_EXAMPLE_URL}", pytrace=False)
    if parsed.drivername != "postgresql+asyncpg":
        pytest.fail(
            f"{TEST_URL_VARIABLE} must be a postgresql+asyncpg:// URL, not {parsed.drivername}://; "
            f"set it to {_EXAMPLE_URL}",
            pytrace=False,
        )
    schema = f"al_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, connect_args={"timeout": CONNECT_TIMEOUT})
    try:
        problem = None
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as error:  # any driver or network error: say which variable to change
            problem = f"{type(error).__name__}: {error}"
        if problem is not None:
            pytest.fail(
                f"cannot create a schema in the PostgreSQL database {TEST_URL_VARIABLE} names "
                f"({parsed.render_as_string(hide_password=True)}): {problem}. "
                f"Start the server or create the database, point {TEST_URL_VARIABLE} at one that "
                "exists, or unset it to skip the tests that use pg_ledger",
                pytrace=False,
            )
        try:
            yield url, schema
        finally:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def _schema_ledger(where: tuple[str, str], clock: Clock | None) -> AsyncIterator[Ledger]:
    from .ledger import Ledger
    from .store.engine import create_engine

    url, schema = where
    engine = create_engine(url, connect_args={"timeout": CONNECT_TIMEOUT, "server_settings": {"search_path": schema}})
    try:
        async with Ledger.open(engine, secret=_keyring(), clock=clock) as opened:
            yield opened
    finally:
        await engine.dispose()


async def assert_history(manager: ArtifactManager, artifact_id: ULID | str, expected: Sequence[str]) -> None:
    """Fail unless the artifact's event types, oldest first, are exactly ``expected``.

    ``expected`` holds event type names (``"artifact.created"``, ``"artifact.updated"``, ...) or
    their short forms (``"created"``, ``"updated"``, ...).
    """
    from .errors import ArtifactNotFoundError
    from .events import EVENT_TYPES

    __tracebackhide__ = True
    if isinstance(expected, str):  # a str is a Sequence[str] of letters: refuse it rather than compare letters
        pytest.fail(
            f"assert_history takes a list of event types, not the string {expected!r}: write [{expected!r}]",
            pytrace=False,
        )
    wanted = [name if "." in name else f"artifact.{name}" for name in expected]
    unknown = [name for name in wanted if name not in EVENT_TYPES]
    if unknown:
        known = sorted(name for name in EVENT_TYPES if name.startswith("artifact."))
        pytest.fail(f"assert_history: not event types: {unknown}; an artifact's are {known}", pytrace=False)
    try:
        versions = await manager.history(artifact_id)
    except ArtifactNotFoundError:
        versions = []
    actual = [v.event_type for v in versions]
    if actual != wanted:
        at = next(i for i, (w, a) in enumerate(zip([*wanted, None], [*actual, None], strict=False)) if w != a)
        first = f"expected {wanted[at]!r}" if at < len(wanted) else "expected no more events"
        first += f", got {actual[at]!r}" if at < len(actual) else ", got none"
        pytest.fail(
            f"history of artifact {artifact_id}: expected {wanted}, got {actual}\n"
            f"first difference at entry {at + 1} (oldest is 1): {first}",
            pytrace=False,
        )


async def assert_verified(ledger: Ledger) -> VerifyReport:
    """Fail unless ``ledger.verify()`` finds the chain, blobs and projections intact; returns the report."""
    report = await ledger.verify()
    __tracebackhide__ = True
    if not report.ok:
        pytest.fail(
            f"the ledger does not verify: {report.problem} (reason {report.reason}, position "
            f"{report.broken_position}, artifact {report.artifact_id})",
            pytrace=False,
        )
    return report
