"""Runs one page's snippets in order, in the current directory (the test gives it a fresh one).

Called as ``python snippet_runner.py BLOCKS.json`` by tests/docs/test_snippets.py. Every
Python block of the page runs in ONE namespace, so later blocks may use names that earlier
ones defined; top-level ``await`` works (one event loop serves the whole page). Shell blocks
run their commands with ``bash`` in the same directory, in page order between the Python
blocks. The first failure stops the page with exit code 1 and names the block's line.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import subprocess
import sys
import traceback
import types
from pathlib import Path
from typing import Any


def run_python(source: str, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop, name: str) -> None:
    code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        loop.run_until_complete(result)


def run_shell(command: str, name: str) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], capture_output=True, text=True, timeout=120)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: `{command}` exited {done.returncode}\n{done.stderr}")


def main() -> int:
    blocks = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    # The snippets' namespace is a real __main__ module, so pickle finds the classes they define.
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    namespace: dict[str, Any] = module.__dict__
    loop = asyncio.new_event_loop()
    try:
        for block in blocks:
            name = f"{block['page']}:{block['line']}"
            print(f"--- {name} ({block['kind']})", flush=True)
            try:
                if block["kind"] == "python":
                    run_python(block["source"], namespace, loop, name)
                else:
                    for command in block["commands"]:
                        run_shell(command, name)
            except BaseException:
                print(f"FAILED {name}", file=sys.stderr)
                traceback.print_exc()
                return 1
            sys.stdout.flush()
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
