"""``--profile``: run one workload of ours under cProfile (or pyinstrument) and say where the time goes.

``--profiler pyinstrument`` (``pip install -e '.[bench]'``) samples the wall clock instead:
less overhead on Python-heavy code, and a call tree (text, plus HTML in benchmarks/results/).

cProfile sees the event loop's thread only: time the driver spends (aiosqlite's worker
thread, or PostgreSQL across the socket) shows up as waiting in ``epoll``. Percentages
are of the profiled total; cProfile's own overhead inflates Python-heavy code somewhat.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import bench_workloads as w
from bench_db import fresh_database
from bench_forest import assign_ids, by_tree, forest, tree_size
from bench_suite import Sizes
from rich.console import Console
from rich.table import Table

_SITE = re.compile(r"site-packages/([A-Za-z0-9_]+)")


def _where(filename: str, func: str) -> str:
    """The package a profiled function belongs to."""
    if "/artifact_ledger/" in filename:
        return "artifact_ledger (ours)"
    site = _SITE.search(filename)
    if site:
        return site.group(1)
    if filename == "~":
        return "wait for I/O (epoll)" if "poll" in func else "builtins / C"
    if "/asyncio/" in filename:
        return "asyncio"
    return "stdlib / other"


def _ours(filename: str) -> str:
    return "src/artifact_ledger/" + filename.split("/artifact_ledger/", 1)[1]


def report(
    stats: pstats.Stats, console: Console, title: str, top: int = 18, *, everything: bool = False
) -> dict[str, Any]:
    """Own time by package and our functions by cumulative time; with ``everything``, the top functions of
    every package by own time too (the per-operation path spends most of its time outside our code)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # pstats keeps it untyped
    total = sum(v[2] for v in raw.values()) or 1.0
    by_pkg: dict[str, float] = defaultdict(float)
    ours: list[tuple[str, int, float, float]] = []
    for (filename, _line, func), (_cc, calls, own, cum, _callers) in raw.items():
        by_pkg[_where(filename, func)] += own
        if "/artifact_ledger/" in filename:
            ours.append((f"{_ours(filename)}:{func}", calls, own, cum))
    pkg_table = Table(title=f"{title}: own time by package ({total:.2f} s profiled)", title_justify="left")
    pkg_table.add_column("package")
    pkg_table.add_column("% own", justify="right")
    for pkg, own in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:10]:
        pkg_table.add_row(pkg, f"{100 * own / total:.1f}")
    console.print(pkg_table)
    fn_table = Table(title=f"{title}: our functions by cumulative time", title_justify="left")
    for col in ("file:function", "calls", "% cum", "% own"):
        fn_table.add_column(col, justify="left" if col == "file:function" else "right")
    for name, calls, own, cum in sorted(ours, key=lambda r: -r[3])[:top]:
        fn_table.add_row(name, f"{calls:,}", f"{100 * cum / total:.1f}", f"{100 * own / total:.1f}")
    console.print(fn_table)
    if everything:
        all_table = Table(title=f"{title}: every function by own time", title_justify="left")
        for col in ("package", "file:line(function)", "calls", "% own", "% cum"):
            all_table.add_column(col, justify="right" if col in ("calls", "% own", "% cum") else "left")
        for (filename, line, func), (_cc, calls, own, cum, _callers) in sorted(raw.items(), key=lambda kv: -kv[1][2])[
            :top
        ]:
            short = f"{Path(filename).name}:{line}({func})"
            all_table.add_row(
                _where(filename, func), short, f"{calls:,}", f"{100 * own / total:.1f}", f"{100 * cum / total:.1f}"
            )
        console.print(all_table)
    return {"total_s": total, "by_package": dict(by_pkg)}


def _save(prof: cProfile.Profile, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(path)
    return path


class _Pyinstrument:
    """pyinstrument with cProfile's enable/disable shape (sampling: far less overhead, wall-clock tree)."""

    def __init__(self) -> None:
        try:
            from pyinstrument import Profiler
        except ImportError:
            raise SystemExit("--profiler pyinstrument needs pyinstrument: pip install -e '.[bench]'") from None
        self.profiler = Profiler(interval=0.0005, async_mode="disabled")

    def enable(self) -> None:
        self.profiler.start()

    def disable(self) -> None:
        self.profiler.stop()


async def _suite(name: str, backend: str, s: Sizes, prof: Any) -> None:
    """W1, W1b, W3 or W3-build on one manager, ``prof`` enabled around the part measured."""
    nodes = forest(s.roots, s.branching, s.depth)
    ids = assign_ids(nodes)
    async with fresh_database(backend) as db, db.manager() as manager:
        if name == "W1":
            prof.enable()
            await w.single_saves(manager, nodes, {})
        elif name == "W1b":
            prof.enable()
            await w.batch_saves(manager, [nodes], ids)
        elif name == "W3-build":
            prof.enable()
            await w.batch_saves(manager, by_tree(nodes), ids)
        else:
            await w.batch_saves(manager, by_tree(nodes), ids)
            roots = [ids[n.index] for n in nodes if n.level == 0]
            size = tree_size(s.branching, s.depth)
            prof.enable()
            for i in range(s.queries):
                await w.subtree_ours(manager, roots[i % len(roots)], size)
                await w.build_tree_ours(manager, roots[i % len(roots)], s.branching)
        prof.disable()


async def profile(
    name: str, backend: str, s: Sizes, console: Console, out_dir: Path, profiler: str = "cprofile"
) -> None:
    prof: cProfile.Profile | _Pyinstrument = cProfile.Profile() if profiler == "cprofile" else _Pyinstrument()
    w.COLLECT = False
    gc.collect()
    ops = 0
    if name.startswith("P-"):
        from bench_perop import profile_ops

        ops = await profile_ops(name.removeprefix("P-"), backend, s, prof)
    else:
        await _suite(name, backend, s, prof)
    if isinstance(prof, _Pyinstrument):
        text = prof.profiler.output_text(unicode=True, color=False)
        path = out_dir / f"profile-{name}-{backend}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(prof.profiler.output_html())
        console.print(text, markup=False, highlight=False)
        console.print(f"call tree: {path} (open in a browser)")
        session = prof.profiler.last_session
        if ops and session is not None:
            console.print(f"{ops:,} operations: {session.duration / ops * 1e6:,.0f} µs each, profiled (wall clock)")
        return
    path = _save(prof, out_dir / f"profile-{name}-{backend}.pstats")
    found = report(pstats.Stats(prof), console, f"{name} on {backend}", everything=bool(ops))
    console.print(f"raw profile: {path} (python -m pstats {path})")
    if ops:
        console.print(f"{ops:,} operations: {found['total_s'] / ops * 1e6:,.0f} µs each under cProfile")
