"""Benchmark suite: artifact-ledger beside a raw-SQL floor measured in the same run.

    python benchmarks/run.py [--backend sqlite|postgresql|all] [--quick] [--json PATH]
    python benchmarks/run.py --profile W1 --backend sqlite      # cProfile one workload of ours

Workloads (see docs/benchmarks.md): W1 single committed saves of a 10x10x10x10 forest;
W1b the same forest in one save_all; W3 subtree reads in forests of 11,110 and 111,100;
H history and point-in-time reads (find_by_id/build_tree as_of, history of 1,000 versions);
V1 Ledger.verify() over 100,000 events; P the per-operation path (a new session and manager per
call, as chapkit's routes use it): get, save, update and move, with statements per operation;
L aliases and lineage (resolve_alias, as_of, lineage depth 10 over 100,000 links, alias/link writes);
Q metadata queries (find/count with where=, as_of=, keyset pages) in a ledger of 1,000,000 artifacts;
G group commit (1, 8 and 32 tasks saving at once, with and without it);
N many processes (1, 2, 4, 8) writing single saves and batches into 1 or 8 namespaces;
GC ledger.gc (dry run and real) over 1,000,000 blobs, half unreferenced: time and RSS growth.

    python benchmarks/run.py --profile P-get --backend postgresql   # where a per-operation get's time goes
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# The helpers sit beside this script; make them importable however the script is started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_db import BACKENDS, server_version
from bench_report import Result, machine, markdown_table, print_tables, write_json
from bench_suite import FULL, QUICK
from rich.console import Console

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
# name -> "module:function"; each function is ``async (backend, sizes, log) -> list[Result]``.
WORKLOADS = {
    "W1": "bench_suite:run_w1",
    "W1b": "bench_suite:run_w1b",
    "W2": "bench_reads:run_w2",
    "W3": "bench_suite:run_w3",
    "W4": "bench_reads:run_w4",
    "W5": "bench_reads:run_w5",
    "W6": "bench_reads:run_w6",
    "W7": "bench_scale:run_w7",
    "W8": "bench_transfer:run_w8",
    "H": "bench_history:run_h",
    "V1": "bench_verify:run_v1",
    "P": "bench_perop:run_p",
    "L": "bench_lineage:run_l",
    "Q": "bench_query:run_q",
    "M": "bench_proofs:run_m",
    "G": "bench_group:run_g",
    "N": "bench_processes:run_n",
    "GC": "bench_gc:run_gc",
}
PROFILED = ["W1", "W1b", "W3", "W3-build", "P-get", "P-save", "P-update", "P-move"]


def workload(name: str) -> Callable[..., Awaitable[list[Result]]]:
    module, function = WORKLOADS[name].split(":")
    found: Any = getattr(importlib.import_module(module), function)
    return found  # type: ignore[no-any-return]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run (< 60 s)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"results file (default {DEFAULT_JSON})")
    parser.add_argument("--only", choices=list(WORKLOADS), action="append", help="run only these workloads")
    parser.add_argument("--repeats", type=int, help="W1/W1b repeats (default 3, 1 with --quick)")
    parser.add_argument("--per-op", type=int, help="P operations of each kind (default 1,000, 60 with --quick)")
    parser.add_argument("--query-artifacts", type=int, help="Q ledger size (default 1,000,000, 20,000 with --quick)")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as markdown (for docs)")
    parser.add_argument("--profile", choices=PROFILED, help="profile ours in one workload instead")
    parser.add_argument(
        "--profiler",
        choices=["cprofile", "pyinstrument"],
        default="cprofile",
        help="with --profile: the stdlib's cProfile, or pyinstrument (pip install -e '.[bench]')",
    )
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    console = Console()
    if not console.is_terminal:
        console = Console(width=132)  # piped or redirected: keep table rows on one line
    err = Console(stderr=True)
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    sizes = QUICK if args.quick else FULL
    if args.repeats:
        sizes = type(sizes)(**{**sizes.__dict__, "repeats": args.repeats})
    if args.per_op:
        sizes = type(sizes)(**{**sizes.__dict__, "per_op": args.per_op})
    if args.query_artifacts:
        sizes = type(sizes)(**{**sizes.__dict__, "query_artifacts": args.query_artifacts})
    if args.profile:
        from bench_profile import profile

        for backend in backends:
            await profile(args.profile, backend, sizes, console, DEFAULT_JSON.parent, args.profiler)
        return 0
    versions = {b: await server_version(b) for b in backends}
    info = machine(versions)  # before the run: the commit measured is the one checked out when it started
    results: list[Result] = []
    for backend in backends:
        for name in WORKLOADS:
            if args.only and name not in args.only:
                continue
            with err.status(f"{name} on {backend}…"):
                results.extend(await workload(name)(backend, sizes, err.log))
    print_tables(console, results, backends, info)
    if args.markdown:
        for backend in backends:
            print(f"\n{backend} ({info['databases'][backend]})\n\n{markdown_table(results, backend)}")
    run_args = {"backend": args.backend, "quick": args.quick, "only": args.only, "sizes": sizes.__dict__}
    write_json(args.json, info, run_args, results)
    console.print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
