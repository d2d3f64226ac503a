"""The chart of benchmark N: aggregate events/s against processes, for 1 and 8 namespaces.

    python benchmarks/chart_processes.py [RESULTS.json] [--out docs/images/bench_processes.png]

Reads the JSON that ``python benchmarks/run.py --only N`` writes and draws one panel per backend
and way of writing (single saves, batches of 500). Needs matplotlib: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DEFAULT_JSON = ROOT / "results" / "latest.json"
DEFAULT_PNG = ROOT.parent / "docs" / "images" / "bench_processes.png"


def series(results: list[dict[str, Any]], backend: str, mode: str) -> dict[int, list[tuple[int, float]]]:
    """namespaces -> [(processes, events/s)] of one backend and mode, ordered by processes."""
    out: dict[int, list[tuple[int, float]]] = {}
    for r in results:
        d = r["detail"]
        if r["backend"] == backend and r["workload"].startswith("N ") and d.get("mode") == mode:
            out.setdefault(d["namespaces"], []).append((d["processes"], r["ours"]))
    return {m: sorted(points) for m, points in sorted(out.items())}


def draw(report: dict[str, Any], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("the chart needs matplotlib: pip install -e '.[bench]'")
    results = report["results"]
    backends = [b for b in ("sqlite", "postgresql") if any(r["backend"] == b for r in results)]
    fig, axes = plt.subplots(len(backends), 2, figsize=(10, 3.6 * len(backends)), squeeze=False)
    for row, backend in enumerate(backends):
        for col, (mode, title) in enumerate((("single", "single saves"), ("batch", "save_all of 500"))):
            ax = axes[row][col]
            for m, points in series(results, backend, mode).items():
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=f"{m} namespace{'s' if m > 1 else ''}")
            version = report["machine"]["databases"].get(backend, "")
            name = f"PostgreSQL {version.split()[0]}" if backend == "postgresql" else version or backend
            ax.set_title(f"{name}: {title}", fontsize=10)
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
            ax.set_xlabel("processes")
            ax.set_ylabel("events/s (all processes)")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=9)
    machine = report["machine"]
    loads = [r["detail"]["ours"]["load_average"] for r in results if "load_average" in r["detail"].get("ours", {})]
    busy = f", load average {min(loads):.1f}-{max(loads):.1f}" if loads else ""
    fig.suptitle(
        f"Benchmark N on {machine['nproc']} cores ({machine['cpu']}), shared with other work{busy}; "
        f"commit {machine['git_commit']}",
        fontsize=10,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, nargs="?", default=DEFAULT_JSON)
    parser.add_argument("--out", type=Path, default=DEFAULT_PNG)
    args = parser.parse_args(argv)
    draw(json.loads(args.results.read_text()), args.out)
    print(f"chart written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
