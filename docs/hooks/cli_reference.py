"""mkdocs hook: the CLI reference page, generated from the argparse parser at build time.

``docs/reference/cli.md`` is never written to disk: every build asks ``build_parser()`` for
the top-level help and each subcommand's help, so the page cannot drift from the command.
The environment is pinned while generating (no ``$ARTIFACT_LEDGER_URL``, 100 columns) so
the page is the same on every machine.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mkdocs.structure.files import File, Files

SRC_URI = "reference/cli.md"


@contextmanager
def _pinned_environment() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in ("ARTIFACT_LEDGER_URL", "COLUMNS")}
    os.environ.pop("ARTIFACT_LEDGER_URL", None)
    os.environ["COLUMNS"] = "100"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def render() -> str:
    """The Markdown of the CLI reference: the top-level help, then one section per command."""
    with _pinned_environment():
        from artifact_ledger.cli import build_parser

        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        lines = [
            "# CLI reference",
            "",
            "Generated from `artifact-ledger`'s own argument parser every time the site is built,",
            "so it lists exactly the commands and options of the installed version. The",
            "[CLI guide](../cli.md) explains the commands with examples; this page is the",
            "`--help` of each.",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
            "",
        ]
        summaries = {action.dest: action.help or "" for action in sub._choices_actions}
        for name, command in sub.choices.items():
            lines += [f"## `{name}`", ""]
            if summaries.get(name):
                lines += [summaries[name][0].upper() + summaries[name][1:] + ".", ""]
            lines += ["```text", command.format_help().rstrip(), "```", ""]
        return "\n".join(lines)


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, SRC_URI, content=render()))
    return files
