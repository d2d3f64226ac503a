"""`artifact-ledger namespaces` prints each bad namespace's reason as written.

The reason names the ledger's path or URL, which may hold square brackets (a directory ``a[`` holding ``b]``,
one named ``[prod]``): the table passed it to rich as markup, so ``[prod]`` vanished from the reason and
``[/b]`` (a closing tag with nothing open) raised MarkupError, and the command failed without listing any
namespace. The reasons are escaped now, as the other commands escape what they print.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from artifact_ledger import Ledger, SchemaTamperedError
from artifact_ledger.cli import main, namespaces, render

REASON = "the ledger at /srv/a[/b]/[prod]/l.db is not guarded"


def test_a_reason_holding_square_brackets_is_printed_as_written(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("default", "a-bad", "b-fine"):
        assert main(["--db", url, "--namespace", name, "migrate"]) == 0
    real = Ledger.open

    class Opening(Ledger):
        @classmethod
        @contextlib.asynccontextmanager
        async def open(cls, *args: Any, **kwargs: Any) -> AsyncIterator[Ledger]:  # type: ignore[override]
            if kwargs.get("namespace") == "a-bad":  # a namespace whose ledger path holds brackets
                raise SchemaTamperedError(REASON)
            async with real(*args, **kwargs) as ledger:
                yield ledger

    monkeypatch.setattr(namespaces, "Ledger", Opening)
    monkeypatch.setattr(render.console, "width", 1000)  # each reason on one line of the table
    capsys.readouterr()
    assert main(["--db", url, "namespaces"]) == 1
    captured = capsys.readouterr()
    assert f"cannot be opened: {REASON}" in captured.out, captured
    for name in ("default", "a-bad", "b-fine"):
        assert name in captured.out
    assert "1 of 3 namespaces cannot be opened ('a-bad')" in captured.err
