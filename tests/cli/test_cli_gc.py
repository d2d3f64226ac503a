"""``artifact-ledger gc`` and ``--blobs`` through the CLI's entry point, with either blob store, on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main
from artifact_ledger.store.blob_dir import DirectoryBlobs


async def _seed(url: str, blobs: str | None) -> str:
    async with Ledger.open(url, blobs=blobs) as ledger, ledger.manager() as m:
        a = await m.save(ArtifactIn(data={"name": "weights", "content": io.BytesIO(b"x" * 300_000)}))
        await m.save(ArtifactIn(id=a.id, data={"name": "weights", "content": b"small"}))
        return str(a.id)


@pytest.mark.parametrize("store", ["database", "directory"])
def test_gc_dry_run_then_apply_after_retention(
    url: str, tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blobs = None if store == "database" else f"file://{tmp_path / 'blobs'}"
    asyncio.run(_seed(url, blobs))
    where = [] if blobs is None else ["--blobs", blobs]
    if blobs is not None:
        DirectoryBlobs(tmp_path / "blobs")._write(
            "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e", b"Hello World"
        )  # an orphan file: no event references it
    assert main(["--db", url, *where, "retention", "--keep-last", "1", "--apply"]) == 0
    capsys.readouterr()
    assert main(["--db", url, *where, "gc"]) == 0
    out = capsys.readouterr().out
    expected = 0 if blobs is None else 1
    assert f"{expected} blobs would be deleted" in out
    assert main(["--db", url, *where, "gc", "--apply", "--reason", "cleanup"]) == 0
    assert f"{expected} blobs deleted" in capsys.readouterr().out
    assert main(["--db", url, *where, "gc"]) == 0
    assert "0 blobs would be deleted" in capsys.readouterr().out
    assert main(["--db", url, *where, "verify"]) == 0


def test_blobs_option_and_environment_reach_reads_and_verify(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = f"file://{tmp_path / 'blobs'}"
    aid = asyncio.run(_seed(url, blobs))
    assert main(["--db", url, "--blobs", blobs, "show", aid, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == aid
    assert main(["--db", url, "show", aid, "--version", "1", "--json", "--blobs", blobs]) == 0
    capsys.readouterr()
    # Without the directory the content's bytes are nowhere to be found: verify says so.
    assert main(["--db", url, "verify"]) == 1
    capsys.readouterr()
    monkeypatch.setenv("ARTIFACT_LEDGER_BLOBS", blobs)
    assert main(["--db", url, "verify"]) == 0


def test_bad_blobs_urls_and_a_missing_directory_are_refused(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_seed(url, None))
    assert main(["--db", url, "--blobs", "s3://bucket/x", "gc"]) == 2  # a malformed option: a usage error
    assert "s3://bucket/x" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert main(["--db", url, "--blobs", f"file://{missing}", "gc"]) == 4
    assert str(missing) in capsys.readouterr().err
    assert not missing.exists()  # gc creates no directory


def test_gc_removes_stale_temporary_files_and_refuses_a_bad_age(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blobs = f"file://{tmp_path / 'blobs'}"
    asyncio.run(_seed(url, blobs))
    left = DirectoryBlobs(tmp_path / "blobs").stage_chunk(
        "a591a6d40bf420404a011733cfb7b190d62c65bf0bcda32b57b277d9ad9f146e", b"Hello World"
    )  # as a writer killed before linking it leaves it: young, so kept by default
    assert left is not None
    capsys.readouterr()
    assert main(["--db", url, "--blobs", blobs, "gc", "--apply"]) == 0
    assert "stale temporary files" not in capsys.readouterr().out.splitlines()[-1]
    assert Path(left).exists()
    assert main(["--db", url, "--blobs", blobs, "gc", "--apply", "--temporaries-older-than", "0s"]) == 0
    assert "1 stale temporary files (11 bytes) removed" in " ".join(capsys.readouterr().out.split())
    assert not Path(left).exists()
    with pytest.raises(SystemExit) as exited:
        main(["--db", url, "--blobs", blobs, "gc", "--temporaries-older-than=-1d"])
    assert exited.value.code == 2
    assert "not a duration" in capsys.readouterr().err


def test_gc_in_a_shared_directory_says_what_it_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blobs = f"file://{tmp_path / 'blobs'}"
    mine, theirs = (f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("mine.db", "theirs.db"))
    asyncio.run(_seed(mine, blobs))

    async def other() -> str:
        async with Ledger.open(theirs, blobs=blobs) as ledger, ledger.manager() as m:
            await m.save(ArtifactIn(data={"content": b"only the other ledger has these bytes"}))
            return ledger.ledger_id

    their_id = asyncio.run(other())
    assert main(["--db", mine, "--blobs", blobs, "gc", "--apply", "--reason", "cleanup"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "0 blobs deleted" in out
    assert "1 unreferenced files (" in out
    assert f"is shared with the ledgers {their_id}" in out
    assert main(["--db", theirs, "--blobs", blobs, "verify"]) == 0
