"""``artifact-ledger import`` of bad bundles: exit 1 with one line naming file, line and rule; never 4.

Runs the real entry point against a SQLite file and a fresh PostgreSQL database.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bundle_forge import build_bundles, forge, with_payload
from cli.test_cli_operations import KINDS, fresh_db, one_line_error, run  # fresh_db is a fixture

__all__ = ["fresh_db"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundles(tmp_path_factory.mktemp("sources"))


def _forged(edit: Callable[[list[dict[str, object]]], list[dict[str, object]]]) -> Callable[[Path, Path], Path]:
    return lambda sources, out: forge(sources / "full", out, edit)


def _damaged(damage: Callable[[Path], None]) -> Callable[[Path, Path], Path]:
    def make(sources: Path, out: Path) -> Path:
        shutil.copytree(sources / "full", out)
        damage(out)
        return out

    return make


def _set(index: int, **changes: object) -> Callable[[list[dict[str, object]]], list[dict[str, object]]]:
    def apply(records: list[dict[str, object]]) -> list[dict[str, object]]:
        records[index] = {**records[index], **changes}
        return records

    return apply


BAD = {
    "a path as artifact id": (_forged(_set(0, artifact_id="../../etc/passwd")), "events.jsonl line 1", "ulid"),
    "schema_version 99": (_forged(_set(1, schema_version=99)), "events.jsonl line 2", "schema-version"),
    "a version gap": (_forged(_set(3, version=3)), "events.jsonl line 4", "version"),
    "an orphan": (
        _forged(lambda r: [r[0], with_payload(r[1], parent_id="01HZZZZZZZZZZZZZZZZZZZZZZZ"), *r[2:]]),
        "events.jsonl line 2",
        "parent",
    ),
    "time going backwards": (
        _forged(_set(3, recorded_at="2000-01-01T00:00:00.000000Z")),
        "events.jsonl line 4",
        "time",
    ),
    "a line that is not JSON": (
        _damaged(lambda b: (b / "events.jsonl").write_bytes(b"{oops\n")),
        "events.jsonl line 1",
        "malformed",
    ),
    "a manifest without its fields": (
        _damaged(lambda b: (b / "manifest.json").write_text('{"format": "artifact-ledger-bundle"}')),
        "manifest.json line 1",
        "malformed",
    ),
    "no manifest": (_damaged(lambda b: (b / "manifest.json").unlink()), "no manifest.json", "malformed"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_bundle_exits_1_with_one_line(
    name: str, kind: str, sources: Path, tmp_path: Path, fresh_db: Callable[[str, str], str]
) -> None:
    make, where, rule = BAD[name]
    bundle = make(sources, tmp_path / "bad")
    target = fresh_db(kind, "target")
    assert run("import", str(sources / "early"), cwd=tmp_path, db=target).returncode == 0
    refused = run("import", str(bundle), cwd=tmp_path, db=target)
    assert refused.returncode == 1, refused.stderr
    message = one_line_error(refused)
    assert where in message
    assert rule in message
    verified = json.loads(run("verify", "--json", cwd=tmp_path, db=target).stdout)
    assert verified["ok"]
    assert verified["head"].startswith("3:")  # unchanged


@pytest.mark.parametrize("kind", KINDS)
def test_an_older_export_exits_0_and_a_diverging_one_exits_1(
    kind: str, sources: Path, tmp_path: Path, fresh_db: Callable[[str, str], str]
) -> None:
    target = fresh_db(kind, "target")
    assert run("import", str(sources / "full"), cwd=tmp_path, db=target).returncode == 0
    older = run("import", str(sources / "early"), cwd=tmp_path, db=target)
    assert older.returncode == 0, older.stderr
    assert "already contains these 3 events" in older.stdout
    other = forge(sources / "early", tmp_path / "other", _set(1, actor="mallory"))
    diverging = run("import", str(other), cwd=tmp_path, db=target)
    assert diverging.returncode == 1
    assert "differ from position 2" in one_line_error(diverging)
    verified = json.loads(run("verify", "--json", cwd=tmp_path, db=target).stdout)
    assert verified["head"].startswith("8:")


def test_a_bad_bundle_creates_no_database(sources: Path, tmp_path: Path) -> None:
    bundle = forge(sources / "full", tmp_path / "bad", _set(1, schema_version=99))
    refused = run("import", str(bundle), cwd=tmp_path, db=f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    assert refused.returncode == 1
    assert "schema-version" in one_line_error(refused)
    assert not (tmp_path / "new.db").exists()
