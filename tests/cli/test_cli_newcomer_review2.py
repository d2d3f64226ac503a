"""A newcomer's and careless operator's second review of the CLI (SQLite and PostgreSQL): what the
guides say against what the commands do, and the usual mistakes."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
from pathlib import Path

import pytest

from artifact_ledger import ArtifactIn, Ledger, logs
from artifact_ledger.cli import _with_actions, build_parser, main, serve


@pytest.fixture
def db(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The shared ``url`` fixture with one artifact at version 2."""
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))

    async def seed() -> str:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            saved = await m.save(ArtifactIn(data={"n": 1}))
            await m.save(ArtifactIn(id=saved.id, data={"n": 2}))
            return str(saved.id)

    return url, asyncio.run(seed())


def test_alias_actions_take_the_global_options_after_them(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """cli.md: the global options go before or after the command; `alias ls --db URL` was
    'unrecognized arguments: --db' (exit 2) while `ls --db URL` worked."""
    url, aid = db
    monkeypatch.setattr(logs, "configure", lambda: None)  # -v: no handler on this test's stderr left behind
    assert main(["alias", "set", "production", aid, "--version", "1", "--db", url, "--actor", "alice"]) == 0
    assert main(["alias", "ls", "--db", url, "--json"]) == 0
    assert '"production"' in capsys.readouterr().out
    assert main(["alias", "show", "production", "--db", url, "--debug"]) == 0
    assert main(["alias", "history", "production", "--db", url, "-v"]) == 0
    assert "alias.set" in capsys.readouterr().out


@pytest.mark.parametrize("version", ["1_0", "+2", "٢", "2.0"])
def test_alias_expected_version_takes_ascii_digits_only(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str], version: str
) -> None:
    """`alias set --expected ID@1_0` read version 10 and `ID@+2` / `ID@٢` version 2 (int()), so a
    stale guard could pass; the other version options refuse them since the whole-number review."""
    url, aid = db
    assert main(["--db", url, "alias", "set", "production", aid]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["--db", url, "alias", "set", "production", aid, "--version", "1", "--expected", f"{aid}@{version}"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --expected" in err, err
    assert repr(version) in err, err
    assert main(["--db", url, "alias", "show", "production", "--json"]) == 0
    assert '"version": 2' in capsys.readouterr().out  # not moved


def test_a_refused_export_does_not_say_it_removed_anything(
    db: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export /missing/parent/bundle` was refused before anything was written, yet the line ended
    '; removed the export that did not finish from ...', as if a half bundle had been there."""
    url, _ = db
    target = tmp_path / "missing" / "bundle"
    assert main(["--db", url, "export", str(target)]) == 2
    err = capsys.readouterr().err
    assert "parent directory" in err, err
    assert "removed" not in err, err
    assert not target.parent.exists()


def test_demo_keeps_its_content_in_the_blobs_directory(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cli.md: every command passes --blobs on; demo ignored it and wrote its content into the
    database, so the blob directory the user named stayed empty."""
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))
    blobs = tmp_path / "blobs"
    assert main(["--db", url, "--blobs", f"file://{blobs}", "demo", "--json"]) == 0
    stored = [p for p in blobs.rglob("*") if p.is_file()]
    assert len(stored) >= 5, stored  # the model, three predictions' and the evaluation's content
    assert main(["--db", url, "--blobs", f"file://{blobs}", "verify"]) == 0


@pytest.mark.parametrize("value", ["./blobs", "blobs", "s3://bucket/blobs"])
def test_a_blobs_value_that_is_no_file_url_says_what_to_write(
    db: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """`--blobs ./blobs` said '... is not a file:/// URL (the database is the default: omit blobs=)':
    the library's keyword, not the option, and no URL to write instead."""
    url, _ = db
    monkeypatch.chdir(tmp_path)
    assert main(["--db", url, "--blobs", value, "ls"]) == 2
    err = capsys.readouterr().err
    assert "blobs=" not in err, err
    assert "leave --blobs out" in err, err
    if "://" not in value:
        assert f"file://{tmp_path / 'blobs'}" in err, err


def test_every_argument_of_every_command_says_what_it_takes(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` showed `--type TYPE_`, `--expected-version EXPECTED_VERSION`, `--as-of AS_OF` without the
    time formats (alias show, lineage), and no word on `id`, `name`, lineage's `--downstream`,
    `--both` or `--format`; the CLI reference page is made from the same parser."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    unclear = []
    for command in _with_actions(commands):
        for action in command._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            shown = command._get_formatter()._format_args(action, action.dest.upper()) if action.nargs != 0 else ""
            as_of_unexplained = "--as-of" in action.option_strings and "ISO 8601" not in (action.help or "")
            if not action.help or (action.option_strings and "_" in shown) or as_of_unexplained:
                unclear.append(f"{command.prog} {action.option_strings or action.dest} {shown} {action.help!r}")
    assert not unclear, unclear
    with pytest.raises(SystemExit) as exited:
        main(["--db", url, "lineage", "--help"])
    assert exited.value.code == 0
    assert "--as-of TIME" in capsys.readouterr().out


def test_audit_says_below_a_cut_page_where_to_continue(db: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """cli.md: 'the footer says where to continue with --after POSITION'; it was in the title, above
    a page that can run for screens, and the last lines said nothing."""
    url, _ = db
    assert main(["--db", url, "audit", "--limit", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert "--after 1" in lines[-1], lines
    assert main(["--db", url, "audit", "--after", "1"]) == 0
    assert "--after" not in capsys.readouterr().out  # the last page: nothing more


@pytest.mark.parametrize(("option", "value"), [("--port", "٨٠٨٠"), ("--port", "1_0000"), ("--max-body", "٦٤M")])
def test_serve_numbers_take_ascii_digits_only(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, option: str, value: str
) -> None:
    """`serve --port ٨٠٨٠` listened on 8080 (str.isdigit, then int()) and `--max-body ٦٤M` read 64M
    (the regex's \\d): the whole-number review left serve's own numbers out."""

    def no_server(uvicorn: object, config: object) -> object:
        raise AssertionError(f"serve {option} {value!r} was taken: it would have started a server")

    monkeypatch.setattr(serve, "_quiet_stop_server", no_server)
    with pytest.raises(SystemExit) as exited:
        main(["--db", url, "serve", "--port", "8", option, value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err, err
    assert repr(value) in err, err


def test_the_demo_suggests_a_command_that_reaches_its_ledger(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`artifact-ledger --db URL demo` ended with 'try: artifact-ledger tree ID', which then looked
    for ./artifacts.db: 'no ledger' (exit 3) as the newcomer's next step."""
    monkeypatch.setenv("ARTIFACT_LEDGER_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.chdir(tmp_path)
    for name in ("ARTIFACT_LEDGER_URL", "ARTIFACT_LEDGER_NAMESPACE", "ARTIFACT_LEDGER_BLOBS"):
        monkeypatch.delenv(name, raising=False)
    blobs = f"file://{tmp_path / 'blobs'}"
    assert main(["--db", url, "--namespace", "team-a", "--blobs", blobs, "demo"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the hint may wrap
    hint = out.split("try: ", 1)[1]
    words = shlex.split(hint)
    assert words[0] == "artifact-ledger", hint
    assert words[words.index("--namespace") + 1] == "team-a", hint
    assert words[words.index("--blobs") + 1] == blobs, hint
    assert main(words[1:]) == 0
    assert "training" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "advice"),
    [
        (["patch", "ID", "--set", "data.n=3", "--reason", ""], "leave --reason out to record none"),
        (["patch", "ID", "--set", "data.n=3", "--actor", " "], "leave --actor out to record none"),
        (["alias", "set", "production", "ID", "--reason", " "], "leave --reason out to record none"),
        (["redact", "ID", "--field", "n", "--reason", " "], "artifact-ledger redact requires --reason: give one"),
    ],
)
def test_an_empty_actor_or_reason_says_what_to_type(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], advice: str
) -> None:
    """`patch ID --reason ''` said "reason '' is empty; leave it out (None) to record none": Python's
    None, and for redact, whose --reason is required, advice that then fails as a missing option."""
    url, aid = db
    assert main(["--db", url, *(aid if arg == "ID" else arg for arg in argv)]) == 2
    err = capsys.readouterr().err
    assert advice in err, err
    assert "None" not in err, err
    assert main(["--db", url, "history", aid, "--json"]) == 0
    assert '"version": 3' not in capsys.readouterr().out  # nothing was written


def test_a_read_db_that_is_no_standby_is_named_as_the_option(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--read-db URL` naming no standby said 'read_url ... is not a standby ...; pass the URL of a hot
    standby ..., or open without read_url': the library's keyword, not the option to leave out."""
    url, _ = db
    assert main(["--db", url, "--read-db", url, "ls"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("artifact-ledger: --read-db "), err
    assert "read_url" not in err, err
    assert "leave out --read-db" in err, err


def test_a_missing_blobs_directory_says_which_option_to_check(
    db: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--blobs file:///no/such/dir ls` said 'blob directory ... does not exist (and create=False creates
    nothing)': the library's keyword, and nothing on what to check."""
    url, _ = db
    missing = tmp_path / "no-such-blobs"
    assert main(["--db", url, "--blobs", f"file://{missing}", "ls"]) == 4
    err = capsys.readouterr().err
    assert str(missing) in err, err
    assert "create=False" not in err, err
    assert "check --blobs" in err, err
    assert not missing.exists()


def test_ls_refusals_name_its_options(db: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """`ls --after bogus` said "after: ... is not a cursor find() returned ...; pass the next_cursor of
    the previous page of the same query, or start again without after=", and `ls --parent nope`
    "parent_id eq: 'nope' ...": the library's keywords, not the options the user typed."""
    url, aid = db
    assert main(["--db", url, "ls", "--after", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("artifact-ledger: --after: 'bogus' is not a cursor ls printed"), err
    assert "run ls again without --after" in err, err
    for library in ("after=", "find()", "next_cursor"):
        assert library not in err, err
    assert main(["--db", url, "ls", "--parent", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("artifact-ledger: --parent: 'nope' is not an artifact id"), err
    assert main(["--db", url, "ls", "--parent", aid]) == 0  # a well-formed one lists its children
    capsys.readouterr()


def test_ls_help_says_where_the_cursor_is_printed(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`ls --help` said the --after cursor is 'printed with --json'; it is printed on stderr, with or
    without --json, and never in the JSON."""
    with pytest.raises(SystemExit):
        main(["--db", url, "ls", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "printed with --json" not in out, out
    assert "printed on stderr" in out, out


def test_show_and_tree_of_a_deleted_artifact_say_it_was_deleted(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`show ID` / `tree ID` of a deleted artifact said 'artifact ID not found' while `history ID`
    listed it: a newcomer reads that as a wrong id."""
    url, aid = db

    async def delete() -> None:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            await m.delete_by_id(aid, actor="alice")

    asyncio.run(delete())
    for command in ("show", "tree"):
        assert main(["--db", url, command, aid]) == 3
        err = capsys.readouterr().err
        assert f"artifact {aid} was deleted (version 3, " in err, err
        assert "by alice" in err, err
        assert f"`show {aid} --version 2`" in err, err
        assert f"`restore {aid}` brings it back" in err, err
    assert main(["--db", url, "show", aid, "--version", "2"]) == 0  # as the message says
    unknown = aid[:-1] + ("0" if aid[-1] != "0" else "1")
    assert main(["--db", url, "show", unknown]) == 3
    assert capsys.readouterr().err.strip().endswith(f"artifact {unknown} not found")


def test_upgrade_chain_on_a_format_2_ledger_says_nothing_was_done(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`upgrade-chain` on a ledger created by this version (format 2 from its first event) printed
    'events from position 1 on are sealed under chain format 2', as if it had just switched it."""
    url, _ = db
    assert main(["--db", url, "upgrade-chain", "--reason", "try"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "already" in out, out
    assert "nothing was recorded" in out, out
    assert main(["--db", url, "audit", "--json"]) == 0
    assert "ledger.chain_upgraded" not in capsys.readouterr().out


def test_a_db_path_that_is_no_sqlite_file_says_to_check_the_path(
    db: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--db sqlite+aiosqlite:///bundle/events.jsonl` (a mistyped path) said 'the SQLite database ... is
    damaged; stop writing to it, keep a copy of the file, and restore it from a backup', sending a
    careless operator off to restore a ledger that is fine. (The PostgreSQL run checks that a
    PostgreSQL --db is not touched by the check.)"""
    url, _ = db
    wrong = tmp_path / "events.jsonl"
    wrong.write_text('{"position": 1}\\n')
    for command in (["ls"], ["migrate"]):
        assert main(["--db", f"sqlite+aiosqlite:///{wrong}", *command]) == 4
        err = capsys.readouterr().err
        assert f"{wrong} is not a database (it does not begin with SQLite's header)" in err, err
        assert "check that --db names the ledger's file" in err, err
    assert wrong.read_text() == '{"position": 1}\\n'
    assert main(["--db", url, "ls"]) == 0


def test_a_deleted_artifact_can_be_restored_as_the_messages_say(
    db: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`patch ID` of a deleted artifact says 'restore it before patching it' and `alias set` 'restore it
    first', but the command had no restore: the remedy named was out of reach."""
    url, aid = db

    async def delete() -> None:
        async with Ledger.open(url) as ledger, ledger.manager() as m:
            await m.delete_by_id(aid)

    asyncio.run(delete())
    assert main(["--db", url, "patch", aid, "--set", "data.n=9"]) == 3
    assert "restore it" in capsys.readouterr().err
    assert main(["--db", url, "restore", aid, "--actor", "alice", "--reason", "deleted by mistake", "--json"]) == 0
    restored = json.loads(capsys.readouterr().out)
    assert restored["version"] == 4
    assert restored["data"] == {"n": 2}
    assert main(["--db", url, "patch", aid, "--set", "data.n=9"]) == 0
    capsys.readouterr()
    assert main(["--db", url, "audit", "--artifact", aid, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    restored_entry = next(e for e in entries if e["event_type"] == "artifact.restored")
    assert (restored_entry["actor"], restored_entry["reason"]) == ("alice", "deleted by mistake")
    unknown = aid[:-1] + ("0" if aid[-1] != "0" else "1")
    assert main(["--db", url, "restore", unknown]) == 3
    assert main(["--db", url, "restore", "nope"]) == 2
    assert main(["--db", url, "restore", aid]) == 0  # live again: nothing to do, and it says so
    assert "is not deleted (version 5): nothing was restored" in capsys.readouterr().out


def test_import_of_a_path_that_is_no_directory_is_a_usage_error(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`import /mistyped/path` exited 1, the code of a bundle that failed its checks (tampering), for a
    path that does not exist; `export` into a missing parent and `checkpoint --to` a missing directory
    exit 2. Nothing is created either way."""
    afile = tmp_path / "manifest.json"
    afile.write_text("{}")
    for path, what in ((tmp_path / "no-such-bundle", "no such directory"), (afile, "a file, not a directory")):
        assert main(["--db", url, "import", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"no bundle at {path}: {what}" in err, err
    assert main(["--db", url, "ls"]) == 3  # no ledger was made
    assert "no ledger at" in capsys.readouterr().err


def test_an_empty_listing_says_so(db: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """`ls` of an empty ledger, or with filters nothing matches, drew an empty table and nothing else
    (`alias ls` says 'no aliases')."""
    url, aid = db
    assert main(["--db", url, "ls", "--type", "nope"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no artifacts match")
    assert main(["--db", url, "ls", "--as-of", "2000-01-01"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no live artifacts")
    assert main(["--db", url, "ls"]) == 0
    out = capsys.readouterr().out
    assert aid in out, out
    assert "no live artifacts" not in out, out


def test_alias_output_shows_no_python_none(db: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """`alias set NAME ID` without --actor printed `updated_by=None`, and `alias history` `actor=None
    reason=None from_artifact_id=None`: Python's None where nothing was recorded."""
    url, aid = db
    assert main(["--db", url, "alias", "set", "production", aid]) == 0
    assert main(["--db", url, "alias", "history", "production"]) == 0
    assert main(["--db", url, "alias", "show", "production"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out, out
    assert f"artifact_id={aid}" in out, out
    assert main(["--db", url, "alias", "ls", "--json"]) == 0
    assert '"updated_by": null' in capsys.readouterr().out  # --json keeps every key
