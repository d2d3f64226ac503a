"""The pytest plugin as a careless user meets it: a user's own suite (written to a temporary directory and
run in a subprocess, plugin loaded through its entry point) with a PostgreSQL URL that is wrong or a server
that never answers, and with a ``frozen_clock`` fixture of the user's own; ``assert_history`` given wrong
expectations."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.testing import TEST_URL_VARIABLE, assert_history
from ledger_support import PG_URL
from plugin_support import run_pytest

ONE_PG_TEST = """
import pytest
from artifact_ledger import ArtifactIn, Ledger

pytestmark = pytest.mark.asyncio


async def test_on_postgresql(pg_ledger: Ledger) -> None:
    async with pg_ledger.manager() as manager:
        await manager.save(ArtifactIn(data={"n": 1}))
"""


def run_suite(
    tmp_path: Path, files: dict[str, str], url: str | None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return run_pytest(tmp_path, tmp_path, url, timeout)


def test_a_missing_database_says_what_to_set(tmp_path: Path) -> None:
    """Not a driver traceback: the variable to change, the URL without its password, how to skip instead."""
    url = make_url(PG_URL).set(password="s3cret", database="al_no_such_database").render_as_string(hide_password=False)
    result = run_suite(tmp_path, {"test_user.py": ONE_PG_TEST}, url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"in the PostgreSQL database {TEST_URL_VARIABLE} names" in result.stdout, result.stdout
    assert "al_no_such_database" in result.stdout
    assert "unset it to skip the tests that use pg_ledger" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    assert "The above exception was the direct cause" not in result.stdout
    assert "During handling of the above exception" not in result.stdout


def test_a_url_that_is_not_a_url_says_what_to_set(tmp_path: Path) -> None:
    result = run_suite(tmp_path, {"test_user.py": ONE_PG_TEST}, "localhost")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{TEST_URL_VARIABLE} is not a database URL; set it to postgresql+asyncpg://" in result.stdout
    assert "During handling of the above exception" not in result.stdout


def test_a_server_that_never_answers_fails_in_time(tmp_path: Path) -> None:
    """A port that accepts connections and then says nothing (a stuck server, a proxy): the test fails after
    ``CONNECT_TIMEOUT`` seconds, naming the variable, instead of waiting for the driver's own minute."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
    port = silent.getsockname()[1]
    conftest = "import artifact_ledger.testing\n\nartifact_ledger.testing.CONNECT_TIMEOUT = 1.0\n"
    try:
        started = time.monotonic()
        result = run_suite(
            tmp_path,
            {"conftest.py": conftest, "test_user.py": ONE_PG_TEST},
            f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test",
            timeout=120,
        )
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"in the PostgreSQL database {TEST_URL_VARIABLE} names" in result.stdout, result.stdout
    # 1 s of waiting, plus pytest's start in a new interpreter (about 4 s here, several times that on a
    # loaded machine); the driver's own minute would be over 60 s
    assert elapsed < 50, f"took {elapsed:.0f} s"


OWN_CLOCK_CONFTEST = """
import pytest


class Traveller:
    \"\"\"What a freezegun or time-machine fixture hands out: not a clock the ledger can read.\"\"\"

    def move_to(self, when: str) -> None:
        self.when = when


@pytest.fixture
def frozen_clock() -> Traveller:
    return Traveller()
"""

OWN_CLOCK_TESTS = """
import pytest
from artifact_ledger import ArtifactIn, Ledger

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["ledger", "pg_ledger"])
def any_ledger(request: pytest.FixtureRequest) -> Ledger:
    return request.getfixturevalue(request.param)


async def test_own_frozen_clock_is_left_alone(any_ledger: Ledger, frozen_clock: object) -> None:
    frozen_clock.move_to("2030-01-01")
    async with any_ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"n": 1}))
        (version,) = await manager.history(saved.id)
    assert version.recorded_at.year >= 2026
"""

OWN_FIXED_CLOCK_CONFTEST = """
from datetime import UTC, datetime

import pytest
from artifact_ledger import FixedClock


@pytest.fixture
def frozen_clock() -> FixedClock:
    return FixedClock(datetime(2030, 6, 1, tzinfo=UTC))
"""

OWN_FIXED_CLOCK_TESTS = """
from datetime import UTC, datetime

import pytest
from artifact_ledger import ArtifactIn, FixedClock, Ledger

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["ledger", "pg_ledger"])
def any_ledger(request: pytest.FixtureRequest) -> Ledger:
    return request.getfixturevalue(request.param)


async def test_own_fixed_clock_is_used(any_ledger: Ledger, frozen_clock: FixedClock) -> None:
    async with any_ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"n": 1}))
        (version,) = await manager.history(saved.id)
    assert version.recorded_at == datetime(2030, 6, 1, tzinfo=UTC)
"""


@pytest.mark.parametrize(
    ("conftest", "tests"),
    [(OWN_CLOCK_CONFTEST, OWN_CLOCK_TESTS), (OWN_FIXED_CLOCK_CONFTEST, OWN_FIXED_CLOCK_TESTS)],
    ids=["not-a-clock", "a-fixed-clock"],
)
def test_a_frozen_clock_fixture_of_the_users_own(conftest: str, tests: str, tmp_path: Path) -> None:
    """A project's own ``frozen_clock`` wins, as pytest promises; the plugin's ledgers read it only when it is
    a FixedClock (a freezegun or time-machine handle is no clock), on SQLite and PostgreSQL."""
    result = run_suite(tmp_path, {"conftest.py": conftest, "test_user.py": tests}, PG_URL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """The plugin's ``ledger``, or its ``pg_ledger`` on this suite's PostgreSQL."""
    monkeypatch.setenv(TEST_URL_VARIABLE, PG_URL)
    opened: Ledger = request.getfixturevalue("ledger" if request.param == "sqlite" else "pg_ledger")
    return opened


async def test_assert_history_points_at_the_first_difference(any_ledger: Ledger) -> None:
    async with any_ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"n": 0}))
        for n in range(1, 6):
            await manager.save(ArtifactIn(id=saved.id, data={"n": n}))
        with pytest.raises(
            pytest.fail.Exception,
            match=r"first difference at entry 7 \(oldest is 1\): "
            r"expected 'artifact.deleted', got none",
        ):
            await assert_history(manager, saved.id, ["created"] + ["updated"] * 5 + ["deleted"])
        with pytest.raises(
            pytest.fail.Exception,
            match=r"entry 3 \(oldest is 1\): expected 'artifact.moved', "
            r"got 'artifact.updated'",
        ):
            await assert_history(manager, saved.id, ["created", "updated", "moved"])
        with pytest.raises(
            pytest.fail.Exception,
            match=r"entry 2 \(oldest is 1\): expected no more events, "
            r"got 'artifact.updated'",
        ):
            await assert_history(manager, saved.id, ["created"])
        await assert_history(manager, saved.id, ["created"] + ["updated"] * 5)


async def test_assert_history_refuses_a_string_and_unknown_names(any_ledger: Ledger) -> None:
    """``"created"`` is a sequence of letters, and ``"create"`` no event type: both are mistakes in the test, said
    as such, not compared letter by letter or reported as a history that differs."""
    async with any_ledger.manager() as manager:
        saved = await manager.save(ArtifactIn(data={"n": 1}))
        with pytest.raises(
            pytest.fail.Exception,
            match=r"takes a list of event types, not the string 'created': "
            r"write \['created'\]",
        ):
            await assert_history(manager, saved.id, "created")
        with pytest.raises(
            pytest.fail.Exception,
            match=r"not event types: \['artifact.create'\]; an artifact's "
            r"are \['artifact.created', ",
        ):
            await assert_history(manager, saved.id, ["create"])
