"""What the one-manager-per-task check costs a call: a guarded no-op coroutine method against the same
method unguarded, on the manager's own ``_exclusive`` wrapper. Prints nanoseconds per call.

    python benchmarks/bench_guard.py [calls]
"""

from __future__ import annotations

import asyncio
import sys
import time

from artifact_ledger.manager import _exclusive


class Plain:
    _running: str | None = None

    async def call(self, value: int) -> int:
        return value


class Guarded(Plain):
    pass


Guarded.call = _exclusive(Plain.call)  # type: ignore[method-assign]


async def per_call_ns(target: Plain, calls: int) -> float:
    started = time.perf_counter_ns()
    for n in range(calls):
        await target.call(n)
    return (time.perf_counter_ns() - started) / calls


async def main(calls: int) -> None:
    best: dict[str, float] = {}
    for _ in range(5):
        for name, target in (("plain", Plain()), ("guarded", Guarded())):
            best[name] = min(best.get(name, float("inf")), await per_call_ns(target, calls))
    print(f"plain   {best['plain']:.0f} ns/call")
    print(f"guarded {best['guarded']:.0f} ns/call")
    print(f"guard   {best['guarded'] - best['plain']:.0f} ns/call (best of 5 x {calls:,} calls)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
