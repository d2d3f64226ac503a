"""Bundles exported from real ledgers, checked by the stdlib verifier the way an auditor runs it.

The verifier must agree with ``Ledger.verify`` on where a tampered ledger breaks, run on a
bare interpreter (``python -S -I``: no site-packages) as a single copied file, and run as
``python -m artifact_ledger.verify``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_integrity_support import HISTORY_EVENTS, history, set_columns, tampered

import artifact_ledger.verify_bundle as standalone
from artifact_ledger import ArtifactIn, ArtifactManager, InvalidBundleError, Ledger
from artifact_ledger.bundle import load_bundle, write_bundle
from artifact_ledger.verify_bundle import verify_bundle
from ledger_support import SECRET

SCRIPT = Path(standalone.__file__)


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


async def test_export_verifies_and_reads_back(manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path) -> None:
    await history(manager)
    counts: list[int] = []
    async with Ledger.open(engine, secret=SECRET) as ledger:
        manifest = await write_bundle(engine, tmp_path / "b", progress=counts.append)
        head = await ledger.head()
        stored = await ledger.events_since(0)
    assert (manifest.first_position, manifest.head_position, manifest.head_hash) == (1, head.position, head.hash)
    assert (manifest.event_count, manifest.blob_count) == (HISTORY_EVENTS, 2)
    assert counts == [HISTORY_EVENTS]
    report = verify_bundle(tmp_path / "b", trusted_head=head)
    assert report.ok, report
    assert (report.events_checked, report.blobs_checked, report.head_hash) == (HISTORY_EVENTS, 2, head.hash)
    bundle = load_bundle(tmp_path / "b", trusted_head=head)
    events = list(bundle.events())
    assert [(e.position, e.event_id, e.hash) for e in events] == [
        (e.position, e.event_id, e.hash.hex()) for e in stored
    ]
    assert [json.loads(e.payload) for e in events] == [e.payload for e in stored]
    assert events[0].actor == "zoë"
    assert bundle.blob(stored[0].payload["content"]["hash"]) == b"model-bytes"


async def test_an_incremental_bundle(manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path) -> None:
    await history(manager)
    async with Ledger.open(engine, secret=SECRET) as ledger:
        checkpoint = await ledger.head()
        async with ledger.manager() as more:
            await more.save(ArtifactIn(data={"content": b"later"}))
        manifest = await write_bundle(engine, tmp_path / "b", since=checkpoint)
        head = await ledger.head()
        with pytest.raises(ValueError, match="has no event 3 with hash"):
            await write_bundle(engine, tmp_path / "c", since=(3, "ab" * 32))
    assert (manifest.first_position, manifest.prev_hash, manifest.event_count) == (
        HISTORY_EVENTS + 1,
        checkpoint.hash,
        1,
    )
    report = verify_bundle(tmp_path / "b", trusted_head=checkpoint)
    assert (report.ok, report.head_position, report.blobs_checked) == (True, head.position, 1)
    with pytest.raises(FileExistsError, match="not an empty directory"):
        await write_bundle(engine, tmp_path / "b")


async def test_bundle_verifier_agrees_with_verify_on_a_tampered_ledger(
    manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path
) -> None:
    await history(manager)
    attacks = {
        "modified": ("UPDATE ledger_events SET actor = 'mallory' WHERE position = 3", (3, "modified")),
        "blob": ("UPDATE ledger_blobs SET data = :x WHERE size = 11", (1, "blob_corrupted")),
        "deleted": ("DELETE FROM ledger_events WHERE position = 5", (5, "deleted")),  # last: not undone
    }
    async with Ledger.open(engine, secret=SECRET) as ledger:
        for name, (sql, expected) in attacks.items():
            async with tampered(engine) as conn:
                await conn.execute(text(sql), {"x": b"model-bytez"} if "blob" in sql else {})
            report = await ledger.verify()
            assert (report.broken_position, report.reason) == expected, name
            await write_bundle(engine, tmp_path / name)
            audited = verify_bundle(tmp_path / name)
            assert (audited.broken_position, audited.reason) == expected, name
            with pytest.raises(InvalidBundleError, match=f"at position {expected[0]} \\({expected[1]}\\)"):
                load_bundle(tmp_path / name)
            await undo(engine, name)


async def undo(engine: AsyncEngine, name: str) -> None:
    """Put back what ``attacks`` changed, so the next attack starts from an intact ledger."""
    async with tampered(engine) as conn:
        if name == "modified":
            await set_columns(conn, 3, {"actor": None})
        elif name == "blob":
            await conn.execute(text("UPDATE ledger_blobs SET data = :x WHERE size = 11"), {"x": b"model-bytes"})


@pytest.mark.parametrize("backend", ["sqlite-file"])  # the subprocesses read files: one backend is enough here
async def test_standalone_runs_on_a_bare_interpreter(
    manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path
) -> None:
    await history(manager)
    await write_bundle(engine, tmp_path / "bundle")
    async with Ledger.open(engine, secret=SECRET) as ledger:
        head = await ledger.head()
        root = (await ledger.merkle_root()).root
    assert run("-S", "-I", "-c", "import sqlalchemy").returncode != 0  # really no site-packages
    copy = tmp_path / "alone" / "verify_bundle.py"
    copy.parent.mkdir()
    shutil.copy(SCRIPT, copy)
    for script in (SCRIPT, copy):
        done = run("-S", "-I", script, tmp_path / "bundle", "--head", str(head), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (
            f"OK: {HISTORY_EVENTS} events and 2 blobs verified; head {head}; "
            f"Merkle root {root} of {HISTORY_EVENTS} events checked"
        )
    probe = (
        "import runpy, sys, json\n"
        f"sys.argv = ['verify_bundle.py', {str(tmp_path / 'bundle')!r}, '--json']\n"
        "try:\n"
        f"    runpy.run_path({str(copy)!r}, run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        "outside = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names)\n"
        "print(json.dumps({'code': code, 'outside': outside}))\n"
    )
    done = run("-S", "-I", "-c", probe)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "outside": ["__main__"]}


@pytest.mark.parametrize("backend", ["sqlite-file"])
async def test_python_m_artifact_ledger_verify(manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path) -> None:
    await history(manager)
    await write_bundle(engine, tmp_path / "bundle")
    done = run("-W", "error", "-m", "artifact_ledger.verify", tmp_path / "bundle", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["events_checked"] == HISTORY_EVENTS
    as_script = run("-S", "-I", SCRIPT.with_name("verify.py"), tmp_path / "bundle")
    assert as_script.returncode == 0, as_script.stderr
    events = tmp_path / "bundle" / "events.jsonl"
    events.write_bytes(events.read_bytes().replace(b'"actor":"zo\xc3\xab"', b'"actor":"eve"'))
    broken = run("-m", "artifact_ledger.verify", tmp_path / "bundle")
    assert broken.returncode == 1
    assert broken.stdout.startswith("BROKEN at position 1 (modified)")
    assert run("-m", "artifact_ledger.verify", tmp_path / "nowhere").returncode == 2


@pytest.mark.parametrize("backend", ["sqlite-file"])
async def test_python_m_verify_needs_no_dependencies(
    manager: ArtifactManager, engine: AsyncEngine, tmp_path: Path
) -> None:
    # The package __init__ loads lazily, so the -m entry point runs on a bare interpreter
    # that sees only the package's own folder (no site-packages, no sqlalchemy, no pydantic).
    await history(manager)
    await write_bundle(engine, tmp_path / "bundle")
    package_root = str(Path(artifact_ledger_file()).parent.parent)
    probe = (
        "import runpy, sys, json\n"
        f"sys.path.insert(0, {package_root!r})\n"
        f"sys.argv = ['artifact_ledger.verify', {str(tmp_path / 'bundle')!r}, '--json']\n"
        "try:\n"
        "    runpy.run_module('artifact_ledger.verify', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        "outside = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names)\n"
        "print(json.dumps({'code': code, 'outside': [m for m in outside if m.split('.')[0] != 'artifact_ledger']}))\n"
    )
    done = run("-S", "-I", "-c", probe)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "outside": ["__main__"]}


def artifact_ledger_file() -> str:
    import artifact_ledger

    return str(artifact_ledger.__file__)
