"""JSON-patch-style differences between two JSON values (pure; used by diff and the CLI)."""

from __future__ import annotations

import math
from typing import Any


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def json_patch(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Operations (``add``/``remove``/``replace`` with RFC 6901 paths) turning ``old`` into ``new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[dict[str, Any]] = []
        for key in sorted(old.keys() - new.keys()):
            ops.append({"op": "remove", "path": f"{path}/{_escape(key)}", "old": old[key]})
        for key in sorted(old.keys() & new.keys()):
            ops.extend(json_patch(old[key], new[key], f"{path}/{_escape(key)}"))
        for key in sorted(new.keys() - old.keys()):
            ops.append({"op": "add", "path": f"{path}/{_escape(key)}", "value": new[key]})
        return ops
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        ops = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            ops.extend(json_patch(a, b, f"{path}/{index}"))
        return ops
    if (
        type(old) is type(new)
        and old == new
        and (type(old) is not float or math.copysign(1, old) == math.copysign(1, new))
    ):
        return []  # (0.0 and -0.0 are equal but stored, and hashed, apart)
    return [{"op": "replace", "path": path, "old": old, "value": new}]  # RFC 6901: "" is the whole value


def describe(ops: list[dict[str, Any]]) -> list[str]:
    """Readable lines for a patch: ``~ /metadata/f1: 0.71 -> 0.74``."""
    lines = []
    for op in ops:
        if op["op"] == "add":
            lines.append(f"+ {op['path']}: {op['value']!r}")
        elif op["op"] == "remove":
            lines.append(f"- {op['path']}: {op['old']!r}")
        else:
            lines.append(f"~ {op['path']}: {op['old']!r} -> {op['value']!r}")
    return lines
