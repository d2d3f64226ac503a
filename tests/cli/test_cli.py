"""The CLI through its real entry points (subprocess), on a SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXE = shutil.which("artifact-ledger") or str(Path(sys.executable).with_name("artifact-ledger"))


def run(*args: str, cwd: Path, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARTIFACT_LEDGER_URL"}
    if db is not None:
        env["ARTIFACT_LEDGER_URL"] = db
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    cwd = tmp_path_factory.mktemp("cli")
    result = run("demo", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd, json.loads(result.stdout)


def test_demo_builds_a_verified_ledger_in_the_default_database(demo: tuple[Path, dict[str, object]]) -> None:
    cwd, summary = demo
    assert (cwd / "artifacts.db").exists()
    assert summary["verify"]["ok"] is True  # type: ignore[index]
    assert summary["verify"]["events_checked"] == 8  # type: ignore[index]
    assert summary["diff_v1_v2"] == ["~ /metrics/threshold: 0.5 -> 0.7"]
    events = [v["event_type"] for v in summary["history"]]  # type: ignore[attr-defined]
    assert events == ["artifact.created", "artifact.updated", "artifact.moved"]
    assert float(summary["seconds"]) < 10  # type: ignore[arg-type]


def test_demo_human_output_draws_tree_and_history(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for expected in ("training", "prediction", "evaluation", "history of evaluation", "OK: 8 events"):
        assert expected in result.stdout


def test_read_commands_json(demo: tuple[Path, dict[str, object]]) -> None:
    cwd, summary = demo
    training = str(summary["training_id"])
    listed = json.loads(run("ls", "--json", cwd=cwd).stdout)
    assert {row["level"] for row in listed} == {0, 1, 2}
    assert len(listed) == 4  # one prediction was deleted
    assert len(json.loads(run("ls", "--json", "--level", "1", cwd=cwd).stdout)) == 2
    first_two = json.loads(run("ls", "--json", "--limit", "2", cwd=cwd).stdout)
    assert [row["id"] for row in first_two] == [row["id"] for row in listed[:2]]
    assert json.loads(run("ls", "--json", "--limit", "0", cwd=cwd).stdout) == []
    one_prediction = json.loads(run("ls", "--json", "--level", "1", "--limit", "1", cwd=cwd).stdout)
    assert [row["id"] for row in one_prediction] == [row["id"] for row in listed if row["level"] == 1][:1]
    tree = json.loads(run("tree", training, "--json", "--labels", "training,prediction", cwd=cwd).stdout)
    assert tree["level_label"] == "training"
    assert tree["children"][0]["level_label"] == "prediction"
    assert tree["children"][1]["children"][0]["level_label"] == "level_2"
    assert len(tree["children"]) == 2
    shown = json.loads(run("show", training, "--json", cwd=cwd).stdout)
    assert shown["data"]["type"] == "ml_training_workspace"
    history = json.loads(run("history", str(summary["evaluation_id"]), "--json", cwd=cwd).stdout)
    assert [v["actor"] for v in history] == ["alice", "bob", "bob"]


def test_verify_and_rebuild(demo: tuple[Path, dict[str, object]]) -> None:
    cwd, _ = demo
    verified = run("verify", "--json", cwd=cwd)
    assert verified.returncode == 0
    assert json.loads(verified.stdout)["events_checked"] == 8
    rebuilt = run("rebuild", cwd=cwd)
    assert rebuilt.returncode == 0
    assert "8 events" in rebuilt.stdout


def test_not_found_is_exit_3_with_one_line(demo: tuple[Path, dict[str, object]]) -> None:
    cwd, _ = demo
    result = run("show", "01ARZ3NDEKTSV4RRFFQ69G5FAV", cwd=cwd)
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0
    assert "01ARZ3NDEKTSV4RRFFQ69G5FAV" in result.stderr
    malformed = run("show", "not-a-ulid", cwd=cwd)  # bad input, not an unknown artifact
    assert malformed.returncode == 2
    assert "not-a-ulid" in malformed.stderr
    assert "Traceback" not in malformed.stderr


def test_usage_error_is_exit_2(tmp_path: Path) -> None:
    assert run("no-such-command", cwd=tmp_path).returncode == 2


def test_bad_url_is_one_line_error(tmp_path: Path) -> None:
    result = run("ls", cwd=tmp_path, db="mysql://nobody@localhost/x")
    assert result.returncode == 4
    assert "unsupported database URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_database_url_from_environment(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    assert run("demo", "--json", cwd=tmp_path, db=db).returncode == 0
    assert (tmp_path / "env.db").exists()
    assert not (tmp_path / "artifacts.db").exists()


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "artifact_ledger", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_verify_incremental_from_a_recorded_head(demo: tuple[Path, dict[str, object]]) -> None:
    cwd, _ = demo
    full = json.loads(run("verify", "--json", cwd=cwd).stdout)
    assert full["ok"] is True
    assert full["blobs_checked"] >= 1
    head = full["head"]
    assert head.startswith("8:")
    again = run("verify", "--json", "--since", head, "--trusted-head", head, cwd=cwd)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["events_checked"] == 0
    forged = f"8:{'0' * 64}"
    wrong = run("verify", "--json", "--trusted-head", forged, cwd=cwd)
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)["ok"] is False
