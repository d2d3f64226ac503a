"""What a newcomer runs into first, through the CLI's entry point, on SQLite and PostgreSQL: the demo's
words, a path given where a URL belongs, and Ctrl-C in the middle of an export or an import."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from artifact_ledger import ArtifactIn, Ledger
from artifact_ledger.cli import main, operations


async def _seed(url: str) -> None:
    async with Ledger.open(url) as ledger, ledger.manager() as manager:
        await manager.save_all([ArtifactIn(data={"n": i, "content": f"bytes {i}".encode()}) for i in range(20)])


def _ctrl_c() -> None:
    """What the terminal sends on Ctrl-C, delivered to the main thread (where asyncio.run handles it; a
    signal raised in another thread would not wake the event loop's wait)."""
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def test_demo_names_the_extra_and_hides_the_password(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # the examples extra is not installed
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    with_password = url.replace("postgres@", "postgres:s3cret@") if url.startswith("postgresql") else url
    assert main(["--db", with_password, "demo"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the terminal's width wraps lines anywhere
    assert "JSON model card (install 'artifact-ledger[examples]' for scikit-learn)" in out
    assert "s3cret" not in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--db", "artifacts.db", "ls"],
            "--db (or $ARTIFACT_LEDGER_URL): 'artifacts.db' is not a database URL; "
            "for that SQLite file use sqlite+aiosqlite:///artifacts.db",
        ),
        (["--db", "/srv/ledger.db", "verify"], "use sqlite+aiosqlite:////srv/ledger.db"),
        (["import-chapkit", "--from", "chapkit.db", "--trust-source"], "--from: 'chapkit.db' is not a database URL"),
        (["--db", "app:s3cret@db/ledger", "ls"], "this value is not a database URL; a SQLite file is"),
        # a missing file under the wrong scheme: the scheme to use, not "run migrate" (which then refused it)
        (["--db", "sqlite:///missing.db", "ls"], "use sqlite+aiosqlite:// for SQLite, not sqlite://"),
    ],
)
def test_a_path_where_a_url_belongs_says_how_to_write_the_url(
    argv: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1
    assert "s3cret" not in err
    assert not any(tmp_path.iterdir())  # nothing was created


@pytest.mark.parametrize("given", ["new", "empty"])
def test_ctrl_c_during_export_removes_the_unfinished_bundle(
    url: str, given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_seed(url))
    bundle = tmp_path / "bundle"
    if given == "empty":
        bundle.mkdir()
    export = operations.export_ledger

    async def interrupted(engine: Any, path: str, *, progress: Callable[[int], None] | None = None) -> Any:
        def advance(n: int) -> None:
            _ctrl_c()  # after the first page of events is written: the bundle is half there

        return await export(engine, path, progress=advance)

    monkeypatch.setattr(operations, "export_ledger", interrupted)
    assert main(["--db", url, "export", str(bundle)]) == 4
    err = capsys.readouterr().err
    assert err.startswith("artifact-ledger: interrupted; removed the export that did not finish from")
    assert err.count("\n") == 1
    assert not bundle.exists() if given == "new" else not any(bundle.iterdir())
    monkeypatch.setattr(operations, "export_ledger", export)
    assert main(["--db", url, "export", str(bundle)]) == 0  # the same command again just works
    assert (bundle / "manifest.json").is_file()


def test_a_failed_export_never_touches_a_directory_that_held_something(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PATH that holds something is refused before anything is written: exit 2 (docs/cli.md), as for
    its other refused paths, with one line naming the directory and what to do instead."""
    asyncio.run(_seed(url))
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    (tmp_path / "a-file").write_text("mine too")
    for taken in (tmp_path / "kept", tmp_path / "a-file"):
        assert main(["--db", url, "export", str(taken)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"artifact-ledger: {taken} exists and is not an empty directory; nothing was written")
        assert "give a path that does not exist yet or an empty directory" in err
        assert err.count("\n") == 1
    assert (tmp_path / "kept" / "notes.txt").read_text() == "mine"
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["notes.txt"]
    assert (tmp_path / "a-file").read_text() == "mine too"


def test_ctrl_c_while_an_import_verifies_the_bundle_stops_at_once(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started, finish, over = threading.Event(), threading.Event(), threading.Event()

    def slow_verification(path: str) -> Any:  # a bundle of millions of events: minutes of hashing
        started.set()
        finish.wait(60)
        over.set()
        raise OSError("the test is over")

    def press_ctrl_c() -> None:
        if started.wait(60):
            time.sleep(0.1)  # the command is awaiting the verification
            _ctrl_c()

    monkeypatch.setattr(operations, "load_bundle", slow_verification)
    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    began = time.monotonic()
    try:
        code = main(["--db", url, "import", str(tmp_path / "bundle")])
        elapsed = time.monotonic() - began
        verification_over = over.is_set()
    finally:
        finish.set()
        presser.join()
    assert code == 4
    # It used to wait for the verification to finish: the command returns while it still runs (the
    # verification ends only when the test lets it, after the command; a loaded machine changes nothing).
    assert not verification_over
    assert elapsed < 30
    assert capsys.readouterr().err == (
        "artifact-ledger: interrupted; nothing was imported (the import is one transaction); run it again\n"
    )
    assert main(["--db", url, "ls"]) == 3  # no ledger was created


def test_gc_writes_no_blank_line_where_a_progress_bar_would_be(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", url, "gc"]) == 3  # no ledger yet
    assert capsys.readouterr().out == ""
    asyncio.run(_seed(url))
    assert main(["--db", url, "gc"]) == 0
    assert capsys.readouterr().out.lstrip(" ").startswith("unreferenced blobs (dry run)")


class _CtrlCWhileImporting:
    """A meta path finder that sends this process SIGINT (what Ctrl-C sends) when the CLI starts to
    import, then lets the import go on: Ctrl-C in the second the library takes to load."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "artifact_ledger.cli":
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_while_the_cli_loads_is_one_line_exit_4_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import artifact_ledger
    from artifact_ledger import launch
    from artifact_ledger.cli import EXIT_ERROR

    assert launch.EXIT_INTERRUPTED == EXIT_ERROR
    monkeypatch.setattr(artifact_ledger, "cli", artifact_ledger.cli)  # the import below rebinds it
    monkeypatch.delitem(sys.modules, "artifact_ledger.cli")
    monkeypatch.setattr(sys, "meta_path", [_CtrlCWhileImporting(), *sys.meta_path])
    monkeypatch.setattr(sys, "argv", ["artifact-ledger", "--version"])
    assert launch.main() == EXIT_ERROR  # --version would have printed and exited 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "artifact-ledger: interrupted\n")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C raises again afterwards


def _until_loading_the_library(process: subprocess.Popen[str]) -> None:
    """Until ``process`` has mapped a compiled extension of the library's dependencies (the CLI's import
    loads SQLAlchemy's, orjson, pydantic-core's; the interpreter's start and the console script's import
    of ``artifact_ledger.launch`` load none): it is past its start and inside the library's import, where
    Ctrl-C is noted, however slowly the machine starts it (a fixed 0.3 s could still be in the start,
    where Ctrl-C is Python's KeyboardInterrupt and its traceback). Returns if the process has ended."""
    maps = Path(f"/proc/{process.pid}/maps")
    if not maps.exists():  # no procfs: the old fixed wait
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            mapped = maps.read_text()
            if any(f"/{package}/" in mapped for package in ("sqlalchemy", "orjson", "pydantic_core", "greenlet")):
                return
        except OSError:  # the process ended meanwhile
            return
        time.sleep(0.002)
    assert process.poll() is not None, "the console script loaded no compiled extension within 60 s"


def test_the_console_script_interrupted_while_loading_prints_no_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("artifact-ledger")
    assert script.exists(), f"the console script is not installed next to {sys.executable}"
    assert "artifact_ledger.launch" in script.read_text()
    started = subprocess.Popen(
        [str(script), "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    _until_loading_the_library(started)  # past the interpreter's start, inside the library's import
    started.send_signal(signal.SIGINT)
    out, err = started.communicate(timeout=60)
    assert "Traceback" not in err
    if out:  # the import took under 0.3 s here: the version was printed before Ctrl-C came
        assert out.startswith("artifact-ledger ")
        assert started.returncode in (0, -signal.SIGINT)
        return
    assert (started.returncode, err) == (4, "artifact-ledger: interrupted\n")


def test_an_actor_or_reason_the_log_cannot_record_is_bad_input_in_every_writing_command(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_seed(url))

    async def first_and_count() -> tuple[str, int]:
        async with Ledger.open(url) as ledger, ledger.manager() as manager:
            found = await manager.find_all()
            return str(found[0].id), (await ledger.head()).position

    aid, head = asyncio.run(first_and_count())
    long_reason, long_actor, nul = "r" * 10_001, "a" * 256, "al\x00ice"
    for args in (
        ["patch", aid, "--set", "data.n=1", "--reason", long_reason],
        ["patch", aid, "--set", "data.n=1", "--actor", nul],
        ["alias", "set", "production", aid, "--actor", long_actor],
        ["alias", "set", "production", aid, "--reason", long_reason],
        ["redact", aid, "--reason", long_reason],
        ["redact", aid, "--reason", "gdpr", "--actor", long_actor],
    ):
        capsys.readouterr()
        assert main(["--db", url, *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert any(word in err for word in ("10001 characters", "256 characters", "NUL character")), err
    assert asyncio.run(first_and_count()) == (aid, head)  # nothing was recorded
