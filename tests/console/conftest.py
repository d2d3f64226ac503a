"""Fixtures of the console tests: a real uvicorn server over a fresh ledger, and a real Chromium.

Chromium is Debian's package driven by Playwright: a missing browser fails the tests with the
command that installs it; they never skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import CHROMIUM, COOKIE, HIERARCHY, TOKENS, Served

from artifact_ledger.http import TokenAuth


@pytest.fixture(params=["sqlite-file", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite (a file: the server's default) and PostgreSQL."""
    return str(request.param)


@pytest.fixture
def serve(backend: str, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(**create_app options)`` -> a started :class:`Served` (stopped after the test)."""
    started: list[Served] = []

    def start(**options: Any) -> Served:
        served = Served(backend, tmp_path, **options).start()
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def served(serve: Callable[..., Served]) -> Served:
    """The usual server: tokens for alice and bob (write) and eve (read), the ML hierarchy's labels."""
    return serve(auth=TokenAuth(TOKENS), hierarchy=HIERARCHY)


# ---- the browser ------------------------------------------------------------------------------
def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the console tests drive Debian's Chromium, and {CHROMIUM} does not exist: "
            "apt-get install -y chromium (or set ARTIFACT_LEDGER_CHROMIUM to a Chromium executable)",
            pytrace=False,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("the console tests need Playwright: pip install -e '.[dev]'", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), one per test module."""
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    # expect()'s assertions wait 5 s by default (the page's default_timeout below does not reach them): a
    # loaded machine takes longer for a page's fetches and scripts. They wait as long as the page's actions.
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(served, token=..., width=1280)`` -> a Playwright page at the console's base URL.

    With a token, the browser holds the console's sign-in cookie for it, as after signing in (the
    sign-in form is tested on its own; Chromium sends no extra headers with a download).
    A script error or a dialog on the page fails the test.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def make(served: Served, *, token: str | None = "eve-token", width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(
            base_url=served.base, viewport={"width": width, "height": height}, accept_downloads=True
        )
        contexts.append(context)
        if token:
            context.add_cookies(
                [{"name": COOKIE, "value": token, "url": served.base, "httpOnly": True, "sameSite": "Strict"}]
            )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
        page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        page.on(
            "console",
            lambda message: (
                errors.append(f"console {message.type}: {message.text}")
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, errors
