"""The stdlib verifier against hostile bundle files: no hang, no traceback, nothing read from outside the bundle.

Each case runs ``verify_bundle.py`` as an auditor would, as a separate interpreter with only
the standard library (``python -I -S``), under a timeout that proves it does not block: a FIFO
named as the manifest, the events or a blob would hang a plain ``open()`` until a writer came.
Each must end with exit status 1 (the bundle fails verification) and a one-line verdict, never
a traceback; a symbolic link anywhere below the bundle directory is refused, not followed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_bundle import BLOBS, make_events, sha, write

import artifact_ledger.verify_bundle as verifier

SCRIPT = Path(verifier.__file__)
TIMEOUT = 20
ALPHA = sha(BLOBS["alpha"])
BETA = sha(BLOBS["beta"])


def run(bundle: Path | bytes, *options: str, locale: str = "C") -> subprocess.CompletedProcess[bytes]:
    """``python -I -S verify_bundle.py BUNDLE``: the standard library alone, killed if it blocks."""
    return subprocess.run(
        [sys.executable, "-I", "-S", os.fsencode(SCRIPT), os.fsencode(bundle), *options],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": locale},
    )


def bundle(tmp_path: Path) -> Path:
    return write(tmp_path / "bundle", make_events())


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def outside_copy(path: Path, tmp_path: Path) -> None:
    """Move the file out of the bundle and leave a symbolic link to it: the bytes are right, the place is not."""
    target = tmp_path / f"outside-{path.name}"
    path.rename(target)
    path.symlink_to(target)


def surrogate_in_actor(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    events = directory / "events.jsonl"
    events.write_bytes(events.read_bytes().replace(b'"actor":"zo\xc3\xab"', b'"actor":"zo\\udc00"', 1))
    return directory


def surrogate_in_manifest(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    manifest = directory / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"generator":"tests"', b'"generator":"\\ud800"'))
    return directory


def invalid_utf8_line(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    events = directory / "events.jsonl"
    events.write_bytes(events.read_bytes().replace("zoë".encode(), b"zo\xff\xfe", 1))
    return directory


def undecodable_stray_name(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    folder = os.fsencode(directory / "blobs" / ALPHA[:2])
    with open(os.path.join(folder, b"\xff\xfe-not-utf8"), "wb") as handle:
        handle.write(b"x")
    return directory


def with_fifo(name: str) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        directory = bundle(tmp_path)
        fifo(directory / name)
        return directory

    return make


def with_link(name: str) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        directory = bundle(tmp_path)
        outside_copy(directory / name, tmp_path)
        return directory

    return make


def linked_blobs_directory(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    (directory / "blobs").rename(tmp_path / "elsewhere")
    (directory / "blobs").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    return directory


def linked_prefix_directory(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    prefix = directory / "blobs" / ALPHA[:2]
    prefix.rename(tmp_path / "elsewhere")
    prefix.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    return directory


def linked_to_a_device(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    events = directory / "events.jsonl"
    events.unlink()
    events.symlink_to("/dev/zero")  # followed, it would be read for ever
    return directory


def directory_as_manifest(tmp_path: Path) -> Path:
    directory = bundle(tmp_path)
    (directory / "manifest.json").unlink()
    (directory / "manifest.json").mkdir()
    return directory


def socket_as_blob(tmp_path: Path) -> Path:
    import socket

    directory = bundle(tmp_path)
    path = directory / "blobs" / BETA[:2] / BETA
    path.unlink()
    here = Path.cwd()
    server = socket.socket(socket.AF_UNIX)
    try:
        os.chdir(path.parent)  # a socket address holds ~100 bytes: bind the bare name
        server.bind(BETA)
    finally:
        os.chdir(here)
        server.close()
    return directory


CASES = [
    pytest.param(with_fifo("manifest.json"), "manifest.json is a FIFO", id="FIFO as the manifest"),
    pytest.param(with_fifo("events.jsonl"), "events.jsonl is a FIFO", id="FIFO as events.jsonl"),
    pytest.param(with_fifo(f"blobs/{ALPHA[:2]}/{ALPHA}"), f"{ALPHA} is a FIFO", id="FIFO as a blob"),
    pytest.param(with_link("manifest.json"), "symbolic link", id="manifest linked from outside"),
    pytest.param(with_link("events.jsonl"), "symbolic link", id="events linked from outside"),
    pytest.param(with_link(f"blobs/{BETA[:2]}/{BETA}"), "symbolic link", id="blob linked from outside"),
    pytest.param(linked_blobs_directory, "symbolic link", id="blobs directory linked from outside"),
    pytest.param(linked_prefix_directory, "symbolic link", id="blob folder linked from outside"),
    pytest.param(linked_to_a_device, "symbolic link", id="events linked to /dev/zero"),
    pytest.param(directory_as_manifest, "manifest.json is a directory", id="a directory as the manifest"),
    pytest.param(socket_as_blob, f"{BETA} is a socket", id="a socket as a blob"),
    pytest.param(surrogate_in_actor, "lone surrogate", id="lone surrogate in an event"),
    pytest.param(surrogate_in_manifest, "lone surrogate", id="lone surrogate in the manifest"),
    pytest.param(invalid_utf8_line, "not valid JSON", id="invalid UTF-8 in an event"),
    pytest.param(undecodable_stray_name, "unexpected file", id="a stray file named in invalid UTF-8"),
]


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
@pytest.mark.parametrize(("make", "fragment"), CASES)
def test_hostile_files_fail_verification_without_hanging_or_a_traceback(
    make: Callable[[Path], Path], fragment: str, locale: str, tmp_path: Path
) -> None:
    directory = make(tmp_path)
    done = run(directory, locale=locale)
    # A file name that is not UTF-8 (a lone surrogate to Python) or non-ASCII text under the C
    # locale comes out as a backslash escape: never a crash, never raw undecodable bytes.
    encoding = "utf-8" if locale.endswith("UTF-8") else "ascii"
    out, err = done.stdout.decode(encoding), done.stderr.decode(encoding)
    assert done.returncode == 1, (done.returncode, out, err)
    assert "Traceback" not in err, err
    assert out.startswith("BROKEN "), out
    assert fragment in out, out
    as_json = run(directory, "--json")
    assert as_json.returncode == 1, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert fragment in report["problem"]


def test_the_untouched_bundle_verifies(tmp_path: Path) -> None:
    done = run(bundle(tmp_path))
    assert done.returncode == 0, done
    assert done.stdout.startswith(b"OK: 5 events and 2 blobs verified")


def test_a_bundle_reached_through_a_symbolic_link_verifies(tmp_path: Path) -> None:
    """The path the auditor names may be a link; only what is below it must be plain files."""
    (tmp_path / "link").symlink_to(bundle(tmp_path), target_is_directory=True)
    done = run(tmp_path / "link")
    assert done.returncode == 0, done


def test_a_bundle_path_in_invalid_utf8_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    done = run(os.fsencode(tmp_path) + b"/no-such-\xff")
    assert done.returncode == 2, done
    assert b"Traceback" not in done.stderr
    assert b"no bundle directory" in done.stderr


def test_nothing_outside_the_bundle_is_read(tmp_path: Path) -> None:
    """A linked-out blob whose bytes are right still fails: the verdict names the link, not a match."""
    directory = bundle(tmp_path)
    outside_copy(directory / "blobs" / ALPHA[:2] / ALPHA, tmp_path)
    report = verifier.verify_bundle(directory)
    assert (report.ok, report.blobs_checked) == (False, 1)  # only the blob inside was hashed
    assert report.problem is not None
    assert "symbolic link" in report.problem


def test_the_case_count() -> None:
    assert len(CASES) == 15
