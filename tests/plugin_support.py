"""Run pytest in a subprocess as a user of the installed plugin would: in a directory of its own (so
this project's pytest settings do not apply), with ``ARTIFACT_LEDGER_TEST_URL`` set or not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from artifact_ledger.testing import TEST_URL_VARIABLE

PYTEST_OPTIONS = ["-q", "-rs", "-p", "no:cacheprovider", "-o", "asyncio_mode=strict"]


def run_pytest(target: Path, rootdir: Path, url: str | None, timeout: float) -> subprocess.CompletedProcess[str]:
    """pytest on ``target`` with ``rootdir`` as its root and working directory; ``url`` is the test
    database's URL (None: the variable unset)."""
    env = {k: v for k, v in os.environ.items() if k != TEST_URL_VARIABLE}
    if url is not None:
        env[TEST_URL_VARIABLE] = url
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(target), *PYTEST_OPTIONS, "--rootdir", str(rootdir)],
        cwd=rootdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
