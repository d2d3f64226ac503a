"""`artifact-ledger export` as an operator runs it: a progress bar that knows how far it has to go."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn
from artifact_ledger.cli import main, operations
from artifact_ledger.ledger import Ledger


async def _three_events(url: str) -> None:
    async with Ledger.open(url) as ledger, ledger.manager() as m:
        for index in range(3):
            await m.save(ArtifactIn(data={"n": index}))


def test_export_progress_bar_has_the_event_count_as_its_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    asyncio.run(_three_events(url))
    shown: list[tuple[int | None, list[int]]] = []
    real = operations._progress

    @contextmanager
    def spy(label: str, total: int | None, quiet: bool) -> Iterator[Callable[[int], None]]:
        steps: list[int] = []
        shown.append((total, steps))
        with real(label, total, quiet) as advance:
            yield lambda n: (steps.append(n), advance(n))

    monkeypatch.setattr(operations, "_progress", spy)
    monkeypatch.setenv("ARTIFACT_LEDGER_URL", url)
    assert main(["export", str(tmp_path / "bundle")]) == 0
    assert shown == [(3, [3])]  # a bar with an end, not one spinning without a total
    assert "exported 3 events" in capsys.readouterr().out


def test_export_into_the_blob_directory_or_under_a_missing_parent_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    store = tmp_path / "store"
    monkeypatch.setenv("ARTIFACT_LEDGER_URL", url)
    monkeypatch.setenv("ARTIFACT_LEDGER_BLOBS", f"file://{store}")
    asyncio.run(_three_events(url))
    store.mkdir()
    inside = store / "backup"
    assert main(["export", str(inside)]) == 2
    err = capsys.readouterr().err
    assert f"cannot export to {inside}: it is inside the ledger's blob directory {store}" in err
    assert not inside.exists()
    missing = tmp_path / "a" / "b"
    assert main(["export", str(missing)]) == 2
    assert f"its parent directory {tmp_path / 'a'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert main(["verify"]) == 0
