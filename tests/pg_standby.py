"""A second PostgreSQL server on this machine that streams from the test server: a hot standby.

``Standby.start()`` takes a base backup of the primary (``pg_basebackup -R``: it also writes
the standby's ``primary_conninfo`` and ``standby.signal``) into a fresh directory of its own
and starts a server on it on a free port; ``stop()`` stops that server and removes the
directory. ``stop`` is registered with :mod:`atexit` too, so an interrupted run still stops the
server it started. Each standby has a unique directory and port, so parallel runs do not meet.

Not ``pg_createcluster``: it would run ``initdb`` for a data directory the base backup replaces,
and write configuration under ``/etc/postgresql`` that a killed run would leave behind. The
server binaries are the same ones.

The primary must accept replication connections from 127.0.0.1: :func:`allow_replication`
adds a ``trust`` line for them to its ``pg_hba.conf`` if none is there, and reloads it.

The standby streams through a physical replication slot of its own on the primary, so the
primary keeps every WAL segment the standby has not received yet. Without one, a standby that
was stopped for a moment (or fell behind under load) while the rest of the suite wrote enough
WAL to pass a checkpoint asked for a segment the primary had already removed, and never caught
up again. ``stop()`` drops the slot; a slot left by a run that was killed (its process is gone)
is dropped when the next standby starts, so no slot holds WAL on the test server for long.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

BIN_GLOB = "/usr/lib/postgresql/*/bin"
SLOT_PREFIX = "al_standby_"
REPLICATION_LINE = "host replication all 127.0.0.1/32 trust"


def server_bin() -> Path | None:
    """The newest PostgreSQL server binaries here (``pg_ctl``, ``pg_basebackup``), or None."""
    found = sorted(
        (Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    found = [p for p in found if (p / "pg_basebackup").exists() and (p / "postgres").exists()]
    return found[-1] if found else None


def _as_server_user() -> list[str]:
    """The prefix that runs a server binary as ``postgres`` when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root without runuser: cannot start a PostgreSQL server as postgres")
    return [runuser, "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _psql(bin_dir: Path, url: str, sql: str) -> str:
    parts = make_url(url)
    command = [
        str(bin_dir / "psql"),
        "-X",
        "-At",
        "-h",
        parts.host or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        "-d",
        parts.database or "postgres",
        "-c",
        sql,
    ]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def allow_replication(bin_dir: Path, primary_url: str) -> None:
    """Make the primary accept replication connections from 127.0.0.1 (idempotent; reloads when it adds the line)."""
    hba = Path(_psql(bin_dir, primary_url, "SHOW hba_file"))
    lines = [line.split("#", 1)[0].split() for line in hba.read_text().splitlines()]
    if any(len(w) >= 4 and w[0] == "host" and w[1] == "replication" and w[3] == "127.0.0.1/32" for w in lines):
        return
    with hba.open("a") as out:
        out.write(f"\n# added by the artifact-ledger test suite (tests/pg_standby.py)\n{REPLICATION_LINE}\n")
    _psql(bin_dir, primary_url, "SELECT pg_reload_conf()")
    time.sleep(0.2)  # the postmaster reloads asynchronously


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_orphan_slots(bin_dir: Path, primary_url: str) -> None:
    """Drop the inactive slots of standbys whose test process is gone (a killed run's leftovers)."""
    rows = _psql(
        bin_dir,
        primary_url,
        f"SELECT slot_name FROM pg_replication_slots WHERE NOT active AND slot_name LIKE '{SLOT_PREFIX}%'",
    )
    for slot in filter(None, rows.splitlines()):
        pid = slot.removeprefix(SLOT_PREFIX).split("_", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            with contextlib.suppress(subprocess.CalledProcessError):
                _psql(bin_dir, primary_url, f"SELECT pg_drop_replication_slot('{slot}')")


@dataclass
class Standby:
    """A hot standby of ``primary_url`` (a ``postgresql+asyncpg://`` URL of the test server)."""

    primary_url: str
    bin_dir: Path
    port: int = field(default_factory=_free_port)
    name: str = field(default_factory=lambda: f"al-standby-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    root: Path | None = None
    running: bool = False
    slot: str | None = None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def slot_name(self) -> str:
        return f"{SLOT_PREFIX}{os.getpid()}_{self.name.rsplit('-', 1)[-1]}"

    def url(self, database: str) -> str:
        """The standby's URL for ``database`` (same user as the primary's)."""
        user = make_url(self.primary_url).username or "postgres"
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*_as_server_user(), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}")

    def start(self) -> Standby:
        parts = make_url(self.primary_url)
        allow_replication(self.bin_dir, self.primary_url)
        drop_orphan_slots(self.bin_dir, self.primary_url)
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        atexit.register(self.stop)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self.slot = self.slot_name  # set first: stop() drops it even if the backup fails half-way
        self._run(
            str(self.bin_dir / "pg_basebackup"),
            "-h",
            parts.host or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "postgres",
            "-D",
            str(self.data_dir),
            "-R",  # standby.signal and primary_conninfo: it streams from the primary when it starts
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            "-C",  # a slot of its own on the primary (-R names it in primary_slot_name)
            "-S",
            self.slot_name,
        )
        # Debian keeps a cluster's configuration under /etc, so the copy has none: give it its own.
        files = {
            "postgresql.conf": "# the test standby's settings are on its command line (Standby.start_server)\n",
            "pg_hba.conf": "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            "pg_ident.conf": "",
        }
        for name, text in files.items():
            path = self.data_dir / name
            path.write_text(text)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        self.start_server()
        return self

    def stop_server(self) -> None:
        """Stop the server (its directory stays: :meth:`start_server` starts it again)."""
        if self.running:
            self.running = False
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def start_server(self) -> None:
        """Start the server on the standby's directory (after :meth:`start`'s base backup)."""
        if self.running:
            return
        assert self.root is not None
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c hot_standby=on -c fsync=off"
        log = str(self.root / "server.log")
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", log, "-o", options, "-w", "-t", "60", "start"
        )
        self.running = True

    def stop(self) -> None:
        """Stop the server if it runs and remove its directory (idempotent)."""
        with contextlib.suppress(Exception):
            self.stop_server()
        if self.slot is not None:
            with contextlib.suppress(Exception):
                _psql(self.bin_dir, self.primary_url, f"SELECT pg_drop_replication_slot('{self.slot}')")
            self.slot = None
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def log(self) -> str:
        if self.root is None or not (self.root / "server.log").exists():
            return ""
        return (self.root / "server.log").read_text(errors="replace")


@contextlib.contextmanager
def running_standby(primary_url: str) -> Iterator[Standby]:
    """A standby of ``primary_url``, started (its log in the error when it cannot start) and stopped after
    the ``with`` block: what the replica tests' ``standby`` fixtures hold. Skips where no server binaries
    are installed."""
    bin_dir = server_bin()
    if bin_dir is None:
        pytest.skip(
            "NO POSTGRESQL SERVER BINARIES (/usr/lib/postgresql/*/bin/pg_ctl, pg_basebackup): the read-replica "
            "tests need them to start a standby; install postgresql (the Debian package) to run them"
        )
    server = Standby(primary_url, bin_dir)
    try:
        server.start()
    except Exception:
        log = server.log()
        server.stop()
        raise RuntimeError(f"could not start the test standby; its log:\n{log}") from None
    try:
        yield server
    finally:
        server.stop()


async def autocommit_sql(url: str, statement: str) -> object:
    """Run ``statement`` on ``url`` outside a transaction (CREATE DATABASE, replay pause/resume); the
    first column of its first row, or None when it returns no rows."""
    from sqlalchemy import text

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(statement))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()
