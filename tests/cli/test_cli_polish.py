"""CLI polish through the real entry point: ids never cut at 80 columns, `show` without the signing
key, `--as-of` times shown in UTC, global options after the subcommand, and shell completion.
The commands that read a ledger run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Keyring, Ledger
from artifact_ledger.cli import build_parser
from artifact_ledger.cli.completion import SHELLS, script

EXE = shutil.which("artifact-ledger") or str(Path(sys.executable).with_name("artifact-ledger"))
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
SIGNER = Keyring.from_secret("the key that signed the pickles")


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_LEDGER_")}
    return subprocess.run(
        [EXE, *args],
        env={**base, "COLUMNS": "80", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def db(url: str) -> str:
    """The shared ``url`` fixture: a SQLite file or a PostgreSQL database of its own."""
    return url


def seed(url: str) -> dict[str, str]:
    """A root whose content is a signed pickle, a child with JSON content under it, a grandchild."""

    async def go() -> dict[str, str]:
        async with Ledger.open(url, secret=SIGNER) as ledger, ledger.manager() as m:
            root = await m.save(
                ArtifactIn(data={"type": "model", "metadata": {"status": "trained"}, "content": Fraction(1, 3)})
            )
            child = await m.save(
                ArtifactIn(parent_id=root.id, data={"type": "report", "content": {"rows": 3}}, tags=["t"])
            )
            grandchild = await m.save(ArtifactIn(parent_id=child.id, data={"type": "figure", "metadata": {"n": 1}}))
            await m.save(ArtifactIn(id=child.id, data={"type": "report", "content": {"rows": 4}}), reason="fix")
            return {"root": str(root.id), "child": str(child.id), "grandchild": str(grandchild.id)}

    return asyncio.run(go())


def keyless(tmp_path: Path) -> dict[str, str]:
    """No secret, and a key directory without the ledger's key in it."""
    return {"ARTIFACT_LEDGER_KEY_DIR": str(tmp_path / "no-keys")}


def test_ids_are_never_cut_at_80_columns(db: str, tmp_path: Path) -> None:
    ids = seed(db)
    env = {"ARTIFACT_LEDGER_SECRET": "the key that signed the pickles"}
    outputs = {
        "ls": run("ls", "--db", db, env=env),
        "show": run("show", ids["child"], "--db", db, env=env),
        "history": run("history", ids["child"], "--db", db, env=env),
        "audit": run("audit", "--db", db, env=env),
        "tree": run("tree", ids["root"], "--db", db, env=env),
    }
    wanted = {
        "ls": set(ids.values()),
        "show": {ids["child"], ids["root"]},  # the artifact and its parent
        "history": {ids["child"], ids["root"]},
        "audit": set(ids.values()),
        "tree": set(ids.values()),
    }
    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stderr)
        assert "…" not in result.stdout, (name, result.stdout)
        assert wanted[name] <= set(ULID.findall(result.stdout)), (name, result.stdout)
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, (name, result.stdout)
    wide = run("ls", "--db", db, env={**env, "COLUMNS": "160"})
    assert set(ids.values()) <= set(ULID.findall(wide.stdout))
    assert "updated_at (UTC)" in wide.stdout


def test_show_prints_data_and_metadata_without_the_key(db: str, tmp_path: Path) -> None:
    ids = seed(db)
    human = run("show", ids["root"], "--db", db, env=keyless(tmp_path))
    assert human.returncode == 0, human.stderr
    assert '"status": "trained"' in human.stdout
    assert "content not shown:" in human.stdout
    assert "key file" in human.stdout
    assert "does not exist" in human.stdout  # it says which file it looked for
    assert not (tmp_path / "no-keys").exists()  # and made none
    as_json = run("show", ids["root"], "--json", "--db", db, env=keyless(tmp_path))
    assert as_json.returncode == 0, as_json.stderr
    shown = json.loads(as_json.stdout)
    assert shown["data"]["metadata"] == {"status": "trained"}
    assert "content" not in shown["data"]
    assert "does not exist" in shown["content_unavailable"]
    # JSON content needs no key: shown whole, and nothing is said about keys.
    plain = run("show", ids["child"], "--json", "--db", db, env=keyless(tmp_path))
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["data"]["content"] == {"rows": 4}
    assert "content_unavailable" not in json.loads(plain.stdout)
    assert "key" not in run("show", ids["child"], "--db", db, env=keyless(tmp_path)).stdout
    # With the key, the pickle is decoded and nothing is left out.
    keyed = run("show", ids["root"], "--db", db, env={"ARTIFACT_LEDGER_SECRET": "the key that signed the pickles"})
    assert keyed.returncode == 0, keyed.stderr
    assert "content not shown" not in keyed.stdout
    assert "Fraction" in keyed.stdout


def test_as_of_is_explained_and_shown_in_utc(db: str, tmp_path: Path) -> None:
    ids = seed(db)
    env = keyless(tmp_path)
    help_text = " ".join(run("show", "--help", env={**env, "COLUMNS": "200"}).stdout.split())
    assert "2026-03-01 (00:00:00 UTC that day)" in help_text
    assert "a time without an offset is UTC" in help_text
    before = run("show", ids["child"], "--as-of", "2020-01-01", "--db", db, env=env)
    assert before.returncode == 3
    assert f"artifact {ids['child']} not found as of 2020-01-01 00:00:00 UTC" in before.stderr
    offset = run("tree", ids["root"], "--as-of", "2020-01-01T02:00:00+02:00", "--db", db, env=env)
    assert offset.returncode == 3
    assert "as of 2020-01-01 00:00:00 UTC" in offset.stderr
    bad = run("show", ids["child"], "--as-of", "yesterday", "--db", db, env=env)
    assert bad.returncode == 2
    assert "not an ISO 8601 time: 'yesterday'" in bad.stderr
    assert "a time without an offset is UTC" in bad.stderr
    later = run("ls", "--as-of", "2999-01-01T00:00:00Z", "--db", db, env=env)
    assert later.returncode == 0, later.stderr
    assert "artifacts as of 2999-01-01 00:00:00 UTC" in later.stdout
    shown = run("show", ids["child"], "--as-of", "2999-01-01", "--db", db, env=env)
    assert "as of 2999-01-01 00:00:00 UTC" in shown.stdout


def test_global_options_before_or_after_the_subcommand(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'opts.db'}"
    env = keyless(tmp_path)
    assert run("--db", url, "-v", "migrate", env=env).returncode == 0
    for args in (["--debug", "--db", url, "ls", "--json"], ["ls", "--json", "--db", url, "--debug", "-v"]):
        result = run(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        assert json.loads(result.stdout) == []
    quiet = run("show", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--db", url, env=env)
    assert quiet.returncode == 3
    assert "Traceback" not in quiet.stderr
    loud = run("show", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--db", url, "--debug", env=env)
    assert "Traceback" in loud.stderr
    assert "ArtifactNotFoundError" in loud.stderr


def test_completion_scripts_name_every_command_and_option() -> None:
    parser = build_parser()
    for shell in SHELLS:
        text_ = script(parser, shell)
        for command in ("ls", "show", "tree", "history", "diff", "audit", "verify", "migrate", "completion"):
            assert re.search(rf"\b{command}\b", text_), (shell, command)
        for option in ("--as-of", "--where", "--db", "--json", "--install-completion"):
            assert option.lstrip("-") in text_, (shell, option)
    for shell, check in (("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"]), ("bash", ["bash", "-n"])):
        if shutil.which(check[0]):  # the syntax of each script its shell can parse, where installed
            syntax = subprocess.run([*check], input=script(parser, shell), capture_output=True, text=True, check=False)
            assert syntax.returncode == 0, (shell, syntax.stderr)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("artifact-ledger sh", {"show"}),
        ("artifact-ledger ls --wh", {"--where"}),
        ("artifact-ledger show X --as", {"--as-of"}),
        ("artifact-ledger completion ", {"bash", "zsh", "fish"}),
        ("artifact-ledger --d", {"--db", "--debug"}),
    ],
)
def test_bash_completion_completes(line: str, expected: set[str]) -> None:
    words = line.split(" ")
    program = (
        script(build_parser(), "bash")
        + f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        + '_artifact_ledger; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    assert set(result.stdout.split()) == expected


def test_printing_and_installing_completion(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "SHELL": "/usr/bin/bash"}
    printed = run("completion", "bash", env=env)
    assert printed.returncode == 0
    assert "complete -o default -F _artifact_ledger artifact-ledger" in printed.stdout
    assert run("--show-completion", env=env).stdout == printed.stdout  # the shell from $SHELL
    installed = run("--install-completion", env=env)
    assert installed.returncode == 0, installed.stderr
    target = tmp_path / "data" / "bash-completion" / "completions" / "artifact-ledger"
    assert target.read_text() == printed.stdout
    assert run("completion", "bash", "--install", env=env).returncode == 0  # replaces its own script
    fish = run("--install-completion", "fish", env={**env, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert fish.returncode == 0, fish.stderr
    assert (tmp_path / "config" / "fish" / "completions" / "artifact-ledger.fish").exists()
    target.write_text("# my own completion\n")
    refused = run("--install-completion", "bash", env=env)
    assert refused.returncode == 4
    assert "was not written by artifact-ledger" in refused.stderr
    assert target.read_text() == "# my own completion\n"


@pytest.mark.parametrize(
    ("args", "shell_env"),
    [
        (["completion", "tcsh"], "/bin/bash"),
        (["--show-completion", "tcsh"], "/bin/bash"),
        (["--install-completion", "powershell"], "/bin/bash"),
        (["--show-completion"], "/bin/tcsh"),
        (["completion"], ""),
    ],
)
def test_completion_on_an_unsupported_shell_is_a_usage_error(args: list[str], shell_env: str, tmp_path: Path) -> None:
    result = run(*args, env={"SHELL": shell_env, "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert result.stdout == ""
    assert "bash" in result.stderr
    assert "zsh" in result.stderr
    assert "fish" in result.stderr
    assert list(tmp_path.iterdir()) == []
