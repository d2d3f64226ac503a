"""HTTP load: our API beside chapkit 2.4.1's ``ArtifactRouter``, same uvicorn settings, same data.

    python benchmarks/http_load.py [--backend sqlite|postgres] [--clients 8] [--duration 20]
                                   [--repeats 3] [--chapkit-python /path/to/chapkit-venv/bin/python]

Each server runs as its own subprocess on 127.0.0.1 under uvicorn with one worker, the asyncio
loop and the h11 protocol, access log off. Both are seeded over HTTP with the same tree (1 root ->
10 -> 100 -> 1,000 children, about 120 bytes of JSON data each), then loaded for a fixed time by
``--clients`` concurrent clients (one keep-alive connection each, in this process, speaking plain
HTTP/1.1 over asyncio streams so that the client costs little beside the servers) on three routes:

    GET  /api/v1/artifacts/{id}        a random one of the 1,111 ids (same sequence for both)
    GET  /api/v1/artifacts/{root}/$tree the whole 1,111-node subtree
    POST /api/v1/artifacts             a new leaf under one of 10 nodes of a second tree

Every response's status is checked (200, or 201 for POST); a run with any other status fails.
Both servers are up at once and each route is loaded on one, then the other (the order alternating
between repeats), so a busy moment of a shared machine falls on both. Reported per route:
requests/s, p50 and p99 latency (medians over the repeats) and ours/chapkit (the median of the
per-repeat ratios).

chapkit 2.4.1 needs Python >= 3.13 and must live in its own virtualenv (never in ours)::

    python3.13 -m venv /work/chapkit-venv && /work/chapkit-venv/bin/pip install chapkit==2.4.1 uvicorn

Without ``--chapkit-python``, or when that interpreter cannot import chapkit, only ours is measured
and the script says why. The server side of this file (``serve``) imports only what the server
under test needs, so chapkit's interpreter can run it without artifact-ledger installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "/api/v1/artifacts"
PG_URL = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_SERVER = PG_URL.rsplit("/", 1)[0].replace("postgresql+asyncpg://", "postgresql://")
"""The server of the tests' database (``ARTIFACT_LEDGER_TEST_PG``); each run makes its own databases there."""
UVICORN: dict[str, Any] = {"host": "127.0.0.1", "workers": 1, "loop": "asyncio", "http": "h11", "log_level": "warning"}
ROUTES = ["GET /{id}", "GET /{id}/$tree", "POST /"]
SCRIPT = str(Path(__file__).resolve())


# --- server side (runs under either interpreter) -------------------------------------------


def serve(impl: str, url: str, port: int) -> None:
    import uvicorn

    app: Any
    if impl == "ours":
        from artifact_ledger.http import create_app

        app = create_app(url, console=False)
    else:
        from chapkit import ArtifactHierarchy, get_alembic_dir  # type: ignore[import-not-found]  # own venv
        from chapkit.api import ServiceBuilder, ServiceInfo  # type: ignore[import-not-found]
        from servicekit import Database, SqliteDatabase  # type: ignore[import-not-found]

        # A database given by URL would run servicekit's own migrations, which create no chapkit
        # table; chapkit's bundled migrations create its tables on either backend.
        kind = SqliteDatabase if url.startswith("sqlite") else Database
        database = kind(url, alembic_dir=get_alembic_dir())
        hierarchy = ArtifactHierarchy(name="bench", level_labels={0: "root", 1: "a", 2: "b", 3: "c"})
        builder = ServiceBuilder(info=ServiceInfo(id="bench", display_name="bench")).with_database(database)
        app = builder.with_artifacts(hierarchy=hierarchy).build()
    uvicorn.run(app, port=port, access_log=False, **UVICORN)


# --- load side ------------------------------------------------------------------------------


@dataclass
class Measured:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def payload(rng: random.Random, parent: str | None, level: int) -> dict[str, Any]:
    return {
        "parent_id": parent,
        "data": {"name": f"node-{rng.getrandbits(40):x}", "level": level, "score": rng.random(), "tags": ["a", "b"]},
    }


class Server:
    """One server under test as a subprocess, stopped (SIGTERM, then SIGKILL) when left."""

    def __init__(self, impl: str, python: str, url: str) -> None:
        self.impl, self.python, self.url = impl, python, url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, closed in __aexit__
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Server:
        import httpx

        command = [SCRIPT, "serve", self.impl, self.url, str(self.port)]
        self.process = await asyncio.create_subprocess_exec(self.python, *command, stdout=self.log, stderr=self.log)
        async with httpx.AsyncClient(base_url=self.base) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.impl} server exited with {self.process.returncode}:\n{self.output()}")
                try:
                    if (await client.get(PREFIX, params={"page": 1, "size": 1})).status_code < 500:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        output = self.output()
        await self.__aexit__()
        raise RuntimeError(f"{self.impl} server did not answer within 60 s:\n{output}")

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]


async def seed(base: str) -> tuple[str, list[str], list[str]]:
    """The 1,111-node tree over POST; returns the root, its 1,111 ids, and POST's parents."""
    import httpx

    rng = random.Random(1)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def create(parent: str | None, level: int) -> str:
            response = await client.post(PREFIX, json=payload(rng, parent, level))
            if response.status_code != 201:
                raise RuntimeError(f"seeding: POST answered {response.status_code}: {response.text[:300]}")
            created: str = response.json()["id"]
            return created

        root = await create(None, 0)
        levels = [[root]]
        for level in (1, 2, 3):
            levels.append([await create(parent, level) for parent in levels[-1] for _ in range(10)])
        # POST's parents sit in a second tree, so that the measured subtree stays at 1,111 nodes.
        other = await create(None, 0)
        parents = [await create(other, 1) for _ in range(10)]
        await check_tree(client, root)
    return root, [i for level in levels for i in level], parents


async def check_tree(client: Any, root: str) -> None:
    tree = (await client.get(f"{PREFIX}/{root}/$tree")).json()
    if count_nodes(tree) != 1111:
        raise RuntimeError(f"the tree of {root} has {count_nodes(tree)} nodes, not 1,111")


def count_nodes(node: dict[str, Any]) -> int:
    return 1 + sum(count_nodes(child) for child in node.get("children") or [])


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams: a client light enough that the
    servers, not the load generator, are what is measured (httpx costs more per request than a
    small route does). Reads bodies sized by Content-Length or sent chunked."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in lines[1:] if h)}
        if "content-length" in fields:
            return status, await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    return status, b"".join(p[:-2] for p in parts)
        raise RuntimeError(f"{method} {path}: a response without Content-Length or chunked body: {lines}")


async def load(
    port: int, route: str, clients: int, duration: float, ids: list[str], root: str, parents: list[str]
) -> Measured:
    """``clients`` connections sending ``route`` back to back for ``duration`` seconds."""
    expected = 201 if route.startswith("POST") else 200
    bad: list[str] = []

    async def client_loop(number: int, deadline: float, out: Measured) -> None:
        rng = random.Random(number)
        async with Connection(port) as connection:
            while True:
                start = time.perf_counter()
                if start >= deadline:
                    return
                if route == "GET /{id}":
                    status, body = await connection.request("GET", f"{PREFIX}/{rng.choice(ids)}")
                elif route == "GET /{id}/$tree":
                    status, body = await connection.request("GET", f"{PREFIX}/{root}/$tree")
                else:
                    sent = json.dumps(payload(rng, rng.choice(parents), 2)).encode()
                    status, body = await connection.request("POST", PREFIX, sent)
                out.latencies.append(time.perf_counter() - start)
                out.requests += 1
                if status != expected and len(bad) < 3:
                    bad.append(f"{route} answered {status}: {body[:300]!r}")

    async def phase(seconds: float) -> Measured:
        out = Measured(0, 0.0)
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(n, start + seconds, out) for n in range(clients)))
        out.seconds = time.perf_counter() - start
        return out

    if route == "GET /{id}/$tree":
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await check_tree(client, root)
    await phase(min(2.0, duration / 5))  # warm-up: connections, caches, the interpreter's first paths
    measured = await phase(duration)
    if bad:
        raise RuntimeError("\n".join(bad))
    return measured


# --- databases ------------------------------------------------------------------------------


class Database:
    """A fresh SQLite file or PostgreSQL database per server, removed afterwards."""

    def __init__(self, backend: str, impl: str, directory: Path) -> None:
        self.backend = backend
        self.name = f"http_load_{impl}_{os.getpid()}"
        if backend == "sqlite":
            self.url = f"sqlite+aiosqlite:///{directory / (self.name + '.db')}"
        else:
            self.url = f"{PG_SERVER.replace('postgresql://', 'postgresql+asyncpg://')}/{self.name}"

    async def _admin(self, statement: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(f"{PG_SERVER}/postgres")
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def __aenter__(self) -> Database:
        if self.backend == "postgres":
            await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            await self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.backend == "postgres":
            await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --- driver ---------------------------------------------------------------------------------


def chapkit_problem(python: str | None) -> str | None:
    """Why chapkit cannot be measured with this interpreter, or None when it can."""
    if python is None:
        return "no --chapkit-python given"
    if not Path(python).exists():
        return f"--chapkit-python {python} does not exist"
    check = subprocess.run(
        [python, "-c", "import chapkit, uvicorn; from importlib.metadata import version; print(version('chapkit'))"],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["?"])[-1]
        return f"{python} cannot import chapkit and uvicorn ({last}); chapkit 2.4.1 needs Python >= 3.13"
    if check.stdout.strip() != "2.4.1":
        print(f"note: {python} has chapkit {check.stdout.strip()}, not 2.4.1", file=sys.stderr)
    return None


@dataclass
class Target:
    """A running, seeded server under test and its measurements per route."""

    impl: str
    server: Server
    root: str
    ids: list[str]
    parents: list[str]
    results: dict[str, list[Measured]] = field(default_factory=lambda: {route: [] for route in ROUTES})


async def run_route(target: Target, route: str, repeat: int, args: argparse.Namespace) -> None:
    got = await load(target.server.port, route, args.clients, args.duration, target.ids, target.root, target.parents)
    target.results[route].append(got)
    print(
        f"{target.impl:8} #{repeat + 1} {route:16} {got.rate:8.1f} req/s  p50 {got.quantile(0.5) * 1e3:7.1f} ms"
        f"  p99 {got.quantile(0.99) * 1e3:7.1f} ms  ({got.requests} requests)",
        flush=True,
    )


async def measure(impls: list[tuple[str, str]], args: argparse.Namespace, directory: Path) -> list[Target]:
    """Every server up and seeded at once; then per repeat and route each is loaded in turn (the
    order alternating between repeats), so that a busy moment of the machine hits both alike."""
    async with contextlib.AsyncExitStack() as stack:
        targets = []
        for impl, python in impls:
            database = await stack.enter_async_context(Database(args.backend, impl, directory))
            server = await stack.enter_async_context(Server(impl, python, database.url))
            targets.append(Target(impl, server, *await seed(server.base)))
        for repeat in range(args.repeats):
            for route in ROUTES:
                for target in targets if repeat % 2 == 0 else targets[::-1]:
                    await run_route(target, route, repeat, args)
        return targets


def summary(runs: list[Measured]) -> tuple[float, float, float]:
    return (
        statistics.median(r.rate for r in runs),
        statistics.median(r.quantile(0.5) for r in runs) * 1e3,
        statistics.median(r.quantile(0.99) for r in runs) * 1e3,
    )


def table(ours: dict[str, list[Measured]], chapkit: dict[str, list[Measured]] | None) -> str:
    """Medians over the repeats; the ratio is the median of the per-repeat ratios of req/s."""
    lines = [
        "| route | ours req/s | ours p50 ms | ours p99 ms "
        "| chapkit req/s | chapkit p50 ms | chapkit p99 ms | req/s ours/chapkit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for route in ROUTES:
        rate, p50, p99 = summary(ours[route])
        if chapkit is None:
            theirs = "| — | — | — | — |"
        else:
            c_rate, c_p50, c_p99 = summary(chapkit[route])
            ratio = statistics.median(a.rate / b.rate for a, b in zip(ours[route], chapkit[route], strict=True))
            theirs = f"| {c_rate:.0f} | {c_p50:.1f} | {c_p99:.1f} | **{ratio:.2f}×** |"
        lines.append(f"| `{route}` | {rate:.0f} | {p50:.1f} | {p99:.1f} {theirs}")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    problem = chapkit_problem(args.chapkit_python)
    if problem is not None:
        print(f"chapkit skipped: {problem}", file=sys.stderr)
    print(
        f"backend {args.backend}, {args.clients} clients, {args.duration:g} s per route, {args.repeats} repeat(s); "
        f"uvicorn {UVICORN}",
        flush=True,
    )
    impls = [("ours", sys.executable)]
    if problem is None:
        impls.append(("chapkit", args.chapkit_python))
    with tempfile.TemporaryDirectory() as tmp:
        targets = await measure(impls, args, Path(tmp))
    print()
    print(table(targets[0].results, targets[1].results if len(targets) > 1 else None))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per route and repeat (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats; the table shows medians (default 3)")
    parser.add_argument("--chapkit-python", help="python of a virtualenv holding chapkit 2.4.1 and uvicorn")
    return parser.parse_args(argv)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        # SIGTERM unwinds like Ctrl-C, so the servers are stopped and their databases dropped.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        sys.exit(asyncio.run(main(parse_args())))
