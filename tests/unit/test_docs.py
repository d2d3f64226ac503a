"""The docs match the code: every public name is documented, links resolve, and the snippets run."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import artifact_ledger
from artifact_ledger import ArtifactIn, ArtifactManager, FixedClock, Ledger, LedgerError
from artifact_ledger.store.tables import events
from ledger_support import make_format_1

DOCS = Path(__file__).resolve().parents[2] / "docs"
API = DOCS / "api.md"
GETTING_STARTED = DOCS / "guides" / "getting-started.md"
CONTENT_AND_KEYS = DOCS / "guides" / "content-and-keys.md"
OWNED = [
    DOCS / "index.md",
    API,
    DOCS / "architecture.md",
    DOCS / "decisions.md",
    GETTING_STARTED,
    CONTENT_AND_KEYS,
]
WRITTEN_ELSEWHERE = {"cli.md", "benchmarks.md"}  # linked from the index, written by other tasks

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.M)}


# ---- API page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", artifact_ledger.__all__)
def test_every_exported_name_is_in_the_api_page(name: str) -> None:
    assert f"`{name}`" in API.read_text(encoding="utf-8"), f"docs/api.md does not mention `{name}`"


def public_methods(cls: type) -> list[str]:
    return [name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")]


@pytest.mark.parametrize("name", public_methods(ArtifactManager))
def test_every_manager_method_is_in_the_api_page(name: str) -> None:
    assert re.search(rf"`{name}[`(]", API.read_text(encoding="utf-8")), f"docs/api.md lacks ArtifactManager.{name}"


@pytest.mark.parametrize("name", [*public_methods(Ledger), "open"])
def test_every_ledger_method_is_in_the_api_page(name: str) -> None:
    assert re.search(rf"\.{name}\(", API.read_text(encoding="utf-8")), f"docs/api.md lacks Ledger.{name}"


def documented_error_parents() -> dict[str, str | None]:
    """Name -> parent name, from the box-drawn error tree in docs/api.md."""
    text = API.read_text(encoding="utf-8")
    tree = re.search(r"^```\n(LedgerError\n.*?)^```", text, flags=re.S | re.M)
    assert tree is not None, "docs/api.md has no error tree"
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in tree.group(1).splitlines():
        match = re.search(r"[A-Za-z]\w*", line)
        assert match is not None
        depth = match.start() // 4
        del stack[depth:]
        parents[match.group()] = stack[-1] if stack else None
        stack.append(match.group())
    return parents


def test_error_tree_matches_the_exception_classes() -> None:
    exported = {
        name: obj
        for name in artifact_ledger.__all__
        if isinstance(obj := getattr(artifact_ledger, name), type) and issubclass(obj, LedgerError)
    }
    parents = documented_error_parents()
    assert set(parents) == set(exported)
    for name, cls in exported.items():
        base = next((b.__name__ for b in cls.__bases__ if issubclass(b, LedgerError)), None)
        assert parents[name] == base, f"{name}: docs say parent {parents[name]}, code says {base}"


# ---- links ----------------------------------------------------------------------------------


def test_index_links_every_page() -> None:
    targets = {(DOCS / t).resolve() for t in _LINK.findall((DOCS / "index.md").read_text(encoding="utf-8"))}
    wanted = {p.resolve() for p in OWNED if p.name != "index.md"} | {DOCS / name for name in WRITTEN_ELSEWHERE}
    assert wanted <= targets


@pytest.mark.parametrize("page", OWNED, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        file_part, _, anchor = target.partition("#")
        path = (page.parent / file_part).resolve() if file_part else page
        if path.name in WRITTEN_ELSEWHERE and path.parent == DOCS:
            continue
        assert path.is_file(), f"{page.name} links to missing {target}"
        if anchor:
            assert anchor in anchors(path), f"{page.name} links to missing anchor {target}"


# ---- runnable snippets ------------------------------------------------------------------------


def run_block(block: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
    return subprocess.run(
        [sys.executable, "-c", block], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


GUIDE_BLOCKS = python_blocks(GETTING_STARTED)
CONTENT_BLOCKS = python_blocks(CONTENT_AND_KEYS)


def test_guides_have_snippets() -> None:
    assert len(GUIDE_BLOCKS) >= 3
    assert len(CONTENT_BLOCKS) >= 2


@pytest.mark.parametrize("block", GUIDE_BLOCKS, ids=[f"block{i}" for i in range(len(GUIDE_BLOCKS))])
def test_getting_started_blocks_run(block: str, tmp_path: Path) -> None:
    assert "sqlite+aiosqlite:///:memory:" in block
    assert not re.search(r"sqlite\+aiosqlite:///(?!:memory:)", block), "getting-started blocks use :memory: only"
    result = run_block(block, tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == [], "an in-memory example left files behind"


@pytest.mark.parametrize("block", CONTENT_BLOCKS, ids=[f"block{i}" for i in range(len(CONTENT_BLOCKS))])
def test_content_and_keys_blocks_run(block: str, tmp_path: Path) -> None:
    result = run_block(block, tmp_path)
    assert result.returncode == 0, result.stderr


# ---- the documented hash chain --------------------------------------------------------------


async def test_documented_hash_recomputes_stored_hashes() -> None:
    (block,) = python_blocks(DOCS / "architecture.md")
    namespace: dict[str, Any] = {}
    exec(compile(block, "architecture.md", "exec"), namespace)
    recompute = namespace["recompute_hash"]
    clock = FixedClock(datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))  # microseconds must survive
    async with Ledger.open("sqlite+aiosqlite:///:memory:", clock=clock) as ledger:
        await make_format_1(ledger.engine)  # the snippet is the format-1 rule
        async with ledger.manager() as manager:
            root = await manager.save(ArtifactIn(data={"name": "ünïcode ✓", "n": 1.5}), actor="zoë", reason="why?")
            child = await manager.save(ArtifactIn(parent_id=root.id, data={"content": b"\x00", "k": [1, None]}))
            await manager.move(child.id, None)
            await manager.delete_by_id(child.id)
        async with ledger.engine.connect() as conn:
            rows = [dict(r._mapping) for r in (await conn.execute(select(events).order_by(events.c.position))).all()]
    assert len(rows) == 4
    prev = bytes(32)
    for row in rows:
        assert bytes(row["prev_hash"]) == prev
        assert recompute(prev, row) == bytes(row["hash"]), f"position {row['position']}"
        prev = bytes(row["hash"])
