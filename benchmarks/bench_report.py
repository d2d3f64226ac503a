"""Result rows, the rich table, the machine description and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import artifact_ledger

RATE = "rate"  # higher is better; ratio = ours / floor, shown as 1/x
TIME = "time"  # lower is better; ratio = ours / floor, shown as x×
GROWTH = "growth"  # ours at the big forest / ours at the small one


@dataclass
class Result:
    backend: str
    workload: str
    kind: str
    ours: float
    floor: float
    unit: str
    target: float | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    paired_ratio: float | None = None
    """Median of per-repeat ratios (ours and floor interleaved), when there are repeats; else ours / floor."""
    goal: float | None = None
    """An absolute target in ``unit`` (e.g. 50,000 events/s): when set, pass/fail compares ``ours`` with it."""

    @property
    def ratio(self) -> float:
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.ours / self.floor if self.floor else float("nan")

    @property
    def passed(self) -> bool | None:
        if self.goal is not None:
            return self.ours >= self.goal if self.kind == RATE else self.ours <= self.goal
        if self.target is None:
            return None
        return self.ratio >= self.target if self.kind == RATE else self.ratio <= self.target

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "passed": self.passed}


def _value(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:,.0f} {unit}"


def _ratio(result: Result) -> str:
    if result.kind == RATE:
        return f"1/{1 / result.ratio:.1f}" if result.ratio < 1 else f"{result.ratio:.2f}×"
    return f"{result.ratio:.2f}×"


def _target(result: Result) -> str:
    if result.goal is not None:
        return f"{'≥' if result.kind == RATE else '≤'} {_value(result.goal, result.unit)}"
    if result.target is None:
        return "—"
    if result.kind == RATE:
        return f"≥ {result.target:g}×" if result.target > 1 else f"≥ 1/{1 / result.target:g}"
    return f"≤ {result.target:g}×"


def _cells(r: Result) -> tuple[str, str, str, str, str]:
    """workload, ours, floor, ratio and target as printed, in the terminal and in markdown alike."""
    if r.kind == GROWTH:
        ours = f"{r.detail['ours_small_ms']:.2f} → {r.detail['ours_big_ms']:.2f} ms"
        floor = f"{r.detail['floor_small_ms']:.2f} → {r.detail['floor_big_ms']:.2f} ms"
    else:
        ours, floor = _value(r.ours, r.unit), _value(r.floor, r.unit)
    return r.workload, ours, floor, _ratio(r), _target(r)


def table(results: list[Result], backend: str, title_extra: str = "") -> Table:
    t = Table(title=f"{backend}{title_extra}", title_justify="left")
    for name, justify in [("workload", "left"), ("ours", "right"), ("floor", "right"), ("ratio", "right")]:
        t.add_column(name, justify=justify)  # type: ignore[arg-type]  # rich's JustifyMethod literal
    t.add_column("target", justify="right")
    t.add_column("result", justify="center")
    verdicts = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]info[/]"}
    for r in results:
        if r.backend == backend:
            t.add_row(*_cells(r), verdicts[r.passed])
    return t


def markdown_table(results: list[Result], backend: str) -> str:
    """The same table as GitHub markdown, for docs/benchmarks.md."""
    lines = ["| workload | ours | floor | ratio | target | result |", "|---|--:|--:|--:|--:|:-:|"]
    verdicts = {True: "pass", False: "**FAIL**", None: "info"}
    for r in results:
        if r.backend == backend:
            lines.append("| " + " | ".join([*_cells(r), verdicts[r.passed]]) + " |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def git_commit() -> str | None:
    """The commit measured, with ``+dirty`` when src/ has uncommitted changes (read-only git calls)."""
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--", "src"):
        commit += "+dirty"
    return commit


def machine(versions: dict[str, str]) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "artifact_ledger": artifact_ledger.__version__,
        "git_commit": git_commit(),
        "databases": versions,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(path: Path, machine_info: dict[str, Any], args: dict[str, Any], results: list[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info, "args": args, "results": [r.as_json() for r in results]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def print_tables(console: Console, results: list[Result], backends: list[str], machine_info: dict[str, Any]) -> None:
    for backend in backends:
        version = machine_info["databases"].get(backend, "")
        console.print(table(results, backend, f" ({version})" if version else ""))
