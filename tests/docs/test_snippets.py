"""Every Python and shell snippet in README.md and docs/ runs, so none can rot.

The collector reads each page's fenced blocks in order:

- ```python blocks run in one namespace per page (later blocks may build on earlier ones),
  top-level ``await`` allowed, in a fresh temporary directory, against the embedded SQLite
  default unless the snippet names a PostgreSQL URL.
- ```bash / ```sh / ```shell / ```console blocks: a ``console`` block's commands are its
  ``$ `` lines (the other lines are output, not checked); ``\\`` continues a line; ``&&``
  chains are split. Only ``artifact-ledger``, ``python`` and ``mkdir`` commands run; by rule a few never
  do (RULE_SKIPPED: installing packages, the project's own test and benchmark runs, and
  ``serve``, which does not return), and any other program (curl, alembic) is not run.
- Any ``postgresql+asyncpg://...`` URL in a page is replaced by a database of its own on the
  test server (``ARTIFACT_LEDGER_TEST_URL``, else tests/ledger_support.PG_URL), dropped after.
- A block meant to be read, not run, says so on the line before its fence:
  ``<!-- skip-snippet: the reason -->``. SKIP_ALLOWED caps how many there are.
- PAGE_SETUP gives a page the names its fragments assume (a ``manager``, an id), so the
  page itself shows only the call it explains.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ledger_support import PG_URL

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("snippet_runner.py")
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
SHELL = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```(\w+)?([^\n]*)$")
SKIP = re.compile(r"^<!--\s*skip-snippet:\s*(\S.*?)\s*-->$")
PG = re.compile(r"postgresql\+asyncpg://[^\s'\"`)]+")
SKIP_ALLOWED = 10

# Commands that never run, whatever page shows them (matched against the command's start,
# after any VAR=value assignments).
RULE_SKIPPED = (
    "pip ",  # installs into the running environment
    "python -m pip ",
    "python -m pytest",  # the project's own suite: run by CI itself
    "python benchmarks/",  # minutes long; tests/benchmarks runs the suite at small sizes
    "artifact-ledger serve",  # a server does not return
)
RUNNABLE = ("artifact-ledger", "python", "mkdir")  # mkdir: a checkpoint target must exist first

# A small chapkit database (chapkit's `artifacts` table, data an unsigned pickle) to import.
CHAPKIT_DB = """
import pickle, sqlite3
from datetime import datetime
from ulid import ULID

root, child = str(ULID()), str(ULID())
chapkit = sqlite3.connect("chapkit.db")
chapkit.execute(
    "CREATE TABLE artifacts (id VARCHAR(26) PRIMARY KEY, parent_id VARCHAR(26) REFERENCES artifacts (id),"
    " level INTEGER, data BLOB, created_at DATETIME, updated_at DATETIME, tags JSON)"
)
for id_, parent, level, data in [(root, None, 0, {"type": "training"}), (child, root, 1, {"content": b"x"})]:
    when = datetime(2025, 3, 1, 12, level).isoformat(" ")
    chapkit.execute(
        "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?)",
        (id_, parent, level, pickle.dumps(data, protocol=4), when, when, "[]"),
    )
chapkit.commit()
chapkit.close()
"""

PAGE_SETUP = {
    "docs/guides/operations.md": CHAPKIT_DB,
    "docs/migrating-from-chapkit.md": CHAPKIT_DB,
    "docs/errors.md": 'url = "sqlite+aiosqlite:///./other.db"\n',
    # The reference's fragments (a listing's UnavailableContent) call a manager on a ledger with an artifact.
    "docs/api.md": """
from artifact_ledger import ArtifactIn, Ledger

ledger = await Ledger.open("sqlite+aiosqlite:///./artifacts.db").__aenter__()
manager = await ledger.manager().__aenter__()
await manager.save(ArtifactIn(data={"name": "report", "content": b"bytes"}))
""",
    # ./artifacts.db is also what the page's `artifact-ledger` commands read; $ID is the artifact.
    "docs/guides/querying.md": """
import os
from artifact_ledger import ArtifactIn, Ledger

ledger = await Ledger.open("sqlite+aiosqlite:///./artifacts.db").__aenter__()
manager = await ledger.manager().__aenter__()
root = await manager.save(ArtifactIn(data={"metadata": {"status": "draft"}}, tags=["contract"]))
artifact_id = (await manager.save(ArtifactIn(
    parent_id=root.id,
    data={"score": 1, "metadata": {"experiment": "x", "accuracy": 0.95, "status": "published", "draft_note": "x"}},
))).id
os.environ["ID"] = str(artifact_id)
""",
    # $ID is a model with three versions (what the alias examples point at).
    "docs/cli.md": """
import os
from artifact_ledger import ArtifactIn, Ledger

async with Ledger.open("sqlite+aiosqlite:///./artifacts.db") as ledger, ledger.manager() as manager:
    root = await manager.save(ArtifactIn(data={"metadata": {"status": "draft"}}, tags=["contract"]))
    await manager.save(ArtifactIn(parent_id=root.id, data={"metadata": {"status": "published"}}))
    model = await manager.save(ArtifactIn(data={"name": "model", "score": 1}))
    for score in (2, 3):
        await manager.save(ArtifactIn(id=model.id, data={"name": "model", "score": score}))
os.environ["ID"] = str(model.id)
""",
    # The names the guide's fragments use: a dataset, a training run, a model trained on it
    # (four versions), its evaluation, and a moment when version 3 was in production.
    "docs/guides/promotion-and-lineage.md": """
from datetime import UTC, datetime
from artifact_ledger import ArtifactIn, Ledger

ledger = await Ledger.open("sqlite+aiosqlite:///./artifacts.db").__aenter__()
manager = await ledger.manager().__aenter__()
dataset = await manager.save(ArtifactIn(data={"name": "holdout"}))
training_run = await manager.save(ArtifactIn(data={"name": "training run"}))
model = await manager.save(ArtifactIn(parent_id=training_run.id, data={"name": "model", "epoch": 1}))
for epoch in (2, 3, 4):
    data = {"name": "model", "epoch": epoch}
    model = await manager.save(ArtifactIn(id=model.id, parent_id=training_run.id, data=data))
evaluation = await manager.save(ArtifactIn(parent_id=model.id, data={"accuracy": 0.93}))
await manager.set_alias("production", model.id, version=3, reason="first to pass review")
last_monday = datetime.now(UTC)  # production was version 3 then
""",
    # $ID (and customer_id) is a customer record saved twice, both versions holding the e-mail address.
    "docs/guides/retention-and-erasure.md": """
import os
from artifact_ledger import ArtifactIn, Ledger

async with Ledger.open("sqlite+aiosqlite:///./artifacts.db") as ledger, ledger.manager() as manager:
    data = {"customer": "c-1042", "email": "jane@example.org", "phone": "+1 555 0100", "plan": "pro"}
    record = await manager.save(ArtifactIn(data=data), actor="svc-signup", reason="signup")
    data["plan"] = "team"
    await manager.save(ArtifactIn(id=record.id, data=data), actor="svc-billing", reason="upgrade")
customer_id = record.id
os.environ["ID"] = str(record.id)
""",
    "docs/guides/versioning-and-audit.md": """
from artifact_ledger import ArtifactIn, Ledger

ledger = await Ledger.open("sqlite+aiosqlite:///./ledger.db").__aenter__()
manager = await ledger.manager().__aenter__()
run_id = "run-42"
handle = print
""",
}


@dataclass
class Block:
    page: str
    line: int
    kind: str  # "python" or "shell"
    source: str
    skip_reason: str | None = None
    commands: list[str] = field(default_factory=list)


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(ROOT).as_posix()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match.group(1):
            if lines[i].startswith("```"):  # a bare fence: skip to its end
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    i += 1
            i += 1
            continue
        language, start = match.group(1), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if language != "python" and language not in SHELL:
            continue
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        skip = SKIP.match(above.strip())
        source = "\n".join(body) + "\n"
        block = Block(page, start + 1, "python" if language == "python" else "shell", source)
        block.skip_reason = skip.group(1) if skip else None
        if block.kind == "shell":
            block.commands = shell_commands(source, console=language == "console")
        yield block


def shell_commands(source: str, *, console: bool) -> list[str]:
    joined: list[str] = []
    pending = ""
    for raw in source.splitlines():
        line = raw.rstrip()
        if not pending and console:
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    commands = []
    for line in joined:
        code = line.split(" #", 1)[0].strip() if " #" in line else line.strip()
        for part in (p.strip() for p in code.split("&&")):
            if part and runnable(part):
                commands.append(part)
    return commands


def runnable(command: str) -> bool:
    words = shlex.split(command)
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words.pop(0)
    rest = " ".join(words)
    return bool(words) and words[0] in RUNNABLE and not rest.startswith(RULE_SKIPPED)


ALL = {path.relative_to(ROOT).as_posix(): list(blocks(path)) for path in PAGES}
RUN = {page: found for page, found in ALL.items() if any(b.skip_reason is None for b in found)}


def test_the_collector_finds_the_snippets() -> None:
    python = [b for found in ALL.values() for b in found if b.kind == "python"]
    shell = [b for found in ALL.values() for b in found if b.kind == "shell"]
    assert len(python) >= 20
    assert len(shell) >= 10
    assert any(b.commands for b in shell)


def test_skipped_snippets_are_few_and_say_why() -> None:
    skipped = [b for found in ALL.values() for b in found if b.skip_reason is not None]
    assert len(skipped) <= SKIP_ALLOWED, [f"{b.page}:{b.line}" for b in skipped]
    for block in skipped:
        assert len(block.skip_reason or "") >= 10, f"{block.page}:{block.line}: give a reason"


LOOKS_RUNNABLE = re.compile(r"^(\$ |artifact-ledger |pip |python |curl |import |from |await |async |with )")


def test_runnable_code_is_fenced_with_its_language() -> None:
    """A bare ``` fence escapes the collector: commands and code must say what they are."""
    bare = []
    for path in PAGES:
        lines = path.read_text(encoding="utf-8").splitlines()
        inside = False
        for number, line in enumerate(lines, 1):
            if not line.startswith("```"):
                continue
            if not inside and line == "```" and number < len(lines) and LOOKS_RUNNABLE.match(lines[number]):
                bare.append(f"{path.relative_to(ROOT).as_posix()}:{number}")
            inside = not inside
    assert not bare, f"fence these as python/bash/console (or text, for a synopsis): {bare}"


def test_shell_rules() -> None:
    assert shell_commands("$ pip install x\nout\n$ artifact-ledger --db U \\\n   verify  # c\n", console=True) == [
        "artifact-ledger --db U     verify"
    ]
    assert shell_commands('pip install -e ".[dev]" && artifact-ledger demo\ncurl -s x\n', console=False) == [
        "artifact-ledger demo"
    ]
    assert not runnable("python -m pytest tests/x.py")
    assert runnable("X=1 python -m artifact_ledger.verify b")


def _server(url: str) -> str:
    return PG.sub(lambda m: m.group(0).replace("postgresql+asyncpg://", "postgresql://"), url)


async def _admin(statement: str) -> None:
    import asyncpg

    base = _server(os.environ.get("ARTIFACT_LEDGER_TEST_URL", PG_URL))
    connection = await asyncpg.connect(base)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.mark.parametrize("page", sorted(RUN))
def test_page_snippets_run(page: str, tmp_path: Path) -> None:
    found = [b for b in ALL[page] if b.skip_reason is None]
    text = "".join(b.source + "\n".join(b.commands) for b in found) + PAGE_SETUP.get(page, "")
    database = None
    url = ""
    if PG.search(text):
        database = f"docs_{uuid.uuid4().hex[:12]}"
        base = os.environ.get("ARTIFACT_LEDGER_TEST_URL", PG_URL)
        url = base.rsplit("/", 1)[0] + "/" + database
        asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        payload = []
        if page in PAGE_SETUP:
            setup = PG.sub(url, PAGE_SETUP[page]) if url else PAGE_SETUP[page]
            payload.append({"page": page, "line": 0, "kind": "python", "source": setup, "commands": []})
        for b in found:
            payload.append(
                {
                    "page": b.page,
                    "line": b.line,
                    "kind": b.kind,
                    "source": PG.sub(url, b.source) if url else b.source,
                    "commands": [PG.sub(url, c) if url else c for c in b.commands],
                }
            )
        spec = tmp_path / "blocks.json"
        spec.write_text(json.dumps(payload), encoding="utf-8")
        work = tmp_path / "work"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
        env["COLUMNS"] = "120"
        done = subprocess.run(
            [sys.executable, str(RUNNER), str(spec)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    finally:
        if database:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
