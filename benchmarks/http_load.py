"""HTTP load: our API beside chapkit 2.4.1's ``ArtifactRouter``, same uvicorn settings, same data.

    python benchmarks/http_load.py [--backend sqlite|postgres] [--clients 8] [--duration 20]
                                   [--repeats 3] [--chapkit-python /path/to/chapkit-venv/bin/python]

Each server runs as its own subprocess on 127.0.0.1 under uvicorn with one worker, the asyncio
loop and the h11 protocol, access log off. Both are seeded over HTTP with the same tree (1 root ->
10 -> 100 -> 1,000 children, about 120 bytes of JSON data each), then loaded for a fixed time by
``--clients`` concurrent clients (one httpx connection each, in this process) on three routes:

    GET  /api/v1/artifacts/{id}        a random one of the 1,111 ids (same sequence for both)
    GET  /api/v1/artifacts/{root}/$tree the whole 1,111-node subtree
    POST /api/v1/artifacts             a new leaf under one of 10 nodes of a second tree

Every response's status is checked (200, or 201 for POST); a run with any other status fails.
Reported per route: requests/s, p50 and p99 latency (medians over the repeats) and ours/chapkit.

chapkit 2.4.1 needs Python >= 3.13 and must live in its own virtualenv (never in ours)::

    python3.13 -m venv /work/chapkit-venv && /work/chapkit-venv/bin/pip install chapkit==2.4.1 uvicorn

Without ``--chapkit-python``, or when that interpreter cannot import chapkit, only ours is measured
and the script says why. The server side of this file (``serve``) imports only what the server
under test needs, so chapkit's interpreter can run it without artifact-ledger installed.
"""

from __future__ import annotations

import argparse
import asyncio
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
PG_SERVER = os.environ.get("ARTIFACT_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
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
        from chapkit import ArtifactHierarchy  # type: ignore[import-not-found]  # in its own virtualenv
        from chapkit.api import ServiceBuilder, ServiceInfo  # type: ignore[import-not-found]

        hierarchy = ArtifactHierarchy(name="bench", level_labels={0: "root", 1: "a", 2: "b", 3: "c"})
        builder = ServiceBuilder(info=ServiceInfo(id="bench", display_name="bench"), database_url=url)
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


async def load(
    base: str, route: str, clients: int, duration: float, ids: list[str], root: str, parents: list[str]
) -> Measured:
    """``clients`` connections sending ``route`` back to back for ``duration`` seconds."""
    import httpx

    expected = 201 if route.startswith("POST") else 200
    bad: list[str] = []

    async def client_loop(number: int, deadline: float, out: Measured) -> None:
        rng = random.Random(number)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            while True:
                start = time.perf_counter()
                if start >= deadline:
                    return
                if route == "GET /{id}":
                    response = await client.get(f"{PREFIX}/{rng.choice(ids)}")
                elif route == "GET /{id}/$tree":
                    response = await client.get(f"{PREFIX}/{root}/$tree")
                else:
                    response = await client.post(PREFIX, json=payload(rng, rng.choice(parents), 2))
                out.latencies.append(time.perf_counter() - start)
                out.requests += 1
                if response.status_code != expected and len(bad) < 3:
                    bad.append(f"{route} answered {response.status_code}: {response.text[:300]}")

    async def phase(seconds: float) -> Measured:
        out = Measured(0, 0.0)
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(n, start + seconds, out) for n in range(clients)))
        out.seconds = time.perf_counter() - start
        return out

    if route == "GET /{id}/$tree":
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await check_tree(client, root)
    await phase(min(2.0, duration / 5))  # warm-up: connections, caches, the JIT-less interpreter's first paths
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


async def measure(impl: str, python: str, args: argparse.Namespace, directory: Path) -> dict[str, list[Measured]]:
    results: dict[str, list[Measured]] = {route: [] for route in ROUTES}
    async with Database(args.backend, impl, directory) as database, Server(impl, python, database.url) as server:
        root, ids, parents = await seed(server.base)
        for repeat in range(args.repeats):
            for route in ROUTES:
                got = await load(server.base, route, args.clients, args.duration, ids, root, parents)
                results[route].append(got)
                print(
                    f"{impl:8} #{repeat + 1} {route:16} {got.rate:8.1f} req/s  p50 {got.quantile(0.5) * 1e3:7.1f} ms"
                    f"  p99 {got.quantile(0.99) * 1e3:7.1f} ms  ({got.requests} requests)",
                    flush=True,
                )
    return results


def summary(runs: list[Measured]) -> tuple[float, float, float]:
    return (
        statistics.median(r.rate for r in runs),
        statistics.median(r.quantile(0.5) for r in runs) * 1e3,
        statistics.median(r.quantile(0.99) for r in runs) * 1e3,
    )


def table(ours: dict[str, list[Measured]], chapkit: dict[str, list[Measured]] | None) -> str:
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
            theirs = f"| {c_rate:.0f} | {c_p50:.1f} | {c_p99:.1f} | **{rate / c_rate:.2f}×** |"
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
    with tempfile.TemporaryDirectory() as tmp:
        ours = await measure("ours", sys.executable, args, Path(tmp))
        chapkit = None if problem is not None else await measure("chapkit", args.chapkit_python, args, Path(tmp))
    print()
    print(table(ours, chapkit))
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
